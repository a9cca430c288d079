/* Opening a server and choosing the revision: see include/mcp/mcp.h for the rules. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "mcp_int.h"

/* The legacy revisions agentd speaks, newest first: what it reads and sends (tools,
 * their results, ping) is the same in each; 2024-11-05 is left out, its HTTP
 * transport being another one. */
static const char *const legacy_versions[] = { MCP_REVISION_LEGACY, "2025-06-18", "2025-03-26" };

static bool speaks_legacy(const char *v)
{
	for (size_t i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++)
		if (strcmp(v, legacy_versions[i]) == 0)
			return true;
	return false;
}

/* What a list of versions offers: the modern one, a legacy one we speak, or neither;
 * the list itself, cut, goes into words for a message. */
struct offer {
	bool modern, legacy;
	char words[160];
};

static struct offer read_offer(const cJSON *versions)
{
	struct offer o = { .words = "" };
	const cJSON *v;
	size_t used = 0;
	cJSON_ArrayForEach(v, versions) {
		if (!cJSON_IsString(v))
			continue;
		o.modern |= strcmp(v->valuestring, MCP_REVISION_MODERN) == 0;
		o.legacy |= speaks_legacy(v->valuestring);
		int n = snprintf(o.words + used, sizeof(o.words) - used, "%s%.20s", used ? ", " : "", v->valuestring);
		if (n > 0 && (size_t)n < sizeof(o.words) - used)
			used += (size_t)n;
	}
	if (used == 0)
		snprintf(o.words, sizeof(o.words), "none");
	return o;
}

static cJSON *start_initialize(struct mcp_client *c, struct ad_err *err)
{
	if (c->hint == MCP_ERA_MODERN)
		return ad_err_code(err, EPROTONOSUPPORT, "the server does not speak MCP %s", MCP_REVISION_MODERN), NULL;
	cJSON *msg = mcp_req_initialize(c, err);
	if (msg != NULL) {
		c->state = MCP_OPEN_INITIALIZING;
		c->open_id = mcp_id_of(msg);
	}
	return msg;
}

cJSON *mcp_open(struct mcp_client *c, struct ad_err *err)
{
	if (c->state != MCP_OPEN_NONE)
		return ad_err_code(err, EALREADY, "the server is already being opened"), NULL;
	if (c->hint == MCP_ERA_LEGACY)
		return start_initialize(c, err);
	cJSON *msg = mcp_req_discover(c, err);
	if (msg != NULL) {
		c->state = MCP_OPEN_PROBING;
		c->open_id = mcp_id_of(msg);
	}
	return msg;
}

static void become_ready(struct mcp_client *c, enum mcp_era era, const char *version)
{
	c->state = MCP_OPEN_READY;
	c->era = era;
	snprintf(c->version, sizeof(c->version), "%s", version);
}

/* The probe was answered with a result: a server/discover result, or so it says. */
static int probe_result(struct mcp_client *c, const cJSON *result, cJSON **next, struct ad_err *err)
{
	const cJSON *versions = cJSON_GetObjectItemCaseSensitive(result, "supportedVersions");
	struct offer o = read_offer(versions);
	if (!cJSON_IsArray(versions)) {
		*next = start_initialize(c, err);   /* no DiscoverResult: not a modern server */
		return *next != NULL ? 0 : -1;
	}
	if (o.modern) {
		mcp_client_learn(c, result);
		become_ready(c, MCP_ERA_MODERN, MCP_REVISION_MODERN);
		return 0;
	}
	if (o.legacy) {
		*next = start_initialize(c, err);
		return *next != NULL ? 0 : -1;
	}
	return ad_err_code(err, EPROTONOSUPPORT, "the server speaks MCP %s; agentd speaks %s and %s", o.words,
			   MCP_REVISION_MODERN, MCP_REVISION_LEGACY);
}

/* The probe was answered with an error: a modern refusal, or a legacy server. */
static int probe_error(struct mcp_client *c, const struct mcp_msg *m, cJSON **next, struct ad_err *err)
{
	if (m->code == MCP_UNSUPPORTED_VERSION) {
		struct offer o = read_offer(cJSON_GetObjectItemCaseSensitive(m->data, "supported"));
		if (o.legacy && !o.modern) {
			*next = start_initialize(c, err);   /* a server of both eras */
			return *next != NULL ? 0 : -1;
		}
		return ad_err_code(err, EPROTONOSUPPORT, "the server refused MCP %s and speaks %s: %.200s",
				   MCP_REVISION_MODERN, o.words, m->message);
	}
	if (m->code == MCP_HEADER_MISMATCH || m->code == MCP_MISSING_CLIENT_CAPABILITY)
		return ad_err_code(err, EPROTO, "the server refused server/discover (%d): %.300s", m->code,
				   m->message);
	*next = start_initialize(c, err);
	return *next != NULL ? 0 : -1;
}

static int probe_reply(struct mcp_client *c, const struct mcp_msg *m, int http_status, cJSON **next,
		       struct ad_err *err)
{
	if (http_status == 401 || http_status == 403)
		return ad_err_code(err, EACCES, "HTTP %d: the server wants other credentials", http_status);
	if (m != NULL && m->kind == MCP_MSG_RESULT)
		return probe_result(c, m->result, next, err);
	if (m != NULL && m->kind == MCP_MSG_ERROR)
		return probe_error(c, m, next, err);
	/* stdio: silence or an exit; HTTP: 202, or an error status without JSON-RPC */
	*next = start_initialize(c, err);
	return *next != NULL ? 0 : -1;
}

static int initialize_reply(struct mcp_client *c, const struct mcp_msg *m, int http_status, cJSON **next,
			    struct ad_err *err)
{
	if (m == NULL)
		return http_status > 0 ? ad_err_code(err, EPROTO, "initialize: HTTP %d without an answer", http_status)
				       : ad_err_code(err, ETIMEDOUT, "initialize: no answer");
	if (m->kind == MCP_MSG_ERROR)
		return ad_err_code(err, EREMOTEIO, "initialize: the server answered %d: %.300s", m->code, m->message);
	const char *version = json_str(m->result, "protocolVersion");
	if (version == NULL)
		return ad_err_code(err, EPROTO, "initialize: a result without a protocolVersion");
	if (!speaks_legacy(version))
		return ad_err_code(err, EPROTONOSUPPORT, "initialize: the server speaks MCP %.20s, which agentd does not",
				   version);
	*next = mcp_note_initialized();
	if (*next == NULL)
		return ad_err_set(err, ENOMEM, "initialize");
	mcp_client_learn(c, m->result);
	become_ready(c, MCP_ERA_LEGACY, version);
	return 0;
}

int mcp_open_reply(struct mcp_client *c, const struct mcp_msg *reply, int http_status, cJSON **next,
		   struct ad_err *err)
{
	*next = NULL;
	if (c->state != MCP_OPEN_PROBING && c->state != MCP_OPEN_INITIALIZING)
		return ad_err_code(err, EINVAL, "no opening request is waiting for an answer");
	if (reply != NULL && reply->kind != MCP_MSG_RESULT && reply->kind != MCP_MSG_ERROR)
		return 0;   /* the caller's to handle; the answer is still to come */
	if (reply != NULL && reply->id != c->open_id && !(reply->kind == MCP_MSG_ERROR && reply->id == 0))
		return ad_err_code(err, EPROTO, "the answer to request %lld while opening with %lld",
				   (long long)reply->id, (long long)c->open_id);
	mcp_forget(c, c->open_id);   /* answered, or given up on */
	int rc = c->state == MCP_OPEN_PROBING ? probe_reply(c, reply, http_status, next, err)
					      : initialize_reply(c, reply, http_status, next, err);
	if (rc < 0 && c->state != MCP_OPEN_READY) {
		c->state = MCP_OPEN_NONE;   /* to be opened again from the start */
		return ad_err_prefix(err, "opening the MCP server");
	}
	return rc;
}

/* One server's client state and the requests sent to it: see include/mcp/mcp.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "mcp_int.h"

struct mcp_client *mcp_client_new(enum mcp_era era)
{
	struct mcp_client *c = calloc(1, sizeof(*c));
	if (c != NULL) {
		c->hint = era;
		c->era = era;
		c->next_id = 1;
	}
	return c;
}

static void forget_server(struct mcp_client *c)
{
	free(c->server_name);
	free(c->server_version);
	free(c->instructions);
	c->server_name = c->server_version = c->instructions = NULL;
	c->tools_change = false;
}

void mcp_client_free(struct mcp_client *c)
{
	if (c == NULL)
		return;
	forget_server(c);
	free(c);
}

void mcp_client_restart(struct mcp_client *c)
{
	forget_server(c);
	c->state = MCP_OPEN_NONE;
	c->era = c->hint;
	c->npending = 0;
	c->open_id = 0;
	c->version[0] = '\0';
	c->session[0] = '\0';
}

bool mcp_client_ready(const struct mcp_client *c)
{
	return c->state == MCP_OPEN_READY;
}

enum mcp_era mcp_client_era(const struct mcp_client *c)
{
	return c->era;
}

const char *mcp_client_version(const struct mcp_client *c)
{
	return c->version[0] ? c->version : NULL;
}

const char *mcp_client_server_name(const struct mcp_client *c)
{
	return c->server_name;
}

const char *mcp_client_server_version(const struct mcp_client *c)
{
	return c->server_version;
}

const char *mcp_client_instructions(const struct mcp_client *c)
{
	return c->instructions;
}

bool mcp_client_tools_change(const struct mcp_client *c)
{
	return c->tools_change;
}

int mcp_client_set_session(struct mcp_client *c, const char *id, struct ad_err *err)
{
	size_t len = id != NULL ? strlen(id) : 0;
	if (c->era == MCP_ERA_MODERN)
		return 0;   /* 2026-07-28 has no sessions: a stray header is ignored */
	if (len == 0 || len > MCP_SESSION_ID_MAX)
		return ad_err_code(err, EPROTO, "Mcp-Session-Id of %zu bytes (1 to %d)", len, MCP_SESSION_ID_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
			return ad_err_code(err, EPROTO, "Mcp-Session-Id with byte 0x%02x at %zu",
					   (unsigned char)id[i], i);
	memcpy(c->session, id, len + 1);
	return 0;
}

/* A copy of a string member of obj, bounded, cut where a character starts: what a
 * server says of itself is shown, not trusted. */
static char *dup_str(const cJSON *obj, const char *key, size_t max)
{
	const char *s = json_str(obj, key);
	if (s == NULL)
		return NULL;
	size_t len = strnlen(s, max + 1);
	if (len > max)
		for (len = max; len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80; len--)
			;
	return strndup(s, len);
}

void mcp_client_learn(struct mcp_client *c, const cJSON *result)
{
	const cJSON *info = cJSON_GetObjectItemCaseSensitive(result, "serverInfo");
	if (!cJSON_IsObject(info))  /* 2026-07-28 puts it in the result's _meta */
		info = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(result, "_meta"),
							MCP_META_SERVER);
	const cJSON *caps = cJSON_GetObjectItemCaseSensitive(result, "capabilities");
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(caps, "tools");
	forget_server(c);
	c->server_name = dup_str(info, "name", 256);
	c->server_version = dup_str(info, "version", 256);
	c->instructions = dup_str(result, "instructions", 64 << 10);
	c->tools_change = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tools, "listChanged"));
}

cJSON *mcp_client_info(void)
{
	cJSON *info = cJSON_CreateObject();
	if (cJSON_AddStringToObject(info, "name", "agentd") == NULL ||
	    cJSON_AddStringToObject(info, "version", AGENTD_VERSION) == NULL) {
		cJSON_Delete(info);
		return NULL;
	}
	return info;
}

/* The _meta every 2026-07-28 request carries: version, capabilities (none), who we are. */
static bool add_meta(cJSON *params)
{
	cJSON *meta = cJSON_AddObjectToObject(params, "_meta");
	return meta != NULL && cJSON_AddStringToObject(meta, MCP_META_VERSION, MCP_REVISION_MODERN) != NULL &&
	       cJSON_AddItemToObject(meta, MCP_META_CLIENT, mcp_client_info()) &&
	       cJSON_AddObjectToObject(meta, MCP_META_CAPS) != NULL;
}

cJSON *mcp_request(struct mcp_client *c, const char *method, cJSON *params, bool modern, struct ad_err *err)
{
	if (c->npending == MCP_PENDING_MAX) {
		cJSON_Delete(params);
		return ad_err_code(err, EBUSY, "%d requests to the server are unanswered", MCP_PENDING_MAX), NULL;
	}
	if (params == NULL && modern)
		params = cJSON_CreateObject();
	cJSON *msg = cJSON_CreateObject();
	bool ok = msg != NULL && (params != NULL || !modern) && (!modern || add_meta(params)) &&
		  cJSON_AddStringToObject(msg, "jsonrpc", "2.0") != NULL &&
		  cJSON_AddNumberToObject(msg, "id", (double)c->next_id) != NULL &&
		  cJSON_AddStringToObject(msg, "method", method) != NULL;
	if (ok && params != NULL) {
		ok = cJSON_AddItemToObject(msg, "params", params);
		params = ok ? NULL : params;
	}
	cJSON_Delete(params);
	if (!ok) {
		cJSON_Delete(msg);
		return ad_err_set(err, ENOMEM, "%s request", method), NULL;
	}
	c->pending[c->npending++] = c->next_id++;
	return msg;
}

static bool modern(const struct mcp_client *c)
{
	return c->era == MCP_ERA_MODERN && c->state == MCP_OPEN_READY;
}

cJSON *mcp_req_initialize(struct mcp_client *c, struct ad_err *err)
{
	cJSON *params = cJSON_CreateObject();
	if (params == NULL || cJSON_AddStringToObject(params, "protocolVersion", MCP_REVISION_LEGACY) == NULL ||
	    cJSON_AddObjectToObject(params, "capabilities") == NULL ||
	    !cJSON_AddItemToObject(params, "clientInfo", mcp_client_info())) {
		cJSON_Delete(params);
		return ad_err_set(err, ENOMEM, "initialize request"), NULL;
	}
	return mcp_request(c, "initialize", params, false, err);
}

cJSON *mcp_note_initialized(void)
{
	cJSON *msg = cJSON_CreateObject();
	if (cJSON_AddStringToObject(msg, "jsonrpc", "2.0") == NULL ||
	    cJSON_AddStringToObject(msg, "method", "notifications/initialized") == NULL) {
		cJSON_Delete(msg);
		return NULL;
	}
	return msg;
}

cJSON *mcp_req_discover(struct mcp_client *c, struct ad_err *err)
{
	return mcp_request(c, "server/discover", NULL, true, err);
}

cJSON *mcp_req_tools_list(struct mcp_client *c, const char *cursor, struct ad_err *err)
{
	cJSON *params = NULL;
	if (cursor != NULL) {
		params = cJSON_CreateObject();
		if (cJSON_AddStringToObject(params, "cursor", cursor) == NULL) {
			cJSON_Delete(params);
			return ad_err_set(err, ENOMEM, "tools/list request"), NULL;
		}
	}
	return mcp_request(c, "tools/list", params, modern(c), err);
}

cJSON *mcp_req_tools_call(struct mcp_client *c, const char *tool, const cJSON *arguments, struct ad_err *err)
{
	if (tool == NULL || (arguments != NULL && !cJSON_IsObject(arguments)))
		return ad_err_code(err, EINVAL, "tools/call: no tool name, or arguments that are not an object"), NULL;
	cJSON *params = cJSON_CreateObject();
	cJSON *args = arguments != NULL ? cJSON_Duplicate(arguments, true) : cJSON_CreateObject();
	bool ok = params != NULL && args != NULL && cJSON_AddStringToObject(params, "name", tool) != NULL &&
		  cJSON_AddItemToObject(params, "arguments", args);
	if (!ok) {
		if (cJSON_GetObjectItemCaseSensitive(params, "arguments") != args)
			cJSON_Delete(args);
		cJSON_Delete(params);
		return ad_err_set(err, ENOMEM, "tools/call request"), NULL;
	}
	return mcp_request(c, "tools/call", params, modern(c), err);
}

cJSON *mcp_req_ping(struct mcp_client *c, struct ad_err *err)
{
	if (modern(c))
		return ad_err_code(err, EOPNOTSUPP, "ping is not part of MCP %s", MCP_REVISION_MODERN), NULL;
	return mcp_request(c, "ping", NULL, false, err);
}

void mcp_forget(struct mcp_client *c, int64_t id)
{
	for (size_t i = 0; i < c->npending; i++) {
		if (c->pending[i] == id) {
			c->pending[i] = c->pending[--c->npending];
			return;
		}
	}
}

int64_t mcp_id_of(const cJSON *msg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	return cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
}

char *mcp_encode(const cJSON *msg, size_t *len)
{
	char *text = json_print(msg);
	if (text == NULL)
		return NULL;
	size_t n = strlen(text);
	char *line = malloc(n + 2);
	if (line != NULL) {
		memcpy(line, text, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		*len = n + 1;
	}
	cJSON_free(text);
	if (line == NULL)
		errno = ENOMEM;
	return line;
}

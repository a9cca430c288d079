/* Remote MCP servers over Streamable HTTP, with libcurl: see
 * include/supervisor/mcp_remote.h. */
#include "mcp_remote_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "supervisor/curl_loader.h"

/* A notification (notifications/initialized): accepted with 2xx. */
static int notify(struct mcp_remote *r, const cJSON *msg, const char *what, struct ad_err *err)
{
	struct exchange x;
	mcp_remote_send(r, r->curl, msg, (long)r->timeout_s * 1000, &x);
	int rc = mcp_remote_transport_failed(r, &x, what, err);
	if (rc == 0 && x.status / 100 != 2)
		rc = mcp_remote_status_failed(&x, what, err);
	mcp_remote_release(&x);
	return rc;
}

/* One request while opening: its answer (or its absence) goes to mcp_open_reply. */
static int open_step(struct mcp_remote *r, const cJSON *msg, const char *what, cJSON **next, struct ad_err *err)
{
	struct exchange x;
	mcp_remote_send(r, r->curl, msg, (long)r->timeout_s * 1000, &x);
	bool initialize = strcmp(what, "initialize") == 0;
	/* a probe answered with what is no JSON-RPC shows a legacy server, as silence does */
	if (!initialize && x.failed && x.status != 0 && x.err.errnum != EMSGSIZE && x.err.errnum != ENOMEM) {
		log_debug("mcp %s: %s: HTTP %ld: %s", r->name, what, x.status, x.err.msg);
		x.failed = false;
		x.rc = CURLE_OK;            /* the transfer was ended by us, on that */
	}
	int rc = mcp_remote_transport_failed(r, &x, what, err);
	/* the probe's other refusals show a legacy server; credentials and redirects do not */
	if (rc == 0 && (x.status == 401 || x.status == 403 || x.status / 100 == 3 ||
			(initialize && x.got != 1 && x.status / 100 != 2)))
		rc = mcp_remote_status_failed(&x, what, err);
	else if (rc == 0 && initialize && x.got != 1)
		rc = mcp_remote_not_answered(&x, what, err);
	if (rc == 0)
		rc = mcp_open_reply(r->client, x.got == 1 ? &x.answer : NULL, (int)x.status, next, err);
	if (rc == 0 && x.session[0] != '\0' && mcp_client_ready(r->client) &&
	    mcp_client_era(r->client) == MCP_ERA_LEGACY) {
		rc = mcp_client_set_session(r->client, x.session, err);
		if (rc == 0)
			snprintf(r->session, sizeof(r->session), "%s", x.session);
	}
	mcp_remote_release(&x);
	return rc;
}

/* The opening exchange, from server/discover to notifications/initialized. */
static int handshake(struct mcp_remote *r, struct ad_err *err)
{
	cJSON *msg = mcp_open(r->client, err);
	int rc = msg != NULL ? 0 : -1;
	while (rc == 0 && msg != NULL) {
		cJSON *next = NULL;
		const char *method = json_str(msg, "method");
		char what[64];
		snprintf(what, sizeof(what), "%s", method != NULL ? method : "?");
		rc = cJSON_GetObjectItemCaseSensitive(msg, "id") == NULL ? notify(r, msg, what, err)
									: open_step(r, msg, what, &next, err);
		cJSON_Delete(msg);
		msg = next;
	}
	cJSON_Delete(msg);
	return rc;
}

/* A session the server ended: a new one, of the era found the first time. */
static int reopen(struct mcp_remote *r, long status, struct ad_err *err)
{
	struct mcp_client *c = mcp_client_new(mcp_client_era(r->client));
	if (c == NULL)
		return ad_err_set(err, ENOMEM, "opening the session again");
	log_info("mcp %s: the server ended the session (HTTP %ld): opening another", r->name, status);
	mcp_client_free(r->client);
	r->client = c;
	r->session[0] = '\0';
	return handshake(r, err);
}

/* The server no longer knows the session the request carried: 404, as the spec says;
 * or 400 with words about the session, as servers built on the TypeScript SDK 1.x's
 * examples answer (server-everything: "Bad Request: No valid session ID provided"). */
static bool session_gone(const struct exchange *x)
{
	return !x->aborted && (x->status == 404 || (x->status == 400 && strcasestr(x->words, "session") != NULL));
}

/* A request given up on: the server is told, so that it can stop working on it (the
 * spec's notifications/cancelled; in 2026-07-28 the closed stream says it already).
 * Best effort, within CANCEL_TIMEOUT_MS, whatever the abort callback says. */
static void cancel(struct mcp_remote *r, int64_t id, const char *reason)
{
	if (mcp_client_era(r->client) != MCP_ERA_LEGACY)
		return;
	cJSON *msg = cJSON_CreateObject(), *params = cJSON_AddObjectToObject(msg, "params");
	bool (*abort)(void *) = r->abort;
	struct exchange x;
	if (params != NULL && cJSON_AddStringToObject(msg, "jsonrpc", "2.0") != NULL &&
	    cJSON_AddStringToObject(msg, "method", "notifications/cancelled") != NULL &&
	    cJSON_AddNumberToObject(params, "requestId", (double)id) != NULL &&
	    cJSON_AddStringToObject(params, "reason", reason) != NULL) {
		r->abort = NULL;
		mcp_remote_send(r, r->curl, msg, CANCEL_TIMEOUT_MS, &x);
		r->abort = abort;
		mcp_remote_release(&x);
	}
	cJSON_Delete(msg);
}

/* A request made after the open: tools/list or tools/call. */
struct ask {
	const char *what;
	const char *cursor;          /* tools/list */
	const char *tool;            /* tools/call, when not NULL */
	const cJSON *arguments;
};

/* Send a request and read its result: 0 with *answer a result (mcp_msg_free() it). A
 * 404 to a request that carried a session id: the session is opened again and the
 * request sent again, once. */
static int ask(struct mcp_remote *r, const struct ask *q, struct mcp_msg *answer, struct ad_err *err)
{
	for (int attempt = 0;; attempt++) {
		cJSON *msg = q->tool != NULL ? mcp_req_tools_call(r->client, q->tool, q->arguments, err)
					     : mcp_req_tools_list(r->client, q->cursor, err);
		if (msg == NULL)
			return -1;
		bool had_session = r->session[0] != '\0';
		struct exchange x;
		mcp_remote_send(r, r->curl, msg, (long)(q->tool ? r->call_timeout_s : r->timeout_s) * 1000, &x);
		int64_t id = x.want;
		cJSON_Delete(msg);
		int rc = mcp_remote_transport_failed(r, &x, q->what, err);
		if (rc == 0 && x.got != 1 && x.status / 100 != 2)
			rc = mcp_remote_status_failed(&x, q->what, err);
		else if (rc == 0 && x.got != 1)
			rc = mcp_remote_not_answered(&x, q->what, err);
		const cJSON *result;
		if (rc == 0 && mcp_result_of(&x.answer, id, &result, err) < 0)
			rc = ad_err_prefix(err, "%s: the server answered with an error", q->what);
		if (rc == 0) {
			*answer = x.answer;
			return 0;
		}
		mcp_remote_release(&x);
		if ((x.aborted || x.rc == CURLE_OPERATION_TIMEDOUT) && x.got != 1)
			cancel(r, id, x.aborted ? "cancelled by the user" : "timed out");
		if (attempt > 0 || !had_session || !session_gone(&x))
			return -1;
		if (reopen(r, x.status, err) < 0)
			return ad_err_prefix(err, "%s: the server ended the session; opening a new one", q->what);
	}
}

int mcp_remote_list(struct mcp_remote *r, struct mcp_toolset *ts, bool (*abort)(void *), void *ctx,
		    struct ad_err *err)
{
	r->abort = abort;
	r->abort_ctx = ctx;
	int rc = mcp_toolset_begin(ts, r->name, err);
	const char *cursor = NULL;
	r->tools_changed = false;
	while (rc == 0) {
		struct ask q = { .what = "tools/list", .cursor = cursor };
		struct mcp_msg m;
		if ((rc = ask(r, &q, &m, err)) < 0)
			break;
		rc = mcp_toolset_page(ts, r->name, m.result, &cursor, err);
		mcp_msg_free(&m);
		if (cursor == NULL)
			break;
	}
	r->abort = NULL;
	const char *why = NULL;
	size_t skipped = rc == 0 ? mcp_toolset_skipped(ts, r->name, &why) : 0;
	if (skipped > 0)
		log_warn("mcp %s: %zu of its tools cannot be offered to the model (the first: %s)", r->name, skipped,
			 why != NULL ? why : "?");
	return rc;
}

bool mcp_remote_tools_changed(const struct mcp_remote *r)
{
	return r->tools_changed;
}

enum mcp_era mcp_remote_era(const struct mcp_remote *r)
{
	return mcp_client_era(r->client);
}

struct mcp_remote *mcp_remote_open(const struct mcp_remote_spec *spec, struct mcp_toolset *ts,
				   bool (*abort)(void *), void *ctx, struct ad_err *err)
{
	const char *name = spec->name != NULL ? spec->name : "?";
	uint64_t t0 = clock_mono_ns();
	if (spec->url == NULL ||
	    (strncasecmp(spec->url, "http://", 7) != 0 && strncasecmp(spec->url, "https://", 8) != 0))
		return ad_err_code(err, EINVAL, "MCP server \"%s\": its url must be http:// or https://", name), NULL;
	if (curl_load(err) < 0)
		return ad_err_prefix(err, "MCP server \"%s\"", name), NULL;
	struct mcp_remote *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return ad_err_set(err, ENOMEM, "MCP server \"%s\"", name), NULL;
	r->timeout_s = spec->timeout_s > 0 ? spec->timeout_s : DEFAULT_TIMEOUT_S;
	r->call_timeout_s = spec->call_timeout_s > 0 ? spec->call_timeout_s : r->timeout_s;
	r->max_output = spec->max_output;
	r->name = strdup(name);
	r->url = strdup(spec->url);
	r->client = mcp_client_new(spec->era);
	r->curl = curl_easy_init();
	int rc = r->name == NULL || r->url == NULL || r->client == NULL || r->curl == NULL
			 ? ad_err_set(err, ENOMEM, "opening") : mcp_remote_headers_make(spec->headers, &r->conf, err);
	r->abort = abort;
	r->abort_ctx = ctx;
	if (rc == 0)
		rc = handshake(r, err);
	if (rc == 0)
		rc = mcp_remote_list(r, ts, abort, ctx, err);
	r->abort = NULL;
	if (rc < 0) {
		ad_err_prefix(err, "MCP server \"%s\"", name);
		mcp_remote_close(r);
		return NULL;
	}
	log_info("mcp %s: MCP %s, %s, %s%s, tools listed, in %.0f ms", r->name, mcp_client_version(r->client),
		 r->session[0] ? "a session" : "no session",
		 mcp_client_server_name(r->client) ? mcp_client_server_name(r->client) : "(unnamed)",
		 r->tools_changed ? " (its tools changed meanwhile)" : "", clock_ms_since(t0));
	return r;
}

int mcp_remote_call(struct mcp_remote *r, const char *tool, const cJSON *arguments, bool (*abort)(void *),
		    void *ctx, cJSON **content, bool *is_error, struct ad_err *err)
{
	struct ad_err e = { 0 };
	char what[MCP_TOOL_NAME_MAX + 32];
	uint64_t t0 = clock_mono_ns();
	*content = NULL;
	*is_error = false;
	snprintf(what, sizeof(what), "tools/call %s", tool != NULL ? tool : "?");
	r->abort = abort;
	r->abort_ctx = ctx;
	struct ask q = { .what = what, .tool = tool, .arguments = arguments };
	struct mcp_msg m;
	int rc = ask(r, &q, &m, &e);
	r->abort = NULL;
	if (rc == 0) {
		rc = mcp_tool_result(m.result, r->max_output, content, is_error, &e);
		mcp_msg_free(&m);
	}
	if (rc < 0)
		log_info("mcp %s: %s (after %.0f ms)", r->name, e.msg, clock_ms_since(t0));
	else
		log_info("mcp %s: %s: %s in %.0f ms", r->name, what, *is_error ? "a tool error" : "ok", clock_ms_since(t0));
	if (rc < 0) {
		ad_err_prefix(&e, "MCP server \"%s\"", r->name);
		if (err != NULL)
			*err = e;
	}
	return rc;
}

/* DELETE: the server may free the session now rather than when it times out. */
static void end_session(struct mcp_remote *r)
{
	char sid[MCP_SESSION_ID_MAX + 32], version[64];
	const char *lines[2] = { sid, version };
	snprintf(sid, sizeof(sid), "Mcp-Session-Id: %s", r->session);
	snprintf(version, sizeof(version), "MCP-Protocol-Version: %s",
		 mcp_client_version(r->client) ? mcp_client_version(r->client) : MCP_REVISION_LEGACY);
	struct curl_slist *h = mcp_remote_header_list(r, lines, 2);
	struct exchange x = { .r = r, .curl = r->curl };
	if (h != NULL) {
		mcp_remote_transfer(&x, NULL, 0, h, MCP_REMOTE_CLOSE_TIMEOUT_MS);
		log_debug("mcp %s: DELETE the session: %ld %s", r->name, x.status, x.errbuf);
	}
	mcp_remote_body_free(x.body);
	mcp_remote_wipe_list(h);
	r->session[0] = '\0';
}

void mcp_remote_close(struct mcp_remote *r)
{
	if (r == NULL)
		return;
	r->abort = NULL;
	if (r->session[0] != '\0' && r->curl != NULL)
		end_session(r);
	if (r->curl != NULL)
		curl_easy_cleanup(r->curl);
	if (r->side != NULL)
		curl_easy_cleanup(r->side);
	mcp_client_free(r->client);
	mcp_remote_headers_wipe(&r->conf);
	free(r->name);
	free(r->url);
	free(r);
}

/* stdio MCP servers inside the sandbox: see include/agent/mcp_stdio.h; the I/O with
 * one server is mcp_stdio_io.c's. */
#include "mcp_stdio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"

/* The open (mcp.h chooses the revision), by start_deadline. */
static int open_server(struct mcp_stdio *m, struct server *v, uint64_t start_deadline, struct ad_err *err)
{
	cJSON *msg = mcp_open(v->c, err);
	char why[128];
	while (msg != NULL) {
		int64_t id = mcp_id_of(msg);
		const char *method = json_str(msg, "method");
		bool probe = method != NULL && strcmp(method, "server/discover") == 0;
		int rc = mcp_server_send(v, msg, start_deadline) < 0 ? GONE : GOT;
		cJSON_Delete(msg);
		msg = NULL;
		if (id <= 0)                        /* a notification: the open is done */
			return rc == GOT ? 0 : ad_err_set(err, 0, "the server exited");
		uint64_t until = start_deadline;
		if (probe && clock_mono_ns() + MCP_PROBE_TIMEOUT_MS * 1000000ull < until)
			until = clock_mono_ns() + MCP_PROBE_TIMEOUT_MS * 1000000ull;
		struct mcp_msg reply;
		if (rc == GOT)
			rc = mcp_server_answer(v, id, until, -1, &reply, err);
		if (rc == GOT) {
			rc = mcp_open_reply(v->c, &reply, 0, &msg, err);
			mcp_msg_free(&reply);
		} else if (probe && (rc == TIMED_OUT || rc == GONE) && clock_mono_ns() < start_deadline) {
			/* a server of the old revision only: started again if the probe ended it */
			if (rc == GONE && (mcp_server_stop(v), mcp_server_spawn(v, m->dir) < 0))
				return ad_err_sys(err, "start it again");
			rc = mcp_open_reply(v->c, NULL, 0, &msg, err);
		} else {
			return ad_err_set(err, 0, "%s", rc == BROKEN && err->msg[0] ? err->msg
					  : mcp_server_ended(rc, m->lim.start_timeout_s, why, sizeof(why)));
		}
		if (rc < 0)
			return -1;
	}
	return mcp_client_ready(v->c) ? 0 : -1;
}

static int list_tools(struct mcp_stdio *m, struct server *v, uint64_t deadline, struct ad_err *err)
{
	const char *cursor = NULL;
	char why[128];
	size_t before = mcp_toolset_count(m->ts);
	v->changed = false;
	if (mcp_toolset_begin(m->ts, v->name, err) < 0)
		return -1;
	do {
		cJSON *req = mcp_req_tools_list(v->c, cursor, err);
		if (req == NULL)
			return -1;
		int64_t id = mcp_id_of(req);
		int rc = mcp_server_send(v, req, deadline) < 0 ? GONE : GOT;
		cJSON_Delete(req);
		struct mcp_msg reply;
		if (rc == GOT)
			rc = mcp_server_answer(v, id, deadline, -1, &reply, err);
		if (rc != GOT)
			return ad_err_set(err, 0, "tools/list: %s", mcp_server_ended(rc, m->lim.start_timeout_s, why, sizeof(why)));
		const cJSON *result;
		rc = mcp_result_of(&reply, id, &result, err) < 0 ? -1 : mcp_toolset_page(m->ts, v->name, result, &cursor, err);
		mcp_msg_free(&reply);
		if (rc < 0)
			return ad_err_prefix(err, "tools/list");
	} while (cursor != NULL);
	v->tools = mcp_toolset_count(m->ts) - (before - v->tools);
	return 0;
}

struct mcp_stdio *mcp_stdio_start(const cJSON *servers, const char *dir, const struct mcp_stdio_limits *lim)
{
	struct mcp_stdio *m = calloc(1, sizeof(*m));
	size_t n = (size_t)cJSON_GetArraySize(servers);
	if (m == NULL || (m->s = calloc(n + 1, sizeof(*m->s))) == NULL || (m->ts = mcp_toolset_new()) == NULL) {
		mcp_stdio_free(m);
		return NULL;
	}
	m->lim = *lim;
	m->dir = dir;
	const cJSON *spec;
	cJSON_ArrayForEach(spec, servers) {       /* checked by the supervisor's config */
		struct server *v = &m->s[m->n++];
		struct ad_err e = { 0, "" };
		snprintf(v->name, sizeof(v->name), "%s", spec->string);
		v->spec = spec;
		v->to = v->from = v->err = -1;
		uint64_t deadline = clock_mono_ns() + (uint64_t)lim->start_timeout_s * 1000000000u;
		if ((v->c = mcp_client_new(MCP_ERA_AUTO)) == NULL)
			mcp_server_fail(v, "out of memory");
		else if (mcp_server_spawn(v, dir) < 0)
			mcp_server_fail(v, "it could not be started");
		else if (open_server(m, v, deadline, &e) < 0 || list_tools(m, v, deadline, &e) < 0)
			mcp_server_fail(v, e.msg[0] ? e.msg : "it could not be opened");
	}
	return m;
}

void mcp_stdio_tooldefs(struct mcp_stdio *m, cJSON *tools)
{
	cJSON *defs = mcp_toolset_defs(m->ts), *d;
	while (defs != NULL && (d = cJSON_DetachItemFromArray(defs, 0)) != NULL)
		cJSON_AddItemToArray(tools, d);
	cJSON_Delete(defs);
}

cJSON *mcp_stdio_report(const struct mcp_stdio *m)
{
	cJSON *r = cJSON_CreateObject();
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		const struct server *v = &m->s[i];
		cJSON *o = cJSON_AddObjectToObject(r, v->name);
		cJSON_AddStringToObject(o, "state", v->failed ? "failed" : "ready");
		cJSON_AddNumberToObject(o, "tools", (double)v->tools);
		if (v->failed)
			cJSON_AddStringToObject(o, "error", v->error);
	}
	return r;
}

static struct server *server_of(struct mcp_stdio *m, const char *name, const char **tool)
{
	const char *server;
	if (m == NULL || mcp_toolset_find(m->ts, name, &server, tool) < 0)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->s[i].name, server) == 0)
			return &m->s[i];
	return NULL;
}

bool mcp_stdio_refresh(struct mcp_stdio *m)
{
	bool relisted = false;
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		struct server *v = &m->s[i];
		struct ad_err e = { 0, "" };
		mcp_server_poll(v);
		if (v->failed || !v->changed)
			continue;
		relisted = true;
		uint64_t deadline = clock_mono_ns() + (uint64_t)m->lim.start_timeout_s * 1000000000u;
		if (list_tools(m, v, deadline, &e) < 0) {
			mcp_toolset_begin(m->ts, v->name, &e);     /* its tools go with it */
			v->tools = 0;
			mcp_server_fail(v, e.msg[0] ? e.msg : "listing its tools again failed");
		}
	}
	return relisted;
}

bool mcp_stdio_has(struct mcp_stdio *m, const char *name)
{
	const char *tool;
	return server_of(m, name, &tool) != NULL;
}

bool mcp_stdio_call(struct mcp_stdio *m, const char *name, const cJSON *input, int cancel_fd, struct tool_result *r)
{
	const char *tool;
	struct server *v = server_of(m, name, &tool);
	struct ad_err e = { 0, "" };
	char why[128];
	if (v == NULL || v->failed) {
		tool_result_error(r, "the MCP server of %s is not running%s%s", name, v ? ": " : "", v ? v->error : "");
		return false;
	}
	uint64_t deadline = clock_mono_ns() + (uint64_t)m->lim.call_timeout_s * 1000000000u;
	cJSON *req = mcp_req_tools_call(v->c, tool, input, &e);
	if (req == NULL) {
		tool_result_error(r, "%s: %s", name, e.msg);
		return false;
	}
	int64_t id = mcp_id_of(req);
	int rc = mcp_server_send(v, req, deadline) < 0 ? GONE : GOT;
	cJSON_Delete(req);
	struct mcp_msg reply;
	if (rc == GOT)
		rc = mcp_server_answer(v, id, deadline, cancel_fd, &reply, &e);
	if (rc == CANCELLED) {
		tool_result_error(r, "interrupted");
		return true;
	}
	if (rc != GOT) {
		mcp_server_ended(rc, m->lim.call_timeout_s, why, sizeof(why));
		tool_result_error(r, "the MCP server %s: %s", v->name, rc == BROKEN && e.msg[0] ? e.msg : why);
		if (rc != TIMED_OUT)
			mcp_server_fail(v, rc == BROKEN && e.msg[0] ? e.msg : why);
		return false;
	}
	const cJSON *result;
	cJSON *content = NULL;
	bool is_error = false;
	if (mcp_result_of(&reply, id, &result, &e) < 0 ||
	    mcp_tool_result(result, m->lim.max_output, &content, &is_error, &e) < 0) {
		tool_result_error(r, "the MCP server %s: %s", v->name, e.msg);
	} else {
		tool_result_blocks(r, content);
		r->is_error = is_error;
	}
	mcp_msg_free(&reply);
	return false;
}

void mcp_stdio_free(struct mcp_stdio *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; m->s != NULL && i < m->n; i++) {
		mcp_server_stop(&m->s[i]);
		mcp_client_free(m->s[i].c);
		free(m->s[i].in);
	}
	free(m->s);
	mcp_toolset_free(m->ts);
	free(m);
}

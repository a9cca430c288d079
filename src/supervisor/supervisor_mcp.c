/* The session's MCP servers, as the supervisor sees them: which of the configured ones
 * it gets (all, or the names it listed), the stdio ones handed to the agent in HELLO
 * (they run in the sandbox), and what became of each, for "ready" (and a "warning"
 * event for each that failed: the session goes on without it). */
#include "supervisor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/utf8.h"
#include "supervisor/mcp_remote.h"
#include "core/log.h"

int sup_mcp_select(struct supervisor *s, const cJSON *opts, struct ad_err *err)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(opts, "mcp_servers"), *n;
	cJSON *all = cJSON_Parse(s->env->cfg->mcp.servers ? s->env->cfg->mcp.servers : "{}"), *srv;
	if (!cJSON_IsObject(all)) {
		cJSON_Delete(all);
		return ad_err_set(err, 0, "mcp.servers is not an object");
	}
	if (names != NULL) {          /* checked by the gateway; again here */
		cJSON *chosen = cJSON_CreateObject();
		cJSON_ArrayForEach(n, names) {
			srv = cJSON_IsString(n) ? cJSON_DetachItemFromObjectCaseSensitive(all, n->valuestring) : NULL;
			if (srv == NULL) {
				cJSON_Delete(chosen);
				cJSON_Delete(all);
				return ad_err_set(err, 0, "mcp_servers: \"%s\" is not a configured MCP server",
						  cJSON_IsString(n) ? n->valuestring : "?");
			}
			cJSON_AddItemToObject(chosen, srv->string, srv);
		}
		cJSON_Delete(all);
		all = chosen;
	}
	s->mcp_stdio = cJSON_CreateObject();
	s->mcp_remote_specs = cJSON_CreateObject();
	while ((srv = all->child) != NULL) {
		cJSON_DetachItemViaPointer(all, srv);
		bool stdio = cJSON_GetObjectItemCaseSensitive(srv, "command") != NULL;
		cJSON_AddItemToObject(stdio ? s->mcp_stdio : s->mcp_remote_specs, srv->string, srv);
	}
	cJSON_Delete(all);
	return 0;
}

void sup_mcp_hello(const struct supervisor *s, cJSON *config)
{
	if (cJSON_GetArraySize(s->mcp_stdio) == 0)
		return;
	const struct config *cfg = s->env->cfg;
	cJSON_AddItemToObject(config, "mcp_servers", cJSON_Duplicate(s->mcp_stdio, true));
	cJSON *lim = cJSON_AddObjectToObject(config, "mcp_limits");
	cJSON_AddNumberToObject(lim, "start_timeout_s", (double)cfg->mcp.start_timeout_s);
	cJSON_AddNumberToObject(lim, "call_timeout_s", (double)cfg->mcp.call_timeout_s);
	cJSON_AddNumberToObject(lim, "max_output", (double)cfg->mcp.max_output);
}

/* One server's state for "ready", checked (the agent's word on its own servers is the
 * sandbox's: only the fields we know, as types we know). */
static cJSON *state_of(const cJSON *v)
{
	const char *state = json_str(v, "state"), *error = json_str(v, "error");
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(v, "tools");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "state", state && strcmp(state, "ready") == 0 ? "ready" : "failed");
	cJSON_AddNumberToObject(o, "tools", cJSON_IsNumber(tools) && tools->valuedouble >= 0 ? tools->valuedouble : 0);
	if (error != NULL || !state || strcmp(state, "ready") != 0) {
		char text[AD_ERR_MSG_MAX];
		utf8_sanitise(error ? error : "it did not start", text, sizeof(text));
		cJSON_AddStringToObject(o, "error", text);
	}
	return o;
}

cJSON *sup_mcp_report(struct supervisor *s, const cJSON *agent_report)
{
	cJSON *r = cJSON_CreateObject();
	const cJSON *srv;
	cJSON_ArrayForEach(srv, s->mcp_stdio) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(agent_report, srv->string);
		cJSON_AddItemToObject(r, srv->string, state_of(v));
	}
	cJSON_ArrayForEach(srv, s->mcp_remote_state)
		cJSON_AddItemToObject(r, srv->string, state_of(srv));
	cJSON_ArrayForEach(srv, r) {
		const char *error = json_str(srv, "error");
		if (error == NULL)
			continue;
		char msg[AD_ERR_MSG_MAX + 128];
		snprintf(msg, sizeof(msg), "the MCP server %s is not available: %s", srv->string, error);
		log_warn("%s", msg);
		cJSON *w = cJSON_CreateObject();
		cJSON_AddStringToObject(w, "type", "warning");
		cJSON_AddStringToObject(w, "message", msg);
		sup_to_gateway(s, w);
	}
	return r;
}

/* While a server opens, nothing of the gateway's is read (no TURN may reach the agent
 * before its HELLO); only its time limit ends a server that does not answer. */
void sup_mcp_open_remote(struct supervisor *s)
{
	const struct config *cfg = s->env->cfg;
	size_t n = (size_t)cJSON_GetArraySize(s->mcp_remote_specs), i = 0;
	const cJSON *srv;
	s->mcp_remote_state = cJSON_CreateObject();
	if (n == 0 || (s->mcp_tools = mcp_toolset_new()) == NULL ||
	    (s->mcp_remote = calloc(n + 1, sizeof(*s->mcp_remote))) == NULL)
		return;
	cJSON_ArrayForEach(srv, s->mcp_remote_specs) {
		struct mcp_remote_spec spec = {
			.name = srv->string, .url = json_str(srv, "url"),
			.headers = cJSON_GetObjectItemCaseSensitive(srv, "headers"),
			.timeout_s = (unsigned)cfg->mcp.start_timeout_s, .call_timeout_s = (unsigned)cfg->mcp.call_timeout_s,
			.max_output = (size_t)cfg->mcp.max_output,
		};
		struct ad_err e;
		size_t before = mcp_toolset_count(s->mcp_tools);
		struct mcp_remote *r = mcp_remote_open(&spec, s->mcp_tools, NULL, NULL, &e);
		cJSON *st = cJSON_AddObjectToObject(s->mcp_remote_state, srv->string);
		cJSON_AddStringToObject(st, "state", r ? "ready" : "failed");
		cJSON_AddNumberToObject(st, "tools", r ? (double)(mcp_toolset_count(s->mcp_tools) - before) : 0);
		if (r == NULL)
			cJSON_AddStringToObject(st, "error", e.msg);
		else
			s->mcp_remote[i++] = r;
	}
}

void sup_mcp_tooldefs(struct supervisor *s, cJSON *tools)
{
	cJSON *defs = s->mcp_tools ? mcp_toolset_defs(s->mcp_tools) : NULL, *d;
	while (defs != NULL && (d = cJSON_DetachItemFromArray(defs, 0)) != NULL)
		cJSON_AddItemToArray(tools, d);
	cJSON_Delete(defs);
}

/* A cancel or the gateway's end, read while a call runs (as during a model call). */
static bool call_abort(void *ctx)
{
	return sup_during_call(ctx);
}

/* The open server of that name, or NULL (s->mcp_remote holds the open ones in the
 * order of s->mcp_remote_state). */
static struct mcp_remote *remote_named(struct supervisor *s, const char *server)
{
	const cJSON *srv;
	size_t i = 0;
	cJSON_ArrayForEach(srv, s->mcp_remote_state) {
		if (strcmp(json_str(srv, "state"), "ready") != 0)
			continue;
		if (strcmp(srv->string, server) == 0)
			return s->mcp_remote[i];
		i++;
	}
	return NULL;
}

bool sup_mcp_relist(struct supervisor *s)
{
	bool changed = false;
	cJSON *st;
	cJSON_ArrayForEach(st, s->mcp_remote_state) {
		struct mcp_remote *r = remote_named(s, st->string);
		if (r == NULL || !mcp_remote_tools_changed(r))
			continue;
		/* its tools go from the set and come back as the server lists them now */
		size_t others = mcp_toolset_count(s->mcp_tools) - (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "tools"));
		struct ad_err e;
		int rc = mcp_remote_list(r, s->mcp_tools, call_abort, s, &e);
		size_t now = mcp_toolset_count(s->mcp_tools) - others;
		cJSON_ReplaceItemInObjectCaseSensitive(st, "tools", cJSON_CreateNumber((double)now));
		if (rc < 0)
			log_warn("the MCP server %s changed its tools, and listing them again failed "
				 "(the model sees %zu of them): %s", st->string, now, e.msg);
		else
			log_info("the MCP server %s changed its tools: %zu now", st->string, now);
		changed = true;
	}
	return changed;
}

bool sup_mcp_call(struct supervisor *s, const char *name, const cJSON *input, cJSON *r)
{
	const char *server, *tool;
	if (s->mcp_tools == NULL || mcp_toolset_find(s->mcp_tools, name, &server, &tool) < 0)
		return false;
	struct mcp_remote *remote = remote_named(s, server);
	cJSON *content = NULL;
	bool is_error = true;
	struct ad_err e;
	if (remote == NULL || mcp_remote_call(remote, tool, input, call_abort, s, &content, &is_error, &e) < 0) {
		char msg[AD_ERR_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "the MCP server %s: %s", server, remote ? e.msg : "is not open");
		cJSON_AddStringToObject(r, "content", msg);
		is_error = true;
	} else {
		cJSON_AddItemToObject(r, "content", content);
	}
	cJSON_AddBoolToObject(r, "is_error", is_error);
	return true;
}

void sup_mcp_end(struct supervisor *s)
{
	for (size_t i = 0; s->mcp_remote != NULL && s->mcp_remote[i] != NULL; i++)
		mcp_remote_close(s->mcp_remote[i]);
	free(s->mcp_remote);
	s->mcp_remote = NULL;
	mcp_toolset_free(s->mcp_tools);
	s->mcp_tools = NULL;
	cJSON_Delete(s->mcp_stdio);
	cJSON_Delete(s->mcp_remote_specs);
	cJSON_Delete(s->mcp_remote_state);
	s->mcp_stdio = s->mcp_remote_specs = s->mcp_remote_state = NULL;
}

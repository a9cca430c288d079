/* The tools the supervisor runs for the agent, outside the sandbox: fetch_url and
 * fetch_html, under the session's egress rules (include/supervisor/fetch.h). */
#include "supervisor_int.h"

#include <string.h>

#include "core/json.h"
#include "supervisor/fetch.h"

/* What the model gets of a page, at most: about 50 000 tokens. */
#define FETCH_TEXT_MAX (200u << 10)

cJSON *sup_host_tools(struct supervisor *s)
{
	cJSON *tools = egress_rules_any(&s->egress) ? fetch_tooldefs() : cJSON_CreateArray();
	sup_mcp_tooldefs(s, tools);
	if (cJSON_GetArraySize(tools) == 0)
		tools = (cJSON_Delete(tools), NULL);
	return tools;
}

static int answer(struct supervisor *s, const char *id, const char *text, bool is_error, struct ad_err *err)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "id", id);
	cJSON_AddStringToObject(r, "content", text);
	cJSON_AddBoolToObject(r, "is_error", is_error);
	int rc = sup_to_agent(s, FRAME_TOOL_RESULT, r, err);
	cJSON_Delete(r);
	return rc;
}

/* A cancel or the gateway's end, read while the fetch runs (as during a model call). */
static bool fetch_abort(void *ctx)
{
	return sup_during_call(ctx);
}

int sup_tool_call(struct supervisor *s, const cJSON *call, struct ad_err *err)
{
	const char *id = json_str(call, "id"), *name = json_str(call, "name");
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(call, "input");
	if (id == NULL || name == NULL || !cJSON_IsObject(input))
		return ad_err_set(err, 0, "a tool_call frame needs id, name (strings) and input (an object)");
	cJSON *mcp = cJSON_CreateObject();
	if (sup_mcp_call(s, name, input, mcp)) {
		cJSON_AddStringToObject(mcp, "id", id);
		if (sup_mcp_relist(s)) {      /* the next model call offers the tools as they are now */
			cJSON *defs = sup_host_tools(s);
			cJSON_AddItemToObject(mcp, "host_tools", defs != NULL ? defs : cJSON_CreateArray());
		}
		int rc = sup_to_agent(s, FRAME_TOOL_RESULT, mcp, err);
		cJSON_Delete(mcp);
		return rc;
	}
	cJSON_Delete(mcp);
	bool readable = strcmp(name, "fetch_url") == 0;
	if (!egress_rules_any(&s->egress) || (!readable && strcmp(name, "fetch_html") != 0))
		return answer(s, id, "unknown tool: this session has no such tool", true, err);
	const char *url = json_str(input, "url");
	if (url == NULL || url[0] == '\0')
		return answer(s, id, "url (an http:// or https:// URL, a string) is required", true, err);
	const struct config *cfg = s->env->cfg;
	struct fetch_limits lim = { .max_bytes = (uint64_t)cfg->network.fetch_max_bytes,
				    .timeout_s = (unsigned)cfg->network.fetch_timeout_s, .max_text = FETCH_TEXT_MAX };
	struct fetch_result res;
	if (fetch_run(&s->egress, &lim, url, readable, fetch_abort, s, &res) < 0)
		return answer(s, id, "out of memory", true, err);
	cJSON *ev;
	while ((ev = cJSON_DetachItemFromArray(res.events, 0)) != NULL) {
		egress_log(ev);
		sup_to_gateway(s, ev);
	}
	int rc = answer(s, id, res.text, res.is_error, err);
	fetch_result_free(&res);
	return rc;
}

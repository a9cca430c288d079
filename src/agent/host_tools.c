/* The supervisor's tools, called from the agent: see include/agent/host_tools.h. */
#include "agent/host_tools.h"

#include <string.h>

#include "agent/mcp_stdio.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "ipc/frame.h"
#include "ipc/link.h"

bool host_tool_named(const cJSON *defs, const char *name)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, defs) {
		const char *n = json_str(d, "name");
		if (n != NULL && strcmp(n, name) == 0)
			return true;
	}
	return false;
}

int host_tools_set(struct agent *a, const cJSON *defs, struct ad_err *err)
{
	const cJSON *t;
	if (defs != NULL && !cJSON_IsArray(defs))
		return ad_err_set(err, 0, "host_tools must be an array of tool definitions");
	cJSON_ArrayForEach(t, defs) {
		const char *name = json_str(t, "name");
		if (!cJSON_IsObject(t) || name == NULL || toolbox_has(name))
			return ad_err_set(err, 0, "host_tools holds tools with names of their own");
	}
	cJSON *copy = defs != NULL ? cJSON_Duplicate(defs, true) : NULL;
	if (defs != NULL && copy == NULL)
		return ad_err_set(err, ENOMEM, "host_tools");
	cJSON_Delete(a->host_tools);
	a->host_tools = copy;
	while (cJSON_GetArraySize(a->tooldefs) > a->own_tools)
		cJSON_DeleteItemFromArray(a->tooldefs, a->own_tools);
	cJSON_ArrayForEach(t, copy)
		cJSON_AddItemToArray(a->tooldefs, cJSON_Duplicate(t, true));
	a->base_tools = cJSON_GetArraySize(a->tooldefs);
	if (a->mcp != NULL)
		mcp_stdio_tooldefs(a->mcp, a->tooldefs);
	return 0;
}

/* The TOOL_RESULT into r; -1 when it is not one for id. */
static int take_result(struct agent *a, const cJSON *p, const char *id, struct tool_result *r,
		       struct ad_err *err)
{
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(p, "host_tools");
	if (tools != NULL && host_tools_set(a, tools, err) < 0)
		return ad_err_prefix(err, "a tool_result frame");
	const char *got = json_str(p, "id"), *content = json_str(p, "content");
	const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(p, "content");
	const cJSON *is_error = cJSON_GetObjectItemCaseSensitive(p, "is_error");
	if (got == NULL || strcmp(got, id) != 0 || (content == NULL && !cJSON_IsArray(blocks)) ||
	    !cJSON_IsBool(is_error))
		return ad_err_set(err, 0, "a tool_result frame must have the call's id, content (a string or "
				  "content blocks) and is_error");
	if (content != NULL)
		buf_puts(&r->out, content);
	else
		tool_result_blocks(r, cJSON_Duplicate(blocks, true));
	r->is_error = cJSON_IsTrue(is_error);
	return 0;
}

int host_tool_call(struct agent *a, const char *id, const char *name, const cJSON *input,
		   struct tool_result *r, struct ad_err *err)
{
	struct model_link *l = &a->link;
	cJSON *call = cJSON_CreateObject();
	cJSON_AddStringToObject(call, "id", id);
	cJSON_AddStringToObject(call, "name", name);
	cJSON_AddItemToObject(call, "input", input ? cJSON_Duplicate(input, true) : cJSON_CreateObject());
	if (link_send_take(l->fd, FRAME_TOOL_CALL, call, err) < 0)
		return -1;
	l->result_owed = true;
	for (;;) {
		unsigned type;
		_cleanup_cjson_ cJSON *p = NULL;
		if (model_link_next(l, -1, &type, &p, err) < 0)
			return -1;
		if (type == FRAME_CANCEL) {
			tool_result_error(r, "interrupted");
			return 1;
		}
		if (type == FRAME_TOOL_RESULT) {
			l->result_owed = false;
			return take_result(a, p, id, r, err);
		}
		if (model_late_frame(l, type, err) < 0)
			return -1;
	}
}

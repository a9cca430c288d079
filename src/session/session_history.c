/* A session's history (GET /api/sessions/{id}/history): every tool call of its turns,
 * every exec and every decision of its egress proxy, with time, tool, input, outcome,
 * duration and output size; the last HISTORY_MAX of them. */
#include "session_int.h"

#include "core/json.h"

#include <string.h>
#include <time.h>

static cJSON *add(struct session *s, const char *kind, const char *tool)
{
	if (cJSON_GetArraySize(s->history) >= HISTORY_MAX)
		cJSON_DeleteItemFromArray(s->history, 0);
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "time", (double)time(NULL));
	cJSON_AddStringToObject(e, "kind", kind);
	cJSON_AddStringToObject(e, "tool", tool);
	cJSON_AddItemToObject(e, "id", cJSON_CreateNull());
	cJSON_AddItemToObject(e, "input", cJSON_CreateNull());
	cJSON_AddItemToObject(e, "is_error", cJSON_CreateNull());
	cJSON_AddItemToObject(e, "exit_status", cJSON_CreateNull());
	cJSON_AddItemToObject(e, "duration_ms", cJSON_CreateNull());
	cJSON_AddNumberToObject(e, "output_bytes", 0);
	cJSON_AddItemToArray(s->history, e);
	return e;
}

/* from's field name, when it has one, added to to (which has no such field yet) */
static void put(cJSON *to, const cJSON *from, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
	if (v != NULL)
		cJSON_AddItemToObject(to, name, cJSON_Duplicate(v, true));
}

void session_history_event(struct session *s, const char *type, const cJSON *ev)
{
	if (strcmp(type, "tool_start") == 0) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "name");
		cJSON *e = add(s, "tool", cJSON_IsString(name) ? name->valuestring : "?");
		json_copy_item(e, "id", ev, "id");
		json_copy_item(e, "input", ev, "input");
	} else if (strcmp(type, "tool_output") == 0) {
		cJSON *e = json_find_by_id(s->history, ev);
		const cJSON *out = cJSON_GetObjectItemCaseSensitive(ev, "output");
		if (e != NULL && cJSON_IsString(out))
			cJSON_ReplaceItemInObjectCaseSensitive(e, "output_bytes", cJSON_CreateNumber((double)strlen(out->valuestring)));
	} else if (strcmp(type, "tool_end") == 0) {
		cJSON *e = json_find_by_id(s->history, ev);
		if (e != NULL) {
			json_copy_item(e, "is_error", ev, "is_error");
			json_copy_item(e, "duration_ms", ev, "duration_ms");
			json_copy_item(e, "exit_status", ev, "exit_status");
		}
	} else if (strcmp(type, "egress") == 0) {
		/* tool: the request's method; input: where to; is_error: not allowed through */
		const cJSON *method = cJSON_GetObjectItemCaseSensitive(ev, "method");
		const char *decision = json_str(ev, "decision");
		cJSON *e = add(s, "egress", cJSON_IsString(method) ? method->valuestring : "?");
		cJSON *in = cJSON_CreateObject();
		put(in, ev, "host");
		put(in, ev, "port");
		cJSON_ReplaceItemInObjectCaseSensitive(e, "input", in);
		cJSON_ReplaceItemInObjectCaseSensitive(e, "is_error", cJSON_CreateBool(!decision ||
			strcmp(decision, "allowed") != 0));
		json_copy_item(e, "duration_ms", ev, "duration_ms");
		json_copy_item(e, "output_bytes", ev, "bytes_in");
		static const char *const more[] = { "decision", "address", "reason", "bytes_out", "bytes_in" };
		for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
			put(e, ev, more[i]);
	} else if (strcmp(type, "op_end") == 0 && strcmp(s->op_kind, "exec") == 0) {
		cJSON *e = add(s, "exec", "exec");
		char xid[32];
		session_exec_id(xid, sizeof(xid), cJSON_GetObjectItemCaseSensitive(ev, "id"));
		cJSON_ReplaceItemInObjectCaseSensitive(e, "id", cJSON_CreateString(xid));
		cJSON_ReplaceItemInObjectCaseSensitive(e, "input", cJSON_Duplicate(s->op_input, true));
		json_copy_item(e, "exit_status", ev, "exit_status");
		json_copy_item(e, "duration_ms", ev, "duration_ms");
		json_copy_item(e, "output_bytes", ev, "output_bytes");
		cJSON_ReplaceItemInObjectCaseSensitive(e, "is_error", cJSON_CreateBool(session_exec_failed(ev)));
	}
}

cJSON *session_history(struct session *s)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&s->lock);
	cJSON_AddItemToObject(j, "history", cJSON_Duplicate(s->history, true));
	pthread_mutex_unlock(&s->lock);
	return j;
}

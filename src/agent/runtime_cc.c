/* Claude Code's stream-json output as agentd's run events: see runtime_int.h.
 *
 *   {"type": "stream_event", "event": {an API event}}           text and thinking deltas
 *   {"type": "assistant", "message": {role, content}}           tool_use blocks: tool_start
 *                                                               (text too, when it did not
 *                                                               come as deltas)
 *   {"type": "user", "message": {content: [tool_result...]}}    tool_output, tool_end
 *   {"type": "result", "subtype", "is_error", "result"}         the run's end
 * Lines of other types, and lines that are not JSON, are passed over. */
#include "runtime_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/json.h"

static int event_text(struct agent *a, const char *type, const char *key, const char *text, struct ad_err *err)
{
	if (text == NULL || text[0] == '\0')
		return 0;
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddStringToObject(ev, key, text);
	return run_event(a, ev, err);
}

/* A delta of the main conversation (not of a subagent's). */
static int stream_event(struct agent *a, struct cc_state *st, const cJSON *line, struct ad_err *err)
{
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(line, "event");
	const char *type = json_str(ev, "type");
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(line, "parent_tool_use_id")) || type == NULL ||
	    strcmp(type, "content_block_delta") != 0)
		return 0;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "delta");
	const char *dtype = json_str(d, "type");
	if (dtype != NULL && strcmp(dtype, "text_delta") == 0) {
		st->streamed = true;
		return event_text(a, "text", "text", json_str(d, "text"), err);
	}
	if (dtype != NULL && strcmp(dtype, "thinking_delta") == 0)
		return event_text(a, "thinking", "thinking", json_str(d, "thinking"), err);
	return 0;
}

static void remember_tool(struct cc_state *st, const char *id, const char *name)
{
	unsigned i = st->ntools < CC_TOOLS_MAX ? st->ntools++ : st->ntools - 1;   /* the last slot, reused */
	snprintf(st->tools[i].id, sizeof(st->tools[i].id), "%s", id);
	snprintf(st->tools[i].name, sizeof(st->tools[i].name), "%s", name);
}

static const char *tool_name(const struct cc_state *st, const char *id)
{
	for (unsigned i = 0; i < st->ntools; i++)
		if (strcmp(st->tools[i].id, id) == 0)
			return st->tools[i].name;
	return "";
}

static int assistant(struct agent *a, struct cc_state *st, const cJSON *line, struct ad_err *err)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(line, "message"),
								"content");
	bool main = !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(line, "parent_tool_use_id"));
	const cJSON *b;
	cJSON_ArrayForEach(b, content) {
		const char *type = json_str(b, "type");
		if (type != NULL && strcmp(type, "text") == 0 && main && !st->streamed) {
			if (event_text(a, "text", "text", json_str(b, "text"), err) < 0)
				return -1;
		} else if (type != NULL && strcmp(type, "tool_use") == 0 && json_str(b, "id") && json_str(b, "name")) {
			remember_tool(st, json_str(b, "id"), json_str(b, "name"));
			cJSON *ev = cJSON_CreateObject();
			cJSON_AddStringToObject(ev, "type", "tool_start");
			cJSON_AddStringToObject(ev, "id", json_str(b, "id"));
			cJSON_AddStringToObject(ev, "name", json_str(b, "name"));
			const cJSON *input = cJSON_GetObjectItemCaseSensitive(b, "input");
			cJSON_AddItemToObject(ev, "input", input ? cJSON_Duplicate(input, true) : cJSON_CreateObject());
			if (run_event(a, ev, err) < 0)
				return -1;
		}
	}
	st->streamed = false;
	return 0;
}

/* A tool_result's content as text: a string, or its text blocks joined. */
static char *result_text(const cJSON *content)
{
	if (cJSON_IsString(content))
		return strdup(content->valuestring);
	size_t n = 0;
	const cJSON *b;
	cJSON_ArrayForEach(b, content)
		n += json_str(b, "text") ? strlen(json_str(b, "text")) + 1 : 0;
	char *out = malloc(n + 1), *p = out;
	if (out == NULL)
		return NULL;
	cJSON_ArrayForEach(b, content) {
		const char *t = json_str(b, "text");
		if (t != NULL)
			p += sprintf(p, "%s%s", p == out ? "" : "\n", t);
	}
	*p = '\0';
	return out;
}

static int user(struct agent *a, struct cc_state *st, const cJSON *line, struct ad_err *err)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(line, "message"),
								"content");
	const cJSON *b;
	cJSON_ArrayForEach(b, content) {
		const char *type = json_str(b, "type"), *id = json_str(b, "tool_use_id");
		if (type == NULL || strcmp(type, "tool_result") != 0 || id == NULL)
			continue;
		_cleanup_free_ char *text = result_text(cJSON_GetObjectItemCaseSensitive(b, "content"));
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "type", "tool_output");
		cJSON_AddStringToObject(out, "id", id);
		cJSON_AddStringToObject(out, "output", text ? text : "");
		cJSON *end = cJSON_CreateObject();
		cJSON_AddStringToObject(end, "type", "tool_end");
		cJSON_AddStringToObject(end, "id", id);
		cJSON_AddStringToObject(end, "name", tool_name(st, id));
		cJSON_AddBoolToObject(end, "is_error", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "is_error")));
		if (run_event(a, out, err) < 0 || run_event(a, end, err) < 0)
			return -1;
	}
	return 0;
}

/* How the CLI's result subtype reads as a stop_reason. */
static const char *stop_of(const char *subtype)
{
	if (subtype == NULL || strcmp(subtype, "success") == 0)
		return "end_turn";
	if (strcmp(subtype, "error_max_turns") == 0)
		return "max_model_calls";
	return NULL;
}

static void result(struct cc_state *st, const cJSON *line)
{
	const char *subtype = json_str(line, "subtype"), *text = json_str(line, "result");
	const char *stop = stop_of(subtype);
	st->result = true;
	st->is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(line, "is_error")) || stop == NULL;
	snprintf(st->stop, sizeof(st->stop), "%s", stop ? stop : "error");
	free(st->reply);
	st->reply = strdup(text ? text : "");
	if (st->is_error) {
		const cJSON *errors = cJSON_GetObjectItemCaseSensitive(line, "errors");
		const char *first = cJSON_IsArray(errors) ? cJSON_GetStringValue(cJSON_GetArrayItem(errors, 0)) : NULL;
		free(st->why);
		st->why = strdup(text && text[0] ? text : first ? first : subtype ? subtype : "error");
	}
}

int cc_line(struct agent *a, struct cc_state *st, const char *line, size_t len, struct ad_err *err)
{
	_cleanup_cjson_ cJSON *j = cJSON_ParseWithLength(line, len);
	const char *type = json_str(j, "type");
	if (type == NULL)
		return 0;
	if (strcmp(type, "stream_event") == 0)
		return stream_event(a, st, j, err);
	else if (strcmp(type, "assistant") == 0)
		return assistant(a, st, j, err);
	else if (strcmp(type, "user") == 0)
		return user(a, st, j, err);
	else if (strcmp(type, "result") == 0)
		result(st, j);
	return 0;
}

void cc_state_free(struct cc_state *st)
{
	free(st->reply);
	free(st->why);
	st->reply = st->why = NULL;
}

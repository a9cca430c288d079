/* The conversation across runs: see include/agent/conversation.h. */
#include "agent/conversation.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/prompt_cache.h"
#include "core/json.h"

struct conv {
	cJSON *messages;
};

struct conv *conv_new(void)
{
	struct conv *c = calloc(1, sizeof(*c));
	if (c != NULL && (c->messages = cJSON_CreateArray()) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void conv_free(struct conv *c)
{
	if (c == NULL)
		return;
	cJSON_Delete(c->messages);
	free(c);
}

const cJSON *conv_messages(const struct conv *c)
{
	return c->messages;
}

cJSON *conv_request(const struct conv *c, const char *model, long max_tokens, const char *system, cJSON *tools)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "model", model);
	cJSON_AddNumberToObject(r, "max_tokens", (double)max_tokens);
	if (system[0] != '\0')
		cJSON_AddStringToObject(r, "system", system);
	if (!cJSON_AddItemReferenceToObject(r, "messages", c->messages) ||
	    !cJSON_AddItemReferenceToObject(r, "tools", tools) || cJSON_AddTrueToObject(r, "stream") == NULL) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

int conv_size(const struct conv *c)
{
	return cJSON_GetArraySize(c->messages);
}

static bool blank(const char *s)
{
	return s[strspn(s, " \t\n\r\f\v")] == '\0';
}

struct conv_mark conv_mark(const struct conv *c)
{
	int n = cJSON_GetArraySize(c->messages);
	const cJSON *last = cJSON_GetArrayItem(c->messages, n - 1);
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
	return (struct conv_mark){ n, last ? cJSON_GetArraySize(content) : -1 };
}

void conv_rollback(struct conv *c, struct conv_mark m)
{
	while (cJSON_GetArraySize(c->messages) > m.messages)
		cJSON_DeleteItemFromArray(c->messages, cJSON_GetArraySize(c->messages) - 1);
	cJSON *last = cJSON_GetArrayItem(c->messages, m.messages - 1);
	cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
	while (m.blocks >= 0 && cJSON_GetArraySize(content) > m.blocks)
		cJSON_DeleteItemFromArray(content, cJSON_GetArraySize(content) - 1);
}

const cJSON *conv_add(struct conv *c, const char *role, cJSON *content)
{
	int n = cJSON_GetArraySize(c->messages);
	cJSON *last = cJSON_GetArrayItem(c->messages, n - 1);
	if (content == NULL)
		return NULL;
	if (last != NULL && strcmp(json_str(last, "role"), role) == 0) {
		cJSON *have = cJSON_GetObjectItemCaseSensitive(last, "content");
		while (cJSON_GetArraySize(content) > 0)
			cJSON_AddItemToArray(have, cJSON_DetachItemFromArray(content, 0));
		cJSON_Delete(content);
		return last;
	}
	cJSON *m = cJSON_CreateObject();
	if (m == NULL || cJSON_AddStringToObject(m, "role", role) == NULL ||
	    !cJSON_AddItemToObject(m, "content", content)) {
		cJSON_Delete(m);
		cJSON_Delete(content);
		return NULL;
	}
	if (!cJSON_AddItemToArray(c->messages, m)) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

static cJSON *text_block(const char *text)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "text");
	if (cJSON_AddStringToObject(b, "text", text) == NULL) {
		cJSON_Delete(b);
		return NULL;
	}
	return b;
}

/* [one block] */
static cJSON *one(cJSON *block)
{
	cJSON *a = cJSON_CreateArray();
	if (block == NULL || a == NULL || !cJSON_AddItemToArray(a, block)) {
		cJSON_Delete(block);
		cJSON_Delete(a);
		return NULL;
	}
	return a;
}

cJSON *conv_add_user_text(struct conv *c, const char *text)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "role", "user");
	cJSON *content = one(text_block(text));
	if (content == NULL || !cJSON_AddItemToObject(ev, "content", content)) {
		cJSON_Delete(content);
		cJSON_Delete(ev);
		return NULL;
	}
	if (conv_add(c, "user", cJSON_Duplicate(content, true)) == NULL) {
		cJSON_Delete(ev);
		return NULL;
	}
	return ev;
}

cJSON *conv_reply_content(const cJSON *reply, bool keep_tool_use)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(reply, "content")) {
		const char *type = json_str(b, "type");
		cJSON *keep = NULL;
		if (type == NULL) {
			continue;
		} else if (strcmp(type, "text") == 0) {
			/* the API refuses blank text blocks in a request */
			if (json_str(b, "text") == NULL || blank(json_str(b, "text")))
				continue;
			keep = text_block(json_str(b, "text"));
		} else if (strcmp(type, "tool_use") == 0) {
			if (!keep_tool_use)
				continue;
			keep = cJSON_CreateObject();
			cJSON_AddStringToObject(keep, "type", "tool_use");
			cJSON_AddStringToObject(keep, "id", json_str(b, "id") ? json_str(b, "id") : "");
			cJSON_AddStringToObject(keep, "name", json_str(b, "name") ? json_str(b, "name") : "");
			const cJSON *input = cJSON_GetObjectItemCaseSensitive(b, "input");
			cJSON_AddItemToObject(keep, "input", cJSON_Duplicate(input, true));
		} else {
			keep = cJSON_Duplicate(b, true);   /* thinking and the like go back as they came */
		}
		if (keep == NULL || !cJSON_AddItemToArray(out, keep)) {
			cJSON_Delete(keep);
			cJSON_Delete(out);
			return NULL;
		}
	}
	return out;
}

char *conv_text(const cJSON *message)
{
	size_t len = 0;
	const cJSON *b;
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(message, "content");
	cJSON_ArrayForEach(b, content)
		if (json_str(b, "type") && strcmp(json_str(b, "type"), "text") == 0 && json_str(b, "text"))
			len += strlen(json_str(b, "text"));
	char *text = malloc(len + 1);
	if (text == NULL)
		return NULL;
	len = 0;
	cJSON_ArrayForEach(b, content)
		if (json_str(b, "type") && strcmp(json_str(b, "type"), "text") == 0 && json_str(b, "text")) {
			size_t n = strlen(json_str(b, "text"));
			memcpy(text + len, json_str(b, "text"), n);
			len += n;
		}
	text[len] = '\0';
	return text;
}

int conv_seed(struct conv *c, const cJSON *history, struct ad_err *err)
{
	const cJSON *m;
	int i = 0;
	if (!cJSON_IsArray(history))
		return ad_err_set(err, 0, "history is not an array");
	cJSON_ArrayForEach(m, history) {
		const char *role = json_str(m, "role");
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
		cJSON *blocks = cJSON_IsString(content) ? one(text_block(content->valuestring))
			      : cJSON_IsArray(content)  ? cJSON_Duplicate(content, true) : NULL;
		prompt_cache_strip(blocks);     /* the breakpoints are the agent's to place */
		if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0) || !blocks) {
			cJSON_Delete(blocks);
			conv_rollback(c, (struct conv_mark){ 0, -1 });
			return ad_err_set(err, 0, "history.%d: a message is {\"role\": \"user\" or \"assistant\", "
					  "\"content\": a string or an array of blocks}", i);
		}
		if (conv_add(c, role, blocks) == NULL) {
			conv_rollback(c, (struct conv_mark){ 0, -1 });
			return ad_err_set(err, ENOMEM, "history");
		}
		i++;
	}
	if (conv_check(c->messages, err) < 0) {
		conv_rollback(c, (struct conv_mark){ 0, -1 });
		return ad_err_prefix(err, "history");
	}
	return 0;
}

static bool is_result(const cJSON *b)
{
	const char *type = json_str(b, "type");
	return type != NULL && strcmp(type, "tool_result") == 0;
}

int conv_clear_results(struct conv *c, int keep)
{
	int total = 0, seen = 0, cleared = 0;
	cJSON *m, *b;
	cJSON_ArrayForEach(m, c->messages)
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(m, "content"))
			total += is_result(b);
	cJSON_ArrayForEach(m, c->messages)
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(m, "content")) {
			if (!is_result(b) || seen++ >= total - keep)
				continue;
			const char *now = json_str(b, "content");
			if (now != NULL && strcmp(now, CONV_CLEARED) == 0)
				continue;
			cJSON *note = cJSON_CreateString(CONV_CLEARED);
			if (note == NULL)
				return cleared;
			if (cJSON_GetObjectItemCaseSensitive(b, "content") != NULL)
				cJSON_ReplaceItemInObjectCaseSensitive(b, "content", note);
			else
				cJSON_AddItemToObject(b, "content", note);
			cleared++;
		}
	return cleared;
}

/* The block of that type whose key is id in content, before stop; or NULL. */
static const cJSON *find_block(const cJSON *content, const char *type, const char *key, const char *id,
			       const cJSON *stop)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, content) {
		if (b == stop)
			break;
		if (json_str(b, "type") && strcmp(json_str(b, "type"), type) == 0 && json_str(b, key) &&
		    strcmp(json_str(b, key), id) == 0)
			return b;
	}
	return NULL;
}

static int count_type(const cJSON *content, const char *type)
{
	int n = 0;
	const cJSON *b;
	cJSON_ArrayForEach(b, content)
		n += json_str(b, "type") != NULL && strcmp(json_str(b, "type"), type) == 0;
	return n;
}

/* One block of message i, whose previous message's content is prev. */
static int check_block(const cJSON *b, int i, const char *role, const cJSON *content, const cJSON *prev,
		       bool *leading, struct ad_err *err)
{
	const char *type = json_str(b, "type");
	if (type == NULL)
		return ad_err_set(err, 0, "messages.%d: a block without a type", i);
	bool is_result = strcmp(type, "tool_result") == 0;
	if (!is_result)
		*leading = false;
	if (strcmp(type, "text") == 0 && (json_str(b, "text") == NULL || blank(json_str(b, "text"))))
		return ad_err_set(err, 0, "messages.%d: a text block must hold more than white space", i);
	if (strcmp(type, "tool_use") == 0 &&
	    (strcmp(role, "assistant") != 0 || !json_str(b, "id") || !json_str(b, "name") ||
	     !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "input"))))
		return ad_err_set(err, 0, "messages.%d: tool_use blocks are {id, name, input} in assistant "
				  "messages", i);
	if (!is_result)
		return 0;
	const char *id = json_str(b, "tool_use_id");
	if (strcmp(role, "user") != 0 || id == NULL || !*leading)
		return ad_err_set(err, 0, "messages.%d: tool_result blocks come first in user messages", i);
	if (find_block(prev, "tool_use", "id", id, NULL) == NULL ||
	    find_block(content, "tool_result", "tool_use_id", id, b) != NULL)
		return ad_err_set(err, 0, "messages.%d: tool_result %s answers no tool_use of the message before, "
				  "or answers it twice", i, id);
	return 0;
}

int conv_check(const cJSON *messages, struct ad_err *err)
{
	const cJSON *m, *prev = NULL;
	const char *prev_role = NULL;
	int i = 0;
	cJSON_ArrayForEach(m, messages) {
		const char *role = json_str(m, "role");
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content"), *b;
		if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
			return ad_err_set(err, 0, "messages.%d: the role is user or assistant", i);
		if (prev_role == NULL ? strcmp(role, "user") != 0 : strcmp(role, prev_role) == 0)
			return ad_err_set(err, 0, "messages.%d: roles alternate, starting with user", i);
		if (!cJSON_IsArray(content) || cJSON_GetArraySize(content) == 0)
			return ad_err_set(err, 0, "messages.%d: empty content", i);
		bool leading = true;
		cJSON_ArrayForEach(b, content)
			if (check_block(b, i, role, content, prev, &leading, err) < 0)
				return -1;
		if (strcmp(role, "user") == 0 && count_type(content, "tool_result") != count_type(prev, "tool_use"))
			return ad_err_set(err, 0, "messages.%d: not every tool_use of the message before has its "
					  "result", i);
		prev = content;
		prev_role = role;
		i++;
	}
	if (prev_role != NULL && strcmp(prev_role, "assistant") == 0 && count_type(prev, "tool_use") > 0)
		return ad_err_set(err, 0, "messages.%d: tool_use without results", i - 1);
	return 0;
}

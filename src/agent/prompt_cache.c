/* Prompt-cache breakpoints: see include/agent/prompt_cache.h. */
#include "agent/prompt_cache.h"

#include <stdbool.h>
#include <string.h>

#include "core/json.h"

int prompt_cache_ttl_parse(const char *s, enum prompt_cache_ttl *ttl, struct ad_err *err)
{
	static const char *const names[] = { [PROMPT_CACHE_OFF] = "off", [PROMPT_CACHE_5M] = "5m",
					     [PROMPT_CACHE_1H] = "1h" };
	for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*ttl = (enum prompt_cache_ttl)i;
			return 0;
		}
	return ad_err_set(err, 0, "the prompt cache's lifetime is \"off\", \"5m\" or \"1h\", not \"%s\"",
			  s != NULL ? s : "(none)");
}

static cJSON *mark(enum prompt_cache_ttl ttl)
{
	cJSON *cc = cJSON_CreateObject();
	cJSON_AddStringToObject(cc, "type", "ephemeral");
	if (ttl == PROMPT_CACHE_1H)
		cJSON_AddStringToObject(cc, "ttl", "1h");
	return cc;
}

/* A copy of block with a mark: NULL when out of memory. */
static cJSON *marked_block(const cJSON *block, enum prompt_cache_ttl ttl)
{
	cJSON *b = cJSON_Duplicate(block, true), *cc = mark(ttl);
	if (b == NULL || cc == NULL || !cJSON_AddItemToObject(b, "cache_control", cc)) {
		cJSON_Delete(b);
		cJSON_Delete(cc);
		return NULL;
	}
	return b;
}

/* The API takes a mark on these blocks (not on thinking, nor on an empty text, which
 * the conversation never holds). */
static bool markable(const cJSON *b)
{
	static const char *const types[] = { "text", "image", "document", "search_result", "tool_use",
					     "tool_result" };
	const char *type = json_str(b, "type");
	for (size_t i = 0; type != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

static cJSON *last_of(cJSON *items)
{
	cJSON *last = NULL, *it;
	cJSON_ArrayForEach(it, items)
		last = it;
	return last;
}

/* A new array: references to items' elements, but the last, which is marked_block's
 * copy of it; NULL when there is none or out of memory. */
static cJSON *with_last_marked(cJSON *items, enum prompt_cache_ttl ttl)
{
	cJSON *last = last_of(items), *it;
	if (last == NULL)
		return NULL;
	cJSON *out = cJSON_CreateArray(), *copy = marked_block(last, ttl);
	bool ok = out != NULL && copy != NULL;
	cJSON_ArrayForEach(it, items)
		if (ok && it != last)
			ok = cJSON_AddItemReferenceToArray(out, it);
	if (!ok || !cJSON_AddItemToArray(out, copy)) {
		cJSON_Delete(out);
		cJSON_Delete(copy);
		return NULL;
	}
	return out;
}

/* A message {role, content} whose last block is marked (the rest referenced). */
static cJSON *marked_message(cJSON *m, enum prompt_cache_ttl ttl)
{
	cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
	if (!markable(last_of(content)))
		return NULL;
	cJSON *blocks = with_last_marked(content, ttl);
	cJSON *out = blocks != NULL ? cJSON_CreateObject() : NULL;
	if (out == NULL || cJSON_AddStringToObject(out, "role", json_str(m, "role")) == NULL ||
	    !cJSON_AddItemToObject(out, "content", blocks)) {
		cJSON_Delete(out);
		if (out == NULL)
			cJSON_Delete(blocks);
		return NULL;
	}
	return out;
}

/* Breakpoint 1: the system prompt as one marked text block, or the last tool. */
static int mark_prefix(cJSON *req, enum prompt_cache_ttl ttl)
{
	const char *system = json_str(req, "system");
	if (system != NULL) {
		cJSON *blocks = cJSON_CreateArray(), *text = cJSON_CreateObject();
		if (blocks == NULL || text == NULL || !cJSON_AddItemToArray(blocks, text)) {
			cJSON_Delete(blocks);
			cJSON_Delete(text);
			return -1;
		}
		if (cJSON_AddStringToObject(text, "type", "text") == NULL ||
		    cJSON_AddStringToObject(text, "text", system) == NULL ||
		    !cJSON_AddItemToObject(text, "cache_control", mark(ttl)) ||
		    !cJSON_ReplaceItemInObjectCaseSensitive(req, "system", blocks)) {
			cJSON_Delete(blocks);
			return -1;
		}
		return 0;
	}
	cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
	if (cJSON_GetArraySize(tools) == 0)
		return 0;
	cJSON *marked = with_last_marked(tools, ttl);
	if (marked == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(req, "tools", marked)) {
		cJSON_Delete(marked);
		return -1;
	}
	return 0;
}

/* Breakpoints 2 and 3: the end of the previous call (the last user message before the
 * newest assistant message) and the end of the conversation. */
static int mark_messages(cJSON *req, enum prompt_cache_ttl ttl)
{
	cJSON *messages = cJSON_GetObjectItemCaseSensitive(req, "messages"), *m;
	const cJSON *last = NULL, *before = NULL, *prev_end = NULL;
	cJSON_ArrayForEach(m, messages) {
		const char *role = json_str(m, "role");
		if (role != NULL && strcmp(role, "assistant") == 0) {
			prev_end = before;
		} else if (role != NULL && strcmp(role, "user") == 0) {
			before = m;
		}
		last = m;
	}
	cJSON *out = cJSON_CreateArray();
	bool ok = out != NULL;
	cJSON_ArrayForEach(m, messages) {
		cJSON *copy = ok && (m == last || m == prev_end) ? marked_message(m, ttl) : NULL;
		if (copy != NULL)
			ok = cJSON_AddItemToArray(out, copy);
		else if (ok)
			ok = cJSON_AddItemReferenceToArray(out, m);
	}
	if (!ok || !cJSON_ReplaceItemInObjectCaseSensitive(req, "messages", out)) {
		cJSON_Delete(out);
		return -1;
	}
	return 0;
}

int prompt_cache_mark(cJSON *req, enum prompt_cache_ttl ttl)
{
	if (ttl == PROMPT_CACHE_OFF)
		return 0;
	int rc = mark_prefix(req, ttl);
	return mark_messages(req, ttl) < 0 || rc < 0 ? -1 : 0;
}

void prompt_cache_strip(cJSON *blocks)
{
	cJSON *b;
	cJSON_ArrayForEach(b, blocks) {
		cJSON_DeleteItemFromObjectCaseSensitive(b, "cache_control");
		cJSON *inner = cJSON_GetObjectItemCaseSensitive(b, "content");
		if (cJSON_IsArray(inner))
			prompt_cache_strip(inner);
	}
}

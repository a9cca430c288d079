/* Every server's tools, gathered page by page, offered to the model and found again
 * by name: see include/mcp/mcp.h. Naming is in names.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/sha256.h"
#include "toolset_int.h"

struct mcp_toolset *mcp_toolset_new(void)
{
	return calloc(1, sizeof(struct mcp_toolset));
}

static void tool_free(struct mcp_tool *t)
{
	free(t->name);
	free(t->description);
	cJSON_Delete(t->schema);
}

void mcp_toolset_free(struct mcp_toolset *ts)
{
	if (ts == NULL)
		return;
	for (size_t i = 0; i < ts->ntools; i++)
		tool_free(&ts->tools[i]);
	for (size_t i = 0; i < ts->nservers; i++) {
		free(ts->servers[i].name);
		free(ts->servers[i].cursor);
	}
	free(ts->tools);
	free(ts->servers);
	free(ts->by_api);
	free(ts);
}

void mcp_toolset_skip(struct mcp_server_list *s, const char *fmt, ...)
{
	if (s->skipped++ > 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* The index of a server's list, or -1. */
static long server_index(const struct mcp_toolset *ts, const char *name)
{
	for (size_t i = 0; i < ts->nservers; i++)
		if (strcmp(ts->servers[i].name, name) == 0)
			return (long)i;
	return -1;
}

static struct mcp_server_list *find_server(struct mcp_toolset *ts, const char *name)
{
	long i = server_index(ts, name);
	return i >= 0 ? &ts->servers[i] : NULL;
}

int mcp_toolset_begin(struct mcp_toolset *ts, const char *server, struct ad_err *err)
{
	size_t len = server != NULL ? strlen(server) : 0;
	if (len == 0 || len > MCP_SERVER_NAME_MAX)
		return ad_err_code(err, EINVAL, "an MCP server name of %zu bytes (1 to %d)", len, MCP_SERVER_NAME_MAX);
	struct mcp_server_list *s = find_server(ts, server);
	if (s == NULL) {
		s = realloc(ts->servers, (ts->nservers + 1) * sizeof(*s));
		if (s == NULL)
			return ad_err_set(err, ENOMEM, "MCP server %s", server);
		ts->servers = s;
		s = &ts->servers[ts->nservers];
		memset(s, 0, sizeof(*s));
		if ((s->name = strdup(server)) == NULL)
			return ad_err_set(err, ENOMEM, "MCP server %s", server);
		ts->nservers++;
	}
	/* its tools go, the others keep their places */
	size_t idx = (size_t)(s - ts->servers), kept = 0;
	for (size_t i = 0; i < ts->ntools; i++) {
		if (ts->tools[i].server == idx)
			tool_free(&ts->tools[i]);
		else
			ts->tools[kept++] = ts->tools[i];
	}
	ts->ntools = kept;
	free(s->cursor);
	char *name = s->name;
	memset(s, 0, sizeof(*s));
	s->name = name;
	ts->named = false;
	return 0;
}

/* A description as the model will read it: cut at a character's start. */
static char *take_description(const cJSON *tool)
{
	const char *d = json_str(tool, "description");
	if (d == NULL)
		d = json_str(tool, "title");
	if (d == NULL || d[0] == '\0')
		return NULL;
	size_t len = strlen(d);
	if (len <= MCP_DESCRIPTION_MAX)
		return strdup(d);
	size_t cut = MCP_DESCRIPTION_MAX - 3;
	while (cut > 0 && ((unsigned char)d[cut] & 0xc0) == 0x80)
		cut--;
	char *s = malloc(cut + 4);
	if (s != NULL) {
		memcpy(s, d, cut);
		memcpy(s + cut, "\xe2\x80\xa6", 4);   /* an ellipsis */
	}
	return s;
}

/* A copy of the server's input schema when the API will take it: an object schema
 * ({"type": "object", ...}) of a sensible size; {"type": "object"} when it gave none.
 * NULL with the reason otherwise. */
static cJSON *take_schema(const cJSON *tool, const char **why)
{
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(tool, "inputSchema");
	*why = "out of memory";
	if (schema == NULL) {
		cJSON *any = cJSON_CreateObject();
		if (any != NULL && cJSON_AddStringToObject(any, "type", "object") == NULL)
			cJSON_Delete(any), any = NULL;
		return any;
	}
	const char *type = json_str(schema, "type");
	if (!cJSON_IsObject(schema) || type == NULL || strcmp(type, "object") != 0) {
		*why = "its inputSchema is not {\"type\": \"object\", ...}";
		return NULL;
	}
	char *text = json_print(schema);
	if (text == NULL)
		return NULL;
	size_t len = strlen(text);
	cJSON_free(text);
	if (len > MCP_SCHEMA_MAX) {
		*why = "its inputSchema is too large";
		return NULL;
	}
	return cJSON_Duplicate(schema, true);
}

static bool listed(const struct mcp_toolset *ts, size_t server, const char *name)
{
	for (size_t i = 0; i < ts->ntools; i++)
		if (ts->tools[i].server == server && strcmp(ts->tools[i].name, name) == 0)
			return true;
	return false;
}

static void add_tool(struct mcp_toolset *ts, size_t server, const cJSON *tool)
{
	struct mcp_server_list *s = &ts->servers[server];
	const char *name = json_str(tool, "name"), *why = NULL;
	size_t len = name != NULL ? strlen(name) : 0;
	if (len == 0 || len > MCP_TOOL_NAME_MAX)
		return mcp_toolset_skip(s, "a tool with a name of %zu bytes (1 to %d)", len, MCP_TOOL_NAME_MAX);
	if (s->count == MCP_TOOLS_MAX)
		return mcp_toolset_skip(s, "%.64s: more than %d tools", name, MCP_TOOLS_MAX);
	if (listed(ts, server, name))
		return mcp_toolset_skip(s, "%.64s: listed twice", name);
	cJSON *schema = take_schema(tool, &why);
	if (schema == NULL)
		return mcp_toolset_skip(s, "%.64s: %s", name, why);
	if (ts->ntools == ts->alloc) {
		size_t alloc = ts->alloc ? 2 * ts->alloc : 64;
		struct mcp_tool *t = realloc(ts->tools, alloc * sizeof(*t));
		if (t == NULL) {
			cJSON_Delete(schema);
			return mcp_toolset_skip(s, "%.64s: out of memory", name);
		}
		ts->tools = t;
		ts->alloc = alloc;
	}
	struct mcp_tool *t = &ts->tools[ts->ntools];
	*t = (struct mcp_tool){ .server = server, .name = strdup(name), .schema = schema };
	t->description = take_description(tool);
	if (t->name == NULL) {
		tool_free(t);
		return mcp_toolset_skip(s, "%.64s: out of memory", name);
	}
	ts->ntools++;
	s->count++;
}

static uint64_t cursor_hash(const char *cursor)
{
	uint8_t h[SHA256_LEN];
	uint64_t v = 0;
	sha256(cursor, strlen(cursor), h);
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return v;
}

static int next_cursor(struct mcp_server_list *s, const cJSON *result, const char **cursor, struct ad_err *err)
{
	const cJSON *next = cJSON_GetObjectItemCaseSensitive(result, "nextCursor");
	free(s->cursor);
	s->cursor = NULL;
	*cursor = NULL;
	if (next == NULL || cJSON_IsNull(next) || (cJSON_IsString(next) && next->valuestring[0] == '\0'))
		return 0;
	if (!cJSON_IsString(next) || strlen(next->valuestring) > MCP_CURSOR_MAX)
		return ad_err_code(err, EPROTO, "tools/list: a nextCursor that is not a string of up to %d bytes",
				   MCP_CURSOR_MAX);
	uint64_t h = cursor_hash(next->valuestring);
	for (unsigned i = 0; i + 1 < s->pages; i++)
		if (s->seen[i] == h)
			return ad_err_code(err, EPROTO, "tools/list: the server gave the same cursor twice");
	if (s->pages == MCP_PAGES_MAX)
		return ad_err_code(err, EPROTO, "tools/list: more than %d pages", MCP_PAGES_MAX);
	s->seen[s->pages - 1] = h;
	if ((s->cursor = strdup(next->valuestring)) == NULL)
		return ad_err_set(err, ENOMEM, "tools/list");
	*cursor = s->cursor;
	return 0;
}

int mcp_toolset_page(struct mcp_toolset *ts, const char *server, const cJSON *result, const char **cursor,
		     struct ad_err *err)
{
	struct mcp_server_list *s = server != NULL ? find_server(ts, server) : NULL;
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(result, "tools"), *tool;
	*cursor = NULL;
	if (s == NULL)
		return ad_err_code(err, EINVAL, "tools of a server not begun");
	if (!cJSON_IsObject(result) || !cJSON_IsArray(tools))
		return ad_err_code(err, EPROTO, "tools/list: a result without a tools array");
	if (s->pages == MCP_PAGES_MAX)
		return ad_err_code(err, EPROTO, "tools/list: more than %d pages", MCP_PAGES_MAX);
	s->pages++;
	ts->named = false;
	size_t idx = (size_t)(s - ts->servers);
	cJSON_ArrayForEach(tool, tools) {
		if (cJSON_IsObject(tool))
			add_tool(ts, idx, tool);
		else
			mcp_toolset_skip(s, "a tool that is not an object");
	}
	return next_cursor(s, result, cursor, err);
}

size_t mcp_toolset_skipped(const struct mcp_toolset *ts, const char *server, const char **why)
{
	long i = server_index(ts, server);
	const struct mcp_server_list *s = i >= 0 ? &ts->servers[i] : NULL;
	*why = s != NULL && s->skipped > 0 ? s->why : NULL;
	return s != NULL ? s->skipped : 0;
}

size_t mcp_toolset_count(const struct mcp_toolset *ts)
{
	return ts->ntools;
}

/* {name, description, input_schema}: one tool as the Messages API takes it. */
static cJSON *tool_def(const struct mcp_tool *t)
{
	cJSON *def = cJSON_CreateObject(), *schema = cJSON_Duplicate(t->schema, true);
	if (def == NULL || schema == NULL || cJSON_AddStringToObject(def, "name", t->api) == NULL ||
	    (t->description != NULL && cJSON_AddStringToObject(def, "description", t->description) == NULL) ||
	    !cJSON_AddItemToObject(def, "input_schema", schema)) {
		cJSON_Delete(schema);
		cJSON_Delete(def);
		return NULL;
	}
	return def;
}

cJSON *mcp_toolset_defs(struct mcp_toolset *ts)
{
	cJSON *defs = cJSON_CreateArray();
	if (defs == NULL || mcp_toolset_name(ts) < 0) {
		cJSON_Delete(defs);
		return NULL;
	}
	for (size_t s = 0; s < ts->nservers; s++) {
		for (size_t i = 0; i < ts->ntools; i++) {
			if (ts->tools[i].server != s || ts->tools[i].api[0] == '\0')
				continue;
			cJSON *def = tool_def(&ts->tools[i]);
			if (def == NULL || !cJSON_AddItemToArray(defs, def)) {
				cJSON_Delete(def);
				cJSON_Delete(defs);
				return NULL;
			}
		}
	}
	return defs;
}

/* A tools/call result as the content of a tool_result block: see include/mcp/mcp.h.
 *
 * Text that follows text is joined into one block (with a newline between), so that a
 * server sending many small blocks makes one block of the model's, not thousands.
 * Everything a server names (types, uris, media types) goes into notes through
 * utf8_sanitise(), cut, so that no note is invalid text. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/utf8.h"
#include "mcp/mcp.h"

#define NOTE_MAX 1024
#define NAME_MAX_IN_NOTE 256

struct out {
	cJSON *content;
	struct buf text;        /* text not yet made a block */
	size_t left;            /* bytes the cap still allows */
	size_t dropped;         /* bytes left out */
	bool oom;
};

/* Add a block made by make(), or note that memory ran out. */
static void add_block(struct out *o, cJSON *b, bool ok)
{
	if (!ok || !cJSON_AddItemToArray(o->content, b)) {
		cJSON_Delete(b);
		o->oom = true;
	}
}

static void flush(struct out *o)
{
	if (o->text.len == 0)
		return;
	cJSON *b = cJSON_CreateObject();
	add_block(o, b, cJSON_AddStringToObject(b, "type", "text") != NULL &&
			       cJSON_AddStringToObject(b, "text", buf_str(&o->text)) != NULL);
	o->oom |= o->text.oom;
	o->text.len = 0;
	o->text.data[0] = '\0';
}

/* Text, as much of it as the cap allows, cut where a character starts. */
static void put_text(struct out *o, const char *s, size_t len)
{
	if (len == 0)
		return;
	if (o->text.len > 0 && o->left > 0) {
		buf_append(&o->text, "\n", 1);
		o->left--;
	}
	size_t take = len < o->left ? len : o->left;
	while (take > 0 && take < len && ((unsigned char)s[take] & 0xc0) == 0x80)
		take--;
	buf_append(&o->text, s, take);
	o->left -= take;
	o->dropped += len - take;
}

static void note(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct out *o, const char *fmt, ...)
{
	char text[NOTE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	size_t len = n > 0 ? strlen(text) : 0, bad;
	if (!utf8_valid(text, len, &bad))
		len = bad;   /* a character the cut split in two */
	put_text(o, text, len);
}

/* s from the server as safe text for a note: valid UTF-8, no control bytes, cut. */
static const char *shown(const char *s, char out[NAME_MAX_IN_NOTE])
{
	utf8_sanitise(s != NULL ? s : "?", out, NAME_MAX_IN_NOTE);
	return out;
}

/* The media types the Messages API takes for an image, as it spells them. */
static const char *api_image_type(const char *mime)
{
	static const char *const types[] = { "image/png", "image/jpeg", "image/gif", "image/webp" };
	if (mime == NULL)
		return NULL;
	if (strcasecmp(mime, "image/jpg") == 0)
		return "image/jpeg";
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(mime, types[i]) == 0)
			return types[i];
	return NULL;
}

static bool is_base64(const char *data, size_t len)
{
	void *bytes = malloc(base64_decoded_max(len) + 1);
	size_t n;
	bool ok = bytes != NULL && len > 0 && base64_decode(data, len, bytes, &n, NULL) == 0;
	free(bytes);
	return ok;
}

/* An image block when the API takes it and the cap allows it, else a note. */
static void put_image(struct out *o, const char *what, const char *mime, const char *data)
{
	char m[NAME_MAX_IN_NOTE];
	const char *type = api_image_type(mime);
	size_t len = data != NULL ? strlen(data) : 0;
	if (type == NULL)
		return note(o, "[%s of type %s not shown: the model takes png, jpeg, gif and webp]", what, shown(mime, m));
	if (!is_base64(data != NULL ? data : "", len))
		return note(o, "[%s (%s) not shown: its data is not base64]", what, type);
	if (len > o->left) {
		o->dropped += len;
		return note(o, "[%s (%s, %zu bytes of base64) not shown: over the output cap]", what, type, len);
	}
	flush(o);
	cJSON *b = cJSON_CreateObject(), *src;
	add_block(o, b, cJSON_AddStringToObject(b, "type", "image") && (src = cJSON_AddObjectToObject(b, "source")) &&
				cJSON_AddStringToObject(src, "type", "base64") &&
				cJSON_AddStringToObject(src, "media_type", type) &&
				cJSON_AddStringToObject(src, "data", data));
	o->left -= len;
}

static void put_resource(struct out *o, const cJSON *r)
{
	char u[NAME_MAX_IN_NOTE], m[NAME_MAX_IN_NOTE];
	const char *uri = json_str(r, "uri"), *mime = json_str(r, "mimeType");
	const char *text = json_str(r, "text"), *blob = json_str(r, "blob");
	if (text != NULL) {
		note(o, "[resource %s]", shown(uri, u));
		put_text(o, text, strlen(text));
	} else if (blob != NULL && api_image_type(mime) != NULL) {
		put_image(o, "resource image", mime, blob);
	} else {
		note(o, "[resource %s (%s, %zu bytes of base64) not shown]", shown(uri, u), shown(mime, m),
		     blob != NULL ? strlen(blob) : 0);
	}
}

static void put_link(struct out *o, const cJSON *b)
{
	char n[NAME_MAX_IN_NOTE], u[NAME_MAX_IN_NOTE], m[NAME_MAX_IN_NOTE], d[NAME_MAX_IN_NOTE];
	const char *mime = json_str(b, "mimeType"), *desc = json_str(b, "description");
	note(o, "[resource link: %s <%s>%s%s%s%s]", shown(json_str(b, "name"), n), shown(json_str(b, "uri"), u),
	     mime ? " " : "", mime ? shown(mime, m) : "", desc ? ": " : "", desc ? shown(desc, d) : "");
}

/* One content block; *had_text when it gave text of the tool's own. */
static void put_block(struct out *o, const cJSON *b, bool *had_text)
{
	char t[NAME_MAX_IN_NOTE], m[NAME_MAX_IN_NOTE];
	const char *type = json_str(b, "type");
	if (type == NULL) {
		note(o, "[a content block without a type]");
	} else if (strcmp(type, "text") == 0) {
		const char *text = json_str(b, "text");
		if (text == NULL)
			return note(o, "[a text block without text]");
		put_text(o, text, strlen(text));
		*had_text |= text[0] != '\0';
	} else if (strcmp(type, "image") == 0) {
		put_image(o, "image", json_str(b, "mimeType"), json_str(b, "data"));
	} else if (strcmp(type, "audio") == 0) {
		const char *data = json_str(b, "data");
		note(o, "[audio (%s, %zu bytes of base64) not shown: the model takes no audio]",
		     shown(json_str(b, "mimeType"), m), data != NULL ? strlen(data) : 0);
	} else if (strcmp(type, "resource_link") == 0) {
		put_link(o, b);
	} else if (strcmp(type, "resource") == 0) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(b, "resource");
		if (cJSON_IsObject(r))
			put_resource(o, r);
		else
			note(o, "[a resource block without a resource]");
	} else {
		note(o, "[content of type %s not shown]", shown(type, t));
	}
}

int mcp_tool_result(const cJSON *result, size_t max_bytes, cJSON **content, bool *is_error, struct ad_err *err)
{
	const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(result, "content"), *b;
	const cJSON *structured = cJSON_GetObjectItemCaseSensitive(result, "structuredContent");
	const char *rtype = json_str(result, "resultType");
	bool had_text = false;
	*content = NULL;
	if (!cJSON_IsObject(result) || (blocks != NULL && !cJSON_IsArray(blocks)))
		return ad_err_code(err, EPROTO, "tools/call: a result whose content is not an array");
	if (max_bytes > MCP_MESSAGE_MAX)
		max_bytes = MCP_MESSAGE_MAX;   /* no result is larger than its message */
	struct out o = { .content = cJSON_CreateArray(), .left = max_bytes };
	buf_init(&o.text, max_bytes + NOTE_MAX);
	*is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"));
	if (rtype != NULL && strcmp(rtype, "input_required") == 0) {
		*is_error = true;
		note(&o, "[the MCP server asked for input (elicitation, sampling or roots), which agentd cannot give]");
	}
	cJSON_ArrayForEach(b, blocks) {
		if (cJSON_IsObject(b))
			put_block(&o, b, &had_text);
		else
			note(&o, "[a content block that is not an object]");
	}
	if (!had_text && structured != NULL) {
		char *json = json_print(structured);
		o.oom |= json == NULL;
		if (json != NULL)
			put_text(&o, json, strlen(json));
		cJSON_free(json);
	}
	if (o.dropped > 0) {
		o.left += NOTE_MAX;   /* room for the note itself */
		note(&o, "[output cut: %zu more bytes not shown]", o.dropped);
	}
	if (cJSON_GetArraySize(o.content) == 0 && o.text.len == 0) {
		o.left += NOTE_MAX;
		note(&o, "(no output)");
	}
	flush(&o);
	buf_free(&o.text);
	if (o.oom || o.content == NULL) {
		cJSON_Delete(o.content);
		return ad_err_set(err, ENOMEM, "tools/call result");
	}
	*content = o.content;
	return 0;
}

/* Strict JSON: see include/core/json.h. */
#include "core/json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/utf8.h"

/* One pass over the raw text: nesting depth, control bytes in strings, \u0000. The
 * grammar itself is left to cJSON; this only refuses what cJSON would let through. */
static int scan(const char *buf, size_t len, struct ad_err *err)
{
	bool in_string = false;
	int depth = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (in_string) {
			if (c == '"') {
				in_string = false;
			} else if (c == '\\') {
				if (i + 5 < len && buf[i + 1] == 'u' && memcmp(buf + i + 2, "0000", 4) == 0)
					return ad_err_set(err, 0, "NUL character (\\u0000) in a string at byte %zu", i);
				i++;   /* skip the escaped character */
			} else if (c < 0x20) {
				return ad_err_set(err, 0, "unescaped control character 0x%02x in a string at byte %zu", c, i);
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > JSON_MAX_DEPTH)
				return ad_err_set(err, 0, "nested deeper than %d levels at byte %zu", JSON_MAX_DEPTH, i);
		} else if (c == ']' || c == '}') {
			depth--;
		} else if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			/* cJSON takes any byte up to 0x20 for white space; JSON has four */
			return ad_err_set(err, 0, "control byte 0x%02x outside a string at byte %zu", c, i);
		}
	}
	return 0;
}

int json_parse_strict(const char *buf, size_t len, cJSON **out, struct ad_err *err)
{
	size_t bad;
	if (len == 0)
		return ad_err_set(err, 0, "empty body, expected a JSON document");
	if (!utf8_valid(buf, len, &bad))
		return ad_err_set(err, 0, "invalid UTF-8 at byte %zu", bad);
	if (scan(buf, len, err) < 0)
		return -1;
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (j == NULL) {
		/* cJSON sets end to the error position; its global error pointer is not
		 * thread-safe, so it is not used. */
		size_t at = end != NULL && end >= buf ? (size_t)(end - buf) : 0;
		size_t line = 1, col = 1;
		for (size_t i = 0; i < at && i < len; i++, col++)
			if (buf[i] == '\n')
				line++, col = 0;
		return ad_err_set(err, 0, "invalid JSON at line %zu, column %zu (byte %zu)", line, col, at);
	}
	/* Only white space may follow the document. */
	for (const char *p = end; p != NULL && p < buf + len; p++) {
		if (!strchr(" \t\r\n", *p)) {
			cJSON_Delete(j);
			return ad_err_set(err, 0, "unexpected data after the JSON document at byte %zu",
					  (size_t)(p - buf));
		}
	}
	*out = j;
	return 0;
}

char *json_print(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	if (s == NULL)
		errno = ENOMEM;
	return s;
}

cJSON *json_find_by_id(const cJSON *array, const cJSON *obj)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
	cJSON *e;
	cJSON_ArrayForEach(e, array) {
		const cJSON *eid = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (cJSON_IsString(id) && cJSON_IsString(eid) && strcmp(id->valuestring, eid->valuestring) == 0)
			return e;
	}
	return NULL;
}

void json_copy_item(cJSON *to, const char *name, const cJSON *from, const char *from_name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, from_name);
	if (v != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(to, name, cJSON_Duplicate(v, true));
}

cJSON *json_error(const char *type, const char *message)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(j, "error");
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddStringToObject(e, "message", message);
	return j;
}

const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *json_op_string(const cJSON *req, const char *key, struct ad_err *why)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
	if (cJSON_IsString(v))
		return v->valuestring;
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(req, "op");
	ad_err_set(why, 0, "%s needs \"%s\": a string", cJSON_IsString(op) ? op->valuestring : "the op", key);
	return NULL;
}

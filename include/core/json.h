/* Strict JSON parsing on top of cJSON.
 *
 * cJSON alone accepts raw control characters inside strings, does not check UTF-8, and
 * cuts a string at an escaped \u0000 without a word. Everything agentd parses comes
 * through json_parse_strict(), which refuses all three with the byte offset, so that a
 * client learns what was wrong and nothing is silently truncated. */
#ifndef AGENTD_CORE_JSON_H
#define AGENTD_CORE_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/err.h"

/* Deepest nesting accepted; deeper documents are refused before cJSON recurses. */
#define JSON_MAX_DEPTH 64

int json_parse_strict(const char *buf, size_t len, cJSON **out, struct ad_err *err);

static inline void cleanup_cjsonp(cJSON **j)
{
	cJSON_Delete(*j);
}
#define _cleanup_cjson_ __attribute__((cleanup(cleanup_cjsonp)))

/* cJSON_PrintUnformatted with a NULL check spelled once. */
char *json_print(const cJSON *j);
/* obj[key] when it is a string, else NULL. */
const char *json_str(const cJSON *obj, const char *key);
/* The same for a field an op (a request {"op", ...}) must have: NULL and why says so
 * ("OP needs \"KEY\": a string") when it is missing. */
const char *json_op_string(const cJSON *req, const char *key, struct ad_err *why);

/* {"error": {"type": type, "message": message}}: the one shape of an error, in HTTP
 * replies, run events and API_END frames alike. */
cJSON *json_error(const char *type, const char *message);

/* The object of array whose "id" string equals that of obj's "id", or NULL. */
cJSON *json_find_by_id(const cJSON *array, const cJSON *obj);
/* to[name] = a copy of from[from_name], when from has it. */
void json_copy_item(cJSON *to, const char *name, const cJSON *from, const char *from_name);

#endif

/* An op's end: see include/ipc/op_end.h. */
#include "ipc/op_end.h"

#include <stdio.h>
#include <string.h>

#include "core/utf8.h"

cJSON *op_end_ok(double id)
{
	cJSON *end = cJSON_CreateObject();
	cJSON_AddStringToObject(end, "type", "op_end");
	if (id >= 0)
		cJSON_AddNumberToObject(end, "id", id);
	cJSON_AddTrueToObject(end, "ok");
	return end;
}

cJSON *op_end_failed(double id, const struct ad_err *why)
{
	char text[AD_ERR_MSG_MAX * 4];
	if (utf8_valid(why->msg, strlen(why->msg), NULL))
		snprintf(text, sizeof(text), "%s", why->msg);
	else
		utf8_sanitise(why->msg, text, sizeof(text));
	cJSON *end = op_end_ok(id);
	cJSON_ReplaceItemInObjectCaseSensitive(end, "ok", cJSON_CreateFalse());
	cJSON_AddStringToObject(end, "error", text);
	const char *code = why->errnum > 0 ? strerrorname_np(why->errnum) : NULL;
	if (code != NULL)
		cJSON_AddStringToObject(end, "code", code);
	return end;
}

bool op_end_code_is(const cJSON *end, int errnum)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(end, "code");
	const char *name = strerrorname_np(errnum);
	return cJSON_IsString(code) && name != NULL && strcmp(code->valuestring, name) == 0;
}

/* Reading what a server sends, and answering its requests: see include/mcp/mcp.h. */
#include <errno.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "mcp_int.h"

#define METHOD_MAX 256   /* a method name read from a server */

/* v is a whole number in [lo, hi] (NaN is not): checked before the cast, which would
 * be undefined out of range. */
static bool whole(const cJSON *v, double lo, double hi)
{
	return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
	       (double)(int64_t)v->valuedouble == v->valuedouble;
}

static bool has(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

/* An id of ours: a whole number we handed out and that is still unanswered. */
static int take_pending(struct mcp_client *c, const cJSON *id, int64_t *out, struct ad_err *err)
{
	if (!whole(id, 1, (double)(c->next_id - 1)))
		return ad_err_code(err, EPROTO, "an answer with an id agentd never sent");
	int64_t v = (int64_t)id->valuedouble;
	for (size_t i = 0; i < c->npending; i++) {
		if (c->pending[i] == v) {
			c->pending[i] = c->pending[--c->npending];
			*out = v;
			return 0;
		}
	}
	return ad_err_code(err, EPROTO, "an answer to request %lld, which is not waiting for one", (long long)v);
}

static int read_error(struct mcp_client *c, const cJSON *j, struct mcp_msg *m, struct ad_err *err)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	if (!cJSON_IsObject(e) || !whole(code, -2147483647.0, 2147483647.0))
		return ad_err_code(err, EPROTO, "an error answer without an error object and its integer code");
	m->kind = MCP_MSG_ERROR;
	m->code = (int)code->valuedouble;
	m->message = json_str(e, "message") ? json_str(e, "message") : "(no message)";
	m->data = cJSON_GetObjectItemCaseSensitive(e, "data");
	m->id = 0;
	/* the server may not have been able to read our id */
	return id == NULL || cJSON_IsNull(id) ? 0 : take_pending(c, id, &m->id, err);
}

static int read_result(struct mcp_client *c, const cJSON *j, struct mcp_msg *m, struct ad_err *err)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(r, "resultType");
	if (!cJSON_IsObject(r))
		return ad_err_code(err, EPROTO, "a result that is not an object");
	/* 2026-07-28: an absent resultType (older servers) means complete, an unknown one
	 * is invalid */
	if (type != NULL && (!cJSON_IsString(type) || (strcmp(type->valuestring, "complete") != 0 &&
						     strcmp(type->valuestring, "input_required") != 0)))
		return ad_err_code(err, EPROTO, "a result of an unknown resultType");
	m->kind = MCP_MSG_RESULT;
	m->result = r;
	m->input_required = type != NULL && strcmp(type->valuestring, "input_required") == 0;
	return take_pending(c, cJSON_GetObjectItemCaseSensitive(j, "id"), &m->id, err);
}

static int read_call(const cJSON *j, struct mcp_msg *m, struct ad_err *err)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const char *method = json_str(j, "method");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
	if (method == NULL || method[0] == '\0' || strlen(method) > METHOD_MAX)
		return ad_err_code(err, EPROTO, "a method that is not a name of 1 to %d bytes", METHOD_MAX);
	if (params != NULL && !cJSON_IsObject(params))
		return ad_err_code(err, EPROTO, "%.64s with params that are not an object", method);
	if (id != NULL && !cJSON_IsString(id) && !whole(id, -9007199254740991.0, 9007199254740991.0))
		return ad_err_code(err, EPROTO, "%.64s with an id that is neither a string nor an integer", method);
	m->kind = id != NULL ? MCP_MSG_REQUEST : MCP_MSG_NOTIFICATION;
	m->method = method;
	m->params = params;
	return 0;
}

int mcp_read(struct mcp_client *c, const char *buf, size_t len, struct mcp_msg *m, struct ad_err *err)
{
	_cleanup_cjson_ cJSON *j = NULL;
	struct mcp_msg got = { 0 };
	if (len > MCP_MESSAGE_MAX)
		return ad_err_code(err, EMSGSIZE, "a message of %zu bytes (at most %u)", len, MCP_MESSAGE_MAX);
	if (json_parse_strict(buf, len, &j, err) < 0)
		return ad_err_prefix(err, "not a JSON-RPC message");
	if (cJSON_IsArray(j))
		return ad_err_code(err, EPROTO, "a JSON-RPC batch, which MCP does not use");
	if (!cJSON_IsObject(j) || json_str(j, "jsonrpc") == NULL || strcmp(json_str(j, "jsonrpc"), "2.0") != 0)
		return ad_err_code(err, EPROTO, "not a JSON-RPC 2.0 message");
	bool has_result = has(j, "result"), has_error = has(j, "error");
	int rc;
	if (has(j, "method"))
		rc = has_result || has_error ? ad_err_code(err, EPROTO, "a message both a call and an answer")
					     : read_call(j, &got, err);
	else if (has_result && has_error)
		rc = ad_err_code(err, EPROTO, "an answer with both a result and an error");
	else if (has_result)
		rc = read_result(c, j, &got, err);
	else if (has_error)
		rc = read_error(c, j, &got, err);
	else
		rc = ad_err_code(err, EPROTO, "neither a request, a notification nor an answer");
	if (rc < 0)
		return -1;
	got.json = steal_pointer(&j);
	*m = got;
	return 0;
}

void mcp_msg_free(struct mcp_msg *m)
{
	cJSON_Delete(m->json);
	memset(m, 0, sizeof(*m));
}

static const char *code_name(int code)
{
	switch (code) {
	case MCP_PARSE_ERROR: return "parse error";
	case MCP_INVALID_REQUEST: return "invalid request";
	case MCP_METHOD_NOT_FOUND: return "method not found";
	case MCP_INVALID_PARAMS: return "invalid params";
	case MCP_INTERNAL_ERROR: return "internal error";
	case MCP_HEADER_MISMATCH: return "header mismatch";
	case MCP_MISSING_CLIENT_CAPABILITY: return "missing client capability";
	case MCP_UNSUPPORTED_VERSION: return "unsupported protocol version";
	default: return "server error";
	}
}

int mcp_result_of(const struct mcp_msg *m, int64_t id, const cJSON **result, struct ad_err *err)
{
	if (m->kind == MCP_MSG_ERROR && (m->id == id || m->id == 0))
		return ad_err_code(err, EREMOTEIO, "%s (%d): %.300s", code_name(m->code), m->code, m->message);
	if (m->kind != MCP_MSG_RESULT)
		return ad_err_code(err, EPROTO, "a %s, not the answer to request %lld",
				   m->kind == MCP_MSG_REQUEST ? "request" : "notification", (long long)id);
	if (m->id != id)
		return ad_err_code(err, EPROTO, "the answer to request %lld, not to %lld", (long long)m->id,
				   (long long)id);
	*result = m->result;
	return 0;
}

cJSON *mcp_answer(const struct mcp_msg *request)
{
	cJSON *msg = cJSON_CreateObject();
	cJSON *id = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(request->json, "id"), true);
	bool ok = msg != NULL && id != NULL && cJSON_AddStringToObject(msg, "jsonrpc", "2.0") != NULL &&
		  cJSON_AddItemToObject(msg, "id", id);
	if (!ok) {
		cJSON_Delete(id);
		cJSON_Delete(msg);
		return NULL;
	}
	if (strcmp(request->method, "ping") == 0)
		return cJSON_AddObjectToObject(msg, "result") ? msg : (cJSON_Delete(msg), NULL);
	cJSON *e = cJSON_AddObjectToObject(msg, "error");
	if (e == NULL || cJSON_AddNumberToObject(e, "code", MCP_METHOD_NOT_FOUND) == NULL ||
	    cJSON_AddStringToObject(e, "message", "Method not found") == NULL) {
		cJSON_Delete(msg);
		return NULL;
	}
	return msg;
}

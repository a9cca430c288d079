/* Working on a session's sandbox directly, between turns: POST .../exec (a command, its
 * output as JSON or streamed), GET|PUT|DELETE .../files/{path} (one file in and out of
 * /workspace, a directory listed), GET .../history. Each is an OP the agent in the
 * sandbox carries out (include/ipc/protocol.h), with the sandbox's rights, not the host's;
 * a suspended session's file ops the gateway does itself, as the workspace's owner, with
 * the same replies (session/host_files.c): what waits on them here is the same. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "api/op_run.h"
#include "core/base64.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "ipc/op_end.h"
#include "ipc/protocol.h"
#include "session/session.h"

#define EXEC_COMMAND_MAX 100000

enum MHD_Result api_op_start(struct http_req *req, cJSON *op, bool stream)
{
	enum MHD_Result r;
	struct ad_err e;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	_cleanup_cjson_ cJSON *taken = op;
	if (s == NULL)
		return r;
	struct op_run *o = op_run_new(stream);
	int rc = o && op ? session_op(s, op, o, &e) : ad_err_set(&e, ENOMEM, "op");
	if (rc < 0) {
		if (o != NULL)
			op_run_unref(o);
		return http_reply_error(req, 409, "conflict_error", "%s", e.msg);
	}
	if (stream) {
		op_run_set_conn(o, req->conn);
		return http_reply_stream(req, 200, "text/event-stream; charset=utf-8", op_run_read, o, op_run_release);
	}
	req->ctx = o;
	req->ctx_free = op_run_release;
	if (op_run_wait(o, req->conn))
		return MHD_YES;
	return req->route->fn(req);
}

cJSON *api_op_finished(struct http_req *req, enum MHD_Result *r, char **output, bool *cut)
{
	return api_op_result(req, req->ctx, r, output, cut);
}

cJSON *api_op_result(struct http_req *req, struct op_run *o, enum MHD_Result *r, char **output, bool *cut)
{
	const char *why;
	if (op_run_wait(o, req->conn)) {
		*r = MHD_YES;
		return NULL;
	}
	bool ignored;
	cJSON *end = op_run_end(o, output, cut ? cut : &ignored, &why);
	if (end == NULL) {
		*r = http_reply_error(req, 502, "sandbox_error", "%s", why);
		return NULL;
	}
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(end, "ok");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(end, "error");
	if (!cJSON_IsTrue(ok)) {
		const char *msg = cJSON_IsString(err) ? err->valuestring : "the operation failed";
		bool missing = op_end_code_is(end, ENOENT), busy = op_end_code_is(end, EAGAIN);
		*r = missing ? http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "%s", msg)
		     : busy ? http_reply_error(req, 409, "conflict_error", "%s", msg)
			    : http_reply_error(req, 400, HTTP_ERR_INVALID, "%s", msg);
		cJSON_Delete(end);
		return NULL;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(end, "ok");
	cJSON_DeleteItemFromObjectCaseSensitive(end, "id");
	return end;
}

enum MHD_Result api_session_exec(struct http_req *req)
{
	enum MHD_Result r;
	if (req->ctx != NULL) {
		_cleanup_free_ char *output = NULL;
		bool cut = false;
		cJSON *end = api_op_finished(req, &r, &output, &cut);
		if (end == NULL)
			return r;
		if (cJSON_HasObjectItem(end, "process"))
			return api_process_reply(req, 201, end);
		cJSON_AddStringToObject(end, "output", output ? output : "");
		cJSON_AddBoolToObject(end, "output_truncated", cut);
		return http_reply_json(req, 200, end);
	}
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req->json, "command");
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(req->json, "timeout_s");
	const cJSON *stream = cJSON_GetObjectItemCaseSensitive(req->json, "stream");
	const cJSON *bg = cJSON_GetObjectItemCaseSensitive(req->json, "background");
	struct app *app = req->app;
	for (const cJSON *k = req->json ? req->json->child : NULL; k; k = k->next)
		if (strcmp(k->string, "command") && strcmp(k->string, "timeout_s") && strcmp(k->string, "stream") &&
		    strcmp(k->string, "background"))
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "unknown field \"%s\"", k->string);
	if (!cJSON_IsString(cmd) || cmd->valuestring[0] == '\0' || strlen(cmd->valuestring) > EXEC_COMMAND_MAX)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "command must be a string of 1 to %d bytes",
					EXEC_COMMAND_MAX);
	unsigned limit = app->policy.command_timeout_s;
	if (timeout != NULL && (!cJSON_IsNumber(timeout) || timeout->valuedouble < 1 || timeout->valuedouble > limit))
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "timeout_s must be 1 to %u seconds", limit);
	if (stream != NULL && !cJSON_IsBool(stream))
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "stream must be true or false");
	if (bg != NULL && !cJSON_IsBool(bg))
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "background must be true or false");
	if (cJSON_IsTrue(bg) && (timeout != NULL || cJSON_IsTrue(stream)))
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "a background command has no %s: it runs until it "
					"ends or is killed, and GET .../processes/{id} shows its output",
					timeout ? "timeout_s" : "stream");
	if (cJSON_IsTrue(bg))
		return api_op_start(req, api_background_op(req, cmd->valuestring), false);
	const char *accept = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	bool sse = cJSON_IsTrue(stream) || (accept && strcasestr(accept, "text/event-stream"));
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "op", "exec");
	cJSON_AddStringToObject(op, "command", cmd->valuestring);
	cJSON_AddNumberToObject(op, "timeout_s", timeout ? (unsigned)timeout->valuedouble : limit);
	return api_op_start(req, op, sse);
}

enum MHD_Result api_session_history(struct http_req *req)
{
	return api_session_show(req, session_history);
}

/* ------------------------------------------------------------------------- files */

/* The file path of the request: the path's rest, relative to /workspace. */
static const char *file_path(const struct http_req *req)
{
	return req->nparams > 1 ? req->params[1] : "";
}

static enum MHD_Result file_reply(struct http_req *req)
{
	enum MHD_Result r;
	cJSON *end = api_op_finished(req, &r, NULL, NULL);
	if (end == NULL)
		return r;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(end, "data_b64");
	if (req->method != HTTP_GET || !cJSON_IsString(data))   /* written, deleted, listed */
		return http_reply_json(req, 200, end);
	size_t len = strlen(data->valuestring), n;
	struct ad_err e;
	char *raw = malloc(base64_decoded_max(len) + 1);
	if (raw == NULL || base64_decode(data->valuestring, len, raw, &n, &e) < 0) {
		free(raw);
		cJSON_Delete(end);
		return http_reply_error(req, 502, "sandbox_error", "the file came back garbled");
	}
	cJSON_Delete(end);
	const char *slash = strrchr(file_path(req), '/');
	return http_reply_download(req, raw, n, slash ? slash + 1 : file_path(req));
}

/* GET (a file's bytes; a directory's listing when the path is empty or ends in '/'),
 * PUT (the body becomes the file) and DELETE of /api/sessions/{id}/files/{path}. */
enum MHD_Result api_session_files(struct http_req *req)
{
	if (req->ctx != NULL)
		return file_reply(req);
	const char *path = file_path(req);
	size_t plen = strlen(path);
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "path", plen ? path : ".");
	if (req->method == HTTP_PUT) {
		if (plen == 0 || path[plen - 1] == '/') {
			cJSON_Delete(op);
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "PUT needs a file name, not a directory");
		}
		char *b64 = malloc(base64_encoded_len(req->body_len) + 1);
		if (b64 == NULL) {
			cJSON_Delete(op);
			return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "out of memory");
		}
		base64_encode(req->body ? req->body : "", req->body_len, b64);
		cJSON_AddStringToObject(op, "op", "write");
		cJSON_AddStringToObject(op, "data_b64", b64);
		free(b64);
	} else if (req->method == HTTP_DELETE) {
		cJSON_AddStringToObject(op, "op", "delete");
	} else {
		cJSON_AddStringToObject(op, "op", plen == 0 || path[plen - 1] == '/' ? "list" : "read");
	}
	return api_op_start(req, op, false);
}

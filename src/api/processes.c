/* A session's background processes: POST .../exec with "background": true starts one
 * (session_ops.c), GET .../processes lists them, GET .../processes/{proc} shows one
 * with its output, DELETE .../processes/{proc} kills it. Starting and killing are ops
 * for the agent, between turns; listing and showing are views, which the supervisor
 * answers from the records in the sandbox's /tmp (ipc/bgproc.h) even while a turn runs.
 * Their folder is named by a tag made from the session's id, which the sandbox never
 * sees itself. */
#include <string.h>

#include "api/app.h"
#include "core/sha256.h"
#include "ipc/bgproc.h"

/* A new op of kind on the path's session's background processes. */
static cJSON *procs_op(const struct http_req *req, const char *kind)
{
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(req->params[0], strlen(req->params[0]), hex);
	hex[BGPROC_TAG_LEN] = '\0';
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "op", kind);
	cJSON_AddStringToObject(op, "procs", hex);
	return op;
}

cJSON *api_background_op(const struct http_req *req, const char *command)
{
	const struct app *app = req->app;
	cJSON *op = procs_op(req, "exec");
	cJSON_AddStringToObject(op, "command", command);
	cJSON_AddTrueToObject(op, "background");
	cJSON_AddNumberToObject(op, "max", (double)app->cfg.sandbox.max_background);
	return op;
}

enum MHD_Result api_process_reply(struct http_req *req, unsigned status, cJSON *end)
{
	cJSON *proc = cJSON_DetachItemFromObjectCaseSensitive(end, "process");
	cJSON_Delete(end);
	if (!cJSON_IsObject(proc)) {
		cJSON_Delete(proc);
		return http_reply_error(req, 502, "sandbox_error", "the sandbox answered without the process");
	}
	return http_reply_json(req, status, proc);
}

enum MHD_Result api_session_processes(struct http_req *req)
{
	enum MHD_Result r;
	if (req->ctx == NULL)
		return api_op_start(req, procs_op(req, "procs"), false);
	cJSON *end = api_op_finished(req, &r, NULL, NULL);
	if (end == NULL)
		return r;
	cJSON *all = cJSON_DetachItemFromObjectCaseSensitive(end, "processes");
	cJSON_Delete(end);
	cJSON *body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "processes", cJSON_IsArray(all) ? all : cJSON_CreateArray());
	if (!cJSON_IsArray(all))
		cJSON_Delete(all);
	return http_reply_json(req, 200, body);
}

/* GET (with its output so far) and DELETE (killed: as it ended) of one. */
enum MHD_Result api_session_process(struct http_req *req)
{
	enum MHD_Result r;
	if (req->ctx == NULL) {
		cJSON *op = procs_op(req, req->method == HTTP_DELETE ? "kill" : "procs");
		cJSON_AddStringToObject(op, "proc", req->params[1]);
		return api_op_start(req, op, false);
	}
	cJSON *end = api_op_finished(req, &r, NULL, NULL);
	return end == NULL ? r : api_process_reply(req, 200, end);
}

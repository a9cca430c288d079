/* The route table: the whole HTTP surface of agentd in one place. Every route needs a
 * token (when tokens are configured) and counts against the rate limit, except those
 * marked HTTP_ROUTE_PUBLIC. */
#include <stdint.h>

#include "api/app.h"
#include "ipc/protocol.h"

static enum MHD_Result api_not_found(struct http_req *req)
{
	return http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "no such API endpoint: %s", req->path);
}

static enum MHD_Result serve_static(struct http_req *req)
{
	struct app *app = req->app;
	return static_files_reply(app->static_files, req);
}

const struct http_route api_routes[] = {
	{ "/api/health", HTTP_GET, HTTP_BODY_NONE, api_health, HTTP_ROUTE_PUBLIC, 0 },
	/* public to the API's auth: it has its own (loopback, or metrics.token) */
	{ "/metrics", HTTP_GET, HTTP_BODY_NONE, api_metrics, HTTP_ROUTE_PUBLIC, 0 },
	{ "/api/chat", HTTP_POST, HTTP_BODY_JSON, api_chat, HTTP_ROUTE_WORK, 0 },
	{ "/api/sessions", HTTP_POST, HTTP_BODY_JSON_OPT, api_sessions_create, HTTP_ROUTE_WORK, 0 },
	{ "/api/sessions", HTTP_GET, HTTP_BODY_NONE, api_sessions_list, 0, 0 },
	{ "/api/sessions/{id}", HTTP_GET, HTTP_BODY_NONE, api_session_get, 0, 0 },
	{ "/api/sessions/{id}", HTTP_DELETE, HTTP_BODY_NONE, api_session_delete, 0, 0 },
	{ "/api/sessions/{id}", HTTP_PATCH, HTTP_BODY_JSON, api_session_patch, 0, 0 },
	{ "/api/sessions/{id}/messages", HTTP_POST, HTTP_BODY_JSON, api_session_post_message, HTTP_ROUTE_WORK, 0 },
	{ "/api/sessions/{id}/messages", HTTP_GET, HTTP_BODY_NONE, api_session_messages, 0, 0 },
	{ "/api/sessions/{id}/events", HTTP_GET, HTTP_BODY_NONE, api_session_events, 0, 0 },
	{ "/api/sessions/{id}/interrupt", HTTP_POST, HTTP_BODY_NONE, api_session_interrupt, 0, 0 },
	{ "/api/sessions/{id}/exec", HTTP_POST, HTTP_BODY_JSON, api_session_exec, HTTP_ROUTE_WORK, 0 },
	{ "/api/sessions/{id}/suspend", HTTP_POST, HTTP_BODY_NONE, api_session_suspend, 0, 0 },
	{ "/api/sessions/{id}/files", HTTP_GET, HTTP_BODY_NONE, api_session_files, 0, 0 },
	/* a file comes whole, up to what one OP carries (not http.max_body_bytes) */
	{ "/api/sessions/{id}/files/*", HTTP_GET | HTTP_PUT | HTTP_DELETE, HTTP_BODY_RAW, api_session_files, 0,
	  PROTO_FILE_MAX },
	{ "/api/sessions/{id}/workspace.tar", HTTP_GET, HTTP_BODY_NONE, api_workspace_tar_get, HTTP_ROUTE_WORK, 0 },
	/* streamed to a file as it comes; its own limit is the session's (workspace_tar.c) */
	{ "/api/sessions/{id}/workspace.tar", HTTP_PUT, HTTP_BODY_STREAM, api_workspace_tar_put, HTTP_ROUTE_WORK,
	  SIZE_MAX },
	{ "/api/sessions/{id}/history", HTTP_GET, HTTP_BODY_NONE, api_session_history, 0, 0 },
	{ "/api/sessions/{id}/ports", HTTP_GET, HTTP_BODY_NONE, api_session_ports, 0, 0 },
	{ "/api/sessions/{id}/ports/{port}", HTTP_ANY, HTTP_BODY_RAW, api_session_port, HTTP_ROUTE_COOKIE, 0 },
	{ "/api/sessions/{id}/ports/{port}/*", HTTP_ANY, HTTP_BODY_RAW, api_session_port, HTTP_ROUTE_COOKIE, 0 },
	{ "/api/sessions/{id}/processes", HTTP_GET, HTTP_BODY_NONE, api_session_processes, 0, 0 },
	{ "/api/sessions/{id}/processes/{proc}", HTTP_GET | HTTP_DELETE, HTTP_BODY_NONE, api_session_process, 0, 0 },
	{ "/api/whoami", HTTP_GET, HTTP_BODY_NONE, api_whoami, 0, 0 },
	/* the operator's (admin.c): an admin token's only, 403 for others, whatever the path */
	{ "/api/admin/sessions", HTTP_GET, HTTP_BODY_NONE, api_admin_sessions, HTTP_ROUTE_ADMIN, 0 },
	{ "/api/admin/sessions/{id}", HTTP_GET, HTTP_BODY_NONE, api_admin_session_get, HTTP_ROUTE_ADMIN, 0 },
	{ "/api/admin/sessions/{id}", HTTP_DELETE, HTTP_BODY_NONE, api_admin_session_delete, HTTP_ROUTE_ADMIN, 0 },
	{ "/api/admin/sessions/{id}/history", HTTP_GET, HTTP_BODY_NONE, api_session_history, HTTP_ROUTE_ADMIN, 0 },
	{ "/api/admin/sessions/{id}/suspend", HTTP_POST, HTTP_BODY_NONE, api_session_suspend, HTTP_ROUTE_ADMIN, 0 },
	{ "/api/admin/drain", HTTP_POST | HTTP_DELETE, HTTP_BODY_NONE, api_admin_drain, HTTP_ROUTE_ADMIN, 0 },
	{ "/api/admin/*", HTTP_ANY, HTTP_BODY_NONE, api_not_found, HTTP_ROUTE_ADMIN, 0 },
	{ "/api/*", HTTP_ANY, HTTP_BODY_NONE, api_not_found, 0, 0 },
	{ "/*", HTTP_GET, HTTP_BODY_NONE, serve_static, HTTP_ROUTE_PUBLIC, 0 },
	{ NULL, 0, 0, NULL, 0, 0 },
};

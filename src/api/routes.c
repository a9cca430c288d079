/* The route table: the whole HTTP surface of agentd in one place. */
#include "api/app.h"

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
	{ "/api/health", HTTP_GET, HTTP_BODY_NONE, api_health },
	{ "/api/chat", HTTP_POST, HTTP_BODY_JSON, api_chat },
	{ "/api/*", HTTP_ANY, HTTP_BODY_NONE, api_not_found },
	{ "/*", HTTP_GET, HTTP_BODY_NONE, serve_static },
	{ NULL, 0, 0, NULL },
};

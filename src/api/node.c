/* This node among others behind a load balancer (README, "More than one host"): the 421
 * for a session that lives on another node, draining, and the operator's list asked for
 * one node. Where a session lives is the registry's to say (sessions_home). */
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "core/json.h"
#include "core/log.h"
#include "session/session.h"

#define DRAIN_RETRY_S "5"

/* 421 Misdirected Request: {"error": {"type", "message", "node", "this_node"}}. */
static enum MHD_Result misdirected(struct http_req *req, const char *what, const char *node)
{
	struct app *app = req->app;
	const char *here = sessions_node(app->sessions);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s lives on node \"%s\"; this is node \"%s\": send it to node %s (a load balancer "
		 "routes by the node name at the end of a session id: README, \"More than one host\")",
		 what, node, here, node);
	cJSON *root = json_error(HTTP_ERR_MISDIRECTED, msg);
	cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	cJSON_AddStringToObject(e, "node", node);
	cJSON_AddStringToObject(e, "this_node", here);
	return http_reply_json(req, 421, root);
}

bool api_session_elsewhere(struct http_req *req, const char *id, enum MHD_Result *r)
{
	struct app *app = req->app;
	char node[NODE_NAME_MAX + 1], what[NODE_SESSION_ID_MAX + 16];
	if (sessions_home(app->sessions, id, node, sizeof(node)) == SESSION_HOME_HERE)
		return false;
	snprintf(req->session, sizeof(req->session), "%s", id);
	snprintf(what, sizeof(what), "session \"%s\"", id);
	*r = misdirected(req, what, node);
	return true;
}

enum MHD_Result api_refuse_draining(struct http_req *req, bool *refused)
{
	struct app *app = req->app;
	*refused = sessions_draining(app->sessions);
	if (!*refused)
		return MHD_YES;
	return http_reply_error_header(req, 503, HTTP_ERR_UNAVAILABLE, "Retry-After", DRAIN_RETRY_S,
				       "node \"%s\" is draining: it takes no new sessions (its sessions still answer); "
				       "start one on another node", sessions_node(app->sessions));
}

static cJSON *node_json(struct app *app)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", sessions_node(app->sessions));
	cJSON_AddBoolToObject(j, "draining", sessions_draining(app->sessions));
	return j;
}

cJSON *api_node_json(struct http_req *req)
{
	return node_json(req->app);
}

/* POST /api/admin/drain: no new sessions here, hybrids suspended; DELETE: new ones again. */
enum MHD_Result api_admin_drain(struct http_req *req)
{
	struct app *app = req->app;
	bool on = req->method == HTTP_POST;
	log_info("admin: %s %s node %s", req->principal, on ? "drains" : "undrains", sessions_node(app->sessions));
	sessions_drain(app->sessions, on);
	return http_reply_json(req, 200, node_json(app));
}

/* GET /api/admin/sessions[?node=NAME]: this node's sessions; another node's: 421. */
enum MHD_Result api_admin_sessions(struct http_req *req)
{
	struct app *app = req->app;
	const char *node = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "node");
	struct ad_err e;
	if (node != NULL && node_name_check(node, &e) < 0)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "node: %s", e.msg);
	if (node != NULL && strcmp(node, sessions_node(app->sessions)) != 0)
		return misdirected(req, "the list of that node's sessions", node);
	cJSON *j = sessions_admin_list(app->sessions);
	cJSON_AddStringToObject(j, "node", sessions_node(app->sessions));
	return http_reply_json(req, 200, j);
}

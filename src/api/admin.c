/* The operator's API, /api/admin/...: every session on the host, whoever owns it, and
 * what an operator does to one (end it, suspend it); and GET /api/whoami, anyone's. The
 * /api/admin routes are marked HTTP_ROUTE_ADMIN: the authorize hook (auth.c) lets only a
 * principal with the admin role through, and answers 403 to others before this runs. A
 * session is looked up with api_find_session, which on those routes alone reaches
 * anyone's (sessions.c). The list of sessions and draining are node.c's. */
#include "api/app.h"
#include "core/log.h"
#include "session/session.h"

/* GET /api/whoami, for anyone: the principal and its role. A page learns from it
 * whether to offer the operator's view without asking an admin route for a 403 (which a
 * browser reports as an error in its console). */
enum MHD_Result api_whoami(struct http_req *req)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", req->principal);
	cJSON_AddBoolToObject(j, "admin", req->admin);
	return http_reply_json(req, 200, j);
}

enum MHD_Result api_admin_session_get(struct http_req *req)
{
	return api_session_show(req, session_admin_json);
}

/* As its owner's DELETE: the sandbox torn down, the session gone (its owner's next
 * request about it: 404, "ended by an operator"). Logged with both names. */
enum MHD_Result api_admin_session_delete(struct http_req *req)
{
	enum MHD_Result r;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	log_about(AD_LOG_INFO, session_id(s), session_owner(s), "admin: %s ends it", req->principal);
	session_destroy(s, "ended by an operator");
	return http_reply_json(req, 200, session_admin_json(s));
}

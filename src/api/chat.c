/* POST /api/chat: check the request in full (chat_request.c), then run the turn on the
 * session named by session_id, or on a new ephemeral session that is destroyed when the
 * turn ends (api/turn.c). */
#include <errno.h>
#include <stdio.h>

#include "api/app.h"
#include "api/chat_request.h"
#include "api/turn.h"

enum MHD_Result api_chat(struct http_req *req)
{
	struct app *app = req->app;
	const struct config *cfg = &app->cfg;
	if (req->ctx != NULL)          /* resumed: the turn has ended (else wait on) */
		return api_turn_resumed(req);

	struct chat_request cr;
	struct ad_err e;
	bool refused;
	if (chat_request_parse(req->json, cfg->anthropic.max_message_chars, &cr, &e) < 0 ||
	    (cr.network != NULL && chat_network_check(cr.network, cfg->network.allow, &e) < 0) ||
	    (cr.mcp_servers != NULL && chat_mcp_check(cr.mcp_servers, cfg->mcp.servers, &e) < 0) ||
	    chat_runtime_check(cfg, cr.runtime, cr.command, cr.history != NULL, &e) < 0)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s", e.msg);
	const char *opt = cr.network ? "network" : cr.mcp_servers ? "mcp_servers" : cr.runtime ? "runtime" : NULL;
	if (opt != NULL && cr.session_id != NULL)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s goes with a new session, not with "
					"session_id (a session keeps what it was created with)", opt);
	enum MHD_Result r = api_turn_refuse(req, &cr, &refused);
	if (refused)
		return r;
	_cleanup_session_ struct session *s = NULL;
	if (cr.session_id != NULL && (s = api_session_by_id(req, cr.session_id, &r)) == NULL)
		return r;
	if (s == NULL && (r = api_refuse_new_session(req, &refused), refused))
		return r;
	bool created = s == NULL;
	if (created) {
		struct session_opts o = { .pattern = PATTERN_EPHEMERAL, .owner = api_owner(req),
					  .network = cr.network, .mcp_servers = cr.mcp_servers,
					  .runtime = cr.runtime, .command = cr.command };
		if ((s = session_create(app->sessions, &o, &e)) == NULL)
			return api_reply_capacity(req, &e);
	}
	snprintf(req->session, sizeof(req->session), "%s", session_id(s));
	/* a sandbox it took from the pool is made up for once its response is sent */
	return api_turn_start(req, s, &cr);
}

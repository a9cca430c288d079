/* POST /api/chat: the request is checked in full here (chat_request.c); the agent run
 * behind it arrives with the agent loop. */
#include "api/app.h"
#include "api/chat_request.h"

enum MHD_Result api_chat(struct http_req *req)
{
	struct app *app = req->app;
	struct chat_request cr;
	struct ad_err e;
	if (chat_request_parse(req->json, app->cfg.anthropic.max_message_chars, &cr, &e) < 0)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s", e.msg);
	if (app->cfg.anthropic.api_key[0] == '\0')
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE,
					"no Anthropic API key is configured: set ANTHROPIC_API_KEY in agentd's "
					"environment or in its .env file (see .env.example), then restart agentd");
	return http_reply_error(req, 501, "not_implemented_error",
				"this build of agentd checks chat requests but does not run agents yet");
}

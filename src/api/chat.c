/* POST /api/chat: check the request in full (chat_request.c), then run it in a new
 * session (chat_run.c) and answer with the JSON reply once the run ends, or with its
 * events as they happen (Server-Sent Events). The handler never waits: the connection
 * is suspended and the hub's thread resumes it. */
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "api/chat_request.h"
#include "api/chat_run.h"

static bool wants_events(struct http_req *req, const struct chat_request *cr)
{
	if (cr->stream)
		return true;
	const char *accept = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	return accept != NULL && strcasestr(accept, "text/event-stream") != NULL;
}

/* Called again when the run has ended (the connection was suspended until then). */
static enum MHD_Result reply(struct http_req *req, struct chat_run *run)
{
	cJSON *body;
	unsigned status = chat_run_result(run, &body);
	return http_reply_json(req, status, body);
}

enum MHD_Result api_chat(struct http_req *req)
{
	struct app *app = req->app;
	const struct config *cfg = &app->cfg;
	if (req->ctx != NULL)          /* resumed: the run has ended (else wait on) */
		return chat_run_wait(req->ctx, req->conn) ? MHD_YES : reply(req, req->ctx);

	struct chat_request cr;
	struct ad_err e;
	if (chat_request_parse(req->json, cfg->anthropic.max_message_chars, &cr, &e) < 0)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s", e.msg);
	if (cr.model != NULL && !config_model_allowed(cfg, cr.model))
		return http_reply_error(req, 400, HTTP_ERR_INVALID,
					"model \"%s\" is not allowed here; allowed: %s and the models in "
					"anthropic.models", cr.model, cfg->anthropic.model);
	if (cr.system != NULL && !cfg->agent.allow_system)
		return http_reply_error(req, 400, HTTP_ERR_INVALID,
					"\"system\" is not allowed here: this agentd keeps its own system prompt "
					"(agent.allow_system is false)");
	if (cr.session_id != NULL)
		return http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "no session \"%s\"", cr.session_id);
	if (cfg->anthropic.api_key[0] == '\0')
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE,
					"no Anthropic API key is configured: set ANTHROPIC_API_KEY in agentd's "
					"environment or in its .env file (see .env.example), then restart agentd");
	if (!app->probe.ready)
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "sandboxes cannot start on this host: %s",
					app->probe.reason);

	bool stream = wants_events(req, &cr);
	struct chat_run *run = chat_run_start(app, &cr, stream, &e);
	if (run == NULL)
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "cannot start a session: %s", e.msg);
	if (stream) {
		chat_run_set_conn(run, req->conn);
		return http_reply_stream(req, 200, "text/event-stream; charset=utf-8", chat_run_read, run,
					 chat_run_release);
	}
	req->ctx = run;
	req->ctx_free = chat_run_release;
	if (!chat_run_wait(run, req->conn))
		return reply(req, run);
	return MHD_YES;
}

/* One turn for an HTTP request: see include/api/turn.h. */
#include "api/turn.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "api/chat_run.h"
#include "core/log.h"

static bool wants_events(struct http_req *req, const struct chat_request *cr)
{
	if (cr->stream)
		return true;
	const char *accept = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	return accept != NULL && strcasestr(accept, "text/event-stream") != NULL;
}

enum MHD_Result api_turn_refuse(struct http_req *req, const struct chat_request *cr, bool *refused)
{
	const struct config *cfg = &((struct app *)req->app)->cfg;
	*refused = true;
	if (cr->model != NULL && !config_model_allowed(cfg, cr->model))
		return http_reply_error(req, 400, HTTP_ERR_INVALID,
					"model \"%s\" is not allowed here; allowed: %s and the models in "
					"anthropic.models", cr->model, cfg->anthropic.model);
	if (cr->thinking >= cfg->anthropic.max_tokens)
		return http_reply_error(req, 400, HTTP_ERR_INVALID,
					"thinking.budget_tokens (%lld) must be less than max_tokens (%lld, "
					"anthropic.max_tokens)", (long long)cr->thinking,
					(long long)cfg->anthropic.max_tokens);
	if (cr->system != NULL && !cfg->agent.allow_system)
		return http_reply_error(req, 400, HTTP_ERR_INVALID,
					"\"system\" is not allowed here: this agentd keeps its own system prompt "
					"(agent.allow_system is false)");
	*refused = false;
	return MHD_YES;
}

static cJSON *turn_payload(const struct chat_request *cr)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "message", cr->message);
	if (cr->history != NULL)
		cJSON_AddItemToObject(t, "history", cJSON_Duplicate(cr->history, true));
	if (cr->model != NULL)
		cJSON_AddStringToObject(t, "model", cr->model);
	if (cr->system != NULL)
		cJSON_AddStringToObject(t, "system", cr->system);
	if (cr->thinking >= 0)
		cJSON_AddNumberToObject(t, "thinking", (double)cr->thinking);
	return t;
}

/* The HTTP side let go of the turn (its response sent, or its client gone); an
 * ephemeral session whose client left goes. Only now does the warm pool rebuild a
 * sandbox the turn took from it: the build would compete with the reply. */
static void released(void *ctx, bool left_early)
{
	struct session *s = ctx;
	if (left_early && session_pattern(s) == PATTERN_EPHEMERAL)
		session_destroy(s, "its client went away");
	session_pool_settle(s);
	session_unref(s);
}

/* The client of an ephemeral run has gone: the run goes with it, now (the tool's
 * processes, the model call in flight and the sandbox: session_destroy). */
static void client_gone(void *ctx)
{
	struct session *s = ctx;
	log_about(AD_LOG_INFO, session_id(s), session_owner(s), "its client went away during the turn");
	session_destroy(s, "its client went away");
}

static enum MHD_Result reply(struct http_req *req, struct chat_run *run)
{
	cJSON *body;
	unsigned status = chat_run_result(run, &body);
	return http_reply_json(req, status, body);
}

enum MHD_Result api_turn_resumed(struct http_req *req)
{
	return chat_run_wait(req->ctx, req->conn) ? MHD_YES : reply(req, req->ctx);
}

enum MHD_Result api_turn_start(struct http_req *req, struct session *s, const struct chat_request *cr)
{
	struct ad_err e;
	bool stream = wants_events(req, cr);
	session_ref(s);                   /* the run's, given back in released() */
	struct chat_run *run = chat_run_new(session_id(s), session_owner(s), stream, released, s);
	cJSON *turn = turn_payload(cr);
	if (run == NULL || turn == NULL) {
		cJSON_Delete(turn);
		if (run != NULL)
			chat_run_unref(run);
		session_unref(s);
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "out of memory");
	}
	int rc = session_turn(s, turn, run, &e);
	cJSON_Delete(turn);
	if (rc < 0) {
		chat_run_release(run);    /* not begun: a client "leaving early" ends an ephemeral one */
		/* busy, or gone (failed, destroyed: it says why) meanwhile; else the link */
		if (e.errnum == ESRCH)
			return http_reply_error(req, 409, "session_ended_error", "%s", e.msg);
		if (e.errnum == EBUSY || e.errnum == ENOENT)
			return http_reply_error(req, 409, "conflict_error", "%s", e.msg);
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "%s", e.msg);
	}
	/* an ephemeral run goes with its client; a session's turn goes on without it */
	if (session_pattern(s) == PATTERN_EPHEMERAL)
		chat_run_watch_client(run, req->conn, client_gone);
	if (stream) {
		chat_run_set_conn(run, req->conn);
		return http_reply_stream(req, 200, "text/event-stream; charset=utf-8", chat_run_read, run,
					 chat_run_release);
	}
	req->ctx = run;
	req->ctx_free = chat_run_release;
	return chat_run_wait(run, req->conn) ? MHD_YES : reply(req, run);
}

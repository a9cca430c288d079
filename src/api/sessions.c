/* The session API: /api/sessions and /api/sessions/{id}[/messages|/events|/interrupt].
 * A session belongs to the principal that made it; to anyone else it does not exist. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/chat_request.h"
#include "api/op_run.h"
#include "api/turn.h"
#include "session/session.h"

#define CAPACITY_RETRY_S "5"
#define TITLE_MAX_CHARS 200

/* A session's title: text of at most TITLE_MAX_CHARS characters, "" for none. */
static int check_title(const cJSON *k, struct ad_err *err)
{
	if (!cJSON_IsString(k))
		return ad_err_set(err, 0, "title must be a string");
	return chat_text_check("title", k->valuestring, TITLE_MAX_CHARS, err);
}

const char *api_owner(const struct http_req *req)
{
	return req->principal;        /* the token's name, or "anonymous" (http/server.c) */
}

enum MHD_Result api_refuse_new_session(struct http_req *req, bool *refused)
{
	struct app *app = req->app;
	enum MHD_Result r = api_refuse_draining(req, refused);
	if (*refused)
		return r;
	*refused = true;
	if (!atomic_load(&app->api_key_set))
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE,
					"no Anthropic API key is configured: set ANTHROPIC_API_KEY in agentd's "
					"environment or in its .env file (see .env.example), then restart agentd (or, with the key in "
					"its env file, reload it: SIGHUP)");
	if (!app->probe.ready)
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "sandboxes cannot start on this host: %s",
					app->probe.reason);
	*refused = false;
	return MHD_YES;
}

enum MHD_Result api_reply_capacity(struct http_req *req, const struct ad_err *e)
{
	if (e->errnum == EAGAIN)
		return http_reply_error_header(req, 503, HTTP_ERR_UNAVAILABLE, "Retry-After", CAPACITY_RETRY_S, "%s",
					       e->msg);
	return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "cannot start a session: %s", e->msg);
}

/* The body of POST /api/sessions, field by field. */
static int parse_opts(struct app *app, const cJSON *body, struct session_opts *o, struct ad_err *err)
{
	o->pattern = (enum session_pattern)app->cfg.session.pattern;
	if (body == NULL)
		return 0;
	if (!cJSON_IsObject(body))
		return ad_err_set(err, 0, "the body must be a JSON object");
	for (const cJSON *k = body->child; k; k = k->next) {
		const char *n = k->string;
		if (strcmp(n, "pattern") == 0) {
			int i = 0;
			while (cJSON_IsString(k) && session_pattern_names[i] && strcmp(k->valuestring, session_pattern_names[i]))
				i++;
			if (!cJSON_IsString(k) || session_pattern_names[i] == NULL)
				return ad_err_set(err, 0, "pattern must be one of ephemeral, long-running, hybrid, shared");
			o->pattern = (enum session_pattern)i;
		} else if (strcmp(n, "runtime") == 0 || strcmp(n, "command") == 0) {
			if (!cJSON_IsString(k))
				return ad_err_set(err, 0, "%s must be a string", n);
			*(n[0] == 'r' ? &o->runtime : &o->command) = k->valuestring;
		} else if (strcmp(n, "system") == 0 || strcmp(n, "model") == 0) {
			if (!cJSON_IsString(k))
				return ad_err_set(err, 0, "%s must be a string", n);
			*(n[0] == 's' ? &o->system : &o->model) = k->valuestring;
		} else if (strcmp(n, "title") == 0) {
			if (check_title(k, err) < 0)
				return -1;
			o->title = k->valuestring;
		} else if (strcmp(n, "idle_timeout_s") == 0) {
			if (!cJSON_IsNumber(k) || k->valuedouble < 1 || k->valuedouble > (double)app->cfg.session.idle_timeout_s)
				return ad_err_set(err, 0, "idle_timeout_s must be a number of seconds from 1 to %lld",
						  (long long)app->cfg.session.idle_timeout_s);
			o->idle_timeout_s = (unsigned)k->valuedouble;
		} else if (strcmp(n, "sandbox") == 0) {
			if (!cJSON_IsString(k) || strlen(k->valuestring) == 0 || strlen(k->valuestring) > 63 ||
			    k->valuestring[strspn(k->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
								"0123456789._-")] != '\0')
				return ad_err_set(err, 0, "sandbox must be a name of 1 to 63 letters, digits, '.', '_' or '-'");
			o->sandbox = k->valuestring;
		} else if (strcmp(n, "policy") == 0) {
			struct sandbox_policy p = app->policy;   /* checked here, applied by the supervisor */
			if (sandbox_policy_tighten(&p, k, err) < 0)
				return ad_err_prefix(err, "policy");
			o->policy = k;
		} else if (strcmp(n, "network") == 0) {
			if (chat_network_check(k, app->cfg.network.allow, err) < 0)
				return -1;
			o->network = k;
		} else if (strcmp(n, "mcp_servers") == 0) {
			if (chat_mcp_check(k, app->cfg.mcp.servers, err) < 0)
				return -1;
			o->mcp_servers = k;
		} else {
			return ad_err_set(err, 0, "unknown field \"%s\"", n);
		}
	}
	if (chat_runtime_check(&app->cfg, o->runtime, o->command, false, err) < 0)
		return -1;
	if (o->sandbox != NULL && o->pattern != PATTERN_SHARED)
		return ad_err_set(err, 0, "sandbox names a shared sandbox: it goes with \"pattern\": \"shared\"");
	if (o->pattern == PATTERN_SHARED && (o->policy != NULL || o->network != NULL || o->mcp_servers != NULL))
		return ad_err_set(err, 0, "a shared sandbox keeps the policy and network it was built with: no "
				  "\"%s\" here", o->policy != NULL ? "policy" : "network");
	return 0;
}

enum MHD_Result api_sessions_create(struct http_req *req)
{
	struct app *app = req->app;
	struct session_opts o = { .owner = api_owner(req) };
	struct ad_err e;
	if (parse_opts(app, req->json, &o, &e) < 0)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s", e.msg);
	struct chat_request fake = { .model = o.model, .system = o.system };
	bool refused;
	enum MHD_Result r = api_turn_refuse(req, &fake, &refused);
	if (refused)
		return r;
	if ((r = api_refuse_new_session(req, &refused), refused))
		return r;
	struct session *s = session_create(app->sessions, &o, &e);
	if (s == NULL)
		return api_reply_capacity(req, &e);
	snprintf(req->session, sizeof(req->session), "%s", session_id(s));
	cJSON *j = session_json(s, false);
	r = http_reply_json(req, 201, j);
	session_pool_settle(s);         /* answered: the pool makes up for a sandbox taken */
	session_unref(s);
	return r;
}

enum MHD_Result api_sessions_list(struct http_req *req)
{
	struct app *app = req->app;
	return http_reply_json(req, 200, sessions_list(app->sessions, api_owner(req)));
}

struct session *api_session_by_id(struct http_req *req, const char *id, enum MHD_Result *r)
{
	struct app *app = req->app;
	char ended[512];
	/* the operator's routes (api/admin.c) reach anyone's session; the authorize hook let
	 * only an admin through, and both are checked again here */
	bool any = (req->route->flags & HTTP_ROUTE_ADMIN) && req->admin;
	const char *owner = any ? NULL : api_owner(req);
	if (api_session_elsewhere(req, id, r))
		return NULL;          /* another node's: 421, never a 404 that is not true */
	struct session *s = any ? session_find_any(app->sessions, id) : session_find(app->sessions, id, owner);
	if (s == NULL && sessions_ended(app->sessions, id, owner, ended, sizeof(ended)))
		*r = http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "%s", ended);
	else if (s == NULL)
		*r = http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "no session \"%s\"", id);
	else
		snprintf(req->session, sizeof(req->session), "%s", session_id(s));
	return s;
}

struct session *api_find_session(struct http_req *req, enum MHD_Result *r)
{
	return api_session_by_id(req, req->params[0], r);
}

enum MHD_Result api_session_show(struct http_req *req, cJSON *(*view)(struct session *s))
{
	enum MHD_Result r;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	return http_reply_json(req, 200, view(s));
}

static cJSON *session_detail(struct session *s)
{
	return session_json(s, true);
}

enum MHD_Result api_session_get(struct http_req *req)
{
	return api_session_show(req, session_detail);
}

/* PATCH: what its owner may change once it exists (its title). */
enum MHD_Result api_session_patch(struct http_req *req)
{
	struct ad_err e;
	const cJSON *title = NULL;
	if (!cJSON_IsObject(req->json))
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "the body must be a JSON object like "
					"{\"title\": \"...\"}");
	for (const cJSON *k = req->json->child; k; k = k->next) {
		if (strcmp(k->string, "title") != 0)
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "unknown field \"%s\": only \"title\" "
						"can be changed", k->string);
		if (check_title(k, &e) < 0)
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s", e.msg);
		title = k;
	}
	if (title == NULL)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "nothing to change: send {\"title\": \"...\"}");
	enum MHD_Result r;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	if (session_set_title(s, title->valuestring, &e) < 0)
		return http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "%s", e.msg);
	return http_reply_json(req, 200, session_json(s, false));
}

enum MHD_Result api_session_delete(struct http_req *req)
{
	enum MHD_Result r;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	session_destroy(s, "deleted by its owner");
	return http_reply_json(req, 200, session_json(s, false));
}

enum MHD_Result api_session_post_message(struct http_req *req)
{
	struct app *app = req->app;
	if (req->ctx != NULL)
		return api_turn_resumed(req);
	struct chat_request cr;
	struct ad_err e;
	bool refused;
	if (chat_request_parse(req->json, app->cfg.anthropic.max_message_chars, &cr, &e) < 0)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s", e.msg);
	if (cr.session_id != NULL)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "session_id belongs in the path here");
	if (cr.network != NULL || cr.mcp_servers != NULL || cr.runtime != NULL || cr.command != NULL)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "%s is a session's, set when it is created",
					cr.network ? "network" : cr.mcp_servers ? "mcp_servers" : cr.runtime ? "runtime" : "command");
	enum MHD_Result r = api_turn_refuse(req, &cr, &refused);
	if (refused)
		return r;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	return api_turn_start(req, s, &cr);
}

enum MHD_Result api_session_messages(struct http_req *req)
{
	return api_session_show(req, session_transcript);
}

enum MHD_Result api_session_interrupt(struct http_req *req)
{
	enum MHD_Result r;
	struct ad_err e;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	if (session_interrupt(s, &e) < 0)
		return http_reply_error(req, 409, "conflict_error", "%s", e.msg);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "interrupted", true);
	return http_reply_json(req, 202, j);
}

/* The suspend saves the workspace first: the handler is called again once it is done
 * (req->ctx is the op_run that hears it); a save that failed answers 500 and says why. */
enum MHD_Result api_session_suspend(struct http_req *req)
{
	enum MHD_Result r;
	struct ad_err e;
	const char *why;
	struct op_run *o = req->ctx;
	if (o != NULL && op_run_wait(o, req->conn))
		return MHD_YES;
	cJSON *end = o != NULL ? op_run_end(o, NULL, NULL, &why) : NULL;
	if (o != NULL && end == NULL)
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "%s", why);
	cJSON_Delete(end);
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	if (o != NULL)
		return http_reply_json(req, 200, session_json(s, false));
	o = op_run_new(false);
	if ((o ? session_suspend(s, o, &e) : ad_err_set(&e, ENOMEM, "suspend")) < 0) {
		if (o != NULL)
			op_run_unref(o);
		return http_reply_error(req, e.errnum == EINVAL ? 400 : 409, e.errnum == EINVAL ? HTTP_ERR_INVALID
					: "conflict_error", "%s", e.msg);
	}
	req->ctx = o;
	req->ctx_free = op_run_release;
	return req->route->fn(req);
}

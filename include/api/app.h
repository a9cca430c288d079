/* The application behind the HTTP front end: what every handler may look at. */
#ifndef AGENTD_API_APP_H
#define AGENTD_API_APP_H

#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "http/http.h"
#include "http/static_files.h"
#include "sandbox/cgroup_host.h"
#include "sandbox/policy.h"
#include "sandbox/probe.h"
#include "sandbox/workspace.h"

struct app {
	struct config cfg;            /* its API key is the main thread's alone: handlers look
				       * at api_key_set (a reload replaces the key) */
	atomic_bool api_key_set;
	_Atomic int64_t key_loaded_at;   /* wall clock, seconds: start-up or the last reload */
	struct sandbox_policy policy;
	struct sandbox_probe probe;
	struct workspace_host workspaces;   /* where /workspace lives (resolved at start-up) */
	struct static_files *static_files;
	struct cgroup_host cgroups;
	struct spawner *spawner;      /* forks a supervisor per session */
	struct hub *hub;              /* the sessions' sockets */
	struct sessions *sessions;    /* the registry */
	uint64_t start_ns;            /* CLOCK_MONOTONIC at start-up */
	struct token_source *tokens;  /* API tokens: the store (followed) and AGENTD_TOKENS */
	bool anonymous_ok;            /* without tokens, requests may be anonymous (loopback, or
				       * auth.allow_anonymous) */
	bool anonymous_admin;         /* and they have the admin role: listen is loopback only */
	struct ratelimit *limiter;    /* a bucket per token, or per anonymous client address */
};

/* Authentication and rate limits (auth.c): the tokens and the limiter, loaded before
 * any thread starts (a start-up error when listen is beyond loopback with no token and
 * auth.allow_anonymous unset); the server's authorize hook, whose ctx is the app. */
struct http_refusal;
int api_auth_setup(struct app *app, struct ad_err *err);
int api_authorize(void *app, struct http_req *req, struct http_refusal *no);
void api_auth_free(struct app *app);
/* Whether requests need a token now (any is configured, or anonymous ones are refused). */
bool api_token_required(struct app *app);
/* Whether a request's peer address (http_req.remote) is a loopback one. */
bool api_remote_is_loopback(const char *remote);

/* SIGHUP (key_reload.c, on the main thread): the API key read again as at start-up
 * (config_key_read) and, when well formed, given to the gateway, the spawner and every
 * session's supervisor; a failure keeps the old key and says why, at warn level. */
void api_key_reload(struct app *app);
/* After config_load: the key's state for the handlers. */
void api_key_loaded(struct app *app);

/* The route table, ending with a NULL pattern. */
extern const struct http_route api_routes[];

enum MHD_Result api_health(struct http_req *req);
/* GET /metrics (metrics.c); its set-up at start-up: the families without labels at
 * zero, the build's version and the node's name. */
enum MHD_Result api_metrics(struct http_req *req);
void api_metrics_setup(const char *node);
enum MHD_Result api_chat(struct http_req *req);
enum MHD_Result api_sessions_create(struct http_req *req);
enum MHD_Result api_sessions_list(struct http_req *req);
enum MHD_Result api_session_get(struct http_req *req);
enum MHD_Result api_session_patch(struct http_req *req);
enum MHD_Result api_session_delete(struct http_req *req);
enum MHD_Result api_session_post_message(struct http_req *req);
enum MHD_Result api_session_messages(struct http_req *req);
enum MHD_Result api_session_events(struct http_req *req);
enum MHD_Result api_session_interrupt(struct http_req *req);
enum MHD_Result api_session_exec(struct http_req *req);
enum MHD_Result api_session_suspend(struct http_req *req);
enum MHD_Result api_session_history(struct http_req *req);
enum MHD_Result api_session_port(struct http_req *req);
enum MHD_Result api_session_ports(struct http_req *req);
enum MHD_Result api_session_files(struct http_req *req);
enum MHD_Result api_session_processes(struct http_req *req);
enum MHD_Result api_workspace_tar_get(struct http_req *req);
enum MHD_Result api_workspace_tar_put(struct http_req *req);
enum MHD_Result api_session_process(struct http_req *req);
/* admin.c: who asks (any principal), and the operator's routes (HTTP_ROUTE_ADMIN) */
enum MHD_Result api_whoami(struct http_req *req);
enum MHD_Result api_admin_sessions(struct http_req *req);
enum MHD_Result api_admin_session_get(struct http_req *req);
enum MHD_Result api_admin_session_delete(struct http_req *req);

/* An op on the session of the path (session_ops.c): op (taken) sent, the handler called
 * again when it has ended (req->ctx is the op_run); then its op_end, or NULL with an
 * error answered: 502 when the sandbox went away, 404 for what does not exist (ENOENT),
 * 409 for what is at its limit (EAGAIN), else 400. output and cut: exec's, or NULL. */
enum MHD_Result api_op_start(struct http_req *req, cJSON *op, bool stream);
cJSON *api_op_finished(struct http_req *req, enum MHD_Result *r, char **output, bool *cut);
/* The same for an op whose waiter the handler keeps itself (req->ctx is its own). */
struct op_run;
cJSON *api_op_result(struct http_req *req, struct op_run *o, enum MHD_Result *r, char **output, bool *cut);
/* processes.c: a background exec's op for command; an op_end's "process" answered with
 * status (end taken). */
cJSON *api_background_op(const struct http_req *req, const char *command);
enum MHD_Result api_process_reply(struct http_req *req, unsigned status, cJSON *end);

/* Who asks: the token's name, or "anonymous" when no token is configured. */
const char *api_owner(const struct http_req *req);
/* The caller's session of the path's {id} (referenced), or NULL with a 404 answered; on
 * an HTTP_ROUTE_ADMIN route, for an admin, anyone's. */
struct session;
struct session *api_find_session(struct http_req *req, enum MHD_Result *r);
/* 200 with view(the caller's session of the path's {id}), or its 404. */
enum MHD_Result api_session_show(struct http_req *req, cJSON *(*view)(struct session *s));
/* The same for a session named by id (one that ended lately: the 404 says how). */
struct session *api_session_by_id(struct http_req *req, const char *id, enum MHD_Result *r);
/* node.c: this node among others (README, "More than one host"). Whether the session
 * named id lives on another node: then a 421 naming it is answered (*r). */
bool api_session_elsewhere(struct http_req *req, const char *id, enum MHD_Result *r);
/* 503 with Retry-After while the node is drained; *refused says. */
enum MHD_Result api_refuse_draining(struct http_req *req, bool *refused);
/* {"name", "draining"}, for /api/health */
cJSON *api_node_json(struct http_req *req);
/* POST (drain) and DELETE (take new sessions again) /api/admin/drain */
enum MHD_Result api_admin_drain(struct http_req *req);
/* 503 when no new session can start here (draining, no API key, no sandboxes); *refused says. */
enum MHD_Result api_refuse_new_session(struct http_req *req, bool *refused);
/* 503: at capacity (err->errnum EAGAIN, with Retry-After), or no session could start. */
struct ad_err;
enum MHD_Result api_reply_capacity(struct http_req *req, const struct ad_err *err);

#endif

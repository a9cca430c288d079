/* Who may call the API, and how often: the tokens (followed as the store changes) and
 * the rate limiter set up at start-up, and the server's authorize hook, run before a protected route's body is
 * read (routes marked HTTP_ROUTE_PUBLIC never come here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "auth/ratelimit.h"
#include "auth/token_source.h"
#include "auth/tokens.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "http/server.h"

/* Buckets kept at once: every token in use, or that many anonymous clients. */
#define API_RATELIMIT_KEYS 16384

int api_auth_setup(struct app *app, struct ad_err *err)
{
	const struct config *cfg = &app->cfg;
	/* A list of secrets, so not a setting: never logged, never in --check-config; and
	 * out of the environment once read (set-up runs before any thread or child). */
	int rc = token_source_open(&app->tokens, cfg->state_dir, getenv("AGENTD_TOKENS"), TOKEN_RECHECK_MS, err);
	config_env_scrub("AGENTD_TOKENS");
	if (rc < 0)
		return -1;
	size_t stored, env;
	token_source_count(app->tokens, &stored, &env);

	struct netaddr addr;
	if (netaddr_parse(cfg->listen, &addr, err) < 0)
		return ad_err_prefix(err, "listen");
	app->anonymous_ok = netaddr_is_loopback(&addr) || cfg->auth.allow_anonymous;
	/* Without tokens, the one who can reach a loopback-only agentd is the host's own
	 * user: the operator. Served beyond loopback (auth.allow_anonymous), anonymous
	 * requests are anyone's, and so no one's to administer; a loopback client then may
	 * be a reverse proxy on the host speaking for anyone, so it is no exception. */
	app->anonymous_admin = netaddr_is_loopback(&addr);
	if (stored + env > 0)
		log_info("auth: %zu API tokens (%zu from the token store, %zu from AGENTD_TOKENS); "
			 "requests without a valid one get 401", stored + env, stored, env);
	else if (netaddr_is_loopback(&addr))
		log_info("auth: no API token configured: requests are anonymous (on loopback only; "
			 "`agentd token add NAME`, with this agentd's settings (its state directory is "
			 "%s), makes a token, and it counts at once)", cfg->state_dir);
	else if (cfg->auth.allow_anonymous)
		log_warn("auth: no API token configured and auth.allow_anonymous is set: anyone who "
			 "reaches %s can run agents", cfg->listen);
	else
		return ad_err_set(err, 0, "listen is %s, beyond loopback, and no API token is configured, "
				  "so anyone who reaches it could run agents: make a token with `agentd token "
				  "add NAME` (or set AGENTD_TOKENS), or set auth.allow_anonymous: true "
				  "(AGENTD_ALLOW_ANONYMOUS=true) to serve without authentication", cfg->listen);
	struct ratelimit_opts rl = {
		.per_minute = cfg->auth.rate_per_minute,
		.burst = cfg->auth.burst,
		.max_keys = API_RATELIMIT_KEYS,
	};
	return ratelimit_new(&app->limiter, &rl, err);
}

void api_auth_free(struct app *app)
{
	ratelimit_free(app->limiter);
	token_source_free(app->tokens);
	app->limiter = NULL;
	app->tokens = NULL;
}

static int refuse(struct http_refusal *no, unsigned status, const char *type, const char *msg)
{
	no->status = status;
	no->type = type;
	snprintf(no->message, sizeof(no->message), "%s", msg);
	return -1;
}

/* The Authorization header against the tokens: the principal, or a 401 that says what
 * is wrong with the header. */
static int authenticate(struct app *app, struct http_req *req, struct http_refusal *no)
{
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie = req->route->flags & HTTP_ROUTE_COOKIE
				     ? MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, "agentd_token") : NULL;
	char from_cookie[300];
	if (h == NULL && cookie != NULL && strlen(cookie) < sizeof(from_cookie) - 8) {
		snprintf(from_cookie, sizeof(from_cookie), "Bearer %s", cookie);
		h = from_cookie;
	}
	if (h == NULL)
		return refuse(no, 401, HTTP_ERR_AUTH, "no Authorization header: this API needs a token, sent "
			      "as \"Authorization: Bearer <token>\" (`agentd token add NAME` makes one)");
	size_t scheme = strcspn(h, " \t");
	if (scheme != 6 || strncasecmp(h, "Bearer", 6) != 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "the Authorization header must use the Bearer scheme, "
			 "\"Authorization: Bearer <token>\"; it uses \"%.*s\"", (int)(scheme < 32 ? scheme : 32), h);
		return refuse(no, 401, HTTP_ERR_AUTH, msg);
	}
	const char *token = h + scheme + strspn(h + scheme, " \t");
	size_t len = strlen(token);
	while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t'))
		len--;
	if (len == 0)
		return refuse(no, 401, HTTP_ERR_AUTH, "the Authorization header has the Bearer scheme but no token");
	if (token_source_match(app->tokens, token, len, req->principal, sizeof(req->principal), &req->admin) < 0)
		return refuse(no, 401, HTTP_ERR_AUTH, "the bearer token is not valid here (unknown, "
			      "removed, or made for another agentd)");
	return 0;
}

bool api_remote_is_loopback(const char *remote)
{
	char text[80];
	struct netaddr a;
	struct ad_err e;
	snprintf(text, sizeof(text), strchr(remote, ':') ? "[%s]:0" : "%s:0", remote);
	return netaddr_parse(text, &a, &e) == 0 && netaddr_is_loopback(&a);
}

bool api_token_required(struct app *app)
{
	size_t stored, env;
	token_source_count(app->tokens, &stored, &env);
	return stored + env > 0 || !app->anonymous_ok;
}

/* An admin route's check, once the principal is known: 403 for anyone else. */
static int admin_check(struct http_req *req, struct http_refusal *no)
{
	if (!(req->route->flags & HTTP_ROUTE_ADMIN) || req->admin)
		return 0;
	char msg[256];
	if (strcmp(req->principal, HTTP_PRINCIPAL_ANONYMOUS) == 0)
		snprintf(msg, sizeof(msg), "%s %.100s needs an admin token: anonymous requests to an agentd "
			 "served beyond loopback have no admin role (`agentd token add NAME --admin`)",
			 req->method_name, req->path);
	else
		snprintf(msg, sizeof(msg), "%s %.100s needs an admin token (`agentd token add NAME --admin`); "
			 "token \"%s\" is not one", req->method_name, req->path, req->principal);
	return refuse(no, 403, HTTP_ERR_PERMISSION, msg);
}

int api_authorize(void *ctx, struct http_req *req, struct http_refusal *no)
{
	struct app *app = ctx;
	char key[RATELIMIT_KEY_MAX];
	size_t stored, env;
	token_source_count(app->tokens, &stored, &env);
	bool with_tokens = stored + env > 0;
	req->admin = false;
	if (!with_tokens && !app->anonymous_ok)
		/* the last token was removed while agentd listens beyond loopback: closed */
		return refuse(no, 401, HTTP_ERR_AUTH, "no API token is configured any more, and agentd "
			      "listens beyond loopback: make one with `agentd token add NAME`");
	if (with_tokens) {
		if (authenticate(app, req, no) < 0)
			return -1;
		snprintf(key, sizeof(key), "token:%s", req->principal);
	} else {
		req->admin = app->anonymous_admin && api_remote_is_loopback(req->remote);
		/* anonymous: a bucket per client address. Loopback clients are the machine's
		 * own, and all one address: limiting them as one would only throttle every
		 * local user together (and the tests), so they are not limited. */
		if (api_remote_is_loopback(req->remote))
			return admin_check(req, no);
		snprintf(key, sizeof(key), "addr:%s", req->remote);
	}
	unsigned wait_s = ratelimit_take(app->limiter, key);
	if (wait_s == 0)
		return admin_check(req, no);
	char msg[256];
	snprintf(msg, sizeof(msg), "rate limit reached for %s: %lld requests a minute, %lld at once; "
		 "retry in %u s", with_tokens ? req->principal : req->remote,
		 (long long)app->cfg.auth.rate_per_minute, (long long)app->cfg.auth.burst, wait_s);
	no->retry_after_s = wait_s;
	return refuse(no, 429, HTTP_ERR_RATE_LIMIT, msg);
}

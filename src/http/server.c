/* The libmicrohttpd transport: request start and end, body reading within caps, routing,
 * the access log, the request-head deadline (conn_watch.c), and draining on shutdown. */
#include "http/server.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "http/access_log.h"
#include "http/http_metrics.h"
#include "http/conn_watch.h"
#include "http/mhd_loader.h"
#include "http_int.h"

struct http_server {
	struct MHD_Daemon *mhd;
	const struct http_route *routes;
	void *app;
	struct http_server_opts opts;
	struct conn_watch *watch;
	atomic_uint inflight;
	atomic_bool draining;
};

/* Called by MHD once the request line is in, before any header: the request context is
 * born here, with the request target exactly as the client sent it. */
static void *on_request_start(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct http_req *req = calloc(1, sizeof(*req));
	if (req == NULL)
		return NULL;
	req->start_ns = clock_mono_ns();
	req->target = strdup(uri);
	req->path = strndup(uri, strcspn(uri, "?#"));
	req->app = srv->app;
	req->conn = conn;
	req->method_name = "-";
	http_remote_address(conn, req->remote, sizeof(req->remote));
	snprintf(req->principal, sizeof(req->principal), "%s", HTTP_PRINCIPAL_ANONYMOUS);
	atomic_fetch_add(&srv->inflight, 1);
	return req;
}

static void on_request_end(void *cls, struct MHD_Connection *conn, void **req_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *req = *req_cls;
	if (req == NULL)
		return;
	if (req->status == 0) {         /* libmicrohttpd may have answered by itself */
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
		if (ci != NULL)
			req->status = ci->http_status;
	}
	if (srv->opts.access_log)
		access_log_request(req);
	http_metrics_request(req);
	conn_watch_head_wait(conn_watch_of(conn));   /* the next request's head, if any */
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && req->status == 0)
		log_debug("http: request ended without a response (code %d)", (int)toe);
	if (req->ctx_free != NULL)
		req->ctx_free(req->ctx);
	http_req_free_params(req);
	cJSON_Delete(req->json);
	free(req->body);
	free(req->target);
	free(req->path);
	free(req);
	*req_cls = NULL;
	atomic_fetch_sub(&srv->inflight, 1);
}

/* A refusal of the authorize hook, answered before the body is read. */
static enum MHD_Result refuse(struct http_req *req, const struct http_refusal *no)
{
	char retry[16];
	const char *name = NULL, *value = NULL;
	if (no->status == 401) {
		name = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
		value = "Bearer realm=\"agentd\"";
	} else if (no->retry_after_s > 0) {
		snprintf(retry, sizeof(retry), "%u", no->retry_after_s);
		name = MHD_HTTP_HEADER_RETRY_AFTER;
		value = retry;
	}
	return http_reply_error_header(req, no->status, no->type ? no->type : HTTP_ERR_AUTH,
				       name, value, "%s", no->message);
}

/* A streamed body's route is asked first, before any of the body is read: whether it
 * takes it (and where its pieces go), or refuses it at once. */
static enum MHD_Result open_stream(struct http_req *req)
{
	req->body_open = true;
	enum MHD_Result r = req->route->fn(req);
	req->body_open = false;
	return r;
}

/* The reason phrase of the errors a streamed body's piece may end with. */
static const char *reason_phrase(unsigned status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 507: return "Insufficient Storage";
	default: return "Internal Server Error";
	}
}

/* A piece of a streamed body, to the route; a refusal ends the request now. */
static enum MHD_Result stream_piece(struct http_req *req, const char *data, size_t n)
{
	if (req->body_piece == NULL || req->body_piece(req, data, n) == 0)
		return MHD_YES;
	const char *type = req->body_status == 413 ? HTTP_ERR_TOO_LARGE
			   : req->body_status < 500 ? HTTP_ERR_INVALID : HTTP_ERR_INTERNAL;
	return http_reply_error_abort(req, req->body_status, type, reason_phrase(req->body_status), req->body_error);
}

/* First call for a request: route it and check what can be checked before the body. */

/* The largest body req's route takes: its own limit, or http.max_body_bytes. */
static size_t body_limit(const struct http_server *srv, const struct http_req *req)
{
	return req->route != NULL && req->route->max_body != 0 ? req->route->max_body : srv->opts.max_body;
}

static enum MHD_Result begin(struct http_server *srv, struct http_req *req, const char *method)
{
	struct MHD_Connection *conn = req->conn;
	req->started = true;
	req->method_name = method;
	req->method = http_method_parse(method);
	req->draining = atomic_load(&srv->draining);
	conn_watch_head_done(conn_watch_of(conn));

	/* The exact cap on the request line and headers; libmicrohttpd's pool (twice as
	 * large) only bounds memory, and answers past it by itself. */
	size_t header_bytes = http_head_bytes(conn, method, req->target);
	if (header_bytes > srv->opts.max_header)
		return http_reply_error(req, 431, HTTP_ERR_TOO_LARGE,
					"request line and headers take %zu bytes; the limit is %zu",
					header_bytes, srv->opts.max_header);

	enum MHD_Result answer;
	if (!http_framing_ok(req, &answer))
		return answer;

	unsigned allowed = 0;
	req->route = http_route_find(srv->routes, req->method, req->path, req, &allowed);
	if (req->route == NULL && allowed != 0)
		return http_reply_method_not_allowed(req, allowed);
	if (req->route == NULL)
		return http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "no such resource: %s", req->path);
	if (req->draining && (req->route->flags & HTTP_ROUTE_WORK))
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "agentd is shutting down and takes no "
					"new work; send the request again once it is back");
	if (!(req->route->flags & HTTP_ROUTE_PUBLIC) && srv->opts.authorize != NULL) {
		struct http_refusal no = { 0 };
		if (srv->opts.authorize(srv->app, req, &no) < 0)
			return refuse(req, &no);
	}

	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
	if (length > body_limit(srv, req))
		return http_reply_error(req, 413, HTTP_ERR_TOO_LARGE,
					"request body of %llu bytes is larger than the limit of %zu bytes",
					length, body_limit(srv, req));
	if (req->route->body == HTTP_BODY_JSON || req->route->body == HTTP_BODY_JSON_OPT) {
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		bool none = length == 0 && te == NULL;
		if (none && req->route->body == HTTP_BODY_JSON)
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "a JSON request body is required");
		if (!none && !http_json_media_type(ct))
			return http_reply_error(req, 415, HTTP_ERR_MEDIA_TYPE,
						"Content-Type \"%s\" is not accepted here; send application/json", ct);
	}
	if (req->route->body == HTTP_BODY_STREAM)
		return open_stream(req);
	if (length > 0 && req->route->body != HTTP_BODY_NONE) {
		req->body = malloc(length + 1);
		if (req->body == NULL)
			return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "out of memory");
		req->body_cap = length + 1;
	}
	return MHD_YES;
}

/* A piece of the body: kept up to the cap (dropped for routes that take none). */
static void take_body(struct http_server *srv, struct http_req *req, const char *data, size_t n)
{
	if (req->body_over || req->body_len + n > body_limit(srv, req)) {
		req->body_over = true;   /* refused at once by on_access */
		return;
	}
	if (req->route->body == HTTP_BODY_NONE || req->route->body == HTTP_BODY_STREAM) {
		req->body_len += n;
		return;
	}
	if (req->body_len + n + 1 > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 4096;
		while (cap < req->body_len + n + 1)
			cap *= 2;
		if (cap > body_limit(srv, req) + 1)
			cap = body_limit(srv, req) + 1;
		char *nb = realloc(req->body, cap);
		if (nb == NULL) {
			req->body_over = true;
			return;
		}
		req->body = nb;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_size, void **req_cls)
{
	struct http_server *srv = cls;
	struct http_req *req = *req_cls;
	if (req == NULL || req->target == NULL || req->path == NULL)
		return MHD_NO;   /* out of memory at the start: close the connection */
	if (!req->started)
		return begin(srv, req, method);
	if (req->dispatched)            /* resumed after the handler suspended it */
		return req->route->fn(req);
	if (*upload_size > 0 && req->route->body == HTTP_BODY_STREAM && req->status == 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		req->body_len += n;
		return stream_piece(req, upload_data, n);
	}
	if (*upload_size > 0) {
		take_body(srv, req, upload_data, *upload_size);
		*upload_size = 0;
		if (!req->body_over)
			return MHD_YES;
		/* over the limit: refused now, not after the rest (however long) is read */
		char msg[160];
		snprintf(msg, sizeof(msg), "request body is larger than the limit of %zu bytes", body_limit(srv, req));
		return http_reply_error_abort(req, 413, HTTP_ERR_TOO_LARGE, "Content Too Large", msg);
	}
	if (req->route->body == HTTP_BODY_JSON || (req->route->body == HTTP_BODY_JSON_OPT && req->body_len > 0)) {
		struct ad_err e;
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (json_parse_strict(req->body ? req->body : "", req->body_len, &req->json, &e) < 0 &&
		    ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "the body is form-encoded (as curl -d "
						"sends it unless told otherwise), not JSON: send JSON like "
						"{\"message\": \"...\"}");
		if (req->json == NULL)
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "malformed JSON body: %s", e.msg);
		/* every JSON body of this API is an object: handlers may take that as given */
		if (!cJSON_IsObject(req->json))
			return http_reply_error(req, 400, HTTP_ERR_INVALID, "the body must be a JSON object, "
						"not %s", cJSON_IsArray(req->json) ? "an array" : "a single value");
	}
	req->dispatched = true;
	return req->route->fn(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

int http_server_start(struct http_server **out, const struct http_server_opts *opts,
		      const struct http_route *routes, void *app, struct ad_err *err)
{
	if (mhd_load(err) < 0)
		return -1;
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return ad_err_set(err, ENOMEM, "http server");
	srv->opts = *opts;
	srv->routes = routes;
	srv->app = app;
	int fd = http_listen_socket(&srv->opts.addr, err);
	if (fd < 0 || conn_watch_start(&srv->watch, opts->header_timeout_s, opts->max_connections, err) < 0) {
		if (fd >= 0)
			close(fd);
		free(srv);
		return -1;
	}
	/* The pool holds the request line, the headers and the response headers; room for
	 * twice the header allowance keeps a request at the cap answerable. */
	size_t pool = opts->max_header * 2;
	/* libmicrohttpd refuses connections past its limit at once; above
	 * http.max_connections, the watch closes the slowest instead (conn_watch.h) */
	/* poll(), not epoll: with epoll, MHD_quiesce_daemon() (our graceful shutdown) races
	 * the workers' own removal of the listen socket from their epoll sets, and an
	 * unguarded MHD_PANIC aborts the process (an open libmicrohttpd defect; seen here
	 * at shutdown). With poll() quiescing goes through the inter-thread channel. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	if (srv->opts.addr.ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first, so that what MHD says about later options reaches our log;
	 * one thread means MHD's own polling thread, without a pool. */
	srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, opts->threads > 1 ? opts->threads : 0,
		MHD_OPTION_CONNECTION_LIMIT, opts->max_connections + CONN_EVICT_ROOM(opts->max_connections),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->idle_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_URI_LOG_CALLBACK, on_request_start, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_request_end, srv,
		MHD_OPTION_NOTIFY_CONNECTION, conn_watch_notify, srv->watch,
		MHD_OPTION_END);
	if (srv->mhd == NULL) {
		close(fd);
		conn_watch_free(srv->watch);
		free(srv);
		return ad_err_set(err, 0, "libmicrohttpd refused to start (see debug log)");
	}
	*out = srv;
	return 0;
}

const struct netaddr *http_server_address(const struct http_server *srv)
{
	return &srv->opts.addr;
}

void http_server_stop_work(struct http_server *srv)
{
	atomic_store(&srv->draining, true);
}

unsigned http_server_drain(struct http_server *srv, unsigned timeout_ms)
{
	atomic_store(&srv->draining, true);
	MHD_socket lfd = MHD_quiesce_daemon(srv->mhd);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned left;
	while ((left = atomic_load(&srv->inflight)) > 0 && clock_mono_ns() < deadline) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return left;
}

void http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->mhd != NULL)
		MHD_stop_daemon(srv->mhd);
	conn_watch_free(srv->watch);
	free(srv);
}

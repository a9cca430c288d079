/* The HTTP server: libmicrohttpd with a pool of polling threads, on a socket agentd binds
 * itself (so that the bind error is ours to report and port 0 works). */
#ifndef AGENTD_HTTP_SERVER_H
#define AGENTD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/netaddr.h"
#include "http/http.h"

struct http_server;

/* Why a request was refused before its handler ran (see authorize below). */
struct http_refusal {
	unsigned status;            /* 401, 429, ... */
	const char *type;           /* HTTP_ERR_AUTH, HTTP_ERR_RATE_LIMIT, ... */
	unsigned retry_after_s;     /* > 0: sent as Retry-After */
	char message[256];          /* for a person: what is wrong, and what to do */
};

struct http_server_opts {
	struct netaddr addr;
	unsigned threads;            /* >= 1 */
	size_t max_body;             /* bytes */
	size_t max_header;           /* bytes for request line and headers */
	unsigned max_connections;
	unsigned max_per_ip;         /* 0: no limit */
	unsigned idle_timeout_s;
	unsigned header_timeout_s;   /* for a request's line and headers, however they trickle */
	bool access_log;
	/* Called from any server thread after routing and before the body is read, for
	 * every route not marked HTTP_ROUTE_PUBLIC, with the app given to the server: set
	 * req->principal and return 0 to go on, or fill *no and return -1 to answer at once
	 * (a 401 carries WWW-Authenticate: Bearer). NULL: every request is anonymous. */
	int (*authorize)(void *app, struct http_req *req, struct http_refusal *no);
};

int http_server_start(struct http_server **out, const struct http_server_opts *opts,
		      const struct http_route *routes, void *app, struct ad_err *err);
/* The address actually bound (with the kernel's port when 0 was asked for). */
const struct netaddr *http_server_address(const struct http_server *srv);
/* Shutdown begins: requests to routes marked HTTP_ROUTE_WORK get 503 from now on. */
void http_server_stop_work(struct http_server *srv);
/* Stop accepting connections, then wait up to timeout_ms for requests in flight.
 * Returns how many were still in flight at the deadline. */
unsigned http_server_drain(struct http_server *srv, unsigned timeout_ms);
void http_server_free(struct http_server *srv);

#endif

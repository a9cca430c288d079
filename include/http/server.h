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

struct http_server_opts {
	struct netaddr addr;
	unsigned threads;            /* >= 1 */
	size_t max_body;             /* bytes */
	size_t max_header;           /* bytes for request line and headers */
	unsigned max_connections;
	unsigned max_per_ip;         /* 0: no limit */
	unsigned idle_timeout_s;
	bool access_log;
};

int http_server_start(struct http_server **out, const struct http_server_opts *opts,
		      const struct http_route *routes, void *app, struct ad_err *err);
/* The address actually bound (with the kernel's port when 0 was asked for). */
const struct netaddr *http_server_address(const struct http_server *srv);
/* Stop accepting connections, then wait up to timeout_ms for requests in flight.
 * Returns how many were still in flight at the deadline. */
unsigned http_server_drain(struct http_server *srv, unsigned timeout_ms);
void http_server_free(struct http_server *srv);

#endif

/* Clients that leave while their answer is being made. libmicrohttpd does not look at a
 * suspended (parked) connection, so a JSON client that hangs up while its turn runs
 * would be noticed only when its answer is written, and a streaming one only when a
 * write fails, one or two keep-alives later. The connections' watch thread watches the
 * sockets of the connections that ask for it and calls gone() as soon as the peer has hung up
 * (EPOLLRDHUP: it closed, or shut down its sending side, which an HTTP/1.1 client does
 * not do while it still wants the answer). */
#ifndef AGENTD_HTTP_HANGUP_H
#define AGENTD_HTTP_HANGUP_H

#include <microhttpd.h>

#include "core/err.h"

struct http_conn;

/* Watch conn's socket (the connections' watch thread, http/conn_watch.h, does it);
 * gone(ctx) runs once, on that thread, if its peer hangs up before
 * http_hangup_unwatch(). ctx must live until then. The connection, or NULL. */
struct http_conn *http_hangup_watch(struct MHD_Connection *conn, void (*gone)(void *ctx), void *ctx,
				    struct ad_err *err);
/* Stop watching (NULL: nothing), before the request ends. When it returns, gone() is
 * not running and will not run. Never call it from gone(). */
void http_hangup_unwatch(struct http_conn *c);

#endif

/* Every open HTTP connection, watched for one thing: a request head (request line and
 * headers) that takes too long to arrive.
 *
 * libmicrohttpd's idle timeout starts again with every byte, so a client that trickles
 * a header a byte a second holds its connection forever, and a few hundred such clients
 * hold them all. Here each connection's head has a deadline of its own, counted from
 * the connection's opening and from the end of each response (a keep-alive connection
 * waiting for its next request is waiting for a head): a thread closes the connections
 * past it (shutdown(2) of their socket; libmicrohttpd then sees the end and cleans up).
 *
 * And a crowd of them cannot keep others out: libmicrohttpd is given room for more
 * connections than http.max_connections, and when a new one makes more than that, the
 * one that has waited longest for a request head is closed to make room. */
#ifndef AGENTD_HTTP_CONN_WATCH_H
#define AGENTD_HTTP_CONN_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "core/err.h"

struct conn_watch;
struct http_conn;

/* The room libmicrohttpd is given above max_open connections, for the moment between a
 * new connection and the close of the one it displaces. */
#define CONN_EVICT_ROOM(max_open) ((max_open) / 8 + 16)

int conn_watch_start(struct conn_watch **out, unsigned head_timeout_s, unsigned max_open,
		     struct ad_err *err);
/* Stops the thread; call after libmicrohttpd is stopped (no connection is left). */
void conn_watch_free(struct conn_watch *w);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; cls is the watch. */
void conn_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		       enum MHD_ConnectionNotificationCode code);
/* The connection's record (NULL if it has none). */
struct http_conn *conn_watch_of(struct MHD_Connection *conn);
/* The head of the connection's request is in: no deadline until the response ends. */
void conn_watch_head_done(struct http_conn *c);
/* The response ended: the next request's head is awaited from now. */
void conn_watch_head_wait(struct http_conn *c);

#endif

/* The HTTP server's own helpers (server.c), kept apart from its transport: what a
 * request's head says, and the listening socket. */
#ifndef AGENTD_SRC_HTTP_HTTP_INT_H
#define AGENTD_SRC_HTTP_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/netaddr.h"
#include "http/http.h"

/* The client's address as text ("" when unknown). */
void http_remote_address(struct MHD_Connection *conn, char *buf, size_t size);
/* A Content-Type taken as JSON (NULL: none sent, taken as JSON). */
bool http_json_media_type(const char *ct);
/* The size of the request line and headers, as sent (give or take whitespace). */
size_t http_head_bytes(struct MHD_Connection *conn, const char *method, const char *target);
/* false, with a 400 queued (*answer), when the body's length is ambiguous. */
bool http_framing_ok(struct http_req *req, enum MHD_Result *answer);
/* A bound, listening, non-blocking socket for addr (its port filled in when 0 was
 * asked for); a busy address is said so, with how to choose another. */
int http_listen_socket(struct netaddr *addr, struct ad_err *err);

#endif

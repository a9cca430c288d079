/* A tar of a session's workspace on its way to an HTTP client (GET .../workspace.tar):
 * the bytes of a source, queued (http/byte_out.h) and read out by libmicrohttpd as the
 * client takes them. The source is what makes the tar, behind two calls each way: it
 * hands in bytes and its end (tar_export_bytes, tar_export_end); it is told to hold back
 * while the client is behind, and to stop once the client is gone (struct tar_source).
 * Today's source is an op on the session's sandbox, the agent's tar in op_output pieces
 * (workspace_tar.c); a suspended session's workspace, a folder on the host, can be
 * another. References and locking as for op_run: the source's and the HTTP client's. */
#ifndef AGENTD_API_TAR_EXPORT_H
#define AGENTD_API_TAR_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

/* A client that has taken nothing for this long while the source is held back is
 * given up (its transfer cut): well within the 30 s after which a held supervisor ends
 * its session (session/hub.h). */
#define TAR_EXPORT_STALL_MS 15000u

struct tar_source {
	/* The client cannot take more now (hold), or can again. */
	void (*hold)(void *src, bool hold);
	/* No more of the tar is wanted (the client went away or was given up): the source
	 * winds down; it still ends with tar_export_end. */
	void (*stop)(void *src);
	void *src;
};

struct tar_export;

/* One reference, the creator's (handed to the source, say); src is called under the
 * export's lock, from any thread, until the source's end. */
struct tar_export *tar_export_new(const struct tar_source *src);
void tar_export_ref(struct tar_export *x);
void tar_export_unref(void *x);

/* The source's side, from its thread: bytes of the tar; its end (ok: whole; else why
 * it failed), after which the source is not called any more; now and then (the
 * hub's tick), to find a client that stopped reading. */
void tar_export_bytes(struct tar_export *x, const void *data, size_t n);
void tar_export_end(struct tar_export *x, bool ok, const char *why);
void tar_export_tick(struct tar_export *x);

/* The HTTP side. Before the response: park the connection until the first bytes or the
 * end (false, nothing parked: they are here). Then the reply: 200 and the tar, streamed
 * as it comes, saved as name; or, when the source failed before any bytes, its
 * error as JSON. */
bool tar_export_wait(struct tar_export *x, struct MHD_Connection *conn);
enum MHD_Result tar_export_reply(struct tar_export *x, struct http_req *req, const char *name);

#endif

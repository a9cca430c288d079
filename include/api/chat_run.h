/* One turn of a session as an HTTP client waits for it (POST /api/chat, POST
 * /api/sessions/{id}/messages): the session hands it the turn's events as they come;
 * it gathers them into the JSON reply and, for a streaming client, into Server-Sent
 * Events. Two references hold it: the HTTP request's (chat_run_release) and the
 * session's (dropped when the turn ends). The hub's thread fills it; MHD's threads read
 * it; a suspended connection is resumed when there is something for it. */
#ifndef AGENTD_API_CHAT_RUN_H
#define AGENTD_API_CHAT_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "api/waiter.h"
#include "session/waiters.h"

struct chat_run;

/* released(ctx, left_early) runs once, outside any lock, when the HTTP side lets go of
 * the run (left_early: the client went away before the end); ctx must live until then. */
struct chat_run *chat_run_new(const char *session_id, const char *owner, bool stream,
			      void (*released)(void *ctx, bool left_early),
			      void *ctx);

/* What the session calls: session/waiters.h. */

/* JSON: suspend conn until the run has ended; false (nothing suspended) if it has. */
bool chat_run_wait(struct chat_run *r, struct MHD_Connection *conn);
/* JSON: the reply once ended: its status, and the body (the caller's). */
unsigned chat_run_result(struct chat_run *r, cJSON **body);

/* SSE: MHD's content reader and free callback (the latter drops the HTTP reference). */
ssize_t chat_run_read(void *cls, uint64_t pos, char *buf, size_t max);
void chat_run_release(void *cls);
/* Watch conn for the client leaving (http/hangup.h): gone(ctx, the ctx of
 * chat_run_new) runs at once when it does, until the HTTP side lets go of the run. */
void chat_run_watch_client(struct chat_run *r, struct MHD_Connection *conn, void (*gone)(void *ctx));
/* SSE: the connection the reader suspends. */
void chat_run_set_conn(struct chat_run *r, struct MHD_Connection *conn);

#endif

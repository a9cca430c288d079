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

struct chat_run;

/* released(ctx, left_early) runs once, outside any lock, when the HTTP side lets go of
 * the run (left_early: the client went away before the end); ctx must live until then. */
struct chat_run *chat_run_new(const char *session_id, bool stream, void (*released)(void *ctx, bool left_early),
			      void *ctx);
void chat_run_ref(struct chat_run *r);
void chat_run_unref(struct chat_run *r);

/* From the session: one event of the turn (not taken), with its session-wide id and,
 * when the session has printed it for its event log, that SSE frame (frame_len bytes;
 * else NULL), which a streaming client gets as it is rather than printed again; an end
 * of the turn without its done or error (why); the periodic tick (keep-alives). */
void chat_run_event(struct chat_run *r, unsigned id, const cJSON *ev, const char *frame, size_t frame_len);
void chat_run_fail(struct chat_run *r, const char *type, const char *message);
void chat_run_tick(struct chat_run *r);
/* The session's first event on a stream: {"session_id"}. */
void chat_run_hello(struct chat_run *r, unsigned id);

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

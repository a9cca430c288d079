/* What the session layer asks of those who wait on a session: a turn's waiter
 * (struct chat_run) and an op's (struct op_run). The session hands them the events
 * of what they wait for, from the hub's thread, never blocking; how a waiter answers
 * its HTTP client is its own business (api/chat_run.h, api/op_run.h implement these).
 * Each is held by references: the session's while the turn or op runs, the asker's. */
#ifndef AGENTD_SESSION_WAITERS_H
#define AGENTD_SESSION_WAITERS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct chat_run;
struct op_run;

void chat_run_ref(struct chat_run *r);
void chat_run_unref(struct chat_run *r);
/* One event of the turn (not taken), with its session-wide id and, when the session
 * has printed it for its event log, that SSE frame (frame_len bytes; else NULL), which
 * a streaming client gets as it is rather than printed again; an end of the turn
 * without its done or error (why); the periodic tick (keep-alives). */
void chat_run_event(struct chat_run *r, unsigned id, const cJSON *ev, const char *frame, size_t frame_len);
void chat_run_fail(struct chat_run *r, const char *type, const char *message);
void chat_run_tick(struct chat_run *r);
/* The session's first event on a stream: {"session_id"}. */
void chat_run_hello(struct chat_run *r, unsigned id);

/* An op's waiter that the session makes itself (a hybrid save or restore), whose
 * events go to sink(ctx, ev) and whose end to done(ctx, ok, error). */
struct op_run *op_run_new(bool stream);
void op_run_set_sink(struct op_run *o, void (*sink)(void *ctx, const cJSON *ev),
		     void (*done)(void *ctx, bool ok, const char *error), void *ctx);
/* And tick(ctx) with the periodic tick, until its end. */
void op_run_set_tick(struct op_run *o, void (*tick)(void *ctx));
void op_run_ref(struct op_run *o);
void op_run_unref(struct op_run *o);
/* op_output / op_end events (gathered, not streamed); an event for a streaming client
 * (exec: the tool_* events of the session's log, with their ids), sent before the
 * op_end that ends the stream; the op failed without an op_end; the periodic tick. */
void op_run_event(struct op_run *o, const cJSON *ev);
void op_run_stream(struct op_run *o, unsigned id, const char *type, const cJSON *data);
void op_run_fail(struct op_run *o, const char *message);
void op_run_tick(struct op_run *o);

#endif

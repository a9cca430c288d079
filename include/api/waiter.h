/* What every HTTP client that waits on the hub's thread holds: a turn's (chat_run), an
 * op's (op_run), a session's event stream (events.c). A lock, references, whether what
 * it waits for has ended, and its client's queue of Server-Sent Events (http/sse_out.h):
 * the hub's thread fills it, libmicrohttpd's threads read it out. Each owner embeds one
 * and builds on these; what it keeps besides is its own. */
#ifndef AGENTD_API_WAITER_H
#define AGENTD_API_WAITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "http/sse_out.h"

struct waiter {
	pthread_mutex_t lock;             /* guards ended, sse and the owner's fields */
	atomic_int refs;
	bool ended;
	struct sse_out sse;
};

/* One reference, the creator's; stream: a client of Server-Sent Events, else one that
 * waits for the end. */
void waiter_init(struct waiter *w, bool stream);
void waiter_ref(struct waiter *w);
/* True when that was the last reference: the owner frees what it keeps, then itself
 * (after waiter_destroy). */
bool waiter_unref(struct waiter *w);
void waiter_destroy(struct waiter *w);

/* A keep-alive to a parked streaming client. */
void waiter_tick(struct waiter *w);
/* JSON: park conn until the end; false (nothing parked) when it has come. */
bool waiter_wait(struct waiter *w, struct MHD_Connection *conn);
/* SSE: the connection the reader parks. */
void waiter_set_conn(struct waiter *w, struct MHD_Connection *conn);
/* SSE: libmicrohttpd's content reader's work. */
ssize_t waiter_read(struct waiter *w, char *buf, size_t max);
/* The request ended: nothing is parked any more. Whether the waiter had ended by then. */
bool waiter_release(struct waiter *w);

#endif

/* A client waiting for something that happens on another thread (a turn, an op, a
 * session's events). A streaming client gets Server-Sent Events: queued by one thread,
 * read out by libmicrohttpd's content reader on another, the connection parked
 * (suspended) while there is nothing to send and resumed when there is. A JSON client's
 * connection is parked until the end. Not locked itself: its owner's lock guards every
 * call. The backlog a slow client may leave is capped. */
#ifndef AGENTD_HTTP_SSE_OUT_H
#define AGENTD_HTTP_SSE_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

/* How far a client may fall behind what happens: a client with this much queued for
 * it, unread, is dropped at the next event (its stream is cut and its connection closed; it comes back
 * with Last-Event-ID). What was queued before its stream went out at all (the events it
 * asked to be replayed, bounded by the session's event log) does not count. */
#define SSE_BACKLOG_MAX (1u << 20)

struct sse_out {
	char *data;
	size_t len, off;             /* bytes queued; bytes of them read */
	size_t alloc;                /* the size of data */
	uint64_t in, out;            /* bytes ever queued, ever read */
	uint64_t live_from;          /* `in` when the stream first went out; 0: not yet */
	bool reading;                /* the stream has gone out (live_from is set) */
	bool overflow;               /* the client fell too far behind: the stream is cut */
	struct MHD_Connection *conn;
	bool suspended;
	bool released;               /* the request has ended: conn is no more */
	bool stream;                 /* false: a JSON client, waiting for the end */
};

/* Bytes queued for all clients and not read yet, and clients dropped for falling
 * behind, since the start: for /api/health. */
uint64_t sse_out_queued_total(void);
uint64_t sse_out_dropped_total(void);

/* "id: N\nevent: NAME\ndata: JSON\n\n" (no id line when id is 0). */
void sse_out_event(struct sse_out *q, unsigned id, const char *event, const cJSON *data);
/* Bytes already in the format (a logged event being replayed). */
void sse_out_raw(struct sse_out *q, const char *text, size_t len);
/* ": TEXT\n\n", a comment: keeps proxies and finds clients that left. */
void sse_out_comment(struct sse_out *q, const char *text);
/* Resume the connection if it is parked. */
void sse_out_wake(struct sse_out *q);
/* Something happened (done: it was the end): a streaming client looks again; a JSON
 * client only at the end. */
void sse_out_notify(struct sse_out *q, bool done);
/* JSON: park conn until the end; false (nothing parked) when it has come. */
bool sse_out_park(struct sse_out *q, struct MHD_Connection *conn, bool done);
/* A comment to a parked streaming client, now and then: proxies keep the connection,
 * and a client that went away is found out (the write fails, the request ends). */
void sse_out_keepalive(struct sse_out *q, bool done);
/* The request ended: nothing of ours is parked any more. */
void sse_out_release(struct sse_out *q);
/* The content reader's work: bytes, END_OF_STREAM once done and drained, END_WITH_ERROR
 * after an overflow, or 0 after parking the connection. */
ssize_t sse_out_read(struct sse_out *q, char *buf, size_t max, bool done);
void sse_out_free(struct sse_out *q);

#endif

/* A raw body (a tar, say) made on one thread and read out by libmicrohttpd's content
 * reader on another, the connection parked (suspended) while there is nothing to send.
 * Unlike an event stream (sse_out.h) nothing is ever dropped: byte_out_put says when
 * more than BYTE_OUT_HIGH bytes wait, and its owner then holds its producer back until
 * the reader has taken them down to BYTE_OUT_LOW; memory stays bounded
 * by the high mark and what was already on its way. A body that fails is cut: the
 * reader ends with an error, libmicrohttpd closes the connection without the chunked
 * body's end, and the client sees a broken transfer, never a short body that looks
 * whole. Not locked itself: its owner's lock guards every call. */
#ifndef AGENTD_HTTP_BYTE_OUT_H
#define AGENTD_HTTP_BYTE_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <microhttpd.h>

#define BYTE_OUT_HIGH (1u << 20)
#define BYTE_OUT_LOW (256u << 10)

enum byte_out_end { BYTE_OUT_OPEN, BYTE_OUT_WHOLE, BYTE_OUT_CUT };

struct byte_out {
	char *data;
	size_t len, off, alloc;      /* bytes queued; bytes of them read; the size of data */
	uint64_t in, out;            /* bytes ever queued, ever read */
	uint64_t read_ns;            /* CLOCK_MONOTONIC of the reader's last bytes */
	enum byte_out_end end;
	struct MHD_Connection *conn;
	bool suspended;
	bool released;               /* the request has ended: conn is no more */
};

void byte_out_init(struct byte_out *q);
/* n bytes more. Whether the producer should wait now (more than BYTE_OUT_HIGH queued);
 * out of memory cuts the body. Nothing is queued once it has ended. */
bool byte_out_put(struct byte_out *q, const void *data, size_t n);
/* The body is over: whole (the rest is read out, then its end), or cut (now). */
void byte_out_finish(struct byte_out *q, bool whole);
/* Before the response: park conn until there are bytes or the end; false (nothing
 * parked) when there are already. */
bool byte_out_park(struct byte_out *q, struct MHD_Connection *conn);
/* The connection the reader parks, once the response is queued. */
void byte_out_set_conn(struct byte_out *q, struct MHD_Connection *conn);
/* The content reader's work: bytes, END_OF_STREAM once whole and drained,
 * END_WITH_ERROR once cut, or 0 after parking the connection. A held producer may go
 * on once byte_out_queued() is BYTE_OUT_LOW or less. */
ssize_t byte_out_read(struct byte_out *q, char *buf, size_t max);
size_t byte_out_queued(const struct byte_out *q);
/* The request ended: nothing of ours is parked any more. */
void byte_out_release(struct byte_out *q);
void byte_out_free(struct byte_out *q);

#endif

/* A raw body with its producer held back: see include/http/byte_out.h. */
#include "http/byte_out.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

void byte_out_init(struct byte_out *q)
{
	*q = (struct byte_out){ .read_ns = clock_mono_ns() };
}

static void wake(struct byte_out *q)
{
	if (q->suspended && !q->released) {
		q->suspended = false;
		MHD_resume_connection(q->conn);
	}
}

size_t byte_out_queued(const struct byte_out *q)
{
	return q->len - q->off;
}

void byte_out_finish(struct byte_out *q, bool whole)
{
	if (q->end == BYTE_OUT_OPEN)
		q->end = whole ? BYTE_OUT_WHOLE : BYTE_OUT_CUT;
	wake(q);
}

/* As sse_out's queue: the bytes read are moved out of the way once they are half of
 * it or before it grows, so that a body costs time linear in its size. */
bool byte_out_put(struct byte_out *q, const void *data, size_t n)
{
	if (q->end != BYTE_OUT_OPEN)
		return false;
	if (q->off > 0 && (q->off >= q->len / 2 || q->len + n > q->alloc)) {
		memmove(q->data, q->data + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + n > q->alloc) {
		size_t alloc = q->alloc ? q->alloc : 64 << 10;
		while (alloc < q->len + n)
			alloc *= 2;
		char *nb = realloc(q->data, alloc);
		if (nb == NULL) {
			byte_out_finish(q, false);
			return false;
		}
		q->data = nb;
		q->alloc = alloc;
	}
	memcpy(q->data + q->len, data, n);
	q->len += n;
	q->in += n;
	wake(q);
	return byte_out_queued(q) > BYTE_OUT_HIGH;
}

bool byte_out_park(struct byte_out *q, struct MHD_Connection *conn)
{
	q->conn = conn;
	if (byte_out_queued(q) > 0 || q->end != BYTE_OUT_OPEN)
		return false;
	q->suspended = true;
	MHD_suspend_connection(conn);
	return true;
}

void byte_out_set_conn(struct byte_out *q, struct MHD_Connection *conn)
{
	q->conn = conn;
}

ssize_t byte_out_read(struct byte_out *q, char *buf, size_t max)
{
	if (q->end == BYTE_OUT_CUT)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	size_t avail = byte_out_queued(q);
	if (avail > 0) {
		size_t n = avail < max ? avail : max;
		memcpy(buf, q->data + q->off, n);
		q->off += n;
		q->out += n;
		q->read_ns = clock_mono_ns();
		return (ssize_t)n;
	}
	if (q->end == BYTE_OUT_WHOLE)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* nothing yet: parked until the producer has more (byte_out_put wakes it) */
	q->suspended = true;
	MHD_suspend_connection(q->conn);
	return 0;
}

void byte_out_release(struct byte_out *q)
{
	q->suspended = false;
	q->released = true;
}

void byte_out_free(struct byte_out *q)
{
	free(q->data);
	q->data = NULL;
	q->len = q->off = q->alloc = 0;
}

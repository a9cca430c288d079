/* An outgoing Server-Sent Events stream: see include/http/sse_out.h. */
#include "http/sse_out.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/json.h"
#include "core/log.h"

static _Atomic uint64_t queued_total, dropped_total;

uint64_t sse_out_queued_total(void)
{
	return atomic_load(&queued_total);
}

uint64_t sse_out_dropped_total(void)
{
	return atomic_load(&dropped_total);
}

static void forget(struct sse_out *q)
{
	atomic_fetch_sub(&queued_total, q->len - q->off);
	free(q->data);
	q->data = NULL;
	q->len = q->off = q->alloc = 0;
}

/* The client is too far behind: what is queued goes now, and so does the client. Its
 * connection is closed under it (shutdown(2): libmicrohttpd sees the end and finishes
 * the request); the request has not ended (released), so the socket is still its own. */
static void drop_client(struct sse_out *q)
{
	log_warn("sse: a client fell %zu bytes behind (the limit is %u); dropping it (it may come back "
		 "with Last-Event-ID)", q->len - q->off, SSE_BACKLOG_MAX);
	q->overflow = true;
	atomic_fetch_add(&dropped_total, 1);
	forget(q);
	if (q->conn == NULL || q->released)
		return;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		shutdown(ci->connect_fd, SHUT_RDWR);
	sse_out_wake(q);   /* a parked stream: its reader ends it */
}

/* Bytes queued since the stream went out, not read yet. */
static uint64_t live_backlog(const struct sse_out *q)
{
	uint64_t from = q->out > q->live_from ? q->out : q->live_from;
	return q->reading && q->in > from ? q->in - from : 0;
}

/* Queue parts one after the other. The buffer grows by doubling, and the bytes read
 * are moved out of the way only once they are at least half of it or before it grows
 * (which copies it anyway), so that a stream costs time linear in its bytes, however
 * far behind its reader is. */
static void append(struct sse_out *q, const char *parts[], const size_t lens[], size_t n)
{
	size_t need = 0;
	for (size_t i = 0; i < n; i++)
		need += lens[i];
	if (q->overflow)
		return;
	/* one event more than the limit may wait: one larger than it still goes out */
	if (live_backlog(q) >= SSE_BACKLOG_MAX) {
		drop_client(q);
		return;
	}
	if (q->off > 0 && (q->off >= q->len / 2 || q->len + need > q->alloc)) {
		memmove(q->data, q->data + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + need > q->alloc) {
		size_t alloc = q->alloc ? q->alloc : 4096;
		while (alloc < q->len + need)
			alloc *= 2;
		char *nb = realloc(q->data, alloc);
		if (nb == NULL) {
			drop_client(q);
			return;
		}
		q->data = nb;
		q->alloc = alloc;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(q->data + q->len, parts[i], lens[i]);
		q->len += lens[i];
	}
	q->in += need;
	atomic_fetch_add(&queued_total, need);
}

void sse_out_event(struct sse_out *q, unsigned id, const char *event, const cJSON *data)
{
	char head[96];
	int hn = id ? snprintf(head, sizeof(head), "id: %u\nevent: %s\ndata: ", id, event)
		    : snprintf(head, sizeof(head), "event: %s\ndata: ", event);
	char *json = json_print(data);
	if (json == NULL) {
		if (!q->overflow)
			drop_client(q);
		return;
	}
	const char *parts[] = { head, json, "\n\n" };
	const size_t lens[] = { (size_t)hn, strlen(json), 2 };
	append(q, parts, lens, 3);
	cJSON_free(json);
}

void sse_out_raw(struct sse_out *q, const char *text, size_t len)
{
	const char *parts[] = { text };
	const size_t lens[] = { len };
	append(q, parts, lens, 1);
}

void sse_out_comment(struct sse_out *q, const char *text)
{
	const char *parts[] = { ": ", text, "\n\n" };
	const size_t lens[] = { 2, strlen(text), 2 };
	append(q, parts, lens, 3);
}

void sse_out_wake(struct sse_out *q)
{
	if (q->suspended) {
		q->suspended = false;
		MHD_resume_connection(q->conn);
	}
}

void sse_out_notify(struct sse_out *q, bool done)
{
	if (q->stream || done)
		sse_out_wake(q);
}

bool sse_out_park(struct sse_out *q, struct MHD_Connection *conn, bool done)
{
	if (done)
		return false;
	q->conn = conn;
	q->suspended = true;
	MHD_suspend_connection(conn);
	return true;
}

void sse_out_keepalive(struct sse_out *q, bool done)
{
	if (q->stream && q->suspended && !done) {
		sse_out_comment(q, "keep-alive");
		sse_out_wake(q);
	}
}

void sse_out_release(struct sse_out *q)
{
	q->suspended = false;
	q->released = true;
}

ssize_t sse_out_read(struct sse_out *q, char *buf, size_t max, bool done)
{
	if (q->overflow)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (!q->reading) {
		q->reading = true;
		q->live_from = q->in;
	}
	if (q->len > q->off) {
		size_t avail = q->len - q->off, n = avail < max ? avail : max;
		memcpy(buf, q->data + q->off, n);
		q->off += n;
		q->out += n;
		atomic_fetch_sub(&queued_total, n);
		return (ssize_t)n;
	}
	if (done)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* nothing yet: park the connection until its owner has something (sse_out_wake) */
	q->suspended = true;
	MHD_suspend_connection(q->conn);
	return 0;
}

void sse_out_free(struct sse_out *q)
{
	forget(q);
}

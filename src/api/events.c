/* GET /api/sessions/{id}/events: a session's events as Server-Sent Events, from the
 * one after Last-Event-ID (those the session still keeps), then as they happen, until
 * the session ends. The reader follows the session as a listener (session/session.h):
 * the hub's thread queues frames into its sse_out, libmicrohttpd's threads read them
 * out; its own lock guards the queue, taken after the session's, never before. */
#include <stdlib.h>

#include "api/app.h"
#include "api/waiter.h"
#include "session/session.h"

struct event_reader {
	struct session_listener l;         /* first: the listener is the reader */
	struct waiter w;                   /* ended: the session's events are over */
	struct session *s;                 /* referenced while it listens */
};

static void on_frame(struct session_listener *l, const char *frame, size_t len)
{
	struct event_reader *r = (struct event_reader *)l;
	pthread_mutex_lock(&r->w.lock);
	sse_out_raw(&r->w.sse, frame, len);
	sse_out_wake(&r->w.sse);
	pthread_mutex_unlock(&r->w.lock);
}

static void on_note(struct session_listener *l, const char *comment)
{
	struct event_reader *r = (struct event_reader *)l;
	pthread_mutex_lock(&r->w.lock);
	sse_out_comment(&r->w.sse, comment);
	pthread_mutex_unlock(&r->w.lock);
}

static void on_ended(struct session_listener *l)
{
	struct event_reader *r = (struct event_reader *)l;
	pthread_mutex_lock(&r->w.lock);
	r->w.ended = true;
	sse_out_wake(&r->w.sse);
	pthread_mutex_unlock(&r->w.lock);
}

static void on_tick(struct session_listener *l)
{
	waiter_tick(&((struct event_reader *)l)->w);
}

static ssize_t reader_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	return waiter_read(&((struct event_reader *)cls)->w, buf, max);
}

static void reader_close(void *cls)
{
	struct event_reader *r = cls;
	waiter_release(&r->w);
	session_unlisten(r->s, &r->l);
	waiter_destroy(&r->w);
	free(r);
}

enum MHD_Result api_session_events(struct http_req *req)
{
	enum MHD_Result rc;
	struct session *s = api_find_session(req, &rc);
	if (s == NULL)
		return rc;
	const char *last = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Last-Event-ID");
	unsigned long after = last ? strtoul(last, NULL, 10) : 0;
	struct event_reader *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		session_unref(s);
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "out of memory");
	}
	r->l = (struct session_listener){ .frame = on_frame, .note = on_note, .ended = on_ended, .tick = on_tick };
	waiter_init(&r->w, true);
	waiter_set_conn(&r->w, req->conn);
	r->s = s;
	session_listen(s, &r->l, after > 0xffffffffUL ? 0 : (unsigned)after);
	session_unref(s);                  /* the listener holds it now */
	return http_reply_stream(req, 200, "text/event-stream; charset=utf-8", reader_read, r, reader_close);
}

/* GET /api/sessions/{id}/events: a session's events as Server-Sent Events, from the
 * one after Last-Event-ID (those the session still keeps), then as they happen, until
 * the session ends. The reader follows the session as a listener (session/session.h):
 * the hub's thread queues frames into its sse_out, libmicrohttpd's threads read them
 * out; its own lock guards the queue, taken after the session's, never before. */
#include <pthread.h>
#include <stdlib.h>

#include "api/app.h"
#include "http/sse_out.h"
#include "session/session.h"

struct event_reader {
	struct session_listener l;         /* first: the listener is the reader */
	pthread_mutex_t lock;
	struct session *s;                 /* referenced while it listens */
	struct sse_out out;
	bool ended;                        /* the session's events are over */
};

static void on_frame(struct session_listener *l, const char *frame, size_t len)
{
	struct event_reader *r = (struct event_reader *)l;
	pthread_mutex_lock(&r->lock);
	sse_out_raw(&r->out, frame, len);
	sse_out_wake(&r->out);
	pthread_mutex_unlock(&r->lock);
}

static void on_note(struct session_listener *l, const char *comment)
{
	struct event_reader *r = (struct event_reader *)l;
	pthread_mutex_lock(&r->lock);
	sse_out_comment(&r->out, comment);
	pthread_mutex_unlock(&r->lock);
}

static void on_ended(struct session_listener *l)
{
	struct event_reader *r = (struct event_reader *)l;
	pthread_mutex_lock(&r->lock);
	r->ended = true;
	sse_out_wake(&r->out);
	pthread_mutex_unlock(&r->lock);
}

static void on_tick(struct session_listener *l)
{
	struct event_reader *r = (struct event_reader *)l;
	pthread_mutex_lock(&r->lock);
	sse_out_keepalive(&r->out, false);
	pthread_mutex_unlock(&r->lock);
}

static ssize_t reader_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct event_reader *r = cls;
	pthread_mutex_lock(&r->lock);
	ssize_t n = sse_out_read(&r->out, buf, max, r->ended);
	pthread_mutex_unlock(&r->lock);
	return n;
}

static void reader_close(void *cls)
{
	struct event_reader *r = cls;
	session_unlisten(r->s, &r->l);
	sse_out_free(&r->out);
	pthread_mutex_destroy(&r->lock);
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
	pthread_mutex_init(&r->lock, NULL);
	r->s = s;
	r->out.conn = req->conn;
	r->out.stream = true;
	session_listen(s, &r->l, after > 0xffffffffUL ? 0 : (unsigned)after);
	session_unref(s);                  /* the listener holds it now */
	return http_reply_stream(req, 200, "text/event-stream; charset=utf-8", reader_read, r, reader_close);
}

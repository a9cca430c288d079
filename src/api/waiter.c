/* The waiting client's common part: see include/api/waiter.h. */
#include "api/waiter.h"

void waiter_init(struct waiter *w, bool stream)
{
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->refs, 1);
	w->sse.stream = stream;
}

void waiter_ref(struct waiter *w)
{
	atomic_fetch_add(&w->refs, 1);
}

bool waiter_unref(struct waiter *w)
{
	return atomic_fetch_sub(&w->refs, 1) == 1;
}

void waiter_destroy(struct waiter *w)
{
	sse_out_free(&w->sse);
	pthread_mutex_destroy(&w->lock);
}

void waiter_tick(struct waiter *w)
{
	pthread_mutex_lock(&w->lock);
	sse_out_keepalive(&w->sse, w->ended);
	pthread_mutex_unlock(&w->lock);
}

bool waiter_wait(struct waiter *w, struct MHD_Connection *conn)
{
	pthread_mutex_lock(&w->lock);
	bool wait = sse_out_park(&w->sse, conn, w->ended);
	pthread_mutex_unlock(&w->lock);
	return wait;
}

void waiter_set_conn(struct waiter *w, struct MHD_Connection *conn)
{
	pthread_mutex_lock(&w->lock);
	w->sse.conn = conn;
	pthread_mutex_unlock(&w->lock);
}

ssize_t waiter_read(struct waiter *w, char *buf, size_t max)
{
	pthread_mutex_lock(&w->lock);
	ssize_t n = sse_out_read(&w->sse, buf, max, w->ended);
	pthread_mutex_unlock(&w->lock);
	return n;
}

bool waiter_release(struct waiter *w)
{
	pthread_mutex_lock(&w->lock);
	bool ended = w->ended;
	sse_out_release(&w->sse);
	pthread_mutex_unlock(&w->lock);
	return ended;
}

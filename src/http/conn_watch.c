/* The request-head deadline: see include/http/conn_watch.h. */
#include "http/conn_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"

/* How often, at most, the watch looks again when no deadline is nearer. */
#define WATCH_MAX_SLEEP_NS 1000000000ull

struct http_conn {
	struct http_conn *prev, *next;
	MHD_socket fd;
	_Atomic uint64_t head_since_ns;   /* 0: no head awaited (a request is being served) */
	bool cut;                         /* shut down by the watch, not closed yet */
};

struct conn_watch {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct http_conn *list;
	unsigned open, open_cut;          /* listed; of them, shut down already */
	unsigned max_open;
	uint64_t head_timeout_ns;
	unsigned evicted;                 /* since the last report */
	bool stop;
	pthread_t thread;
};

/* Under the lock: the socket stays open until libmicrohttpd has told us it closed it
 * (conn_watch_notify takes the lock), so c->fd is still c's. */
static void cut(struct conn_watch *w, struct http_conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
	c->cut = true;
	w->open_cut++;
}

/* Under the lock, with more than max_open connections: close the one that has waited
 * longest for a request head (an idle keep-alive one, or the slowest sender), so that a
 * crowd of slow clients cannot keep a new one out. Connections serving a request stay. */
static void evict(struct conn_watch *w)
{
	struct http_conn *oldest = NULL;
	uint64_t oldest_since = UINT64_MAX;
	for (struct http_conn *c = w->list; c != NULL; c = c->next) {
		uint64_t since = atomic_load(&c->head_since_ns);
		if (since != 0 && !c->cut && since < oldest_since) {
			oldest = c;
			oldest_since = since;
		}
	}
	if (oldest != NULL) {
		cut(w, oldest);
		w->evicted++;
	}
}

/* Under the lock: shut down what is past its deadline; the nearest deadline left. */
static uint64_t sweep(struct conn_watch *w, uint64_t now)
{
	uint64_t next = now + WATCH_MAX_SLEEP_NS;
	unsigned n = 0;
	for (struct http_conn *c = w->list; c != NULL; c = c->next) {
		uint64_t since = atomic_load(&c->head_since_ns);
		if (since == 0 || c->cut)
			continue;
		uint64_t deadline = since + w->head_timeout_ns;
		if (deadline <= now) {
			cut(w, c);
			n++;
		} else if (deadline < next) {
			next = deadline;
		}
	}
	if (n > 0) {
		log_info("http: closed %u connection%s that did not send a request's line and headers "
			 "within %llu s (http.header_timeout_s)", n, n == 1 ? "" : "s",
			 (unsigned long long)(w->head_timeout_ns / 1000000000u));
	}
	if (w->evicted > 0) {            /* reported here, not once each: a flood is one line */
		log_warn("http: %u connections open, the limit (http.max_connections); closed %u that "
			 "waited longest for a request, to let others in", w->max_open, w->evicted);
		w->evicted = 0;
	}
	return next;
}

static void *watch_main(void *arg)
{
	struct conn_watch *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		uint64_t next = sweep(w, clock_mono_ns());
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int conn_watch_start(struct conn_watch **out, unsigned head_timeout_s, unsigned max_open,
		     struct ad_err *err)
{
	struct conn_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return ad_err_set(err, ENOMEM, "connection watch");
	w->max_open = max_open;
	w->head_timeout_ns = (uint64_t)head_timeout_s * 1000000000u;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* clock_mono_ns()'s clock */
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&w->thread, NULL, watch_main, w);
	if (rc != 0) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return ad_err_set(err, rc, "connection watch thread: %s", strerror(rc));
	}
	*out = w;
	return 0;
}

void conn_watch_free(struct conn_watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void conn_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		       enum MHD_ConnectionNotificationCode code)
{
	struct conn_watch *w = cls;
	struct http_conn *c = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = ci != NULL ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL)
			return;   /* out of memory: this connection goes without a head deadline */
		c->fd = ci->connect_fd;
		atomic_store(&c->head_since_ns, clock_mono_ns());
		pthread_mutex_lock(&w->lock);
		c->next = w->list;
		if (w->list != NULL)
			w->list->prev = c;
		w->list = c;
		w->open++;
		if (w->open - w->open_cut > w->max_open)
			evict(w);
		pthread_mutex_unlock(&w->lock);
		*socket_context = c;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c != NULL) {
		pthread_mutex_lock(&w->lock);
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			w->list = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		w->open--;
		w->open_cut -= c->cut;
		pthread_mutex_unlock(&w->lock);
		free(c);
		*socket_context = NULL;
	}
}

struct http_conn *conn_watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

void conn_watch_head_done(struct http_conn *c)
{
	if (c != NULL)
		atomic_store(&c->head_since_ns, 0);
}

void conn_watch_head_wait(struct http_conn *c)
{
	if (c != NULL)
		atomic_store(&c->head_since_ns, clock_mono_ns());
}

/* The connections' watch: see include/http/conn_watch.h (the request-head deadline)
 * and include/http/hangup.h (clients that leave).
 *
 * One thread, waiting in epoll for the hang-up of the connections that asked for it
 * and, between times, for the nearest head deadline. A connection's socket is in the
 * epoll set only while a hang-up watch is armed, and leaves it before libmicrohttpd
 * closes it (CLOSED is reported first). Events carry the connection's serial number,
 * not its address: one closed while its event is on the way is looked up, not
 * followed. gone() runs under gone_lock alone, which is how disarming knows it is not
 * running, and which keeps the list's lock (taken for every new connection) free. */
#include "http/conn_watch.h"
#include "http/hangup.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

/* How often, at most, the watch looks again when no deadline is nearer. */
#define WATCH_MAX_SLEEP_NS 1000000000ull
#define WATCH_EVENTS 32

struct http_conn {
	struct http_conn *prev, *next;
	struct conn_watch *watch;
	uint64_t serial;                  /* never 0: the wake-up's event is 0 */
	MHD_socket fd;
	_Atomic uint64_t head_since_ns;   /* 0: no head awaited (a request is being served) */
	bool cut;                         /* shut down by the watch, not closed yet */
	void (*gone)(void *ctx);          /* an armed hang-up watch, or NULL */
	void *gone_ctx;
};

struct conn_watch {
	pthread_mutex_t lock;             /* the list and everything in it */
	pthread_mutex_t gone_lock;        /* held while a gone() runs */
	int ep, wake;                     /* the epoll set; an eventfd that interrupts its wait */
	uint64_t next_serial;
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

/* Under the list's lock: the hang-up watch of c comes off (its socket out of the set). */
static void disarm(struct http_conn *c)
{
	if (c->gone == NULL)
		return;
	epoll_ctl(c->watch->ep, EPOLL_CTL_DEL, c->fd, NULL);
	c->gone = NULL;
}

/* A hang-up: the connection with this serial number, if it is still there and watched,
 * has its gone() called, once. */
static void hung_up(struct conn_watch *w, uint64_t serial)
{
	pthread_mutex_lock(&w->gone_lock);
	pthread_mutex_lock(&w->lock);
	struct http_conn *c = w->list;
	while (c != NULL && c->serial != serial)
		c = c->next;
	void (*gone)(void *) = c != NULL ? c->gone : NULL;
	void *ctx = c != NULL ? c->gone_ctx : NULL;
	if (c != NULL)
		disarm(c);
	pthread_mutex_unlock(&w->lock);
	if (gone != NULL)
		gone(ctx);
	pthread_mutex_unlock(&w->gone_lock);
}

static void *watch_main(void *arg)
{
	struct conn_watch *w = arg;
	struct epoll_event evs[WATCH_EVENTS];
	for (;;) {
		pthread_mutex_lock(&w->lock);
		if (w->stop) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		uint64_t now = clock_mono_ns(), next = sweep(w, now);
		pthread_mutex_unlock(&w->lock);
		int n = epoll_wait(w->ep, evs, WATCH_EVENTS, (int)((next - now) / 1000000u) + 1);
		for (int i = 0; i < n; i++) {
			uint64_t one;
			if (evs[i].data.u64 == 0 && read(w->wake, &one, sizeof(one)) < 0)
				continue;
			if (evs[i].data.u64 != 0)
				hung_up(w, evs[i].data.u64);
		}
	}
}

int conn_watch_start(struct conn_watch **out, unsigned head_timeout_s, unsigned max_open,
		     struct ad_err *err)
{
	struct conn_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return ad_err_set(err, ENOMEM, "connection watch");
	w->max_open = max_open;
	w->head_timeout_ns = (uint64_t)head_timeout_s * 1000000000u;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	int rc = w->ep < 0 || w->wake < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake, &ev) < 0 ? errno : 0;
	if (rc == 0) {
		pthread_mutex_init(&w->lock, NULL);
		pthread_mutex_init(&w->gone_lock, NULL);
		if ((rc = pthread_create(&w->thread, NULL, watch_main, w)) == 0) {
			*out = w;
			return 0;
		}
		pthread_mutex_destroy(&w->gone_lock);
		pthread_mutex_destroy(&w->lock);
	}
	if (w->ep >= 0)
		close(w->ep);
	if (w->wake >= 0)
		close(w->wake);
	free(w);
	return ad_err_set(err, rc, "connection watch");
}

void conn_watch_free(struct conn_watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_mutex_unlock(&w->lock);
	uint64_t one = 1;
	if (write(w->wake, &one, sizeof(one)) < 0)
		log_warn("http: wake the connection watch: %s", strerror(errno));
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->gone_lock);
	pthread_mutex_destroy(&w->lock);
	close(w->ep);
	close(w->wake);
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
		c->watch = w;
		atomic_store(&c->head_since_ns, clock_mono_ns());
		pthread_mutex_lock(&w->lock);
		c->serial = ++w->next_serial;
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
		disarm(c);                /* its socket is still open: closed after this */
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

struct http_conn *http_hangup_watch(struct MHD_Connection *conn, void (*gone)(void *ctx), void *ctx,
				    struct ad_err *err)
{
	struct http_conn *c = conn_watch_of(conn);
	if (c == NULL) {
		ad_err_set(err, 0, "the connection has no watch");
		return NULL;
	}
	struct conn_watch *w = c->watch;
	struct epoll_event ev = { .events = EPOLLRDHUP, .data.u64 = c->serial };
	pthread_mutex_lock(&w->lock);
	int rc = c->gone == NULL ? epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) : 0;
	if (rc == 0) {
		c->gone = gone;
		c->gone_ctx = ctx;
	} else {
		ad_err_sys(err, "watch the connection");
	}
	pthread_mutex_unlock(&w->lock);
	return rc == 0 ? c : NULL;
}

void http_hangup_unwatch(struct http_conn *c)
{
	if (c == NULL)
		return;
	struct conn_watch *w = c->watch;
	pthread_mutex_lock(&w->gone_lock);
	pthread_mutex_lock(&w->lock);
	disarm(c);
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_unlock(&w->gone_lock);
}

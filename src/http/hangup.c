/* Clients that leave: see include/http/hangup.h.
 *
 * Each watch holds a duplicate of the connection's socket, so that the number in the
 * epoll set never names another socket after libmicrohttpd closes its own. Events
 * carry the watch's serial number, not its address: a watch freed by unwatch while
 * its event is in flight is looked up, not followed. gone() runs under the module's
 * lock, which is how unwatch knows it is not running. */
#include "http/hangup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"

#define HANGUP_EVENTS 32

struct http_hangup {
	uint64_t serial;
	int fd;                          /* our duplicate of the connection's socket */
	void (*gone)(void *ctx);
	void *ctx;
	struct http_hangup *prev, *next;
};

static struct {
	pthread_once_t once;
	pthread_mutex_t lock;            /* the list, and every gone() call */
	int ep;                          /* -1: the thread could not start */
	uint64_t next_serial;
	struct http_hangup *list;
} watcher = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER, .ep = -1 };

static void detach(struct http_hangup *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		watcher.list = w->next;
	if (w->next)
		w->next->prev = w->prev;
	epoll_ctl(watcher.ep, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
}

static struct http_hangup *find(uint64_t serial)
{
	for (struct http_hangup *w = watcher.list; w != NULL; w = w->next)
		if (w->serial == serial)
			return w;
	return NULL;
}

static void *watch_main(void *arg)
{
	(void)arg;
	struct epoll_event evs[HANGUP_EVENTS];
	for (;;) {
		int n = epoll_wait(watcher.ep, evs, HANGUP_EVENTS, -1);
		if (n < 0 && errno != EINTR) {
			log_error("http: watching for clients that leave: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			pthread_mutex_lock(&watcher.lock);
			struct http_hangup *w = find(evs[i].data.u64);
			if (w != NULL) {
				detach(w);          /* once: the watch stays the owner's to unwatch */
				w->gone(w->ctx);
			}
			pthread_mutex_unlock(&watcher.lock);
		}
	}
}

static void start(void)
{
	watcher.ep = epoll_create1(EPOLL_CLOEXEC);
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (watcher.ep >= 0 && pthread_create(&t, &a, watch_main, NULL) != 0) {
		close(watcher.ep);
		watcher.ep = -1;
	}
	pthread_attr_destroy(&a);
}

struct http_hangup *http_hangup_watch(struct MHD_Connection *conn, void (*gone)(void *ctx), void *ctx,
				      struct ad_err *err)
{
	pthread_once(&watcher.once, start);
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (watcher.ep < 0 || ci == NULL) {
		ad_err_set(err, 0, "cannot watch the connection");
		return NULL;
	}
	struct http_hangup *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		ad_err_set(err, ENOMEM, "watch the connection");
		return NULL;
	}
	w->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 3);
	w->gone = gone;
	w->ctx = ctx;
	pthread_mutex_lock(&watcher.lock);
	w->serial = ++watcher.next_serial;
	struct epoll_event ev = { .events = EPOLLRDHUP, .data.u64 = w->serial };
	if (w->fd < 0 || epoll_ctl(watcher.ep, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
		ad_err_sys(err, "watch the connection");
		pthread_mutex_unlock(&watcher.lock);
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return NULL;
	}
	w->next = watcher.list;
	if (watcher.list)
		watcher.list->prev = w;
	watcher.list = w;
	pthread_mutex_unlock(&watcher.lock);
	return w;
}

void http_hangup_unwatch(struct http_hangup *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&watcher.lock);
	if (w->fd >= 0)
		detach(w);
	pthread_mutex_unlock(&watcher.lock);
	free(w);
}

/* The gateway's session I/O thread: see include/session/hub.h. */
#include "session/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/link.h"
#include "ipc/link_out.h"

#define HUB_EVENTS 64
/* What may wait for a supervisor that does not read: more than a few of the largest
 * frames (an upload is 5.4 MiB of base64) means it is stuck. */
#define HUB_OUT_MAX (32u << 20)
/* A supervisor that has taken nothing for this long while frames wait is given up. */
#define HUB_STALL_MS 30000u

struct hub_link {
	struct hub *hub;
	int fd;
	struct frame_decoder *dec;
	const struct hub_link_ops *ops;
	void *owner;
	pthread_mutex_t send_lock;      /* out, want_out, broke */
	struct link_out out;            /* frames the supervisor has not taken yet */
	bool want_out;                  /* EPOLLOUT is on: out has bytes waiting */
	bool held;                      /* EPOLLIN is off: its owner cannot take more now */
	char broke[160];                /* why the hub gave up on the supervisor, or "" */
	struct hub_link *prev, *next;   /* every live link, for hub_stop */
};

struct hub {
	int ep, wake;
	pthread_t thread;
	pthread_mutex_t lock;           /* the list */
	struct hub_link *links;
};

static void unlink_link(struct hub *h, struct hub_link *l)
{
	pthread_mutex_lock(&h->lock);
	if (l->prev)
		l->prev->next = l->next;
	else
		h->links = l->next;
	if (l->next)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&h->lock);
}

/* On the hub's thread only: the end of a link. */
static void finish(struct hub_link *l, const char *why)
{
	struct hub *h = l->hub;
	epoll_ctl(h->ep, EPOLL_CTL_DEL, l->fd, NULL);
	unlink_link(h, l);
	if (why == NULL && l->broke[0] != '\0')
		why = l->broke;
	l->ops->closed(l->owner, why);
	close(l->fd);
	frame_decoder_free(l->dec);
	link_out_free(&l->out);
	pthread_mutex_destroy(&l->send_lock);
	free(l);
}

/* Under send_lock: what the link is watched for. */
static int rewatch(struct hub_link *l, bool in, bool out)
{
	struct epoll_event ev = { .events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0), .data.ptr = l };
	return epoll_ctl(l->hub->ep, EPOLL_CTL_MOD, l->fd, &ev);
}

/* Under send_lock: EPOLLOUT on while frames wait, off once they are out. */
static void watch_out(struct hub_link *l)
{
	bool want = link_out_pending(&l->out);
	if (want != l->want_out && rewatch(l, !l->held, want) == 0)
		l->want_out = want;
}

/* Under send_lock: give up on a supervisor that does not take what it is sent. Its end
 * sees the hang-up; ours reads end of file, and closed() says why. */
static void give_up(struct hub_link *l, const char *why)
{
	if (l->broke[0] == '\0')
		snprintf(l->broke, sizeof(l->broke), "%s", why);
	shutdown(l->fd, SHUT_RDWR);
}

/* On the hub's thread: the socket has room. */
static void flush_out(struct hub_link *l)
{
	struct ad_err e;
	pthread_mutex_lock(&l->send_lock);
	if (link_out_flush(&l->out, l->fd, &e) < 0)
		give_up(l, e.msg);
	watch_out(l);
	pthread_mutex_unlock(&l->send_lock);
}

static int on_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct hub_link *l = ctx;
	if (type != FRAME_RUN_EVENT) {
		cJSON_Delete(payload);
		return ad_err_set(err, 0, "a supervisor may not send %s frames", frame_type_name(type));
	}
	l->ops->event(l->owner, payload);
	return 0;
}

/* Owners are freed only on this thread (finish), so a snapshot of the list stays good
 * while the ticks run, without the list's lock: a tick may take its owner's locks. */
static void tick_all(struct hub *h)
{
	struct { const struct hub_link_ops *ops; void *owner; } *snap = NULL;
	size_t n = 0, cap = 0;
	uint64_t now = clock_mono_ns();
	pthread_mutex_lock(&h->lock);
	for (struct hub_link *l = h->links; l != NULL; l = l->next) {
		pthread_mutex_lock(&l->send_lock);
		if (link_out_stalled_ms(&l->out, now) > HUB_STALL_MS && l->broke[0] == '\0') {
			give_up(l, "the session's supervisor took nothing it was sent for 30 s");
			if (l->ops->stalled != NULL)
				l->ops->stalled(l->owner);
		}
		pthread_mutex_unlock(&l->send_lock);
		if (l->ops->tick == NULL)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			void *ns = realloc(snap, cap * sizeof(*snap));
			if (ns == NULL)
				break;
			snap = ns;
		}
		snap[n].ops = l->ops;
		snap[n++].owner = l->owner;
	}
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < n; i++)
		snap[i].ops->tick(snap[i].owner);
	free(snap);
}

static void *hub_main(void *arg)
{
	struct hub *h = arg;
	struct epoll_event evs[HUB_EVENTS];
	uint64_t next_tick = clock_mono_ms() + HUB_TICK_MS;
	for (;;) {
		uint64_t now = clock_mono_ms();
		if (now >= next_tick) {
			tick_all(h);
			next_tick = now + HUB_TICK_MS;
		}
		int n = epoll_wait(h->ep, evs, HUB_EVENTS, (int)(next_tick - now));
		if (n < 0 && errno != EINTR) {
			log_error("hub: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct hub_link *l = evs[i].data.ptr;
			if (l == NULL)
				return NULL;     /* hub_stop */
			if (evs[i].events & EPOLLOUT)
				flush_out(l);
			if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			struct ad_err e;
			int rc = link_recv(l->fd, l->dec, on_frame, l, &e);
			if (rc < 0)
				log_warn("hub: session link: %s", e.msg);
			if (rc != 0)
				finish(l, rc < 0 ? e.msg : NULL);
		}
	}
	return NULL;
}

int hub_start(struct hub **out, struct ad_err *err)
{
	struct hub *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return ad_err_set(err, ENOMEM, "hub");
	h->ep = epoll_create1(EPOLL_CLOEXEC);
	h->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (h->ep < 0 || h->wake < 0 || epoll_ctl(h->ep, EPOLL_CTL_ADD, h->wake, &ev) < 0) {
		ad_err_sys(err, "hub: epoll");
		goto fail;
	}
	pthread_mutex_init(&h->lock, NULL);
	int rc = pthread_create(&h->thread, NULL, hub_main, h);
	if (rc != 0) {
		ad_err_set(err, rc, "hub: start the thread");
		pthread_mutex_destroy(&h->lock);
		goto fail;
	}
	*out = h;
	return 0;
fail:
	if (h->ep >= 0)
		close(h->ep);
	if (h->wake >= 0)
		close(h->wake);
	free(h);
	return -1;
}

void hub_stop(struct hub *h)
{
	if (h == NULL)
		return;
	uint64_t one = 1;
	if (write(h->wake, &one, sizeof(one)) < 0)
		log_warn("hub: wake the thread: %s", strerror(errno));
	pthread_join(h->thread, NULL);
	/* the thread is gone: its work falls to us */
	while (h->links != NULL)
		finish(h->links, "agentd is shutting down");
	pthread_mutex_destroy(&h->lock);
	close(h->ep);
	close(h->wake);
	free(h);
}

struct hub_link *hub_attach(struct hub *h, int fd, const struct hub_link_ops *ops, void *owner,
			    struct ad_err *err)
{
	struct hub_link *l = calloc(1, sizeof(*l));
	if (l == NULL || (l->dec = frame_decoder_new(FRAME_MAX_PAYLOAD)) == NULL) {
		free(l);
		close(fd);
		ad_err_set(err, ENOMEM, "hub: link");
		return NULL;
	}
	l->hub = h;
	l->fd = fd;
	l->ops = ops;
	l->owner = owner;
	link_out_init(&l->out, HUB_OUT_MAX);
	pthread_mutex_init(&l->send_lock, NULL);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pthread_mutex_lock(&h->lock);
	l->next = h->links;
	if (h->links)
		h->links->prev = l;
	h->links = l;
	pthread_mutex_unlock(&h->lock);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	if (epoll_ctl(h->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ad_err_sys(err, "hub: epoll_ctl");
		unlink_link(h, l);
		close(fd);
		frame_decoder_free(l->dec);
		pthread_mutex_destroy(&l->send_lock);
		free(l);
		return NULL;
	}
	return l;
}

int hub_link_send(struct hub_link *l, unsigned type, const cJSON *payload, struct ad_err *err)
{
	pthread_mutex_lock(&l->send_lock);
	int rc = l->broke[0] != '\0' ? ad_err_code(err, EPIPE, "%s", l->broke)
				       : link_out_send(&l->out, l->fd, type, payload, err);
	if (rc < 0 && err->errnum == ENOBUFS)
		give_up(l, "the session's supervisor stopped reading");
	if (rc == 0)
		watch_out(l);
	pthread_mutex_unlock(&l->send_lock);
	return rc;
}

void hub_link_hold(struct hub_link *l, bool hold)
{
	pthread_mutex_lock(&l->send_lock);
	if (hold != l->held && rewatch(l, !hold, l->want_out) == 0)
		l->held = hold;
	pthread_mutex_unlock(&l->send_lock);
}

void hub_link_close(struct hub_link *l)
{
	shutdown(l->fd, SHUT_RDWR);
}

/* The egress proxy's acceptor, its events and its end: see
 * include/supervisor/egress_proxy.h; one connection is egress_conn.c's. */
#include "egress_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"

/* A connection thread needs little: its buffers are on the heap. */
#define CONN_STACK (256u << 10)
/* Events the loop has not collected; past it the oldest go (they are in the log). */
#define EVENTS_MAX 1024

void egress_reply_status(int fd, int status, const char *reason, const char *body)
{
	char reply[1024];
	int n = snprintf(reply, sizeof(reply),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\nX-Agentd-Egress: refused\r\n\r\n%s\n", status, reason,
			 strlen(body) + 1, body);
	/* a client that reads nothing gets what the socket's buffer takes */
	if (n > 0 && (size_t)n < sizeof(reply))
		(void)send(fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void egress_note(struct egress_proxy *p, cJSON *ev)
{
	egress_log(ev);
	cJSON_AddStringToObject(ev, "type", "egress");
	note_queue_push(&p->events, ev);
}

cJSON *egress_proxy_take(struct egress_proxy *p)
{
	return note_queue_take(&p->events);
}

int egress_proxy_event_fd(const struct egress_proxy *p)
{
	return p->events.rd;
}

void egress_proxy_turn(struct egress_proxy *p)
{
	if (p != NULL)
		atomic_store(&p->turn_bytes, 0);
}

static void refuse_busy(struct egress_proxy *p, int fd)
{
	char body[160];
	snprintf(body, sizeof(body), "agentd: this session already has %u connections through its egress "
		 "proxy (network.max_connections); try again when one has ended", p->lim.max_connections);
	egress_reply_status(fd, 429, "Too Many Requests", body);
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "decision", "refused");
	cJSON_AddStringToObject(ev, "reason", body + strlen("agentd: "));
	egress_note(p, ev);
}

/* One thread per connection, while there are fewer than the limit. */
static void take(struct egress_proxy *p, int fd)
{
	pthread_mutex_lock(&p->lock);
	bool room = p->live < p->lim.max_connections;
	p->live += room;
	pthread_mutex_unlock(&p->lock);
	struct egress_conn_start *c = room ? malloc(sizeof(*c)) : NULL;
	pthread_attr_t attr;
	pthread_t t;
	if (c != NULL) {
		*c = (struct egress_conn_start){ p, fd };
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, CONN_STACK);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&t, &attr, egress_conn_main, c);
		pthread_attr_destroy(&attr);
		if (rc == 0)
			return;
		free(c);
	}
	if (!room)
		refuse_busy(p, fd);
	else
		egress_reply_status(fd, 503, "Service Unavailable", "agentd: the egress proxy is out of resources");
	close(fd);
	if (room) {
		pthread_mutex_lock(&p->lock);
		p->live--;
		pthread_mutex_unlock(&p->lock);
	}
}

static void *acceptor(void *arg)
{
	struct egress_proxy *p = arg;
	for (;;) {
		struct pollfd w[2] = { { p->listen_fd, POLLIN, 0 }, { p->stop_fd, POLLIN, 0 } };
		if (poll(w, 2, -1) < 0 && errno != EINTR)
			break;
		if (w[1].revents)
			break;
		if (!(w[0].revents & POLLIN))
			continue;
		int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			take(p, fd);
		else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("egress proxy: accept: %s", strerror(errno));
	}
	return NULL;
}

struct egress_proxy *egress_proxy_start(int listen_fd, const struct egress_rules *rules,
					const struct egress_limits *lim, struct ad_err *err)
{
	struct egress_proxy *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		close(listen_fd);
		ad_err_set(err, ENOMEM, "egress proxy");
		return NULL;
	}
	p->rules = rules;
	p->lim = *lim;
	p->listen_fd = listen_fd;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->gone, NULL);
	p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (note_queue_init(&p->events, EVENTS_MAX, err) < 0 || p->stop_fd < 0) {
		ad_err_sys(err, "egress proxy");
		goto fail;
	}
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	int rc = pthread_create(&p->acceptor, NULL, acceptor, p);
	if (rc != 0) {
		ad_err_set(err, rc, "egress proxy: a thread");
		goto fail;
	}
	p->started = true;
	return p;
fail:
	egress_proxy_stop(p);
	return NULL;
}

void egress_proxy_stop(struct egress_proxy *p)
{
	if (p == NULL)
		return;
	uint64_t one = 1;
	if (p->stop_fd >= 0)
		(void)!write(p->stop_fd, &one, sizeof(one));
	if (p->started)
		pthread_join(p->acceptor, NULL);
	pthread_mutex_lock(&p->lock);
	while (p->live > 0)
		pthread_cond_wait(&p->gone, &p->lock);
	pthread_mutex_unlock(&p->lock);
	close(p->listen_fd);
	if (p->stop_fd >= 0)
		close(p->stop_fd);
	note_queue_free(&p->events);
	pthread_cond_destroy(&p->gone);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

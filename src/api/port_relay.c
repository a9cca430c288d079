/* The ports proxy's thread: see ports_int.h. */
#include "ports_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

void port_relay_unref(struct port_relay *r)
{
	if (!waiter_unref(&r->w))
		return;
	if (r->upstream >= 0)
		close(r->upstream);
	if (r->netns >= 0)
		close(r->netns);
	if (r->stop >= 0)
		close(r->stop);
	pthread_cond_destroy(&r->moved);
	free(r->request);
	free(r->head);
	free(r->extra);
	free(r->client_extra);
	waiter_destroy(&r->w);
	free(r);
}

/* Under the lock: the head is in (or the relay failed): the handler answers. */
static void answered(struct port_relay *r, enum port_state state)
{
	r->state = state;
	if (r->parked && !r->gone) {
		r->parked = false;
		MHD_resume_connection(r->conn);
	}
}

static void *fail(struct port_relay *r, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&r->w.lock);
	r->status = status;
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	answered(r, PORT_FAILED);
	pthread_mutex_unlock(&r->w.lock);
	port_relay_unref(r);
	return NULL;
}

/* A socket of the sandbox's network, connected to its 127.0.0.1:port: made on this
 * thread after it entered that namespace (sockets keep the namespace they were made in). */
static int connect_inside(struct port_relay *r)
{
	if (setns(r->netns, CLONE_NEWNET) < 0)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Wait for fd to be ready for events, or the client to go, until deadline (0: none):
 * 1 ready, 0 timed out, -1 the client went. */
static int wait_for(struct port_relay *r, int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = clock_mono_ms();
		int left = deadline == 0 ? -1 : now >= deadline ? 0 : (int)(deadline - now);
		struct pollfd p[2] = { { fd, events, 0 }, { r->stop, POLLIN, 0 } };
		int n = poll(p, 2, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		return p[1].revents ? -1 : 1;
	}
}

static bool send_all(struct port_relay *r, int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
		} else if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			   wait_for(r, fd, POLLOUT, clock_mono_ms() + r->timeout_ms) <= 0) {
			return false;
		}
	}
	return true;
}

/* The answer's head, up to its blank line: 0, or an HTTP status to fail with. */
static int read_head(struct port_relay *r)
{
	uint64_t deadline = clock_mono_ms() + r->timeout_ms;
	size_t len = 0;
	char *buf = malloc(PORT_HEAD_MAX + 1), *end;
	if (buf == NULL)
		return 502;
	while ((end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL) == NULL) {
		int w = len == PORT_HEAD_MAX ? 0 : wait_for(r, r->upstream, POLLIN, deadline);
		ssize_t n = w > 0 ? recv(r->upstream, buf + len, PORT_HEAD_MAX - len, MSG_DONTWAIT) : -1;
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n < 0 && w > 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		free(buf);
		return w == 0 && len < PORT_HEAD_MAX ? 504 : 502;
	}
	r->head_len = (size_t)(end - buf) + 2;
	buf[r->head_len] = '\0';
	r->head = buf;
	r->extra_len = len - r->head_len - 2;
	if (r->extra_len > 0 && (r->extra = malloc(r->extra_len)) != NULL)
		memcpy(r->extra, end + 4, r->extra_len);
	else
		r->extra_len = 0;
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 999)
		return 502;
	r->status = status;
	return 0;
}

/* The body into the queue, as the client takes it. */
static void pump_body(struct port_relay *r)
{
	char buf[64 << 10];
	bool more = true;
	pthread_mutex_lock(&r->w.lock);
	if (r->extra_len > 0) {
		sse_out_raw(&r->w.sse, r->extra, r->extra_len);
		sse_out_notify(&r->w.sse, false);
	}
	while (more && !r->gone) {
		while (r->w.sse.len - r->w.sse.off >= PORT_AHEAD_MAX && !r->gone)
			pthread_cond_wait(&r->moved, &r->w.lock);
		pthread_mutex_unlock(&r->w.lock);
		ssize_t n = wait_for(r, r->upstream, POLLIN, 0) > 0 ? recv(r->upstream, buf, sizeof(buf), 0) : 0;
		more = n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN));
		pthread_mutex_lock(&r->w.lock);
		if (n > 0 && !r->gone) {
			sse_out_raw(&r->w.sse, buf, (size_t)n);
			sse_out_notify(&r->w.sse, false);
		}
	}
	r->w.ended = true;
	sse_out_notify(&r->w.sse, true);
	pthread_mutex_unlock(&r->w.lock);
}

/* Bytes both ways between the upgraded client and the server, until either ends. */
static void carry(struct port_relay *r)
{
	pthread_mutex_lock(&r->w.lock);
	while (r->client < 0 && !r->gone)
		pthread_cond_wait(&r->moved, &r->w.lock);
	int client = r->gone ? -1 : (int)r->client;
	pthread_mutex_unlock(&r->w.lock);
	if (client < 0 || (r->extra_len > 0 && !send_all(r, client, r->extra, r->extra_len)) ||
	    (r->client_extra_len > 0 && !send_all(r, r->upstream, r->client_extra, r->client_extra_len)))
		return;
	char buf[16 << 10];
	for (;;) {
		struct pollfd p[2] = { { client, POLLIN, 0 }, { r->upstream, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return;
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			int from = i == 0 ? client : r->upstream, to = i == 0 ? r->upstream : client;
			ssize_t n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return;
			if (n > 0 && !send_all(r, to, buf, (size_t)n))
				return;
		}
	}
}

void *port_relay_main(void *arg)
{
	struct port_relay *r = arg;
	r->upstream = connect_inside(r);
	if (r->upstream < 0)
		return errno == ECONNREFUSED
			       ? fail(r, 502, "nothing listens on port %u in the sandbox (a server there must listen "
				      "on 127.0.0.1:%u or 0.0.0.0:%u)", r->port, r->port, r->port)
			       : fail(r, 502, "cannot reach port %u in the sandbox: %s", r->port, strerror(errno));
	if (!send_all(r, r->upstream, r->request, r->request_len))
		return fail(r, 502, "the server on port %u in the sandbox did not take the request", r->port);
	int status = read_head(r);
	if (status == 504)
		return fail(r, 504, "the server on port %u in the sandbox did not answer within %u s "
			    "(runtime.port_timeout_s)", r->port, r->timeout_ms / 1000);
	if (status != 0)
		return fail(r, 502, "the server on port %u in the sandbox sent no valid HTTP answer", r->port);
	pthread_mutex_lock(&r->w.lock);
	answered(r, PORT_ANSWERED);
	pthread_mutex_unlock(&r->w.lock);
	if (r->websocket && r->status == 101)
		carry(r);
	else
		pump_body(r);
	pthread_mutex_lock(&r->w.lock);
	if (r->urh != NULL)               /* the upgraded connection goes with its relay */
		MHD_upgrade_action(r->urh, MHD_UPGRADE_ACTION_CLOSE);
	r->urh = NULL;
	pthread_mutex_unlock(&r->w.lock);
	port_relay_unref(r);
	return NULL;
}

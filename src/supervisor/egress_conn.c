/* One connection to the egress proxy, on a thread of its own: the request's head, the
 * decision, then bytes both ways until either side ends. See
 * include/supervisor/egress_proxy.h. */
#include "egress_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"

#define HEAD_MAX (16u << 10)
#define HEAD_TIMEOUT_MS 30000
#define IDLE_TIMEOUT_MS 300000
#define BUF_SIZE (64u << 10)

struct conn {
	struct egress_proxy *p;
	int cfd, sfd;                    /* the sandbox's side, the host's side */
	char *head;                      /* HEAD_MAX + 1 */
	size_t head_len, head_end;       /* bytes read; where the head ends (after its blank line) */
	char method[16];
	char authority[HOSTNAME_MAX + 16];
	char host[HOSTNAME_MAX + 4];
	unsigned port;
	const char *path;                /* in head: the request's path, for a forwarded request */
	size_t path_len;
	uint64_t t0, up, down;           /* bytes to the host, from it */
	char address[64];
	char end[200];                   /* how the relay ended */
};

/* Until the head's blank line: 0, or -1 (closed, too long, too slow, stopping). */
static int read_head(struct conn *c)
{
	uint64_t deadline = clock_mono_ns() + HEAD_TIMEOUT_MS * 1000000ull;
	for (;;) {
		char *end = c->head_len ? memmem(c->head, c->head_len, "\r\n\r\n", 4) : NULL;
		if (end != NULL) {
			c->head_end = (size_t)(end - c->head) + 4;
			return 0;
		}
		if (c->head_len == HEAD_MAX) {
			egress_reply_status(c->cfd, 431, "Request Header Fields Too Large",
					    "agentd: the request's head is larger than the egress proxy takes (16 KiB)");
			return -1;
		}
		uint64_t now = clock_mono_ns();
		struct pollfd w[2] = { { c->cfd, POLLIN, 0 }, { c->p->stop_fd, POLLIN, 0 } };
		if (now >= deadline || poll(w, 2, (int)((deadline - now) / 1000000u) + 1) <= 0 || w[1].revents)
			return -1;
		ssize_t n = recv(c->cfd, c->head + c->head_len, HEAD_MAX - c->head_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n > 0)
			c->head_len += (size_t)n;
	}
}

/* "host:port" or "[v6]:port" (port optional when def is not 0) into c->host, c->port. */
static int split_authority(struct conn *c, const char *a, size_t len, unsigned def)
{
	const char *colon = NULL;
	if (len == 0 || len >= sizeof(c->authority) || memchr(a, '@', len) != NULL)
		return -1;
	memcpy(c->authority, a, len);
	c->authority[len] = '\0';
	if (a[0] == '[') {
		const char *close = memchr(a, ']', len);
		if (close == NULL)
			return -1;
		colon = close + 1 < a + len && close[1] == ':' ? close + 1 : NULL;
		if (colon == NULL && close + 1 != a + len)
			return -1;
	} else {
		colon = memchr(a, ':', len);
	}
	size_t hlen = colon ? (size_t)(colon - a) : len;
	if (hlen == 0 || hlen >= sizeof(c->host))
		return -1;
	memcpy(c->host, a, hlen);
	c->host[hlen] = '\0';
	c->port = def;
	if (colon != NULL) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || end != a + len || port < 1 || port > 65535)
			return -1;
		c->port = (unsigned)port;
	}
	return c->port ? 0 : -1;
}

/* The request line: CONNECT host:port, or METHOD http://authority/path; anything else
 * is answered here. */
static int parse_request(struct conn *c)
{
	const char *line = c->head, *eol = memmem(c->head, c->head_end, "\r\n", 2);
	const char *sp1 = memchr(line, ' ', (size_t)(eol - line));
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (sp2 == NULL || (size_t)(sp1 - line) >= sizeof(c->method) || eol - sp2 - 1 != 8 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		egress_reply_status(c->cfd, 400, "Bad Request", "agentd: not an HTTP/1 request");
		return -1;
	}
	memcpy(c->method, line, (size_t)(sp1 - line));
	c->method[sp1 - line] = '\0';
	const char *target = sp1 + 1;
	size_t tlen = (size_t)(sp2 - target);
	if (strcmp(c->method, "CONNECT") == 0) {
		if (split_authority(c, target, tlen, 0) < 0) {
			egress_reply_status(c->cfd, 400, "Bad Request", "agentd: CONNECT takes HOST:PORT");
			return -1;
		}
		return 0;
	}
	if (tlen < 7 || strncasecmp(target, "http://", 7) != 0) {
		egress_reply_status(c->cfd, 400, "Bad Request", tlen >= 8 && strncasecmp(target, "https://", 8) == 0
				    ? "agentd: https goes through CONNECT (HTTPS_PROXY), not as a forwarded request"
				    : "agentd: this is the sandbox's egress proxy: it takes CONNECT HOST:PORT or a "
				      "request for an absolute http:// URL");
		return -1;
	}
	const char *a = target + 7, *slash = a;
	while (slash < sp2 && *slash != '/' && *slash != '?')
		slash++;
	if (split_authority(c, a, (size_t)(slash - a), 80) < 0) {
		egress_reply_status(c->cfd, 400, "Bad Request", "agentd: the URL has no valid host");
		return -1;
	}
	c->path = slash < sp2 ? slash : "/";
	c->path_len = slash < sp2 ? (size_t)(sp2 - slash) : 1;
	return 0;
}

static bool hop_header(const char *line, size_t len)
{
	static const char *const names[] = { "host:", "connection:", "proxy-connection:", "proxy-authorization:",
					     "keep-alive:", "upgrade:" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (len >= strlen(names[i]) && strncasecmp(line, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

/* The forwarded request's head: origin-form, the proxy's headers dropped, one request
 * per connection. Into out (HEAD_MAX + 512 bytes); its length. */
static size_t forward_head(const struct conn *c, char *out, size_t size)
{
	const char *eol = memmem(c->head, c->head_end, "\r\n", 2);
	size_t n = (size_t)snprintf(out, size, "%s %.*s %.8s\r\nHost: %s\r\n", c->method, (int)c->path_len, c->path,
				    eol - 8, c->authority);
	for (const char *l = eol + 2; l < c->head + c->head_end - 2;) {
		const char *e = memmem(l, (size_t)(c->head + c->head_end - l), "\r\n", 2);
		size_t len = (size_t)(e - l);
		if (!hop_header(l, len) && n + len + 2 < size) {
			memcpy(out + n, l, len + 2);
			n += len + 2;
		}
		l = e + 2;
	}
	n += (size_t)snprintf(out + n, size - n, "Connection: close\r\n\r\n");
	return n < size ? n : size - 1;
}

/* Bytes one way: a buffer and whether its source has ended. */
struct way {
	char *buf;
	size_t len, off;
	bool eof, shut;
};

static bool over_budget(struct conn *c, size_t n)
{
	uint64_t total = atomic_fetch_add(&c->p->turn_bytes, n) + n;
	return total > c->p->lim.max_bytes_per_turn;
}

/* From fd into w; false when the relay should end (c->end says why). */
static bool fill(struct conn *c, int fd, struct way *w, uint64_t *count)
{
	ssize_t n = recv(fd, w->buf, BUF_SIZE, MSG_DONTWAIT);
	if (n > 0) {
		w->len = (size_t)n;
		w->off = 0;
		*count += (uint64_t)n;
		if (over_budget(c, (size_t)n)) {
			snprintf(c->end, sizeof(c->end), "the session's network budget for this turn "
				 "(network.max_bytes_per_turn) is spent");
			return false;
		}
	} else if (n == 0) {
		w->eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		snprintf(c->end, sizeof(c->end), "%s", strerror(errno));
		return false;
	}
	return true;
}

static bool drain(struct conn *c, int fd, struct way *w)
{
	ssize_t n = send(fd, w->buf + w->off, w->len - w->off, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		snprintf(c->end, sizeof(c->end), "%s", strerror(errno));
		return false;
	}
	if (n > 0 && (w->off += (size_t)n) == w->len)
		w->len = w->off = 0;
	return true;
}

/* Both ways until both have ended, an error, the idle limit, the budget or the stop. */
static void relay(struct conn *c, struct way *up, struct way *down)
{
	uint64_t idle_since = clock_mono_ns();
	for (;;) {
		for (int i = 0; i < 2; i++) {     /* an ended source, all passed on: half-close */
			struct way *w = i ? down : up;
			if (w->eof && w->len == 0 && !w->shut) {
				shutdown(i ? c->cfd : c->sfd, SHUT_WR);
				w->shut = true;
			}
		}
		if (up->shut && down->shut) {
			snprintf(c->end, sizeof(c->end), "closed");
			return;
		}
		struct pollfd w[3] = {
			{ c->cfd, (up->len == 0 && !up->eof ? POLLIN : 0) | (down->len ? POLLOUT : 0), 0 },
			{ c->sfd, (down->len == 0 && !down->eof ? POLLIN : 0) | (up->len ? POLLOUT : 0), 0 },
			{ c->p->stop_fd, POLLIN, 0 },
		};
		int n = poll(w, 3, 1000);
		if (n < 0 && errno != EINTR)
			return (void)snprintf(c->end, sizeof(c->end), "poll: %s", strerror(errno));
		if (w[2].revents)
			return (void)snprintf(c->end, sizeof(c->end), "the session ended");
		if (n <= 0) {
			if (clock_mono_ns() - idle_since > IDLE_TIMEOUT_MS * 1000000ull)
				return (void)snprintf(c->end, sizeof(c->end), "idle for %u s", IDLE_TIMEOUT_MS / 1000);
			continue;
		}
		idle_since = clock_mono_ns();
		if (((w[0].revents & POLLOUT) && !drain(c, c->cfd, down)) ||
		    ((w[1].revents & POLLOUT) && !drain(c, c->sfd, up)) ||
		    ((w[0].revents & (POLLIN | POLLHUP | POLLERR)) && up->len == 0 && !up->eof && !fill(c, c->cfd, up, &c->up)) ||
		    ((w[1].revents & (POLLIN | POLLHUP | POLLERR)) && down->len == 0 && !down->eof &&
		     !fill(c, c->sfd, down, &c->down)))
			return;
	}
}

static cJSON *event(const struct conn *c, const char *decision, const char *reason)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "decision", decision);
	cJSON_AddStringToObject(ev, "method", c->method);
	cJSON_AddStringToObject(ev, "host", c->host);
	cJSON_AddNumberToObject(ev, "port", c->port);
	if (c->address[0])
		cJSON_AddStringToObject(ev, "address", c->address);
	if (reason != NULL)
		cJSON_AddStringToObject(ev, "reason", reason);
	return ev;
}

/* Decide, connect, relay. */
static void serve(struct conn *c)
{
	struct egress_target t;
	struct sockaddr_storage used;
	struct ad_err why;
	char body[AD_ERR_MSG_MAX + 16];
	if (read_head(c) < 0 || parse_request(c) < 0)
		return;
	if (atomic_load(&c->p->turn_bytes) >= c->p->lim.max_bytes_per_turn)
		ad_err_set(&why, 0, "the session's network budget for this turn (network.max_bytes_per_turn) is spent");
	else if (egress_check(c->p->rules, c->host, (uint16_t)c->port, &t, &why) == 0)
		why.msg[0] = '\0';
	if (why.msg[0]) {
		snprintf(body, sizeof(body), "agentd: %s", why.msg);
		egress_reply_status(c->cfd, 403, "Forbidden", body);
		egress_note(c->p, event(c, "refused", why.msg));
		return;
	}
	if ((c->sfd = egress_connect(c->p->rules, &t, c->p->stop_fd, &used, &why)) < 0) {
		snprintf(body, sizeof(body), "agentd: %s", why.msg);
		egress_reply_status(c->cfd, 502, "Bad Gateway", body);
		egress_note(c->p, event(c, "failed", why.msg));
		return;
	}
	egress_addr_text(&used, c->address, sizeof(c->address));
	struct way up = { .buf = malloc(BUF_SIZE + HEAD_MAX + 512) }, down = { .buf = malloc(BUF_SIZE) };
	if (up.buf != NULL && down.buf != NULL) {
		if (strcmp(c->method, "CONNECT") == 0) {
			static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
			memcpy(down.buf, ok, sizeof(ok) - 1);
			down.len = sizeof(ok) - 1;
		} else {
			up.len = forward_head(c, up.buf, HEAD_MAX + 512);
		}
		/* what came after the head (a body's start, a tunnel's first bytes) */
		memcpy(up.buf + up.len, c->head + c->head_end, c->head_len - c->head_end);
		up.len += c->head_len - c->head_end;
		c->up = up.len;
		relay(c, &up, &down);
	} else {
		snprintf(c->end, sizeof(c->end), "out of memory");
	}
	free(up.buf);
	free(down.buf);
	cJSON *ev = event(c, "allowed", strcmp(c->end, "closed") == 0 ? NULL : c->end);
	cJSON_AddNumberToObject(ev, "bytes_out", (double)c->up);
	cJSON_AddNumberToObject(ev, "bytes_in", (double)c->down);
	cJSON_AddNumberToObject(ev, "duration_ms", (double)((clock_mono_ns() - c->t0) / 1000000u));
	egress_note(c->p, ev);
}

void *egress_conn_main(void *arg)
{
	struct egress_conn_start *start = arg;
	struct conn c = { .p = start->proxy, .cfd = start->fd, .sfd = -1, .t0 = clock_mono_ns() };
	free(start);
	if ((c.head = malloc(HEAD_MAX + 1)) != NULL)
		serve(&c);
	free(c.head);
	close(c.cfd);
	if (c.sfd >= 0)
		close(c.sfd);
	struct egress_proxy *p = c.p;
	pthread_mutex_lock(&p->lock);
	p->live--;
	pthread_cond_signal(&p->gone);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

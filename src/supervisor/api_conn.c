/* One connection to the sandbox's Messages API, on a thread of its own: requests one
 * after another (keep-alive), each read whole, checked against the relay's rules, then
 * forwarded (api_forward.c). See include/supervisor/api_server.h. */
#include "api_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#define HEAD_MAX (64u << 10)
#define HEADERS_MAX 64
/* A request's head and body must come within this; a kept-alive connection may wait
 * this long for its next request. */
#define REQUEST_MS 60000
#define IDLE_MS 300000
/* How long, and how much, a closing connection's input is read and dropped. */
#define LINGER_MS 500
#define LINGER_MAX (1u << 20)

struct conn {
	struct api_server *a;
	int fd;
	char *buf;                   /* HEAD_MAX: the head, then the start of the body */
	size_t len;                  /* bytes in buf */
	size_t head_end;
	char *body;
	size_t body_len;
	size_t held;                 /* of the server's bodies (api_server.bodies) */
	char *pass[HEADERS_MAX];     /* into buf: the header lines passed on */
	unsigned npass;
	bool close;
	long long content_length;
};

bool api_write(const struct api_server *a, int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		struct pollfd p[2] = { { fd, POLLOUT, 0 }, { a->stop_fd, POLLIN, 0 } };
		if (poll(p, 2, API_STALL_MS) <= 0 || p[1].revents || (p[0].revents & (POLLERR | POLLHUP)))
			return false;
	}
	return true;
}

bool api_reply_error(const struct api_server *a, int fd, int status, const char *type, const char *message,
		     const char *extra)
{
	_cleanup_cjson_ cJSON *j = json_error(type, message);
	cJSON_AddStringToObject(j, "type", "error");
	_cleanup_free_ char *body = json_print(j);
	char head[512];
	if (body == NULL)
		return false;
	static const struct {
		int status;
		const char *reason;
	} reasons[] = { { 400, "Bad Request" }, { 404, "Not Found" }, { 411, "Length Required" },
			{ 413, "Content Too Large" }, { 429, "Too Many Requests" },
			{ 431, "Request Header Fields Too Large" }, { 503, "Service Unavailable" } };
	const char *reason = "Bad Gateway";
	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++)
		if (reasons[i].status == status)
			reason = reasons[i].reason;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", status,
			 reason, strlen(body), extra);
	return n > 0 && (size_t)n < sizeof(head) && api_write(a, fd, head, (size_t)n) &&
	       api_write(a, fd, body, strlen(body));
}

/* More bytes into buf (at most room), waiting until deadline: 1, 0 at EOF, -1. */
static int fill(struct conn *c, char *at, size_t room, uint64_t deadline)
{
	for (;;) {
		ssize_t n = recv(c->fd, at, room, MSG_DONTWAIT);
		if (n >= 0)
			return n > 0 ? (c->len += (size_t)n, 1) : 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		uint64_t now = clock_mono_ms();
		struct pollfd p[2] = { { c->fd, POLLIN, 0 }, { c->a->stop_fd, POLLIN, 0 } };
		if (now >= deadline || poll(p, 2, (int)(deadline - now)) <= 0 || p[1].revents)
			return -1;
	}
}

/* One header line (NUL-terminated, in buf): what it says of the body and the
 * connection, and whether it goes on to the API. */
static int header(struct conn *c, char *line)
{
	char *colon = strchr(line, ':');
	if (colon == NULL || colon == line)
		return -1;
	size_t nlen = (size_t)(colon - line);
	const char *v = colon + 1 + strspn(colon + 1, " \t");
	if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || end == v || *end != '\0' || n < 0 || (c->content_length >= 0 && n != c->content_length))
			return -1;
		c->content_length = n;
	} else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
		return -2;
	} else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
		c->close = strcasecmp(v, "close") == 0;
	} else if ((nlen > 10 && strncasecmp(line, "anthropic-", 10) == 0) ||
		   (nlen == 12 && strncasecmp(line, "content-type", 12) == 0) ||
		   (nlen == 6 && strncasecmp(line, "accept", 6) == 0) ||
		   (nlen == 10 && strncasecmp(line, "user-agent", 10) == 0)) {
		if (c->npass == HEADERS_MAX)
			return -1;
		c->pass[c->npass++] = line;
	}
	return 0;
}

/* The head: request line and headers, split in place. 0, or an HTTP status to answer
 * (with why), or -1 when the connection just ends. */
static int read_head(struct conn *c, char **target, const char **why)
{
	uint64_t deadline = clock_mono_ms() + (c->len ? REQUEST_MS : IDLE_MS);
	char *end;
	while ((end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL) == NULL) {
		if (c->len == HEAD_MAX)
			return *why = "the request's head is larger than 64 KiB", 431;
		if (fill(c, c->buf + c->len, HEAD_MAX - c->len, deadline) <= 0)
			return -1;
		deadline = clock_mono_ms() + REQUEST_MS;
	}
	c->head_end = (size_t)(end - c->buf) + 4;
	end[2] = '\0';
	c->npass = 0;
	c->close = false;
	c->content_length = -1;
	char *save, *line = strtok_r(c->buf, "\r\n", &save);
	char *sp1 = line ? strchr(line, ' ') : NULL, *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp2 == NULL || (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0))
		return *why = "not an HTTP/1.1 request", 400;
	c->close = strcmp(sp2 + 1, "HTTP/1.0") == 0;
	*sp1 = *sp2 = '\0';
	if (strcmp(line, "POST") != 0)
		return *why = "agentd serves POST /v1/messages and POST /v1/messages/count_tokens here", 404;
	*target = sp1 + 1;
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		int rc = header(c, line);
		if (rc == -2)
			return *why = "send the body with Content-Length, not Transfer-Encoding", 411;
		if (rc < 0)
			return *why = "a header is malformed, repeated with another value, or one too many", 400;
	}
	if (c->content_length < 0)
		return *why = "the request has no Content-Length", 411;
	if (c->content_length > API_BODY_MAX)
		return *why = "the request is larger than 32 MiB", 413;
	return 0;
}

/* Hold n bytes of body (n 0: let go of what is held): false when the sandbox's
 * requests already hold too much. */
static bool hold(struct conn *c, size_t n)
{
	struct api_server *a = c->a;
	pthread_mutex_lock(&a->lock);
	a->bodies -= c->held;
	bool room = a->bodies + n <= API_BODIES_MAX;
	c->held = room ? n : 0;
	a->bodies += c->held;
	pthread_mutex_unlock(&a->lock);
	return room;
}

static int read_body(struct conn *c)
{
	size_t want = (size_t)c->content_length, have = c->len - c->head_end;
	free(c->body);
	c->body = NULL;
	if (!hold(c, want)) {
		api_reply_error(c->a, c->fd, 429, "rate_limit_error", "agentd: the sandbox's requests in flight "
				"hold 64 MiB of bodies already; send this one when one has ended", "Connection: close\r\n");
		return -1;
	}
	if ((c->body = malloc(want + 1)) == NULL)
		return -1;
	size_t first = have < want ? have : want;
	memcpy(c->body, c->buf + c->head_end, first);
	uint64_t deadline = clock_mono_ms() + REQUEST_MS;
	size_t got = first;
	while (got < want) {
		size_t before = c->len;
		if (fill(c, c->body + got, want - got, deadline) <= 0)
			return -1;
		got += c->len - before;
	}
	c->body[want] = '\0';
	c->body_len = want;
	/* what came after the body is the next request's */
	size_t rest = have > want ? have - want : 0;
	memmove(c->buf, c->buf + c->head_end + want, rest);
	c->len = rest;
	return 0;
}

/* The model the request asks for, checked and mapped in *body (printed again when it
 * changed); 0, or 400 with why. */
static int check_model(struct conn *c, char *model, size_t size, char *why, size_t wsize, char **printed)
{
	const struct config *cfg = c->a->relay->cfg;
	_cleanup_cjson_ cJSON *j = cJSON_ParseWithLength(c->body, c->body_len);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
	if (!cJSON_IsObject(j))
		return snprintf(why, wsize, "agentd: the body must be a JSON object"), 400;
	if (!cJSON_IsString(m))
		return 0;                  /* the API says what is missing */
	snprintf(model, size, "%s", m->valuestring);
	const char *to = config_model_for(cfg, m->valuestring);
	if (to == NULL)
		return snprintf(why, wsize, "agentd: model \"%.128s\" is not allowed in this sandbox; allowed: %s and "
				"anthropic.models (runtime.model_map may map others)", m->valuestring,
				cfg->anthropic.model), 400;
	if (strcmp(to, m->valuestring) != 0) {
		cJSON_ReplaceItemInObjectCaseSensitive(j, "model", cJSON_CreateString(to));
		snprintf(model, size, "%s", to);
		if ((*printed = json_print(j)) == NULL)
			return snprintf(why, wsize, "agentd: out of memory"), 400;
	}
	return 0;
}

static void note(struct conn *c, const char *path, const char *model, const struct api_outcome *o, uint64_t t0)
{
	cJSON *n = cJSON_CreateObject();
	cJSON_AddStringToObject(n, "path", path);
	cJSON_AddStringToObject(n, "model", model);
	cJSON_AddNumberToObject(n, "status", (double)o->status);
	cJSON_AddNumberToObject(n, "duration_ms", (double)clock_ms_since(t0));
	if (o->first_byte_ns != 0)
		cJSON_AddNumberToObject(n, "first_byte_ms", (double)o->first_byte_ns / 1e6);
	if (o->outcome != NULL)
		cJSON_AddStringToObject(n, "outcome", o->outcome);
	cJSON_AddItemToObject(n, "usage", usage_json(&o->usage));
	if (o->error[0])
		cJSON_AddStringToObject(n, "error", o->error);
	log_info("sandbox API: POST %s (%s): %ld%s%s", path, model[0] ? model : "-",
		 o->status, o->error[0] ? ": " : "", o->error);
	api_note(c->a, n);
}

/* One request: 0 to go on with the next, -1 to end the connection. */
static int serve_one(struct conn *c)
{
	char *target = NULL, why[400] = "", model[160] = "";
	const char *head_why = NULL;
	int rc = read_head(c, &target, &head_why);
	if (rc != 0) {
		if (rc > 0)
			api_reply_error(c->a, c->fd, rc, rc == 404 ? "not_found_error" : "invalid_request_error", head_why,
					"Connection: close\r\n");
		return -1;
	}
	if (read_body(c) < 0)
		return -1;
	size_t plen = strcspn(target, "?");
	bool messages = plen == 12 && strncmp(target, "/v1/messages", 12) == 0;
	bool count = plen == 25 && strncmp(target, "/v1/messages/count_tokens", 25) == 0;
	if (!messages && !count) {
		snprintf(why, sizeof(why), "agentd: %.*s is not served here; POST /v1/messages and "
			 "/v1/messages/count_tokens are", (int)(plen < 200 ? plen : 200), target);
		return api_reply_error(c->a, c->fd, 404, "not_found_error", why, "") && !c->close ? 0 : -1;
	}
	uint64_t t0 = clock_mono_ns();
	_cleanup_free_ char *printed = NULL;
	struct api_outcome o = { 0 };
	struct ad_err budget;
	rc = check_model(c, model, sizeof(model), why, sizeof(why), &printed);
	if (rc == 0 && messages && relay_admit(c->a->relay, &budget) < 0) {
		snprintf(why, sizeof(why), "agentd: %s", budget.msg);
		rc = 429;
	}
	if (rc != 0) {
		o.status = rc;
		o.outcome = rc == 429 ? "budget_exceeded" : "refused";
		snprintf(o.error, sizeof(o.error), "%s", why);
		o.client_gone = !api_reply_error(c->a, c->fd, rc, rc == 429 ? "rate_limit_error" : "invalid_request_error",
						 why, rc == 429 ? "x-should-retry: false\r\n" : "");
	} else {
		struct api_request rq = { .target = target, .headers = c->pass, .nheaders = c->npass,
					  .body = printed ? printed : c->body,
					  .body_len = printed ? strlen(printed) : c->body_len, .close = c->close };
		api_forward(c->a, c->fd, &rq, &o);
		if (messages)
			relay_spent(c->a->relay, &o.usage);
	}
	target[plen] = '\0';
	note(c, target, model, &o, t0);
	api_forward_end(c->a, c->fd, &o);
	free(c->body);
	c->body = NULL;
	hold(c, 0);
	return o.client_gone || c->close ? -1 : 0;
}

/* A client may still be sending when its connection ends (a refused request's body):
 * what it sent is read and dropped for a moment, so that the close does not reset the
 * connection under the answer it has not read yet. */
static void linger_close(int fd)
{
	char sink[16 << 10];
	size_t dropped = 0;
	shutdown(fd, SHUT_WR);
	struct pollfd p = { fd, POLLIN, 0 };
	uint64_t until = clock_mono_ms() + LINGER_MS, now;
	while (dropped < LINGER_MAX && (now = clock_mono_ms()) < until && poll(&p, 1, (int)(until - now)) > 0) {
		ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
			break;
		dropped += n > 0 ? (size_t)n : 0;
	}
	close(fd);
}

void *api_conn_main(void *arg)
{
	struct api_conn_start *start = arg;
	struct conn c = { .a = start->server, .fd = start->fd };
	free(start);
	if ((c.buf = malloc(HEAD_MAX)) != NULL)
		while (serve_one(&c) == 0)
			;
	free(c.buf);
	free(c.body);
	hold(&c, 0);
	linger_close(c.fd);
	struct api_server *a = c.a;
	pthread_mutex_lock(&a->lock);
	a->live--;
	pthread_cond_broadcast(&a->gone);
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

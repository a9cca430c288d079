/* One request of the sandbox's Messages API on its way to the API and back: the key
 * added, the answer streamed to the client as it comes (chunked), its usage read on the
 * way. See include/supervisor/api_server.h. */
#include "api_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "claude/retry.h"
#include "claude/sse.h"
#include "core/clock.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "supervisor/curl_loader.h"

#define CONNECT_TIMEOUT_S 10
#define RESP_HEADERS_MAX 8192
#define SSE_EVENT_MAX (16u << 20)
#define JSON_MAX (16u << 20)

struct fwd {
	struct api_server *a;
	int fd;
	const struct api_request *rq;
	CURL *curl;
	long status;
	bool head_sent, client_gone;
	char headers[RESP_HEADERS_MAX];  /* the API's header lines passed back */
	size_t headers_len;
	bool sse, message;               /* an event stream; a /v1/messages answer */
	struct sse_parser *parser;
	struct usage usage;
	char *json;                      /* a JSON answer so far, for its usage */
	size_t json_len;
	bool json_over;
	uint64_t t0, first_byte_ns;
};

static bool passed_back(const char *line, size_t n)
{
	static const char *const names[] = { "content-type:", "request-id:", "retry-after:", "retry-after-ms:",
					     "x-should-retry:", "anthropic-" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n > strlen(names[i]) && strncasecmp(line, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct fwd *f = ud;
	size_t len = size * n;
	if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {      /* a new answer (after a 100, say) */
		f->headers_len = 0;
		f->sse = false;
		return len;
	}
	if (len >= 13 && strncasecmp(buf, "content-type:", 13) == 0)
		f->sse = strncasecmp(buf + 13 + strspn(buf + 13, " \t"), "text/event-stream", 17) == 0;
	size_t line = len;
	while (line > 0 && (buf[line - 1] == '\r' || buf[line - 1] == '\n'))
		line--;
	if (passed_back(buf, line) && memchr(buf, '\0', line) == NULL &&
	    f->headers_len + line + 2 < sizeof(f->headers)) {
		memcpy(f->headers + f->headers_len, buf, line);
		memcpy(f->headers + f->headers_len + line, "\r\n", 2);
		f->headers_len += line + 2;
	}
	return len;
}

static const char *reason(long status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 529: return "Overloaded";
	default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

static bool send_head(struct fwd *f)
{
	char head[RESP_HEADERS_MAX + 256];
	curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &f->status);
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %ld %s\r\n%.*sTransfer-Encoding: chunked\r\n%s\r\n", f->status,
			 reason(f->status), (int)f->headers_len, f->headers, f->rq->close ? "Connection: close\r\n" : "");
	f->head_sent = true;
	f->first_byte_ns = clock_mono_ns() - f->t0;
	if (n < 0 || (size_t)n >= sizeof(head) || !api_write(f->a, f->fd, head, (size_t)n))
		f->client_gone = true;
	return !f->client_gone;
}

static int on_event(void *ud, const char *event, const char *data, size_t len, struct ad_err *err)
{
	relay_usage_event(ud, event, data, len);
	return 0;
}

/* What the answer counts: an event stream's message_start and message_delta, or a
 * whole message's usage (capped: a larger answer is passed on uncounted, and said). */
static void count(struct fwd *f, const char *buf, size_t len)
{
	struct ad_err err;
	if (f->sse) {
		if (f->parser == NULL)
			f->parser = sse_parser_new(SSE_EVENT_MAX);
		if (f->parser != NULL && sse_parser_feed(f->parser, buf, len, on_event, &f->usage, &err) < 0) {
			sse_parser_free(f->parser);
			f->parser = NULL;
		}
		return;
	}
	if (f->json_over || f->status / 100 != 2)
		return;
	char *more = f->json_len + len <= JSON_MAX ? realloc(f->json, f->json_len + len + 1) : NULL;
	if (more == NULL) {
		f->json_over = true;
		return;
	}
	f->json = more;
	memcpy(f->json + f->json_len, buf, len);
	f->json_len += len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	struct fwd *f = ud;
	size_t len = size * n;
	char chunk[32];
	if (!f->head_sent && !send_head(f))
		return 0;
	if (len == 0)
		return 0;
	int k = snprintf(chunk, sizeof(chunk), "%zx\r\n", len);
	if (!api_write(f->a, f->fd, chunk, (size_t)k) || !api_write(f->a, f->fd, buf, len) ||
	    !api_write(f->a, f->fd, "\r\n", 2)) {
		f->client_gone = true;
		return 0;                    /* ends the transfer: nobody reads it */
	}
	if (f->message)
		count(f, buf, len);
	return len;
}

/* The server stops, or the client hung up while the API thinks: the call is abandoned. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct fwd *f = ud;
	char b;
	struct pollfd p = { f->a->stop_fd, POLLIN, 0 };
	if (poll(&p, 1, 0) > 0)
		return 1;
	if (recv(f->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
		f->client_gone = true;
		return 1;
	}
	return 0;
}

static struct curl_slist *request_headers(const struct api_request *rq, const char *key)
{
	struct curl_slist *h = curl_slist_append(NULL, key), *more;
	bool version = false;
	for (unsigned i = 0; h != NULL && i < rq->nheaders; i++) {
		version |= strncasecmp(rq->headers[i], "anthropic-version:", 18) == 0;
		if ((more = curl_slist_append(h, rq->headers[i])) == NULL)
			break;
		h = more;
	}
	if (h != NULL && !version && (more = curl_slist_append(h, "anthropic-version: 2023-06-01")) != NULL)
		h = more;
	if (h != NULL && (more = curl_slist_append(h, "Expect:")) != NULL)   /* no 100-continue */
		h = more;
	return h;
}

static void finish(struct fwd *f, CURLcode rc, struct api_outcome *out)
{
	if (f->client_gone) {
		snprintf(out->error, sizeof(out->error), "the client went away during the call");
	} else if (f->head_sent || rc == CURLE_OK) {
		if (!f->head_sent && !send_head(f))
			f->client_gone = true;
		else if (rc != CURLE_OK)    /* cut short: the client sees a stream that ends early */
			snprintf(out->error, sizeof(out->error), "the API's answer ended early: %s", curl_easy_strerror(rc));
		out->open = !f->client_gone;
		if (rc != CURLE_OK)
			f->client_gone = true;  /* the chunked body ends cleanly, the answer did not */
	} else {
		char why[300];
		snprintf(why, sizeof(why), "agentd could not reach the Anthropic API: %s", curl_easy_strerror(rc));
		snprintf(out->error, sizeof(out->error), "%s", why);
		f->status = 502;
		f->client_gone = !api_reply_error(f->a, f->fd, 502, "api_error", why, "");
	}
	if (f->json != NULL && !f->json_over) {
		_cleanup_cjson_ cJSON *j = cJSON_ParseWithLength(f->json, f->json_len);
		usage_read_json(&f->usage, cJSON_GetObjectItemCaseSensitive(j, "usage"));
	}
	if (f->status / 100 != 2 && !out->error[0])
		snprintf(out->error, sizeof(out->error), "the API answered %ld", f->status);
	out->status = f->status;
	out->outcome = claude_outcome(f->status);
	out->first_byte_ns = f->first_byte_ns;
	out->usage = f->usage;
	out->client_gone = f->client_gone;
}

void api_forward_end(struct api_server *a, int fd, struct api_outcome *out)
{
	if (out->open && !api_write(a, fd, "0\r\n\r\n", 5))
		out->client_gone = true;
	out->open = false;
}

void api_forward(struct api_server *a, int fd, const struct api_request *rq, struct api_outcome *out)
{
	const struct config *cfg = a->relay->cfg;
	struct ad_err err;
	memset(out, 0, sizeof(*out));
	if (curl_load(&err) < 0) {
		out->status = 502;
		snprintf(out->error, sizeof(out->error), "%s", err.msg);
		out->client_gone = !api_reply_error(a, fd, 502, "api_error", err.msg, "");
		return;
	}
	_cleanup_free_ char *url = NULL, *key = NULL;
	size_t blen = strlen(cfg->anthropic.base_url);
	while (blen > 0 && cfg->anthropic.base_url[blen - 1] == '/')
		blen--;
	struct fwd *f = calloc(1, sizeof(*f));
	char api_key[CONFIG_API_KEY_MAX + 1];
	relay_key(a->relay, api_key);      /* the call keeps it, whatever a reload does meanwhile */
	int kn = asprintf(&key, "x-api-key: %s", api_key);
	explicit_bzero(api_key, sizeof(api_key));
	if (kn < 0)
		key = NULL;
	if (f == NULL || asprintf(&url, "%.*s%s", (int)blen, cfg->anthropic.base_url, rq->target) < 0 || kn < 0) {
		if (key != NULL)
			explicit_bzero(key, strlen(key));
		free(f);
		out->status = 502;
		snprintf(out->error, sizeof(out->error), "out of memory");
		out->client_gone = true;
		return;
	}
	*f = (struct fwd){ .a = a, .fd = fd, .rq = rq, .curl = curl_easy_init(), .t0 = clock_mono_ns() };
	f->message = strncmp(rq->target, "/v1/messages/", 13) != 0;
	struct curl_slist *h = request_headers(rq, key);
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	if (f->curl != NULL && h != NULL) {
		CURL *c = f->curl;
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->anthropic.timeout_s);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
		rc = curl_easy_perform(c);
	}
	finish(f, rc, out);
	curl_slist_free_all(h);
	explicit_bzero(key, strlen(key));
	if (f->curl != NULL)
		curl_easy_cleanup(f->curl);
	sse_parser_free(f->parser);
	free(f->json);
	free(f);
}

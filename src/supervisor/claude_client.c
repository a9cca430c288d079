/* The Messages API client: see include/supervisor/claude_client.h. */
#include "supervisor/claude_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "supervisor/curl_loader.h"
#include "claude/retry.h"
#include "warm.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#define CONNECT_TIMEOUT_S 5
#define MAX_EVENT_BYTES (4u << 20)
#define ERROR_BODY_MAX (64u << 10)

/* What one attempt saw. */
struct attempt {
	struct sse_parser *sse;
	sse_event_fn fn;
	void *ctx;
	CURL *curl;
	long status;
	bool streaming;              /* 2xx with an event stream */
	unsigned events;             /* passed on */
	bool stopped;                /* message_stop came */
	bool failed;                 /* the stream or its consumer failed: do not retry */
	bool aborted;                /* abort_fd fired */
	const struct claude_client *client;
	struct ad_err err;
	char error_type[64];
	char body[ERROR_BODY_MAX + 1];
	size_t body_len;
	char request_id[128], retry_after[64], retry_after_ms[64], should_retry[16], content_type[64];
	struct claude_call *call;    /* the call's timing */
	uint64_t call_t0;
};

static void header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	const char *v = line + n + 1;
	size_t vlen = len - n - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	snprintf(out, size, "%.*s", (int)vlen, v);
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct attempt *a = ud;
	size_t len = size * n;
	if (len > 5 && strncmp(buf, "HTTP/", 5) == 0)      /* a new response: 100, redirect, ... */
		a->request_id[0] = a->retry_after[0] = a->retry_after_ms[0] = a->should_retry[0] =
			a->content_type[0] = '\0';
	header_value(buf, len, "request-id", a->request_id, sizeof(a->request_id));
	header_value(buf, len, "retry-after", a->retry_after, sizeof(a->retry_after));
	header_value(buf, len, "retry-after-ms", a->retry_after_ms, sizeof(a->retry_after_ms));
	header_value(buf, len, "x-should-retry", a->should_retry, sizeof(a->should_retry));
	header_value(buf, len, "content-type", a->content_type, sizeof(a->content_type));
	return len;
}

/* Events pass through here: an error event ends the call with the API's reason. */
static int on_event(void *ud, const char *event, const char *data, size_t len, struct ad_err *err)
{
	struct attempt *a = ud;
	if (a->events++ == 0 && a->call->first_byte_ns == 0)
		a->call->first_byte_ns = clock_mono_ns() - a->call_t0;
	if (a->fn(a->ctx, event, data, len, err) < 0)
		return -1;
	if (strcmp(event, "message_stop") == 0)
		a->stopped = true;
	if (strcmp(event, "error") == 0) {
		cJSON *j = cJSON_ParseWithLength(data, len);
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
		snprintf(a->error_type, sizeof(a->error_type), "%s", cJSON_IsString(type) ? type->valuestring : "api_error");
		ad_err_set(err, 0, "%s", cJSON_IsString(msg) ? msg->valuestring : "error event in the stream");
		cJSON_Delete(j);
		return -1;
	}
	return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	struct attempt *a = ud;
	size_t len = size * n;
	if (a->status == 0) {
		curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->status);
		a->streaming = a->status / 100 == 2 && strncasecmp(a->content_type, "text/event-stream", 17) == 0;
	}
	if (a->streaming) {
		if (sse_parser_feed(a->sse, buf, len, on_event, a, &a->err) < 0) {
			a->failed = true;
			return 0;            /* ends the transfer */
		}
		return len;
	}
	size_t room = ERROR_BODY_MAX - a->body_len;
	memcpy(a->body + a->body_len, buf, len < room ? len : room);
	a->body_len += len < room ? len : room;
	return len;
}

/* The error object of a non-2xx answer: type and message, when there is one. */
static void read_error_body(struct attempt *a)
{
	a->body[a->body_len] = '\0';
	cJSON *j = cJSON_ParseWithLength(a->body, a->body_len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	if (cJSON_IsString(type))
		snprintf(a->error_type, sizeof(a->error_type), "%s", type->valuestring);
	ad_err_set(&a->err, 0, "%s", cJSON_IsString(msg) ? msg->valuestring : "no error message");
	cJSON_Delete(j);
}

/* Within timeout_ms: abort_fd readable or hung up, and abort_check (if any) agrees:
 * whoever asked for the call no longer wants it. */
static bool abort_wanted(const struct claude_client *c, int timeout_ms)
{
	struct pollfd p = { c->abort_fd, POLLIN, 0 };
	if (c->abort_fd < 0) {
		if (timeout_ms > 0)
			poll(NULL, 0, timeout_ms);
		return false;
	}
	uint64_t until = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		uint64_t now = clock_mono_ns();
		int n, left = now >= until ? 0 : (int)((until - now) / 1000000u);
		while ((n = poll(&p, 1, left)) < 0 && errno == EINTR)
			;
		if (n <= 0)
			return false;
		if (c->abort_check == NULL || c->abort_check(c->abort_ctx))
			return true;
		if (left == 0)
			return false;
	}
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct attempt *a = ud;
	if (a->client->tick != NULL)
		a->client->tick(a->client->abort_ctx);
	if (abort_wanted(a->client, 0)) {
		a->aborted = true;
		return 1;
	}
	return 0;
}

static CURLcode perform(struct claude_client *c, const char *body, struct attempt *a)
{
	char url[1024], key[600];
	size_t blen = strlen(c->base_url);
	snprintf(url, sizeof(url), "%.*s/v1/messages", (int)(blen && c->base_url[blen - 1] == '/' ? blen - 1 : blen),
		 c->base_url);
	snprintf(key, sizeof(key), "x-api-key: %s", c->api_key);
	struct curl_slist *h = NULL;
	const char *headers[] = { key, "anthropic-version: 2023-06-01", "content-type: application/json",
				  "accept: text/event-stream", "user-agent: agentd/" AGENTD_VERSION };
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		h = curl_slist_append(h, headers[i]);
	if (c->handle == NULL)
		c->handle = curl_easy_init();
	else
		curl_easy_reset(c->handle);   /* options go; the connection cache stays */
	CURL *curl = a->curl = c->handle;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	if (curl != NULL && h != NULL) {
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)c->timeout_s);
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
		if (c->abort_fd >= 0) {
			curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
			curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
			curl_easy_setopt(curl, CURLOPT_XFERINFODATA, a);
		}
		struct warm_use warm;
		warm_apply(c, curl, &warm);
		rc = curl_easy_perform(curl);
		warm_release(&warm);
		if (a->status == 0)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
	}
	curl_slist_free_all(h);
	/* the key was in these buffers: do not leave it on the stack */
	explicit_bzero(key, sizeof(key));
	return rc;
}

/* A sentence for the user about how the call ended. */
static void explain(const struct claude_client *c, const struct attempt *a, CURLcode rc, struct claude_call *call)
{
	const char *detail = a->err.msg[0] ? a->err.msg : "";
	unsigned n = call->attempts;
	const char *tries = n > 1 ? " attempts" : " attempt";
	char *m = call->message;
	size_t sz = sizeof(call->message);
	if (a->aborted)
		snprintf(m, sz, "the call was cancelled");
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(m, sz, "the Anthropic API did not answer within %u s (%u%s)", c->timeout_s, n, tries);
	else if (a->status == 0 && !a->failed)
		snprintf(m, sz, "cannot reach the Anthropic API at %s: %s (%u%s)", c->base_url,
			 curl_easy_strerror(rc), n, tries);
	else if (a->status == 401)
		snprintf(m, sz, "the Anthropic API key was rejected (401 %s): check ANTHROPIC_API_KEY", a->error_type);
	else if (a->status == 403)
		snprintf(m, sz, "the API key may not do this (403 %s): %s", a->error_type, detail);
	else if (a->status == 404)
		snprintf(m, sz, "the API answered 404 (%s): check the model name and ANTHROPIC_BASE_URL (%s)",
			 a->error_type, detail);
	else if (a->status == 413)
		snprintf(m, sz, "the request is too large for the API (413): %s", detail);
	else if (a->status == 429)
		snprintf(m, sz, "rate limited by the Anthropic API (429) after %u%s; try again later", n, tries);
	else if (a->status == 529 || strcmp(a->error_type, "overloaded_error") == 0)
		snprintf(m, sz, "the Anthropic API is overloaded (%s) after %u%s; try again later",
			 a->status == 529 ? "529" : "overloaded_error", n, tries);
	else if (a->status >= 500)
		snprintf(m, sz, "the Anthropic API failed (%ld %s) after %u%s: %s", a->status, a->error_type, n, tries, detail);
	else if (a->status / 100 != 2)
		snprintf(m, sz, "the API refused the request (%ld %s): %s", a->status, a->error_type, detail);
	else if (a->error_type[0])
		snprintf(m, sz, "the API reported %s during the answer: %s", a->error_type, detail);
	else if (a->failed)
		snprintf(m, sz, "the answer could not be used: %s", detail);
	else
		snprintf(m, sz, "the answer ended early (no message_stop; %s)", curl_easy_strerror(rc));
}

void claude_client_cleanup(struct claude_client *c)
{
	warm_close(c);
	if (c->handle != NULL)
		curl_easy_cleanup(c->handle);
	c->handle = NULL;
}

static int call_attempts(struct claude_client *c, const char *body, sse_event_fn fn, void *ctx,
			 struct claude_call *call, uint64_t t0)
{
	struct ad_err err;
	if (curl_load(&err) < 0) {
		snprintf(call->message, sizeof(call->message), "%s", err.msg);
		return -1;
	}
	static bool seeded;
	if (!seeded) {
		srand((unsigned)time(NULL) ^ (unsigned)getpid());   /* jitter, not secrets */
		seeded = true;
	}
	struct attempt *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(call->message, sizeof(call->message), "out of memory");
		return -1;
	}
	for (;;) {
		memset(a, 0, sizeof(*a));
		a->fn = fn;
		a->ctx = ctx;
		a->client = c;
		a->sse = sse_parser_new(MAX_EVENT_BYTES);
		a->call = call;
		a->call_t0 = t0;
		uint64_t at0 = clock_mono_ns();
		CURLcode rc = a->sse ? perform(c, body, a) : CURLE_OUT_OF_MEMORY;
		double took_ms = (double)(clock_mono_ns() - at0) / 1e6;
		call->attempts++;
		sse_parser_free(a->sse);
		if (a->status / 100 != 2 && a->status != 0)
			read_error_body(a);
		bool ok = rc == CURLE_OK && a->streaming && a->stopped && !a->failed;
		log_info("claude: POST /v1/messages: %ld %s in %.0f ms, request-id %s%s%s", a->status,
			 ok ? "ok" : rc != CURLE_OK && !a->failed ? curl_easy_strerror(rc) : a->error_type,
			 took_ms,
			 a->request_id[0] ? a->request_id : "-", a->err.msg[0] ? ": " : "", a->err.msg);
		call->status = a->aborted ? CLAUDE_ABORTED : a->status;
		snprintf(call->request_id, sizeof(call->request_id), "%s", a->request_id);
		snprintf(call->error_type, sizeof(call->error_type), "%s", a->error_type);
		if (ok)
			break;
		struct claude_attempt at = {
			.status = a->failed ? a->status : rc != CURLE_OK && a->events == 0 ? 0 : a->status,
			.should_retry = a->should_retry[0] ? a->should_retry : NULL,
			.retry_after_ms = a->retry_after_ms[0] ? a->retry_after_ms : NULL,
			.retry_after = a->retry_after[0] ? a->retry_after : NULL,
		};
		/* only what has not been passed on yet can be asked again */
		bool again = a->events == 0 && !a->failed && !a->aborted && call->attempts <= c->max_retries &&
			     (rc != CURLE_OK || a->status / 100 != 2 ? claude_should_retry(&at) : false);
		if (!again) {
			explain(c, a, rc, call);
			free(a);
			return -1;
		}
		call->retries[claude_retry_reason(at.status, rc == CURLE_OPERATION_TIMEDOUT)]++;
		long ms = claude_retry_delay_ms(&at, call->attempts, (double)rand() / ((double)RAND_MAX + 1), time(NULL));
		log_info("claude: retrying in %ld ms (retry %u of %u)", ms, call->attempts, c->max_retries);
		if (abort_wanted(c, (int)ms)) {
			snprintf(call->message, sizeof(call->message), "the call was cancelled");
			call->status = CLAUDE_ABORTED;
			free(a);
			return -1;
		}
	}
	free(a);
	return 0;
}

int claude_call(struct claude_client *c, const char *body, sse_event_fn fn, void *ctx,
		struct claude_call *call)
{
	memset(call, 0, sizeof(*call));
	uint64_t t0 = clock_mono_ns();
	int rc = call_attempts(c, body, fn, ctx, call, t0);
	call->total_ns = clock_mono_ns() - t0;
	return rc;
}

/* One HTTP exchange with a remote MCP server (libcurl): see mcp_remote_int.h. */
#include "mcp_remote_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "supervisor/curl_loader.h"

/* The value of header name in line (CRLF included), or NULL. */
static const char *header_of(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return NULL;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

static void keep_value(char *out, size_t size, const char *v, size_t vlen)
{
	snprintf(out, size, "%.*s", (int)(vlen < size ? vlen : size - 1), v);
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
	struct exchange *x = ud;
	size_t len = size * n, vlen;
	const char *v;
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0)   /* a new response (after a 100) */
		x->type[0] = x->session[0] = '\0';
	else if ((v = header_of(line, len, "content-type", &vlen)) != NULL)
		keep_value(x->type, sizeof(x->type), v, vlen);
	else if ((v = header_of(line, len, "mcp-session-id", &vlen)) != NULL)
		keep_value(x->session, sizeof(x->session), v, vlen);
	return len;
}

static int answer_request(void *ctx, const struct mcp_msg *request, struct ad_err *err);

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct exchange *x = ud;
	size_t len = size * n;
	if (x->body == NULL) {
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
		x->body = mcp_remote_body_new(x->r->client, x->want, x->type[0] ? x->type : NULL, answer_request, x);
		if (x->body == NULL) {
			x->failed = true;
			ad_err_set(&x->err, ENOMEM, "reading the response");
			return 0;
		}
	}
	if (mcp_remote_body_answered(x->body))
		return len;                 /* what follows the answer is not read */
	if (mcp_remote_body_feed(x->body, data, len, &x->err) < 0) {
		x->failed = true;
		return 0;                   /* ends the transfer */
	}
	if (mcp_remote_body_answered(x->body))
		x->answered_ns = clock_mono_ns();
	return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct exchange *x = ud;
	if (x->r->abort != NULL && x->r->abort(x->r->abort_ctx)) {
		x->aborted = true;
		return 1;
	}
	/* the answer is in: a stream the server keeps open is ended here */
	return x->answered_ns != 0 && clock_mono_ns() - x->answered_ns > LINGER_MS * 1000000ull;
}

void mcp_remote_wipe_list(struct curl_slist *h)
{
	for (struct curl_slist *s = h; s != NULL; s = s->next)
		explicit_bzero(s->data, strlen(s->data));
	curl_slist_free_all(h);
}

/* The protocol's header lines, then the configured ones; NULL when out of memory. */
struct curl_slist *mcp_remote_header_list(const struct mcp_remote *r, const char *const *lines, size_t n)
{
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");   /* no 100-continue wait */
	for (size_t i = 0; h != NULL && i < n + r->conf.n; i++) {
		struct curl_slist *more = curl_slist_append(h, i < n ? lines[i] : r->conf.line[i - n]);
		if (more == NULL)
			mcp_remote_wipe_list(h);
		h = more;
	}
	return h;
}

/* One transfer on x->curl: a POST of payload, or a DELETE when payload is NULL. */
void mcp_remote_transfer(struct exchange *x, const char *payload, size_t len, struct curl_slist *h, long timeout_ms)
{
	CURL *c = x->curl;
	curl_easy_reset(c);            /* options go; the connection stays */
	curl_easy_setopt(c, CURLOPT_URL, x->r->url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "agentd/" AGENTD_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	if (payload != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	x->rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);   /* x is gone before the handle */
	if (x->status == 0)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
	char *loc = NULL;
	if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL)
		utf8_sanitise(loc, x->where, sizeof(x->where));
}

/* After the transfer: the answer, if it came, and the server's words. */
static void conclude(struct exchange *x)
{
	if (x->body == NULL && !x->failed)
		x->body = mcp_remote_body_new(x->r->client, x->want, x->type[0] ? x->type : NULL, NULL, NULL);
	if (x->body != NULL && !x->failed && (x->got = mcp_remote_body_end(x->body, &x->answer, &x->err)) < 0)
		x->failed = true;
	if (x->got == 1 && x->answer.kind == MCP_MSG_ERROR) {
		char said[MCP_REMOTE_WORDS_MAX + 1];
		snprintf(said, sizeof(said), "%d %s", x->answer.code, x->answer.message);
		utf8_sanitise(said, x->words, sizeof(x->words));
	} else if (x->body != NULL)
		mcp_remote_body_words(x->body, x->words, sizeof(x->words));
	if (x->body != NULL && mcp_remote_body_list_changed(x->body))
		x->r->tools_changed = true;
	mcp_remote_body_free(x->body);
	x->body = NULL;
	if (x->got != 1 && x->want != 0)
		mcp_forget(x->r->client, x->want);   /* no answer will be read */
}

/* Send msg on curl; x says what came of it. */
void mcp_remote_send(struct mcp_remote *r, CURL *curl, const cJSON *msg, long timeout_ms, struct exchange *x)
{
	memset(x, 0, sizeof(*x));
	x->timeout_s = (unsigned)((timeout_ms + 999) / 1000);
	x->r = r;
	x->curl = curl;
	/* a request's id: an answer to the server's request carries the server's */
	x->want = cJSON_GetObjectItemCaseSensitive(msg, "method") != NULL ? mcp_id_of(msg) : 0;
	uint64_t t0 = clock_mono_ns();
	struct mcp_headers mh;
	const char *lines[MCP_HEADERS_MAX];
	size_t len = 0;
	char *payload = NULL;
	struct curl_slist *h = NULL;
	if (mcp_http_headers(r->client, msg, &mh, &x->err) < 0) {
		x->failed = true;
	} else {
		for (size_t i = 0; i < mh.n; i++)
			lines[i] = mh.line[i];
		payload = mcp_encode(msg, &len);
		h = payload != NULL ? mcp_remote_header_list(r, lines, mh.n) : NULL;
		if (h == NULL) {
			x->failed = true;
			ad_err_set(&x->err, ENOMEM, "building the request");
		} else {
			mcp_remote_transfer(x, payload, len, h, timeout_ms);
		}
	}
	conclude(x);
	mcp_remote_wipe_list(h);
	free(payload);
	const char *method = json_str(msg, "method");
	bool ok = x->rc == CURLE_OK;
	log_debug("mcp %s: POST %s: %ld%s%s in %.0f ms", r->name, method != NULL ? method : "(an answer)", x->status,
		  ok ? "" : ", ", ok ? "" : curl_easy_strerror(x->rc), clock_ms_since(t0));
}

void mcp_remote_release(struct exchange *x)
{
	if (x->got == 1)
		mcp_msg_free(&x->answer);
	x->got = 0;
}

/* The server asked something on the stream of our request: answered at once (it may
 * wait for the answer before it gives ours), on the side handle. */
static int answer_request(void *ctx, const struct mcp_msg *request, struct ad_err *err)
{
	struct exchange *x = ctx, side;
	struct mcp_remote *r = x->r;
	if (r->answering)
		return 0;   /* a request during an answer's own POST: not answered */
	cJSON *a = mcp_answer(request);
	if (a == NULL)
		return ad_err_set(err, ENOMEM, "answering the server's %.64s", request->method);
	if (r->side == NULL)
		r->side = curl_easy_init();
	if (r->side != NULL) {
		r->answering = true;
		mcp_remote_send(r, r->side, a, SIDE_TIMEOUT_MS, &side);
		r->answering = false;
		if (side.status / 100 != 2)
			log_warn("mcp %s: the answer to its %.64s request: HTTP %ld %s", r->name, request->method,
				 side.status, side.failed ? side.err.msg : side.errbuf);
		mcp_remote_release(&side);
	}
	cJSON_Delete(a);
	return 0;                   /* our answer may come all the same */
}

/* A sentence for an exchange that came to nothing over the network; 0 when an HTTP
 * response came whole (or the answer did). */
int mcp_remote_transport_failed(const struct mcp_remote *r, const struct exchange *x, const char *what,
			    struct ad_err *err)
{
	const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->rc);
	if (x->aborted)
		return ad_err_code(err, ECANCELED, "%s: cancelled", what);
	if (x->got == 1)
		return 0;                   /* how the stream ended after the answer does not matter */
	if (x->rc == CURLE_OPERATION_TIMEDOUT)
		return ad_err_code(err, ETIMEDOUT, "%s: no answer within %u s (%s)", what, x->timeout_s, detail);
	if (x->failed)
		return ad_err_code(err, x->err.errnum ? x->err.errnum : EPROTO, "%s: the response cannot be used: %s",
				   what, x->err.msg);
	if (x->status == 0 && x->rc == CURLE_COULDNT_CONNECT)
		return ad_err_code(err, ECONNREFUSED, "%s: cannot connect (%s): is the server running, and its url right?",
				   what, detail);
	if (x->status == 0 && x->rc == CURLE_COULDNT_RESOLVE_HOST)
		return ad_err_code(err, EHOSTUNREACH, "%s: cannot resolve the server's name (%s)", what, detail);
	if (x->status == 0 || x->rc != CURLE_OK)
		return ad_err_code(err, EIO, "%s: %s%s", what, x->status ? "the response was cut short: " : "",
				   detail);
	return 0;
}

/* A sentence for an HTTP status that is not 2xx, with the server's words. */
int mcp_remote_status_failed(const struct exchange *x, const char *what, struct ad_err *err)
{
	const char *words = x->words[0] ? x->words : "no explanation given";
	long s = x->status;
	if (s / 100 == 3)
		return ad_err_code(err, EPROTO, "%s: HTTP %ld, a redirect%s%s, which agentd does not follow: "
				   "configure the URL it names", what, s, x->where[0] ? " to " : "", x->where);
	if (s == 401 || s == 403)
		return ad_err_code(err, EACCES, "%s: HTTP %ld (%s): check the credentials in the server's "
				   "configured headers", what, s, words);
	if (s == 404)
		return ad_err_code(err, ENOENT, "%s: HTTP 404 (%s): check the server's url", what, words);
	return ad_err_code(err, s >= 500 ? EREMOTEIO : EPROTO, "%s: HTTP %ld (%s)", what, s, words);
}

/* A 2xx that did not answer the request. */
int mcp_remote_not_answered(const struct exchange *x, const char *what, struct ad_err *err)
{
	if (strncasecmp(x->type, "application/json", 16) != 0 && strncasecmp(x->type, "text/event-stream", 17) != 0)
		return ad_err_code(err, EPROTO, "%s: HTTP %ld with %s%s (%s), neither JSON nor an event stream: "
				   "is the url that of an MCP server?", what, x->status,
				   x->type[0] ? "Content-Type " : "no Content-Type", x->type,
				   x->words[0] ? x->words : "an empty body");
	return ad_err_code(err, EPROTO, "%s: HTTP %ld, and the %s ended without the answer", what, x->status,
			   strncasecmp(x->type, "text/", 5) == 0 ? "event stream" : "body");
}


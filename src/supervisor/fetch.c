/* fetch_url and fetch_html: see include/supervisor/fetch.h. */
#include "supervisor/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/utf8.h"
#include "supervisor/curl_loader.h"
#include "supervisor/html_text.h"

/* One hop: where it goes and what came back. */
struct hop {
	const struct fetch_limits *lim;
	const struct egress_target *t;
	struct buf body;
	bool cut;                         /* the body passed max_bytes */
	bool (*abort)(void *);
	void *abort_ctx;
	bool aborted;
	bool off_target;                  /* libcurl wanted an address the rules did not check */
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct hop *h = ud;
	size_t len = size * n, room = h->lim->max_bytes - h->body.len;
	if (len > room) {
		buf_append(&h->body, data, room);
		h->cut = true;
		return 0;                 /* enough: the transfer stops here */
	}
	buf_append(&h->body, data, len);
	return h->body.oom ? 0 : len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct hop *h = ud;
	if (h->abort != NULL && h->abort(h->abort_ctx))
		h->aborted = true;
	return h->aborted;
}

/* Every socket libcurl opens: only to an address the rules checked (CURLOPT_RESOLVE
 * gave it no other, this makes sure). */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct hop *h = ud;
	for (unsigned i = 0; i < h->t->naddrs; i++) {
		const struct sockaddr_storage *ok = &h->t->addrs[i];
		size_t len = ok->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		if (a->family == ok->ss_family && a->addrlen == len && memcmp(&a->addr, ok, len) == 0)
			return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	}
	h->off_target = true;
	return CURL_SOCKET_BAD;
}

/* "host:port:addr,addr" for CURLOPT_RESOLVE: the checked addresses, and no others. */
static struct curl_slist *pin(const struct egress_target *t, const char *host)
{
	char entry[HOSTNAME_MAX + 16 + EGRESS_MAX_ADDRS * 50];
	size_t n = (size_t)snprintf(entry, sizeof(entry), "%s:%u:", host, t->port);
	for (unsigned i = 0; i < t->naddrs; i++) {
		char a[64];
		egress_addr_text(&t->addrs[i], a, sizeof(a));
		n += (size_t)snprintf(entry + n, sizeof(entry) - n, t->addrs[i].ss_family == AF_INET6 ? "%s[%s]" : "%s%s",
				      i ? "," : "", a);
	}
	return curl_slist_append(NULL, entry);
}

static cJSON *decision(const char *tool, const char *host, unsigned port, const char *verdict, const char *reason)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "egress");
	cJSON_AddStringToObject(ev, "decision", verdict);
	cJSON_AddStringToObject(ev, "method", tool);
	cJSON_AddStringToObject(ev, "host", host);
	cJSON_AddNumberToObject(ev, "port", port);
	if (reason != NULL)
		cJSON_AddStringToObject(ev, "reason", reason);
	return ev;
}

/* The URL's host (its own form, for libcurl's RESOLVE) and port; -1 and why. */
static int url_parts(CURLU *u, const char *url, char **host, unsigned *port, char *why, size_t size)
{
	char *scheme = NULL, *p = NULL;
	int rc = -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		snprintf(why, size, "\"%.200s\" is not a URL", url);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
		snprintf(why, size, "only http:// and https:// URLs can be fetched");
	else if (curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK ||
		 curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK)
		snprintf(why, size, "\"%.200s\" has no host", url);
	else
		rc = 0;
	if (rc == 0)
		*port = (unsigned)strtoul(p, NULL, 10);
	curl_free(scheme);
	curl_free(p);
	return rc;
}

/* The result's text: where it ended up, the status, the type, then the body. */
static void compose(struct buf *out, const char *url, long status, const char *type, struct hop *h, bool readable)
{
	buf_printf(out, "URL: %s\nStatus: %ld\nContent-Type: %s\n", url, status, type && type[0] ? type : "(none)");
	bool html = type != NULL && (strncasecmp(type, "text/html", 9) == 0 || strncasecmp(type, "application/xhtml", 17) == 0);
	bool text = html || type == NULL || strncasecmp(type, "text/", 5) == 0 || strstr(type, "json") != NULL ||
		    strstr(type, "xml") != NULL || strstr(type, "javascript") != NULL;
	if (!text) {
		buf_printf(out, "\n(%zu bytes of %s: not text, not shown)\n", h->body.len, type);
		goto cut;
	}
	struct html_text page = { 0 };
	struct ad_err e;
	const char *body = buf_str(&h->body);
	size_t len = h->body.len;
	if (readable && html && html_text(body, len, out->cap, &page, &e) == 0) {
		if (page.title[0])
			buf_printf(out, "Title: %s\n", page.title);
		body = page.text;
		len = page.len;
	}
	buf_puts(out, "\n");
	char *clean = malloc(3 * len + 1);
	if (clean != NULL) {
		size_t n = utf8_to_text(body, len, true, clean, NULL);
		buf_append(out, clean, n);
		free(clean);
	}
	html_text_free(&page);
cut:
	if (h->cut)
		buf_printf(out, "\n[the page was cut at %llu bytes (network.fetch_max_bytes)]\n",
			   (unsigned long long)h->lim->max_bytes);
}

/* One request to url, whose host the rules have checked (t). */
static CURLcode perform(CURL *c, const char *url, const char *host, const struct egress_target *t, struct hop *h,
			uint64_t deadline_ns, struct curl_slist **pins)
{
	curl_easy_reset(c);
	*pins = pin(t, host);
	uint64_t now = clock_mono_ns();
	long left_ms = deadline_ns > now ? (long)((deadline_ns - now) / 1000000u) + 1 : 1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, *pins);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "agentd-fetch/" AGENTD_VERSION);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
	return curl_easy_perform(c);
}

/* The result is an error: prefix, then what (a sentence). */
static void fail(struct fetch_result *out, struct buf *res, const char *prefix, const char *what)
{
	buf_printf(res, "%s%s\n", prefix, what);
	out->is_error = true;
}

/* One hop and its outcome: 1 to follow *next, 0 done (res has the result). */
static int hop(CURL *c, CURLU *u, const char *url, const struct egress_rules *r, const struct fetch_limits *lim,
	       bool readable, uint64_t deadline, struct fetch_result *out, struct buf *res, char **next,
	       bool (*abort)(void *), void *abort_ctx)
{
	const char *tool = readable ? "fetch_url" : "fetch_html";
	char why[AD_ERR_MSG_MAX], *host = NULL;
	unsigned port = 0;
	struct egress_target t;
	struct ad_err e;
	if (url_parts(u, url, &host, &port, why, sizeof(why)) < 0) {
		fail(out, res, "", why);
		return 0;
	}
	if (egress_check(r, host, (uint16_t)port, &t, &e) < 0) {
		cJSON_AddItemToArray(out->events, decision(tool, host, port, "refused", e.msg));
		fail(out, res, "refused: ", e.msg);
		curl_free(host);
		return 0;
	}
	struct hop h = { .lim = lim, .t = &t, .abort = abort, .abort_ctx = abort_ctx };
	struct curl_slist *pins = NULL;
	buf_init(&h.body, lim->max_bytes + 1);
	CURLcode rc = perform(c, url, host, &t, &h, deadline, &pins);
	long status = 0;
	char *type = NULL, *redirect = NULL, *ip = NULL;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
	curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect);
	curl_easy_getinfo(c, CURLINFO_PRIMARY_IP, &ip);
	bool ok = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && h.cut);
	const char *reason = h.aborted ? "cancelled" : h.off_target ? "an address the rules did not check"
			     : ok ? NULL : curl_easy_strerror(rc);
	cJSON *ev = decision(tool, t.host, port, ok ? "allowed" : "failed", reason);
	if (ip != NULL && ip[0])
		cJSON_AddStringToObject(ev, "address", ip);
	cJSON_AddNumberToObject(ev, "bytes_in", (double)h.body.len);
	cJSON_AddItemToArray(out->events, ev);
	int more = 0;
	if (!ok)
		fail(out, res, "the fetch failed: ", reason);
	else if (status >= 300 && status < 400 && redirect != NULL)
		more = (*next = strdup(redirect)) != NULL ? 1 : (fail(out, res, "", "out of memory"), 0);
	else {
		compose(res, url, status, type, &h, readable);
		out->is_error = status >= 400 || status == 0;
	}
	buf_free(&h.body);
	curl_slist_free_all(pins);
	curl_free(host);
	return more;
}

int fetch_run(const struct egress_rules *r, const struct fetch_limits *lim, const char *url, bool readable,
	      bool (*abort)(void *), void *abort_ctx, struct fetch_result *out)
{
	struct ad_err e;
	memset(out, 0, sizeof(*out));
	struct buf res;
	buf_init(&res, lim->max_text);
	CURL *c = curl_load(&e) == 0 ? curl_easy_init() : NULL;
	CURLU *u = c != NULL ? curl_url() : NULL;
	out->events = cJSON_CreateArray();
	char *current = strdup(url);
	if (c == NULL || u == NULL || out->events == NULL || current == NULL) {
		fail(out, &res, "the fetch could not start: ", c == NULL ? e.msg : "out of memory");
	} else {
		uint64_t deadline = clock_mono_ns() + (uint64_t)lim->timeout_s * 1000000000u;
		for (unsigned hops = 0;; hops++) {
			char *next = NULL;
			if (hop(c, u, current, r, lim, readable, deadline, out, &res, &next, abort, abort_ctx) == 0)
				break;
			free(current);
			current = next;
			if (hops == FETCH_MAX_REDIRECTS) {
				fail(out, &res, "", "more than " FETCH_MAX_REDIRECTS_TEXT " redirects: given up");
				break;
			}
		}
	}
	if (res.dropped)
		buf_printf(&res, "\n[cut: %zu more bytes of text]", res.dropped);
	free(current);
	curl_url_cleanup(u);
	if (c != NULL)
		curl_easy_cleanup(c);
	out->text = res.oom ? NULL : strdup(buf_str(&res));
	buf_free(&res);
	if (out->text == NULL) {
		fetch_result_free(out);
		return -1;
	}
	return 0;
}

void fetch_result_free(struct fetch_result *out)
{
	free(out->text);
	cJSON_Delete(out->events);
	memset(out, 0, sizeof(*out));
}

cJSON *fetch_tooldefs(void)
{
	static const char *const defs =
		"[{\"name\":\"fetch_url\",\"description\":\"Fetch a web page over http or https and return it as "
		"readable text: scripts, styles and markup are dropped; headings, paragraphs, lists, tables and "
		"links ([text](url)) are kept. The result starts with the final URL (after redirects), the HTTP "
		"status and the content type. Only the hosts this session is allowed to reach can be fetched; "
		"others are refused with the reason.\",\"input_schema\":{\"type\":\"object\",\"properties\":"
		"{\"url\":{\"type\":\"string\",\"description\":\"The http:// or https:// URL to fetch\"}},"
		"\"required\":[\"url\"],\"additionalProperties\":false}},"
		"{\"name\":\"fetch_html\",\"description\":\"Fetch a web page over http or https and return its "
		"HTML (or other text) exactly as served, after the final URL, the HTTP status and the content "
		"type. Use fetch_url for reading; this one for the markup itself. Only the hosts this session is "
		"allowed to reach can be fetched.\",\"input_schema\":{\"type\":\"object\",\"properties\":"
		"{\"url\":{\"type\":\"string\",\"description\":\"The http:// or https:// URL to fetch\"}},"
		"\"required\":[\"url\"],\"additionalProperties\":false}}]";
	return cJSON_Parse(defs);
}

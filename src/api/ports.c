/* ANY /api/sessions/{id}/ports/{port}/{path}: a reverse proxy to 127.0.0.1:{port} inside
 * the session's sandbox, for its owner (the route's auth), on ports of runtime.ports:
 * HTTP with any method and body, answers streamed as they come (SSE too), WebSocket.
 * See ports_int.h for how a request travels.
 *
 * What a server in the sandbox sends is not agentd's: its pages run sandboxed (an
 * opaque origin: no access to the chat page's storage or token), it sets no cookie for
 * agentd's host, and it never sees the client's Authorization or Cookie headers. */
#include "ports_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/app.h"
#include "session/session.h"
#include "core/buf.h"
#include "core/log.h"

#define THREAD_STACK (256u << 10)

/* Request headers that are the hop's, or agentd's own: not for the server. */
static const char *const not_forwarded[] = {
	"host", "authorization", "cookie", "connection", "keep-alive", "proxy-authorization", "proxy-connection",
	"te", "trailer", "transfer-encoding", "upgrade", "content-length", "expect", "x-forwarded-for",
	"x-forwarded-proto", "x-forwarded-prefix", NULL,
};
/* Answer headers that are the hop's, or would act for agentd's origin. */
static const char *const not_returned[] = {
	"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "set-cookie",
	"proxy-authenticate", "trailer", "te", "content-security-policy", "x-frame-options", NULL,
};

static bool listed(const char *const *names, const char *name, size_t len)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
			return true;
	return false;
}

struct head_out {
	struct buf *b;
	bool websocket;
};

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct head_out *h = cls;
	bool ws_header = h->websocket && strncasecmp(key, "sec-websocket-", 14) == 0;
	if (ws_header || !listed(not_forwarded, key, strlen(key)))
		buf_printf(h->b, "%s: %s\r\n", key, value ? value : "");
	return MHD_YES;
}

/* The request as the server gets it: its path below the prefix, our Host, the
 * client's headers but agentd's, the body. HTTP/1.0 (one request, the answer's end at
 * the connection's end) unless it is a WebSocket's upgrade. */
static int build_request(struct http_req *req, struct port_relay *r, const char *id)
{
	const char *t = req->target;
	for (int slashes = 0; *t && slashes < 5; t++)
		slashes += *t == '/';
	t += strspn(t, "0123456789");
	const char *upgrade = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Upgrade");
	r->websocket = upgrade != NULL && strcasecmp(upgrade, "websocket") == 0;
	struct buf b;
	buf_init(&b, req->body_len + (1u << 20));
	buf_printf(&b, "%s %s%s HTTP/1.%d\r\nHost: 127.0.0.1:%u\r\n", req->method_name, *t == '/' ? "" : "/", t,
		   r->websocket, r->port);
	struct head_out h = { &b, r->websocket };
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header, &h);
	buf_printf(&b, "X-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Prefix: /api/sessions/%s/ports/%u\r\n",
		   req->remote, id, r->port);
	buf_printf(&b, "Connection: %s\r\n", r->websocket ? "Upgrade\r\nUpgrade: websocket" : "close");
	if (req->body_len > 0 || (req->method != HTTP_GET && req->method != HTTP_HEAD))
		buf_printf(&b, "Content-Length: %zu\r\n", req->body_len);
	buf_printf(&b, "\r\n");
	if (req->body_len > 0)
		buf_append(&b, req->body, req->body_len);
	if (b.oom || b.dropped) {
		buf_free(&b);
		return -1;
	}
	r->request = b.data;
	r->request_len = b.len;
	return 0;
}

static void release(void *ctx)
{
	struct port_relay *r = ctx;
	uint64_t one = 1;
	pthread_mutex_lock(&r->w.lock);
	r->gone = true;
	sse_out_release(&r->w.sse);
	pthread_cond_broadcast(&r->moved);
	pthread_mutex_unlock(&r->w.lock);
	(void)!write(r->stop, &one, sizeof(one));
	port_relay_unref(r);
}

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct port_relay *r = cls;
	pthread_mutex_lock(&r->w.lock);
	ssize_t n = sse_out_read(&r->w.sse, buf, max, r->w.ended);
	pthread_cond_broadcast(&r->moved);
	pthread_mutex_unlock(&r->w.lock);
	return n;
}

static void body_done(void *cls)
{
	(void)cls;               /* the request's end (release) lets the relay go */
}

static void upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
		     size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct port_relay *r = cls;
	pthread_mutex_lock(&r->w.lock);
	/* bytes the client sent after its request, already read: the server's first */
	if (extra_in_size > 0 && (r->client_extra = malloc(extra_in_size)) != NULL) {
		memcpy(r->client_extra, extra_in, extra_in_size);
		r->client_extra_len = extra_in_size;
	}
	r->client = sock;
	r->urh = urh;
	pthread_cond_broadcast(&r->moved);
	pthread_mutex_unlock(&r->w.lock);
}

/* The server's head onto the response: every line but the hop's and agentd's. */
static void copy_headers(struct port_relay *r, struct MHD_Response *resp)
{
	char *save, *line = strtok_r(strchr(r->head, '\n') ? strchr(r->head, '\n') + 1 : r->head, "\r\n", &save);
	for (; line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');
		if (colon == NULL || listed(not_returned, line, (size_t)(colon - line)))
			continue;
		*colon = '\0';
		MHD_add_response_header(resp, line, colon + 1 + strspn(colon + 1, " \t"));
	}
	/* a page of the sandbox's runs in an origin of its own, never agentd's */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads");
}

static enum MHD_Result answer(struct http_req *req, struct port_relay *r)
{
	pthread_mutex_lock(&r->w.lock);
	enum port_state state = r->state;
	if (state == PORT_WAITING) {       /* woken before its time: wait on */
		r->parked = true;
		MHD_suspend_connection(req->conn);
	}
	pthread_mutex_unlock(&r->w.lock);
	if (state == PORT_WAITING)
		return MHD_YES;
	if (state == PORT_FAILED)
		return http_reply_error(req, (unsigned)r->status, r->status == 504 ? "timeout_error" : "bad_gateway_error",
					"%s", r->error);
	struct MHD_Response *resp;
	if (r->websocket && r->status == 101) {
		resp = MHD_create_response_for_upgrade(upgraded, r);
		if (resp != NULL)        /* libmicrohttpd wants it said (and says Connection itself) */
			MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	} else {
		waiter_set_conn(&r->w, req->conn);
		resp = http_stream_response(req, read_body, r, body_done);
	}
	if (resp == NULL)
		return MHD_NO;
	copy_headers(r, resp);
	return http_reply_queue(req, (unsigned)r->status, resp);
}

enum MHD_Result api_session_port(struct http_req *req)
{
	if (req->ctx != NULL)
		return answer(req, req->ctx);
	struct app *app = req->app;
	const char *p = req->params[1];
	char *end;
	unsigned long port = strtoul(p, &end, 10);
	if (*p < '1' || *p > '9' || *end != '\0' || port > 65535)
		return http_reply_error(req, 400, HTTP_ERR_INVALID, "\"%s\" is not a port: a number from 1 to 65535", p);
	if (!config_port_exposed(&app->cfg, (unsigned)port))
		return http_reply_error(req, 403, "permission_error", "port %lu of a sandbox is not reachable here; "
					"runtime.ports lists those that are", port);
	enum MHD_Result rc;
	_cleanup_session_ struct session *s = api_find_session(req, &rc);
	if (s == NULL)
		return rc;
	char why[200];
	int net = ports_open_net(s, why, sizeof(why));
	if (net < 0)
		return http_reply_error(req, 409, "conflict_error", "%s", why);
	struct port_relay *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		close(net);
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "out of memory");
	}
	waiter_init(&r->w, true);
	pthread_cond_init(&r->moved, NULL);
	r->netns = net;
	r->port = (unsigned)port;
	r->timeout_ms = (unsigned)app->cfg.runtime.port_timeout_s * 1000u;
	r->upstream = r->client = -1;
	r->conn = req->conn;
	r->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->stop < 0 || build_request(req, r, session_id(s)) < 0) {
		port_relay_unref(r);
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "out of memory");
	}
	req->ctx = r;
	req->ctx_free = release;
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	waiter_ref(&r->w);                 /* the thread's */
	pthread_mutex_lock(&r->w.lock);    /* it wakes the connection under the lock: parked first */
	int e = pthread_create(&t, &attr, port_relay_main, r);
	if (e == 0) {
		r->parked = true;
		MHD_suspend_connection(req->conn);
	}
	pthread_mutex_unlock(&r->w.lock);
	pthread_attr_destroy(&attr);
	if (e == 0)
		return MHD_YES;
	port_relay_unref(r);               /* the thread's, which never ran */
	return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "agentd could not start the proxy's thread: %s",
				strerror(e));
}

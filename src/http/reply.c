/* Building and queueing responses: every reply goes through queue(), which adds the
 * headers all responses carry and records status and size for the access log. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "http/http.h"

static enum MHD_Result queue(struct http_req *req, unsigned status, struct MHD_Response *r,
			     uint64_t bytes)
{
	if (r == NULL) {
		log_error("http: out of memory building a %u response", status);
		return MHD_NO;
	}
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	/* the chat page runs its own scripts only: nothing inline, nothing from elsewhere */
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
				"frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
	if (req->draining || req->close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	req->status = status;
	req->bytes_out = bytes;
	enum MHD_Result ret = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON response that owns text; NULL (and text freed) on failure. */
static struct MHD_Response *json_response(char *text, size_t *len)
{
	if (text == NULL)
		return NULL;
	*len = strlen(text);
	struct MHD_Response *r = MHD_create_response_from_buffer(*len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		cJSON_free(text);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return r;
}

enum MHD_Result http_reply_json(struct http_req *req, unsigned status, cJSON *body)
{
	char *text = body ? json_print(body) : NULL;
	cJSON_Delete(body);
	if (text == NULL)
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "out of memory");
	size_t len = 0;
	struct MHD_Response *r = json_response(text, &len);   /* sets len: call it first */
	return queue(req, status, r, len);
}

/* {"error": {"type": ..., "message": ...}}, with one more header when hname is set. */
static enum MHD_Result reply_error(struct http_req *req, unsigned status, const char *type,
				   const char *raw_msg, const char *hname, const char *hvalue)
{
	/* the message may quote the client's path or method: keep the JSON valid UTF-8 */
	char msg[1024];
	utf8_sanitise(raw_msg, msg, sizeof(msg));
	if (status >= 500 && status != 501 && status != 503)   /* those two are expected */
		log_warn("http: %s %s: %u %s", req->method_name, req->target, status, msg);
	cJSON *root = json_error(type, msg);
	char *text = json_print(root);
	cJSON_Delete(root);
	size_t len = 0;
	struct MHD_Response *r = json_response(text, &len);
	if (r != NULL && hname != NULL)
		MHD_add_response_header(r, hname, hvalue);
	return queue(req, status, r, len);
}

__attribute__((format(printf, 6, 0)))
static enum MHD_Result reply_error_v(struct http_req *req, unsigned status, const char *type, const char *hname,
				     const char *hvalue, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	return reply_error(req, status, type, msg, hname, hvalue);
}

enum MHD_Result http_reply_error(struct http_req *req, unsigned status, const char *type,
				 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result r = reply_error_v(req, status, type, NULL, NULL, fmt, ap);
	va_end(ap);
	return r;
}

enum MHD_Result http_reply_error_header(struct http_req *req, unsigned status, const char *type,
					const char *hname, const char *hvalue, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result r = reply_error_v(req, status, type, hname, hvalue, fmt, ap);
	va_end(ap);
	return r;
}

enum MHD_Result http_reply_method_not_allowed(struct http_req *req, unsigned allowed)
{
	char list[128], msg[512];
	http_methods_format(allowed, list, sizeof(list));
	snprintf(msg, sizeof(msg), "%s is not allowed here; allowed: %s", req->method_name, list);
	return reply_error(req, 405, HTTP_ERR_METHOD, msg, MHD_HTTP_HEADER_ALLOW, list);
}

enum MHD_Result http_reply_fd(struct http_req *req, unsigned status, int fd, uint64_t size,
			      const char *content_type)
{
	struct MHD_Response *r = MHD_create_response_from_fd64(size, fd);
	if (r == NULL) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return queue(req, status, r, size);
}

/* A streamed body, counted on its way out for the access log. MHD calls the reader
 * only while the request lives; the free callback may come later and does not touch it. */
struct counted {
	MHD_ContentReaderCallback reader;
	MHD_ContentReaderFreeCallback done;
	void *cls;
	struct http_req *req;
};

static ssize_t counted_read(void *c, uint64_t pos, char *buf, size_t max)
{
	struct counted *k = c;
	ssize_t n = k->reader(k->cls, pos, buf, max);
	if (n > 0)
		k->req->bytes_out += (uint64_t)n;
	return n;
}

static void counted_free(void *c)
{
	struct counted *k = c;
	k->done(k->cls);
	free(k);
}

struct MHD_Response *http_stream_response(struct http_req *req, MHD_ContentReaderCallback reader, void *cls,
					  MHD_ContentReaderFreeCallback done)
{
	struct counted *k = malloc(sizeof(*k));
	struct MHD_Response *r = NULL;
	if (k != NULL) {
		*k = (struct counted){ reader, done, cls, req };
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, counted_read, k, counted_free);
	}
	if (r == NULL) {
		free(k);
		done(cls);
	}
	return r;
}

enum MHD_Result http_reply_queue(struct http_req *req, unsigned status, struct MHD_Response *r)
{
	return queue(req, status, r, 0);
}

enum MHD_Result http_reply_stream(struct http_req *req, unsigned status, const char *content_type,
				  MHD_ContentReaderCallback reader, void *cls, MHD_ContentReaderFreeCallback done)
{
	struct MHD_Response *r = http_stream_response(req, reader, cls, done);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");   /* proxies: pass events on at once */
	return queue(req, status, r, 0);
}

/* A response of data (malloc()ed, taken), with its type and no caching; NULL when it
 * cannot be made (data freed). */
static struct MHD_Response *buffer_response(void *data, size_t len, const char *content_type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(data);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return r;
}

enum MHD_Result http_reply_buffer(struct http_req *req, unsigned status, const char *content_type, void *data,
				  size_t len)
{
	struct MHD_Response *r = buffer_response(data, len, content_type);
	return r == NULL ? MHD_NO : queue(req, status, r, len);
}

enum MHD_Result http_reply_download(struct http_req *req, void *data, size_t len, const char *name)
{
	struct MHD_Response *r = buffer_response(data, len, "application/octet-stream");
	if (r == NULL)
		return MHD_NO;
	/* a file the agent made is never a page of this origin: saved, not shown */
	char disp[1024] = "attachment; filename*=UTF-8''";
	size_t n = strlen(disp);
	for (const unsigned char *p = (const unsigned char *)name; *p && n + 4 < sizeof(disp); p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("._-", *p) != NULL)
			disp[n++] = (char)*p;
		else
			n += (size_t)snprintf(disp + n, sizeof(disp) - n, "%%%02X", *p);
	}
	disp[n] = '\0';
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	MHD_add_response_header(r, "Content-Security-Policy", "sandbox; default-src 'none'");
	return queue(req, 200, r, len);
}

/* libmicrohttpd 0.9.75 takes a response only before the body or after all of it. A
 * body found too large on the way (chunked: no length said so at the start) would be
 * read to its end, however long, before the answer. So this answer goes straight to
 * the socket, whole, and the caller returns MHD_NO: libmicrohttpd closes the
 * connection. Nothing else is being written on it: a request's body is read only once
 * the previous response is out. */
enum MHD_Result http_reply_error_abort(struct http_req *req, unsigned status, const char *type,
				       const char *reason, const char *message)
{
	cJSON *root = json_error(type, message);
	char *text = json_print(root);
	cJSON_Delete(root);
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	req->status = status;
	if (text == NULL || ci == NULL) {
		cJSON_free(text);
		return MHD_NO;
	}
	char head[512];
	size_t len = strlen(text);
	int hn = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n"
			  "X-Content-Type-Options: nosniff\r\n\r\n", status, reason, len);
	struct iovec iov[2] = { { head, (size_t)hn }, { text, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	if (sendmsg(ci->connect_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)hn + (ssize_t)len)
		req->bytes_out = len;
	cJSON_free(text);
	return MHD_NO;
}

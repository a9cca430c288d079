/* The HTTP front end as the API handlers see it: a request, a route, a reply.
 *
 * The transport (server.c) reads the request, the router picks the route, the body is
 * read within its cap and, for JSON routes, parsed strictly; only then is the handler
 * called, with everything checked. A handler answers with one of the http_reply_*
 * functions and never blocks. */
#ifndef AGENTD_HTTP_HTTP_H
#define AGENTD_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "core/node_id.h"

enum http_method {
	HTTP_GET = 1u << 0,
	HTTP_HEAD = 1u << 1,
	HTTP_POST = 1u << 2,
	HTTP_PUT = 1u << 3,
	HTTP_DELETE = 1u << 4,
	HTTP_PATCH = 1u << 5,
	HTTP_OPTIONS = 1u << 6,
	HTTP_OTHER = 1u << 7,
};
#define HTTP_ANY 0xffu

enum http_body {
	HTTP_BODY_NONE,   /* a body, if sent, is read within the cap and dropped */
	HTTP_BODY_JSON,   /* Content-Type application/json, parsed strictly; an object */
	HTTP_BODY_RAW,    /* any Content-Type, kept as bytes */
	HTTP_BODY_JSON_OPT, /* as HTTP_BODY_JSON, or no body at all (req->json stays NULL) */
	HTTP_BODY_STREAM, /* any Content-Type, handed to req->body_piece as it comes, never kept */
};

#define HTTP_MAX_PARAMS 4

struct http_req;
typedef enum MHD_Result (*http_handler_fn)(struct http_req *req);

/* Route flags. Routes are protected unless marked public: the server's authorize hook
 * (http/server.h) runs for every other route before its body is read. */
#define HTTP_ROUTE_PUBLIC 1u   /* no authentication, no rate limit: health, static files */
#define HTTP_ROUTE_WORK 2u     /* starts work (a sandbox, a turn, a command): 503 once agentd is stopping */
#define HTTP_ROUTE_COOKIE 4u   /* a browser's navigation: the token may come as the cookie
				  agentd_token (set by the page for this path only) */
#define HTTP_ROUTE_ADMIN 8u    /* the operator's: the authorize hook lets only a request with
				  req->admin through (403 for the others) */

struct http_route {
	const char *pattern;   /* "/api/health", "/api/sessions/{id}"; a final "*" matches the rest */
	unsigned methods;      /* enum http_method bits; GET implies HEAD */
	enum http_body body;
	http_handler_fn fn;
	unsigned flags;        /* HTTP_ROUTE_* */
	size_t max_body;       /* its own body limit (bytes), or 0: http.max_body_bytes */
};

/* The principal: who a request acts for, set before the handler runs. */
#define HTTP_PRINCIPAL_MAX 64
#define HTTP_PRINCIPAL_ANONYMOUS "anonymous"

struct http_req {
	struct MHD_Connection *conn;
	void *app;                      /* the application, as given to the server */
	const struct http_route *route;
	unsigned method;                /* one enum http_method bit */
	const char *method_name;
	char *target;                   /* the request target as sent: path and query */
	char *path;                     /* the path part of target, still percent-encoded */
	char *params[HTTP_MAX_PARAMS];  /* {name} segments and a trailing '*', decoded */
	size_t nparams;
	cJSON *json;                    /* HTTP_BODY_JSON routes */
	char *body;                     /* HTTP_BODY_RAW routes; NUL-terminated */
	size_t body_len;
	char remote[64];
	/* The name of the token the request came with, or "anonymous" (no token configured,
	 * or a public route): what sessions belong to. */
	char principal[HTTP_PRINCIPAL_MAX + 1];
	/* Whether the principal has the admin role (a stored token marked admin, or an
	 * anonymous request on a loopback-only agentd): set with it, before the handler. */
	bool admin;
	/* The session the request is about, once a handler found or made it (for the
	 * access log), or "". */
	char session[NODE_SESSION_ID_MAX];
	/* A handler that suspends the connection (MHD_suspend_connection) is called again
	 * when it is resumed, with ctx as it left it; ctx_free(ctx) runs at the request's end. */
	void *ctx;
	void (*ctx_free)(void *ctx);
	/* HTTP_BODY_STREAM routes: the handler is called first before any of the body is
	 * read (body_open true). It may answer then (a refusal: the body is not read), or
	 * set body_piece, which gets the body piece by piece as it comes, on libmicrohttpd's
	 * thread: it must not block (writing a local file is fine). A piece it refuses (-1,
	 * with body_status and body_error set) ends the request at once with that error; the
	 * connection closes. Once the whole body is in, the handler is called again as for
	 * any route (body_open false). */
	bool body_open;
	int (*body_piece)(struct http_req *req, const char *data, size_t n);
	unsigned body_status;
	char body_error[256];
	/* transport state */
	bool dispatched;                /* the handler has been called */
	uint64_t start_ns;
	size_t body_cap;
	bool body_over;
	bool started;
	bool draining;                  /* the server is shutting down: ask to close */
	bool close;                     /* the reply ends the connection (Connection: close) */
	unsigned status;
	uint64_t bytes_out;
};

/* Error types, after the Anthropic API's own names where one exists. */
#define HTTP_ERR_INVALID "invalid_request_error"
#define HTTP_ERR_NOT_FOUND "not_found_error"
#define HTTP_ERR_MISDIRECTED "misdirected_request_error"   /* 421: another node's */
#define HTTP_ERR_METHOD "method_not_allowed_error"
#define HTTP_ERR_TOO_LARGE "request_too_large"
#define HTTP_ERR_MEDIA_TYPE "unsupported_media_type_error"
#define HTTP_ERR_UNAVAILABLE "unavailable_error"
#define HTTP_ERR_AUTH "authentication_error"
#define HTTP_ERR_PERMISSION "permission_error"
#define HTTP_ERR_RATE_LIMIT "rate_limit_error"
#define HTTP_ERR_INTERNAL "api_error"

/* Replies: each queues exactly one response and records status and size for the log. */
enum MHD_Result http_reply_json(struct http_req *req, unsigned status, cJSON *body);
enum MHD_Result http_reply_error(struct http_req *req, unsigned status, const char *type,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same with one more header (Retry-After, WWW-Authenticate, ...). */
enum MHD_Result http_reply_error_header(struct http_req *req, unsigned status, const char *type,
					const char *hname, const char *hvalue, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* status with data (malloc()ed, owned by the reply from here on) as content_type. */
enum MHD_Result http_reply_buffer(struct http_req *req, unsigned status, const char *content_type, void *data,
				  size_t len);
/* 200 with a file to save as name (Content-Disposition: attachment, sandboxed: never
 * shown as a page of this origin); data (malloc()ed) is owned by the reply from here on. */
enum MHD_Result http_reply_download(struct http_req *req, void *data, size_t len, const char *name);
/* fd is owned by the reply from here on. */
enum MHD_Result http_reply_fd(struct http_req *req, unsigned status, int fd, uint64_t size,
			      const char *content_type);
/* A body produced as it goes (chunked): reader is called for each piece, done(cls)
 * when the response is freed (also when the client went away), even on failure. */
enum MHD_Result http_reply_stream(struct http_req *req, unsigned status, const char *content_type,
				  MHD_ContentReaderCallback reader, void *cls, MHD_ContentReaderFreeCallback done);
/* The same in two steps, for a caller that adds headers of its own in between: the
 * response (NULL, and done(cls) called, on failure), then any response queued with the
 * headers every answer gets. */
struct MHD_Response *http_stream_response(struct http_req *req, MHD_ContentReaderCallback reader, void *cls,
					  MHD_ContentReaderFreeCallback done);
enum MHD_Result http_reply_queue(struct http_req *req, unsigned status, struct MHD_Response *r);
/* An error written to the socket at once, while the request's body is still coming (see
 * reply.c); returns MHD_NO, which closes the connection. */
enum MHD_Result http_reply_error_abort(struct http_req *req, unsigned status, const char *type,
				       const char *reason, const char *message);
/* 405 with an Allow header listing the methods in allowed. */
enum MHD_Result http_reply_method_not_allowed(struct http_req *req, unsigned allowed);

/* Router (router.c). Finds the route for method and path; on no match returns NULL
 * and sets *allowed to the methods other routes for this path take (0: none). */
const struct http_route *http_route_find(const struct http_route *routes, unsigned method,
					 const char *path, struct http_req *req, unsigned *allowed);
unsigned http_method_parse(const char *name);
/* One enum http_method bit's name ("GET"); "OTHER" for HTTP_OTHER. */
const char *http_method_name(unsigned bit);
void http_methods_format(unsigned methods, char *buf, size_t size);
void http_req_free_params(struct http_req *req);

#endif

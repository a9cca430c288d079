/* What the server checks and works out from a request's head, and its listening socket:
 * see http_int.h. */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/cleanup.h"

void http_remote_address(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	buf[0] = '\0';
	if (ci == NULL || ci->client_addr == NULL)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)size);
}

/* JSON bodies: application/json (or +json). curl -d sends its form type by default;
 * taking that as JSON too keeps `curl -d '{"message": ...}'` working. */
bool http_json_media_type(const char *ct)
{
	if (ct == NULL)
		return true;
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	static const char *const ok[] = { "application/json", "application/x-www-form-urlencoded" };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (n == strlen(ok[i]) && strncasecmp(ct, ok[i], n) == 0)
			return true;
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0 && memchr(ct, '/', n) != NULL;
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
				       const char *value)
{
	*(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;   /* ": " and CRLF */
	return MHD_YES;
}

size_t http_head_bytes(struct MHD_Connection *conn, const char *method, const char *target)
{
	size_t n = strlen(method) + strlen(target) + 12;   /* spaces, " HTTP/1.1", CRLF */
	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &n);
	return n;
}

struct framing {
	const char *length;          /* the first Content-Length */
	unsigned lengths, conflicts; /* how many; how many differ from the first */
	unsigned encodings;          /* Transfer-Encoding headers */
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = cls;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->encodings++;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (f->lengths++ == 0)
		f->length = value ? value : "";
	else if (strcmp(f->length, value ? value : "") != 0)
		f->conflicts++;
	return MHD_YES;
}

/* A body must have one length: two Content-Length headers that disagree, or a length
 * next to Transfer-Encoding, can be read one way here and another by a proxy in front
 * (request smuggling). libmicrohttpd takes the first of each; refuse instead. Returns
 * false, with the 400 queued (*answer), when the framing is ambiguous. */
bool http_framing_ok(struct http_req *req, enum MHD_Result *answer)
{
	struct framing f = { 0 };
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_framing, &f);
	const char *why = f.conflicts > 0 ? "Content-Length headers that disagree"
			  : f.lengths > 0 && f.encodings > 0 ? "both Content-Length and Transfer-Encoding"
			  : f.encodings > 1 ? "more than one Transfer-Encoding header" : NULL;
	if (why == NULL)
		return true;
	req->close = true;
	*answer = http_reply_error(req, 400, HTTP_ERR_INVALID, "the request has %s; send exactly one of them", why);
	return false;
}

int http_listen_socket(struct netaddr *addr, struct ad_err *err)
{
	char text[80];
	netaddr_format(addr, text, sizeof(text));
	_cleanup_close_ int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ad_err_sys(err, "socket for %s", text);
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return ad_err_sys(err, "SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&addr->ss, addr->len) < 0) {
		if (errno != EADDRINUSE)
			return ad_err_sys(err, "bind %s", text);
		return ad_err_code(err, EADDRINUSE, "cannot listen on %s: the address is already in use (by another "
				  "agentd or another program); choose another address with the \"listen\" "
				  "setting or the AGENTD_LISTEN environment variable, e.g. "
				  "AGENTD_LISTEN=127.0.0.1:8081", text);
	}
	if (listen(fd, 256) < 0)
		return ad_err_sys(err, "listen on %s", text);
	addr->len = sizeof(addr->ss);
	if (getsockname(fd, (struct sockaddr *)&addr->ss, &addr->len) < 0)
		return ad_err_sys(err, "getsockname");
	return steal_fd(&fd);
}

/* Frames over a socket: see include/ipc/link.h. */
#include "ipc/link.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cleanup.h"

#define LINK_READ_CHUNK (64u << 10)

int link_send(int fd, unsigned type, const cJSON *payload, struct ad_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, off = 0;
	if (frame_encode(type, payload, &buf, &len, err) < 0)
		return -1;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { fd, POLLOUT, 0 };
			poll(&p, 1, -1);
			continue;
		}
		return ad_err_sys(err, "send a %s frame", frame_type_name(type));
	}
	return 0;
}

int link_send_take(int fd, unsigned type, cJSON *payload, struct ad_err *err)
{
	int rc = payload ? link_send(fd, type, payload, err)
			 : ad_err_set(err, ENOMEM, "build a %s frame", frame_type_name(type));
	cJSON_Delete(payload);
	return rc;
}

int link_recv(int fd, struct frame_decoder *d, frame_fn fn, void *ctx, struct ad_err *err)
{
	_cleanup_free_ char *buf = malloc(LINK_READ_CHUNK);
	if (buf == NULL)
		return ad_err_set(err, ENOMEM, "read buffer");
	ssize_t n;
	while ((n = read(fd, buf, LINK_READ_CHUNK)) < 0 && errno == EINTR)
		;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		return ad_err_sys(err, "read frames");
	if (n == 0)
		return frame_decoder_pending(d) ? ad_err_set(err, 0, "the peer hung up in the middle of a frame") : 1;
	return frame_decoder_feed(d, buf, (size_t)n, fn, ctx, err);
}

/* Frames out without waiting: see include/ipc/link_out.h. */
#include "ipc/link_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "ipc/frame.h"

void link_out_init(struct link_out *o, size_t cap)
{
	*o = (struct link_out){ .cap = cap };
}

void link_out_free(struct link_out *o)
{
	free(o->buf);
	*o = (struct link_out){ .cap = o->cap };
}

int link_out_flush(struct link_out *o, int fd, struct ad_err *err)
{
	while (o->len > o->off) {
		ssize_t n = send(fd, o->buf + o->off, o->len - o->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			o->off += (size_t)n;
			o->since_ns = clock_mono_ns();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return ad_err_sys(err, "send frames");
	}
	o->len = o->off = 0;          /* all out: start again at the front */
	o->since_ns = 0;
	return 0;
}

/* Room for n more bytes: what was written goes, the buffer grows by doubling. */
static int reserve(struct link_out *o, size_t n, struct ad_err *err)
{
	if (o->off > 0 && o->off >= o->len / 2) {
		memmove(o->buf, o->buf + o->off, o->len - o->off);
		o->len -= o->off;
		o->off = 0;
	}
	if (o->len + n <= o->alloc)
		return 0;
	size_t want = o->alloc ? o->alloc : 4096;
	while (want < o->len + n)
		want *= 2;
	char *nb = realloc(o->buf, want);
	if (nb == NULL)
		return ad_err_set(err, ENOMEM, "frame queue");
	o->buf = nb;
	o->alloc = want;
	return 0;
}

/* A whole frame (taken): out now as far as the socket takes it, the rest queued. */
static int queue_frame(struct link_out *o, int fd, unsigned type, char *taken, size_t len, struct ad_err *err)
{
	_cleanup_free_ char *frame = taken;
	if (link_out_queued(o) + len > o->cap)
		return ad_err_code(err, ENOBUFS, "the peer has not read %zu bytes; a %s frame of %zu more is refused",
				  link_out_queued(o), frame_type_name(type), len);
	if (!link_out_pending(o)) {     /* nothing waits: straight out, what the socket takes */
		ssize_t n;
		while ((n = send(fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR)
			;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return ad_err_sys(err, "send a %s frame", frame_type_name(type));
		if (n == (ssize_t)len)
			return 0;
		o->len = o->off = 0;
		o->since_ns = clock_mono_ns();
		if (n > 0) {
			memmove(frame, frame + n, len - (size_t)n);
			len -= (size_t)n;
		}
	}
	if (reserve(o, len, err) < 0)
		return -1;
	memcpy(o->buf + o->len, frame, len);
	o->len += len;
	return 0;
}

int link_out_send(struct link_out *o, int fd, unsigned type, const cJSON *payload, struct ad_err *err)
{
	char *frame;
	size_t len;
	if (frame_encode(type, payload, &frame, &len, err) < 0)
		return -1;
	return queue_frame(o, fd, type, frame, len, err);
}

int link_out_send_raw(struct link_out *o, int fd, unsigned type, const char *payload, size_t n,
		      struct ad_err *err)
{
	char *frame;
	size_t len;
	if (frame_build(type, payload, n, &frame, &len, err) < 0)
		return -1;
	return queue_frame(o, fd, type, frame, len, err);
}

int link_out_send_take(struct link_out *o, int fd, unsigned type, cJSON *payload, struct ad_err *err)
{
	int rc = payload ? link_out_send(o, fd, type, payload, err)
			 : ad_err_set(err, ENOMEM, "build a %s frame", frame_type_name(type));
	cJSON_Delete(payload);
	return rc;
}

uint64_t link_out_stalled_ms(const struct link_out *o, uint64_t now_ns)
{
	if (!link_out_pending(o) || o->since_ns == 0 || now_ns < o->since_ns)
		return 0;
	return (now_ns - o->since_ns) / 1000000u;
}

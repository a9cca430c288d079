/* The agent's incoming frames: see include/agent/inbox.h. */
#include "agent/inbox.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "core/clock.h"
#include "ipc/frame.h"
#include "ipc/link.h"

struct queued {
	unsigned type;
	cJSON *payload;
	struct queued *next;
};

struct inbox {
	int fd;
	struct frame_decoder *dec;
	struct queued *head, **tail;
	bool eof;
};

struct inbox *inbox_new(int fd)
{
	struct inbox *in = calloc(1, sizeof(*in));
	if (in == NULL || (in->dec = frame_decoder_new(FRAME_MAX_PAYLOAD)) == NULL) {
		free(in);
		return NULL;
	}
	in->fd = fd;
	in->tail = &in->head;
	return in;
}

void inbox_free(struct inbox *in)
{
	if (in == NULL)
		return;
	while (in->head != NULL) {
		struct queued *q = in->head;
		in->head = q->next;
		cJSON_Delete(q->payload);
		free(q);
	}
	frame_decoder_free(in->dec);
	free(in);
}

bool inbox_eof(const struct inbox *in)
{
	return in->eof && in->head == NULL;
}

static int enqueue(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct inbox *in = ctx;
	struct queued *q = malloc(sizeof(*q));
	if (q == NULL) {
		cJSON_Delete(payload);
		return ad_err_set(err, ENOMEM, "frame queue");
	}
	*q = (struct queued){ type, payload, NULL };
	*in->tail = q;
	in->tail = &q->next;
	return 0;
}

int inbox_next(struct inbox *in, int timeout_ms, unsigned *type, cJSON **payload, struct ad_err *err)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	while (in->head == NULL && !in->eof) {
		int wait = -1;
		if (timeout_ms >= 0) {
			uint64_t now = clock_mono_ms();
			wait = now >= deadline ? 0 : (int)(deadline - now);
		}
		struct pollfd p = { in->fd, POLLIN, 0 };
		int n = poll(&p, 1, wait);
		if (n < 0 && errno != EINTR)
			return ad_err_sys(err, "poll");
		if (n == 0 && timeout_ms >= 0)
			return 0;
		if (n <= 0)
			continue;
		int rc = link_recv(in->fd, in->dec, enqueue, in, err);
		if (rc < 0)
			return -1;
		in->eof = rc == 1;
	}
	struct queued *q = in->head;
	if (q == NULL)
		return 0;
	in->head = q->next;
	if (in->head == NULL)
		in->tail = &in->head;
	*type = q->type;
	*payload = q->payload;
	free(q);
	return 1;
}

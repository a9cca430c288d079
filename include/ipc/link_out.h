/* Frames out to a peer that may be slow, stuck or hostile: queued, written as the socket
 * takes them, never waited for. The owner's event loop watches the socket for POLLOUT
 * while link_out_pending() and calls link_out_flush(); a queue that would pass its cap
 * fails the send, and link_out_stalled_ms() says how long the peer has taken nothing,
 * so that the owner can give up on it. Not locked: its owner serialises the calls. */
#ifndef AGENTD_IPC_LINK_OUT_H
#define AGENTD_IPC_LINK_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct link_out {
	char *buf;
	size_t len, off;        /* bytes queued; of them, written */
	size_t alloc, cap;      /* room; the most that may wait */
	uint64_t since_ns;      /* the last progress while bytes wait (0: nothing waits) */
};

void link_out_init(struct link_out *o, size_t cap);
void link_out_free(struct link_out *o);

/* Queue one frame and write what the (non-blocking) socket takes now. Fails with
 * ENOBUFS when the frame would take the queue past its cap (the peer does not read),
 * EMSGSIZE for a payload over FRAME_MAX_PAYLOAD, or the socket's error (EPIPE: gone). */
int link_out_send(struct link_out *o, int fd, unsigned type, const cJSON *payload, struct ad_err *err);
/* The same with a payload that is JSON text already (frame_build). */
int link_out_send_raw(struct link_out *o, int fd, unsigned type, const char *payload, size_t n,
		      struct ad_err *err);
/* link_out_send, then free payload (NULL: ENOMEM). */
int link_out_send_take(struct link_out *o, int fd, unsigned type, cJSON *payload, struct ad_err *err);
/* Write what the socket takes now; 0 (done or not: see link_out_pending), or -1. */
int link_out_flush(struct link_out *o, int fd, struct ad_err *err);

static inline bool link_out_pending(const struct link_out *o)
{
	return o->len > o->off;
}

static inline size_t link_out_queued(const struct link_out *o)
{
	return o->len - o->off;
}

/* How long the peer has taken nothing while bytes wait for it (0 when none wait). */
uint64_t link_out_stalled_ms(const struct link_out *o, uint64_t now_ns);

#endif

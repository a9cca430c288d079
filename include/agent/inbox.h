/* The agent's incoming frames, one at a time. One read can bring several frames or part
 * of one; they are decoded (ipc/frame.h, capped at FRAME_MAX_PAYLOAD) and queued, and the
 * socket is read again only when the queue is empty, so the queue never holds more than
 * one read's worth. */
#ifndef AGENTD_AGENT_INBOX_H
#define AGENTD_AGENT_INBOX_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct inbox;

struct inbox *inbox_new(int fd);
void inbox_free(struct inbox *in);

/* The next frame: 1 with *type and *payload (the caller's to free); 0 when none came
 * within timeout_ms (-1: wait as long as it takes) or the peer hung up (inbox_eof());
 * -1 on a broken frame stream or a failed read. */
int inbox_next(struct inbox *in, int timeout_ms, unsigned *type, cJSON **payload, struct ad_err *err);
bool inbox_eof(const struct inbox *in);

#endif

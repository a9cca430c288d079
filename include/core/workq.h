/* A work queue: one thread that runs jobs one after the other, in the order given. For
 * work that may block (fsync) and must not hold up the thread that asks for it. */
#ifndef AGENTD_CORE_WORKQ_H
#define AGENTD_CORE_WORKQ_H

#include "core/err.h"

struct workq;

typedef void (*workq_fn)(void *ctx);

int workq_start(struct workq **out, const char *name, struct ad_err *err);
/* Queue fn(ctx); -1 when the queue is stopping or gone (NULL) or out of memory: the
 * caller then does the work itself. */
int workq_push(struct workq *q, workq_fn fn, void *ctx);
/* Run what is queued, stop the thread, free. Pushes from now on fail. NULL: no-op. */
void workq_stop(struct workq *q);

#endif

/* Inside the supervisor: JSON notes handed from threads of its own (the egress proxy's
 * connections, the sandbox API's) to its loop. A push never blocks; past max, the oldest
 * note goes. A pipe is readable while notes wait, so the loop polls it beside its other
 * descriptors. */
#ifndef AGENTD_SUPERVISOR_NOTE_QUEUE_H
#define AGENTD_SUPERVISOR_NOTE_QUEUE_H

#include <pthread.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct note_queue {
	pthread_mutex_t lock;
	cJSON *notes;                /* array, oldest first */
	int rd, wr;                  /* the pipe: one byte while any wait */
	int max;
};

int note_queue_init(struct note_queue *q, int max, struct ad_err *err);
/* note taken */
void note_queue_push(struct note_queue *q, cJSON *note);
/* The oldest note, or NULL. */
cJSON *note_queue_take(struct note_queue *q);
void note_queue_free(struct note_queue *q);

#endif

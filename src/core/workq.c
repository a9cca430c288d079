/* A work queue: see include/core/workq.h. */
#include "core/workq.h"
#include "core/thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

struct job {
	workq_fn fn;
	void *ctx;
	struct job *next;
};

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct job *head, *tail;
	bool stopping;
	char name[16];
	pthread_t thread;
};

static void *run(void *arg)
{
	struct workq *q = arg;
	prctl(PR_SET_NAME, q->name);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->more, &q->lock);
		struct job *j = q->head;
		if (j == NULL)
			break;                    /* stopping, and nothing left */
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		j->fn(j->ctx);
		free(j);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int workq_start(struct workq **out, const char *name, struct ad_err *err)
{
	struct workq *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return ad_err_set(err, ENOMEM, "work queue");
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->more, NULL);
	strncpy(q->name, name, sizeof(q->name) - 1);
	int rc = thread_start(&q->thread, run, q);
	if (rc != 0) {
		pthread_cond_destroy(&q->more);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return ad_err_set(err, rc, "start the %s thread", name);
	}
	*out = q;
	return 0;
}

int workq_push(struct workq *q, workq_fn fn, void *ctx)
{
	struct job *j = q != NULL ? malloc(sizeof(*j)) : NULL;
	if (j == NULL)
		return -1;
	*j = (struct job){ fn, ctx, NULL };
	pthread_mutex_lock(&q->lock);
	bool open = !q->stopping;
	if (open) {
		if (q->tail != NULL)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
		pthread_cond_signal(&q->more);
	}
	pthread_mutex_unlock(&q->lock);
	if (!open)
		free(j);
	return open ? 0 : -1;
}

void workq_stop(struct workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* Notes from the supervisor's threads to its loop: see note_queue.h. */
#include "note_queue.h"

#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

int note_queue_init(struct note_queue *q, int max, struct ad_err *err)
{
	int fds[2];
	q->rd = q->wr = -1;
	q->max = max;
	pthread_mutex_init(&q->lock, NULL);
	if ((q->notes = cJSON_CreateArray()) == NULL || pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return ad_err_sys(err, "a queue of notes");
	q->rd = fds[0];
	q->wr = fds[1];
	return 0;
}

void note_queue_push(struct note_queue *q, cJSON *note)
{
	pthread_mutex_lock(&q->lock);
	if (cJSON_GetArraySize(q->notes) >= q->max)
		cJSON_DeleteItemFromArray(q->notes, 0);
	bool was_empty = cJSON_GetArraySize(q->notes) == 0;
	cJSON_AddItemToArray(q->notes, note);
	pthread_mutex_unlock(&q->lock);
	if (was_empty)
		(void)!write(q->wr, "n", 1);
}

cJSON *note_queue_take(struct note_queue *q)
{
	char drain[64];
	pthread_mutex_lock(&q->lock);
	cJSON *note = cJSON_DetachItemFromArray(q->notes, 0);
	if (note == NULL)            /* all taken: the pipe says so again only for a new one */
		while (read(q->rd, drain, sizeof(drain)) > 0)
			;
	pthread_mutex_unlock(&q->lock);
	return note;
}

void note_queue_free(struct note_queue *q)
{
	if (q->rd >= 0) {
		close(q->rd);
		close(q->wr);
	}
	cJSON_Delete(q->notes);
	q->notes = NULL;
	q->rd = q->wr = -1;
	pthread_mutex_destroy(&q->lock);
}

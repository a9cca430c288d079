/* A session's title: the name its owner gives it, shown in lists. A hybrid session
 * keeps it on disk beside its saves (persist.h), written on the registry's saver
 * thread like them, so that a rename never waits for an fsync and a delete that comes
 * meanwhile still removes everything (hybrid.c's drop_saved). */
#include "session_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/workq.h"
#include "session/persist.h"

struct title_job {
	struct session *s;                /* referenced: the job's */
	char *title;                      /* as of the rename */
};

static void title_write(void *ctx)
{
	struct title_job *j = ctx;
	struct session *s = j->s;
	const char *state_dir = registry_config(s->reg)->state_dir;
	struct ad_err e;
	if (persist_save_title(state_dir, s->id, j->title, &e) < 0)
		session_log(s, AD_LOG_ERROR, "saving its title: %s", e.msg);
	pthread_mutex_lock(&s->lock);
	bool gone = --s->saves_pending == 0 && s->drop_saved;
	pthread_mutex_unlock(&s->lock);
	if (gone)
		persist_remove(registry_config(s->reg), s->id);
	free(j->title);
	free(j);
	session_unref(s);
}

/* Under the lock: a hybrid session's title goes to disk. */
static void keep_title(struct session *s)
{
	struct title_job *j = malloc(sizeof(*j));
	char *title = strdup(s->title ? s->title : "");
	if (j == NULL || title == NULL) {
		session_log(s, AD_LOG_ERROR, "out of memory: its title is not saved");
		free(j);
		free(title);
		return;
	}
	*j = (struct title_job){ s, title };
	s->saves_pending++;
	session_ref(s);
	if (workq_push(s->reg->saver, title_write, j) < 0) {
		s->saves_pending--;               /* the saver has stopped: agentd is stopping */
		session_unref(s);       /* not the last: the caller holds one */
		session_log(s, AD_LOG_WARN, "agentd is stopping: its new title is not saved");
		free(title);
		free(j);
	}
}

void session_title_created(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->pattern == PATTERN_HYBRID && s->title != NULL)
		keep_title(s);
	pthread_mutex_unlock(&s->lock);
}

int session_set_title(struct session *s, const char *title, struct ad_err *err)
{
	char *copy = title[0] ? strdup(title) : NULL;
	if (title[0] && copy == NULL)
		return ad_err_set(err, ENOMEM, "title");
	pthread_mutex_lock(&s->lock);
	if (s->state == SESSION_DESTROYED) {
		pthread_mutex_unlock(&s->lock);
		free(copy);
		return ad_err_code(err, ENOENT, "session %s has ended", s->id);
	}
	free(s->title);
	s->title = copy;
	if (s->pattern == PATTERN_HYBRID)
		keep_title(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

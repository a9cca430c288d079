/* Hybrid sessions: saved after every completed turn (the transcript and a snapshot of
 * the workspace, include/session/persist.h) before the client gets the answer;
 * suspended when idle (the sandbox goes, the session stays); resumed by the next turn,
 * also after a restart of the daemon: a new sandbox, the workspace unpacked into it,
 * the conversation given back to the agent as the turn's history. */
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/chat_run.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/workq.h"
#include "ipc/frame.h"
#include "session/hub.h"
#include "session/persist.h"

static const char *state_dir(const struct session *s)
{
	return registry_config(s->reg)->state_dir;
}

/* Under the lock: what session.json holds. */
static cJSON *meta(struct session *s)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", s->id);
	cJSON_AddStringToObject(j, "owner", s->owner);
	cJSON_AddStringToObject(j, "pattern", session_pattern_names[s->pattern]);
	cJSON_AddNumberToObject(j, "created", (double)s->created);
	cJSON_AddNumberToObject(j, "last_active", (double)s->last_active);
	cJSON_AddNumberToObject(j, "idle_timeout_s", s->idle_timeout_s);
	cJSON_AddNumberToObject(j, "turns", s->turns);
	cJSON_AddItemToObject(j, "usage", usage_json(&s->usage));
	if (s->system)
		cJSON_AddStringToObject(j, "system", s->system);
	if (s->model)
		cJSON_AddStringToObject(j, "model", s->model);
	cJSON *t = cJSON_AddArrayToObject(j, "transcript");
	int i = 0;
	for (cJSON *m = s->transcript ? s->transcript->child : NULL; m && i < s->committed; m = m->next, i++)
		cJSON_AddItemToArray(t, cJSON_Duplicate(m, true));
	return j;
}

/* ----------------------------------------------------------------- saving a turn */

/* The workspace's bytes go between the supervisor and the disk: no op_output here. */
static void ignore_piece(void *ctx, const cJSON *ev)
{
	(void)ctx;
	(void)ev;
}

/* session.json on its way to disk, on the registry's saver thread, so that the hub's
 * thread, which carries every session's events, never waits for an fsync: after a turn
 * (the supervisor has put the workspace's snapshot in place, see
 * include/session/snapshot_io.h; the client gets its answer once both are done) and at
 * a suspend. */
struct save_job {
	struct session *s;                /* referenced: the save's */
	cJSON *meta;                      /* session.json as of now */
	bool turn;                        /* a turn's: its answer waits for it */
};

/* Under the lock: a save for the saver to write. */
static struct save_job *save_job(struct session *s, bool turn)
{
	struct save_job *j = malloc(sizeof(*j));
	if (j == NULL)
		return NULL;
	*j = (struct save_job){ s, meta(s), turn };
	s->saves_pending++;
	s->refs++;
	return j;
}

/* The turn is saved, or could not be (failure says why): the client gets its answer,
 * with a warning when the turn would not survive a restart. */
static void answer_turn(struct session *s, const char *failure)
{
	pthread_mutex_lock(&s->lock);
	struct chat_run *run = s->run;
	cJSON *held = s->held_end;
	unsigned id = s->held_id;
	s->run = NULL;
	s->held_end = NULL;
	if (failure != NULL && held != NULL && !s->drop_saved) {
		char text[AD_ERR_MSG_MAX + 96];
		snprintf(text, sizeof(text), "the turn is done but was not saved (%s): a restart of agentd "
			 "would lose it", failure);
		cJSON_AddStringToObject(held, "warning", text);
		cJSON *w = cJSON_CreateObject();
		cJSON_AddStringToObject(w, "type", "warning");
		cJSON_AddStringToObject(w, "message", text);
		session_log_event(s, ++s->next_event_id, "warning", w);
		cJSON_Delete(w);
	}
	if (s->state == SESSION_RUNNING)
		session_enter(s, SESSION_IDLE, "saved");
	pthread_mutex_unlock(&s->lock);
	if (run != NULL) {
		if (held != NULL)
			chat_run_event(run, id, held, NULL, 0);
		chat_run_unref(run);
	}
	cJSON_Delete(held);
}

static void save_write(void *ctx)
{
	struct save_job *j = ctx;
	struct session *s = j->s;
	struct ad_err e;
	bool failed = persist_save_meta(state_dir(s), s->id, j->meta, &e) < 0;
	if (failed)
		log_error("session %s: saving session.json: %s", s->id, e.msg);
	pthread_mutex_lock(&s->lock);
	/* deleted meanwhile: session_destroy left the files to the last save to remove */
	bool gone = --s->saves_pending == 0 && s->drop_saved;
	pthread_mutex_unlock(&s->lock);
	if (gone)
		persist_remove(state_dir(s), s->id);
	if (j->turn)
		answer_turn(s, failed ? e.msg : NULL);
	cJSON_Delete(j->meta);
	free(j);
	session_unref(s);   /* the save's */
}

/* Under the lock: hand j to the saver once the lock is let go (save_push). */
static void save_push(struct session *s, struct save_job *j)
{
	if (j != NULL && workq_push(s->reg->saver, save_write, j) < 0)
		save_write(j);      /* the saver has stopped (shutdown): here, then */
}

/* The snapshot is in place, or could not be (on the hub's thread): the transcript
 * next, then the answer. */
static void save_done(void *ctx, bool ok, const char *error)
{
	struct session *s = ctx;
	pthread_mutex_lock(&s->lock);
	struct save_job *j = ok ? save_job(s, true) : NULL;
	pthread_mutex_unlock(&s->lock);
	if (j == NULL) {
		log_error("session %s: the workspace could not be saved: %s", s->id, ok ? "out of memory" : error);
		answer_turn(s, ok ? "out of memory" : error);
	}
	save_push(s, j);
	session_unref(s);   /* the snapshot op's */
}

bool hybrid_hold_done(struct session *s, unsigned id, const cJSON *ev)
{
	struct ad_err e;
	if (s->pattern != PATTERN_HYBRID || s->link == NULL)
		return false;
	struct op_run *w = op_run_new(false);
	if (w == NULL) {
		log_error("session %s: cannot save the turn: out of memory", s->id);
		return false;
	}
	s->refs++;          /* the snapshot op's, given back in save_done */
	op_run_set_sink(w, ignore_piece, save_done, s);
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "op", "snapshot");
	cJSON_AddTrueToObject(op, "save");           /* the supervisor writes it */
	if (session_send_op(s, op, w, &e) < 0) {
		log_error("session %s: cannot save the turn: %s", s->id, e.msg);
		s->refs--;
		cJSON_Delete(op);
		op_run_unref(w);
		return false;
	}
	cJSON_Delete(op);
	op_run_unref(w);    /* the session holds it while it runs */
	s->held_end = cJSON_Duplicate(ev, true);
	s->held_id = id;
	return true;
}

/* ----------------------------------------------------------------- suspend, resume */

int session_suspend(struct session *s, struct ad_err *err)
{
	int rc = 0;
	struct save_job *j = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->pattern != PATTERN_HYBRID)
		rc = ad_err_code(err, EINVAL, "only a hybrid session can be suspended");
	else if (s->state == SESSION_SUSPENDED)
		rc = 0;
	else if (s->run != NULL || s->op != NULL || s->link == NULL || (s->state != SESSION_IDLE && s->state != SESSION_READY))
		rc = ad_err_code(err, EBUSY, "session %s is %s; it can be suspended when idle", s->id,
				session_state_names[s->state]);
	else if ((j = save_job(s, false)) == NULL) {
		rc = ad_err_set(err, ENOMEM, "suspend");
	} else {
		s->suspending = true;
		session_enter(s, SESSION_SUSPENDED, "its sandbox goes; the workspace is saved");
		hub_link_close(s->link);
	}
	pthread_mutex_unlock(&s->lock);
	save_push(s, j);
	return rc;
}

/* The workspace is back: now the turn. */
static void restore_done(void *ctx, bool ok, const char *error)
{
	struct session *s = ctx;
	struct ad_err e;
	pthread_mutex_lock(&s->lock);
	cJSON *turn = s->pending_turn;
	s->pending_turn = NULL;
	struct chat_run *run = NULL;
	int rc = ok && s->link != NULL ? hub_link_send(s->link, FRAME_TURN, turn, &e)
				       : ad_err_set(&e, 0, "the workspace could not be restored: %s", ok ? "the sandbox ended" : error);
	if (rc < 0) {
		run = s->run;
		s->run = NULL;
		session_enter(s, SESSION_FAILED, e.msg);
	} else {
		session_enter(s, SESSION_RUNNING, "resumed");
	}
	pthread_mutex_unlock(&s->lock);
	cJSON_Delete(turn);
	if (run != NULL) {
		chat_run_fail(run, "sandbox_error", e.msg);
		chat_run_unref(run);
	}
	session_unref(s);   /* the restore's */
}

/* The saved workspace back into the new sandbox: one restore op, which the supervisor
 * serves from the state directory; under the lock. */
static int send_restore(struct session *s, struct op_run *w, struct ad_err *err)
{
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "op", "restore");
	cJSON_AddTrueToObject(op, "saved");
	int rc = session_send_op(s, op, w, err);
	cJSON_Delete(op);
	return rc;
}

int hybrid_resume(struct session *s, cJSON *turn, struct chat_run *run, struct ad_err *err)
{
	pthread_mutex_lock(&s->lock);
	if (s->state != SESSION_SUSPENDED || s->suspending || s->run != NULL) {
		int rc = ad_err_code(err, EBUSY, "session %s is %s; try again in a moment", s->id,
				    s->suspending ? "being suspended" : session_state_names[s->state]);
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	chat_run_ref(run);
	s->run = run;
	session_enter(s, SESSION_CREATING, "resuming");
	cJSON_DeleteItemFromObjectCaseSensitive(turn, "history");
	int i = 0;
	cJSON *history = cJSON_AddArrayToObject(turn, "history");
	for (cJSON *m = s->transcript->child; m && i < s->committed; m = m->next, i++)
		cJSON_AddItemToArray(history, cJSON_Duplicate(m, true));
	s->pending_turn = cJSON_Duplicate(turn, true);
	chat_run_hello(run, ++s->next_event_id);
	pthread_mutex_unlock(&s->lock);

	struct op_run *w = op_run_new(false);
	int rc = w ? session_spawn(s->reg, s, NULL, NULL, err) : ad_err_set(err, ENOMEM, "resume");
	pthread_mutex_lock(&s->lock);
	if (rc == 0) {
		s->refs++;          /* the restore's, given back in restore_done */
		op_run_set_sink(w, ignore_piece, restore_done, s);
		if ((rc = send_restore(s, w, err)) < 0)
			s->refs--;
	}
	if (rc < 0) {
		s->run = NULL;
		cJSON_Delete(s->pending_turn);
		s->pending_turn = NULL;
		if (s->state != SESSION_DESTROYED)   /* deleted meanwhile: it stays so */
			session_enter(s, SESSION_SUSPENDED, err->msg);
		if (s->link != NULL) {
			s->suspending = true;
			hub_link_close(s->link);
		}
		chat_run_unref(run);
	}
	pthread_mutex_unlock(&s->lock);
	if (w != NULL)
		op_run_unref(w);
	return rc;
}

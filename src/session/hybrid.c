/* Hybrid sessions: saved after every completed turn (the transcript and a snapshot of
 * the workspace, include/session/persist.h) before the client gets the answer; and
 * suspended (asked for, when idle, or as agentd stops): the workspace saved as it is
 * at that moment, then session.json, and only then the sandbox goes; a save that
 * fails leaves the session as it was and says why. Resumed by the next turn
 * (hybrid_resume.c).
 *
 * With workspaces on disk (sandbox/workspace.h) nothing of the workspace is copied: it
 * stays where it is, a suspend puts its files on stable storage (syncfs) before
 * session.json, and the next sandbox is built on it. Snapshots are made only for
 * workspaces in memory (the tmpfs store). */
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/waiters.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/workq.h"
#include "ipc/frame.h"
#include "session/hub.h"
#include "session/persist.h"
#include "sandbox/workspace.h"

static const char *state_dir(const struct session *s)
{
	return registry_config(s->reg)->state_dir;
}

/* Under the lock: what session.json holds, with the snapshot of generation gen. */
static cJSON *meta(struct session *s, uint64_t gen)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", s->id);
	cJSON_AddStringToObject(j, "owner", s->owner);
	cJSON_AddStringToObject(j, "pattern", session_pattern_names[s->pattern]);
	cJSON_AddNumberToObject(j, "created", (double)s->created);
	cJSON_AddNumberToObject(j, "last_active", (double)s->last_active);
	cJSON_AddNumberToObject(j, "idle_timeout_s", s->idle_timeout_s);
	cJSON_AddNumberToObject(j, "turns", s->turns);
	cJSON_AddNumberToObject(j, "workspace_generation", (double)gen);
	if (s->spawn_opts != NULL)
		cJSON_AddItemToObject(j, "spawn", cJSON_Duplicate(s->spawn_opts, true));
	cJSON_AddItemToObject(j, "usage", usage_json(&s->usage));
	if (s->system)
		cJSON_AddStringToObject(j, "system", s->system);
	if (s->model)
		cJSON_AddStringToObject(j, "model", s->model);
	if (s->runtime)
		cJSON_AddStringToObject(j, "runtime", s->runtime);
	if (s->command)
		cJSON_AddStringToObject(j, "command", s->command);
	if (s->turn_log != NULL)
		cJSON_AddItemToObject(j, "turn_log", cJSON_Duplicate(s->turn_log, true));
	cJSON *t = cJSON_AddArrayToObject(j, "transcript");
	int i = 0;
	for (cJSON *m = s->transcript ? s->transcript->child : NULL; m && i < s->committed; m = m->next, i++)
		cJSON_AddItemToArray(t, cJSON_Duplicate(m, true));
	return j;
}

/* ----------------------------------------------------------------- saving */

void hybrid_ignore_piece(void *ctx, const cJSON *ev)
{
	(void)ctx;
	(void)ev;
}

/* What a save is for: a turn's answer waits for it; a suspend lets the sandbox go
 * once it is done. */
enum save_kind { SAVE_TURN, SAVE_SUSPEND };

/* session.json on its way to disk, on the registry's saver thread, so that the hub's
 * thread, which carries every session's events, never waits for an fsync. It follows
 * the workspace's snapshot, which the supervisor has put in place (see
 * include/supervisor/snapshot_io.h). */
struct save_job {
	struct session *s;                /* referenced: the save's */
	cJSON *meta;                      /* session.json as of now */
	uint64_t gen;                     /* the snapshot it names */
	enum save_kind kind;
};

/* Under the lock: a save for the saver to write. */
static struct save_job *save_job(struct session *s, enum save_kind kind)
{
	struct save_job *j = malloc(sizeof(*j));
	if (j == NULL)
		return NULL;
	*j = (struct save_job){ s, meta(s, s->save_gen), s->save_gen, kind };
	s->saves_pending++;
	session_ref(s);
	return j;
}

void hybrid_warn(struct session *s, const char *text)
{
	cJSON *w = cJSON_CreateObject();
	cJSON_AddStringToObject(w, "type", "warning");
	cJSON_AddStringToObject(w, "message", text);
	session_log_event(s, ++s->next_event_id, "warning", w);
	cJSON_Delete(w);
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
		char text[AD_ERR_MSG_MAX + 200];
		snprintf(text, sizeof(text), "the turn is done but was not saved (%s): until a later save "
			 "succeeds (the next turn's, a suspend), a restart of agentd would bring the session "
			 "back without it, with the workspace as it was before it", failure);
		cJSON_AddStringToObject(held, "warning", text);
		hybrid_warn(s, text);
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

void hybrid_reply_suspended(struct op_run *reply)
{
	cJSON *end = cJSON_CreateObject();
	cJSON_AddStringToObject(end, "type", "op_end");
	cJSON_AddTrueToObject(end, "ok");
	op_run_event(reply, end);
	cJSON_Delete(end);
	op_run_unref(reply);
}

/* The suspend's save is done: the sandbox goes; or failure says why it could not be
 * saved, and the session goes on as it was (its sandbox up, its workspace in it). */
static void suspend_end(struct session *s, const char *failure)
{
	char text[AD_ERR_MSG_MAX + 160] = "";
	pthread_mutex_lock(&s->lock);
	struct op_run *reply = s->suspend_reply;
	s->suspend_reply = NULL;
	bool saving = s->state == SESSION_SAVING;
	if (failure == NULL && s->link != NULL && saving) {
		session_enter(s, SESSION_SUSPENDING, "its workspace is saved; its sandbox goes");
		hub_link_close(s->link);
		s->suspend_reply = reply;     /* answered once the sandbox is gone (on_closed) */
		reply = NULL;
	} else {
		if (saving)                   /* as it was */
			session_enter(s, s->turns > 0 ? SESSION_IDLE : SESSION_READY, "not suspended");
		if (failure != NULL)
			snprintf(text, sizeof(text), "the session was not suspended: its workspace could not be saved "
				 "(%s); it goes on as it was", failure);
		else
			snprintf(text, sizeof(text), "the session was not suspended: it is %s", session_state_shown(s));
		session_log(s, AD_LOG_WARN, "%s", text);
		if (s->state != SESSION_DESTROYED)
			hybrid_warn(s, text);
	}
	pthread_mutex_unlock(&s->lock);
	if (reply == NULL)
		return;
	op_run_fail(reply, text);
	op_run_unref(reply);
}

static void save_finished(struct session *s, enum save_kind kind, const char *failure)
{
	if (kind == SAVE_TURN)
		answer_turn(s, failure);
	else
		suspend_end(s, failure);
}

static void save_write(void *ctx)
{
	struct save_job *j = ctx;
	struct session *s = j->s;
	struct ad_err e;
	char dir[4200];
	session_workspace_dir(s, dir, sizeof(dir));
	bool failed = j->kind == SAVE_SUSPEND && session_workspace_on_disk(s) && workspace_sync(dir, &e) < 0;
	failed = failed || persist_save_meta(state_dir(s), s->id, j->meta, &e) < 0;
	if (failed)
		session_log(s, AD_LOG_ERROR, "saving session.json: %s", e.msg);
	pthread_mutex_lock(&s->lock);
	/* deleted meanwhile: session_destroy left the files to the last save to remove */
	bool gone = --s->saves_pending == 0 && s->drop_saved;
	if (!failed && j->gen > s->saved_gen)
		s->saved_gen = j->gen;
	pthread_mutex_unlock(&s->lock);
	if (gone)
		persist_remove(registry_config(s->reg), s->id);
	else if (!failed)       /* session.json names j->gen: the older ones are not needed */
		persist_prune(state_dir(s), s->id, j->gen);
	save_finished(s, j->kind, failed ? e.msg : NULL);
	cJSON_Delete(j->meta);
	free(j);
	session_unref(s);   /* the save's */
}

/* The snapshot is in place, or could not be (on the hub's thread): the transcript
 * next, then what the save was for. */
static void snapshot_done(struct session *s, enum save_kind kind, bool ok, const char *error)
{
	pthread_mutex_lock(&s->lock);
	struct save_job *j = ok ? save_job(s, kind) : NULL;
	pthread_mutex_unlock(&s->lock);
	if (j == NULL) {
		session_log(s, AD_LOG_ERROR, "the workspace could not be saved: %s", ok ? "out of memory" : error);
		save_finished(s, kind, ok ? "out of memory" : error);
	} else if (workq_push(s->reg->saver, save_write, j) < 0) {
		save_write(j);      /* the saver has stopped (shutdown): here, then */
	}
	session_unref(s);   /* the snapshot op's */
}

static void turn_saved(void *ctx, bool ok, const char *error)
{
	snapshot_done(ctx, SAVE_TURN, ok, error);
}

static void suspend_saved(void *ctx, bool ok, const char *error)
{
	snapshot_done(ctx, SAVE_SUSPEND, ok, error);
}

/* Under the lock: the supervisor saves the workspace as it is now, then done(s, ...).
 * A workspace on disk stays as it is: the save is session.json's alone. */
static int send_save(struct session *s, enum save_kind kind, void (*done)(void *ctx, bool ok, const char *error),
		     struct ad_err *err)
{
	if (session_workspace_on_disk(s)) {
		++s->save_gen;
		struct save_job *j = save_job(s, kind);
		if (j == NULL)
			return ad_err_set(err, ENOMEM, "save");
		if (workq_push(s->reg->saver, save_write, j) < 0) {
			/* the saver has stopped (shutdown): the state is not saved */
			s->saves_pending--;
			cJSON_Delete(j->meta);
			free(j);
			session_unref(s);
			return ad_err_set(err, ESHUTDOWN, "agentd is stopping");
		}
		return 0;
	}
	struct op_run *w = op_run_new(false);
	if (w == NULL)
		return ad_err_set(err, ENOMEM, "save");
	session_ref(s);          /* the snapshot op's, given back in snapshot_done */
	op_run_set_sink(w, hybrid_ignore_piece, done, s);
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "op", "snapshot");
	cJSON_AddTrueToObject(op, "save");           /* the supervisor writes it */
	cJSON_AddNumberToObject(op, "generation", (double)++s->save_gen);
	int rc = session_send_op(s, op, w, err);
	if (rc < 0)
		session_unref(s);       /* not the last: the caller holds one */
	cJSON_Delete(op);
	op_run_unref(w);    /* the session holds it while it runs */
	return rc;
}

bool hybrid_hold_done(struct session *s, unsigned id, const cJSON *ev)
{
	struct ad_err e;
	if (s->pattern != PATTERN_HYBRID || s->link == NULL)
		return false;
	if (send_save(s, SAVE_TURN, turn_saved, &e) < 0) {
		session_log(s, AD_LOG_ERROR, "cannot save the turn: %s", e.msg);
		return false;
	}
	s->held_end = cJSON_Duplicate(ev, true);
	s->held_id = id;
	return true;
}

/* ----------------------------------------------------------------- suspend */

int session_suspend(struct session *s, struct op_run *reply, struct ad_err *err)
{
	int rc = 0;
	bool already = false;
	pthread_mutex_lock(&s->lock);
	if (s->pattern != PATTERN_HYBRID) {
		rc = ad_err_code(err, EINVAL, "only a hybrid session can be suspended");
	} else if (s->state == SESSION_SUSPENDED || s->state == SESSION_SUSPENDING) {
		already = true;
	} else if (s->state == SESSION_SAVING) {
		/* under way: nothing more for the idle timeout or a stop to do */
		if (reply != NULL)
			rc = ad_err_code(err, EBUSY, "session %s is being suspended; wait for it", s->id);
	} else if (s->run != NULL || s->op != NULL || s->link == NULL ||
		   (s->state != SESSION_IDLE && s->state != SESSION_READY)) {
		rc = ad_err_code(err, EBUSY, "session %s is %s; it can be suspended when idle", s->id,
				session_state_shown(s));
	} else if ((rc = send_save(s, SAVE_SUSPEND, suspend_saved, err)) == 0) {
		session_enter(s, SESSION_SAVING, "suspending: its workspace is being saved");
		if (reply != NULL)
			op_run_ref(reply);
		s->suspend_reply = reply;
	}
	pthread_mutex_unlock(&s->lock);
	if (already && reply != NULL) {
		op_run_ref(reply);
		hybrid_reply_suspended(reply);
	}
	return rc;
}

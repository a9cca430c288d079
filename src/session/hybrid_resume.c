/* Bringing a hybrid session back (include/session/persist.h): the next turn resumes a
 * suspended session in a new sandbox, built on its workspace on disk or with the saved
 * snapshot unpacked into it (the tmpfs store), the
 * conversation given back to the agent as the turn's history; also after a restart of
 * agentd. And as agentd stops cleanly, every hybrid session that is up suspends, so
 * that what its workspace holds then is what comes back. */
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session/waiters.h"
#include "core/clock.h"
#include "core/log.h"
#include "ipc/frame.h"
#include "session/hub.h"

/* While agentd stops, how often it looks whether the suspends are done. */
#define STOP_POLL_MS 20

/* The workspace is back: now the turn. */
static void restore_done(void *ctx, bool ok, const char *error)
{
	struct session *s = ctx;
	struct ad_err e;
	pthread_mutex_lock(&s->lock);
	cJSON *turn = s->pending_turn;
	s->pending_turn = NULL;
	struct chat_run *run = NULL;
	/* deleted or failed meanwhile, it stays so; the turn hears why it did not run */
	int rc = !ok || s->link == NULL || session_is_over(s)
			 ? ad_err_set(&e, 0, "the workspace could not be restored: %s",
				      ok ? "the sandbox ended" : error)
			 : hub_link_send(s->link, FRAME_TURN, turn, &e);
	if (rc < 0) {
		run = s->run;
		s->run = NULL;
		if (!session_is_over(s))
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
	cJSON_AddNumberToObject(op, "generation", (double)s->saved_gen);   /* the one session.json names */
	int rc = session_send_op(s, op, w, err);
	cJSON_Delete(op);
	return rc;
}

int hybrid_resume(struct session *s, cJSON *turn, struct chat_run *run, struct ad_err *err)
{
	pthread_mutex_lock(&s->lock);
	if (s->state != SESSION_SUSPENDED || s->run != NULL) {
		int rc = ad_err_code(err, EBUSY, "session %s is %s; try again in a moment", s->id,
				    s->state == SESSION_SUSPENDING ? "being suspended" : session_state_shown(s));
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
	s->resume_building = true;          /* until its "ready" (session_link.c) */
	free(s->reason);                    /* why an earlier sandbox ended: not this one's */
	s->reason = NULL;
	session_turn_hello(s, run);
	pthread_mutex_unlock(&s->lock);

	/* the restore goes out under the lock the spawn returns with: a delete that comes
	 * meanwhile finds the new sandbox's link and closes it, and then the restore fails
	 * (or is failed by on_closed) rather than being sent on a link already gone */
	struct op_run *w = op_run_new(false);
	int rc = w ? session_spawn_locked(s->reg, s, NULL, err) : ad_err_set(err, ENOMEM, "resume");
	if (w == NULL)
		pthread_mutex_lock(&s->lock);
	if (rc == 0 && session_workspace_on_disk(s)) {
		/* the workspace is where the last sandbox left it: the turn goes at once, and
		 * the session is running once its sandbox says it is up (session_link.c) */
		if ((rc = hub_link_send(s->link, FRAME_TURN, s->pending_turn, err)) == 0) {
			cJSON_Delete(s->pending_turn);
			s->pending_turn = NULL;
		}
	} else if (rc == 0) {
		session_ref(s);          /* the restore's, given back in restore_done */
		op_run_set_sink(w, hybrid_ignore_piece, restore_done, s);
		if ((rc = send_restore(s, w, err)) < 0)
			session_unref(s);       /* not the last: the caller holds one */
	}
	/* the session's reference to run: a delete meanwhile may have ended the run and let
	 * go of it already (on_closed), and then it is not ours to drop again */
	bool ours = s->run == run;
	if (rc < 0) {
		if (ours)
			s->run = NULL;
		cJSON_Delete(s->pending_turn);
		s->pending_turn = NULL;
		/* back to suspended, once the new sandbox is gone if there is one; deleted
		 * meanwhile, it stays so */
		if (!session_is_over(s))
			session_enter(s, s->link != NULL ? SESSION_SUSPENDING : SESSION_SUSPENDED, err->msg);
		if (s->link != NULL)
			hub_link_close(s->link);
		if (ours)
			chat_run_unref(run);
	}
	pthread_mutex_unlock(&s->lock);
	if (w != NULL)
		op_run_unref(w);
	return rc;
}

/* ----------------------------------------------------------------- agentd stops */

/* One hybrid session as agentd stops: its suspend started if it is up and idle (once);
 * true while agentd should wait for it (its suspend, or its turn's save, under way). */
static bool stop_one(struct session *s)
{
	struct ad_err e;
	pthread_mutex_lock(&s->lock);
	bool saving = s->state == SESSION_SAVING;
	bool up = s->pattern == PATTERN_HYBRID && s->link != NULL &&
		  (s->state == SESSION_READY || s->state == SESSION_IDLE || s->state == SESSION_RUNNING || saving);
	bool start = up && !s->stop_saved && !saving && s->run == NULL && s->op == NULL &&
		     s->state != SESSION_RUNNING;
	bool wait = up && (start || saving || s->held_end != NULL);
	if (start)
		s->stop_saved = true;
	pthread_mutex_unlock(&s->lock);
	if (start && session_suspend(s, NULL, &e) < 0) {
		session_log(s, AD_LOG_WARN, "cannot suspend it as agentd stops: %s", e.msg);
		wait = false;
	}
	return wait;
}

void hybrid_suspend_all(struct sessions *reg, unsigned timeout_ms)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		size_t n, waiting = 0;
		struct session **all = registry_all(reg, &n);
		for (size_t i = 0; all != NULL && i < n; i++) {
			waiting += stop_one(all[i]);
			session_unref(all[i]);
		}
		free(all);
		if (waiting == 0)
			return;
		if (clock_mono_ns() >= deadline) {
			log_warn("%zu hybrid sessions were not saved within %u ms; each keeps what was last saved",
				 waiting, timeout_ms);
			return;
		}
		struct timespec ts = { 0, STOP_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* A session on the gateway's side: see include/session/session.h.
 *
 * Locks: a session's lock, then a turn's (chat_run) lock, never the other way; the
 * registry's lock is never held while a session's is taken. */
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/chat_run.h"
#include "core/clock.h"
#include "core/log.h"
#include "ipc/frame.h"
#include "sandbox/cgroup.h"
#include "session/hub.h"
#include "session/persist.h"

const char *const session_state_names[] = {
	[SESSION_CREATING] = "creating", [SESSION_READY] = "ready", [SESSION_RUNNING] = "running",
	[SESSION_IDLE] = "idle", [SESSION_SUSPENDED] = "suspended", [SESSION_FAILED] = "failed",
	[SESSION_DESTROYED] = "destroyed",
};

const char *const session_pattern_names[] = {
	[PATTERN_EPHEMERAL] = "ephemeral", [PATTERN_LONG_RUNNING] = "long-running",
	[PATTERN_HYBRID] = "hybrid", [PATTERN_SHARED] = "shared", NULL,
};

void session_enter(struct session *s, enum session_state to, const char *why)
{
	if (s->state == to)
		return;
	log_info("session %s: %s -> %s%s%s", s->id, session_state_names[s->state], session_state_names[to],
		 why ? ": " : "", why ? why : "");
	s->state = to;
	if (to == SESSION_IDLE || to == SESSION_READY)
		s->idle_since_ns = clock_mono_ns();
}

const char *session_id(const struct session *s)
{
	return s->id;
}

enum session_pattern session_pattern(struct session *s)
{
	pthread_mutex_lock(&s->lock);     /* a pooled session takes its pattern on */
	enum session_pattern p = s->pattern;
	pthread_mutex_unlock(&s->lock);
	return p;
}

void session_ref(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	s->refs++;
	pthread_mutex_unlock(&s->lock);
}

void session_unref(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	int left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (left > 0)
		return;
	session_log_free(s);
	cJSON_Delete(s->transcript);
	cJSON_Delete(s->history);
	cJSON_Delete(s->op_input);
	cJSON_Delete(s->held_end);
	cJSON_Delete(s->pending_turn);
	cJSON_Delete(s->cgroup);
	free(s->reason);
	free(s->system);
	free(s->model);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Under the lock: the turn in flight is over; the caller gets its reference. */
static struct chat_run *detach_run(struct session *s)
{
	struct chat_run *run = s->run;
	s->run = NULL;
	if (s->state == SESSION_RUNNING)
		session_enter(s, SESSION_IDLE, NULL);
	return run;
}

static void on_event(void *owner, cJSON *ev)
{
	struct session *s = owner;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	char type[32];
	snprintf(type, sizeof(type), "%s", cJSON_IsString(t) ? t->valuestring : "");
	struct chat_run *run, *ended = NULL;
	bool destroy = false;
	pthread_mutex_lock(&s->lock);
	unsigned id = ++s->next_event_id;
	bool host_ready = false;
	if (strcmp(type, "ready") == 0) {
		cJSON_Delete(s->cgroup);
		s->cgroup = cJSON_DetachItemFromObjectCaseSensitive(ev, "cgroup");
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(ev, "init_pid");
		s->init_pid = cJSON_IsNumber(pid) ? pid->valueint : 0;
		host_ready = s->hidden;
		if (s->state == SESSION_CREATING)
			session_enter(s, SESSION_READY, "the sandbox is up");
	} else if (strcmp(type, "message") == 0) {
		cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(ev, "message");
		if (m != NULL)
			cJSON_AddItemToArray(s->transcript, m);
	} else if (strcmp(type, "usage") == 0) {
		struct usage u = { 0 };
		usage_read_json(&u, cJSON_GetObjectItemCaseSensitive(ev, "turn"));
		usage_add(&s->usage, &u);
	}
	session_history_event(s, type, ev);
	if (strncmp(type, "op_", 3) == 0) {
		struct op_run *op = s->op;
		bool end = strcmp(type, "op_end") == 0;
		if (end)
			s->op = NULL;
		if (op != NULL && !end)
			op_run_ref(op);
		pthread_mutex_unlock(&s->lock);
		if (op != NULL) {
			op_run_event(op, id, ev);
			op_run_unref(op);
		}
		cJSON_Delete(ev);
		return;
	}
	bool last = strcmp(type, "done") == 0 || strcmp(type, "error") == 0;
	if (strcmp(type, "error") == 0) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "error"), "message");
		free(s->reason);
		s->reason = cJSON_IsString(m) ? strdup(m->valuestring) : NULL;
	}
	if (strcmp(type, "message") != 0)
		session_log_event(s, id, type, ev);
	run = s->run;
	if (run != NULL)
		chat_run_ref(run);
	bool held = false;
	if (last) {
		bool done = strcmp(type, "done") == 0;
		s->turns += done;
		s->last_active = time(NULL);
		if (done) {
			s->committed = cJSON_GetArraySize(s->transcript);
		} else {          /* the agent rolled the turn back: so does the transcript */
			while (cJSON_GetArraySize(s->transcript) > s->committed)
				cJSON_DeleteItemFromArray(s->transcript, s->committed);
		}
		held = done && hybrid_hold_done(s, id, ev);
		if (!held)
			ended = detach_run(s);
		destroy = s->pattern == PATTERN_EPHEMERAL;
	}
	if (held && run != NULL) {  /* the turn hears of its end once it is saved */
		chat_run_unref(run);
		run = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (run != NULL) {
		chat_run_event(run, id, ev);
		chat_run_unref(run);
	}
	if (ended != NULL)
		chat_run_unref(ended);
	cJSON_Delete(ev);
	if (host_ready)
		shared_host_ready(s);
	if (destroy)
		session_destroy(s, "ephemeral: its turn is over");
}

static void on_closed(void *owner, const char *why)
{
	struct session *s = owner;
	char msg[600];
	pthread_mutex_lock(&s->lock);
	s->link = NULL;
	struct chat_run *run = s->run;
	struct op_run *op = s->op;
	s->run = NULL;
	s->op = NULL;
	if (s->suspending) {
		s->suspending = false;        /* suspended: its sandbox is gone, as it should be */
	} else if (!s->closing) {
		snprintf(msg, sizeof(msg), "the session's supervisor ended%s%s", why ? ": " : s->reason ? ": " : "",
			 why ? why : s->reason ? s->reason : "");
		session_enter(s, SESSION_FAILED, msg);
	}
	session_readers_wake(s);
	bool host_failed = s->hidden && !s->closing;
	pthread_mutex_unlock(&s->lock);
	if (host_failed)
		shared_host_failed(s);
	if (run != NULL) {
		chat_run_fail(run, "sandbox_error", s->closing ? "the session was destroyed during the turn"
							   : "the session ended before the turn finished");
		chat_run_unref(run);
	}
	if (op != NULL) {
		op_run_fail(op, "the session's sandbox ended before the operation finished");
		op_run_unref(op);
	}
	session_unref(s);       /* the hub's */
}

/* Keep-alives for a streaming client, and the idle timeout. */
static void on_tick(void *owner)
{
	struct session *s = owner;
	pthread_mutex_lock(&s->lock);
	struct chat_run *run = s->run;
	if (run != NULL)
		chat_run_ref(run);
	struct op_run *op = s->op;
	if (op != NULL)
		op_run_ref(op);
	for (struct event_reader *r = s->readers; r != NULL; r = r->next)
		sse_out_keepalive(&r->out, false);
	bool idle = (s->state == SESSION_IDLE || s->state == SESSION_READY) && !s->pooled && !s->hidden &&
		    clock_mono_ns() - s->idle_since_ns > (uint64_t)s->idle_timeout_s * 1000000000u;
	pthread_mutex_unlock(&s->lock);
	if (run != NULL) {
		chat_run_tick(run);
		chat_run_unref(run);
	}
	if (op != NULL) {
		op_run_tick(op);
		op_run_unref(op);
	}
	struct ad_err e;
	if (idle && s->pattern == PATTERN_HYBRID && session_suspend(s, &e) < 0)
		log_warn("session %s: cannot suspend: %s", s->id, e.msg);
	else if (idle && s->pattern != PATTERN_HYBRID)
		session_destroy(s, "idle timeout");
}

const struct hub_link_ops session_link_ops = { on_event, on_closed, on_tick };

int session_turn(struct session *s, cJSON *turn, struct chat_run *run, struct ad_err *err)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	if (s->state == SESSION_SUSPENDED) {
		pthread_mutex_unlock(&s->lock);
		return hybrid_resume(s, turn, run, err);
	}
	if (s->model != NULL && cJSON_GetObjectItemCaseSensitive(turn, "model") == NULL)
		cJSON_AddStringToObject(turn, "model", s->model);
	if (s->system != NULL && cJSON_GetObjectItemCaseSensitive(turn, "system") == NULL)
		cJSON_AddStringToObject(turn, "system", s->system);
	/* a shared session whose sandbox is still being built: the turn waits for it */
	bool waits = s->link == NULL && s->state == SESSION_CREATING && s->group != NULL && !s->closing;
	if (!waits && (s->link == NULL || s->closing || s->state == SESSION_FAILED || s->state == SESSION_DESTROYED)) {
		rc = ad_err_code(err, ENOENT, "session %s is %s", s->id, session_state_names[s->state]);
	} else if (s->run != NULL || s->op != NULL) {
		rc = ad_err_code(err, EBUSY, "session %s is working on a %s; wait for it%s", s->id,
				 s->run ? "turn" : "command or file", s->run ? " or interrupt it" : "");
	} else {
		if (waits)
			s->pending_turn = cJSON_Duplicate(turn, true);
		else
			rc = hub_link_send(s->link, FRAME_TURN, turn, err);
		if (rc == 0) {
			chat_run_ref(run);
			s->run = run;
			s->last_active = time(NULL);
			if (!waits)
				session_enter(s, SESSION_RUNNING, NULL);
			chat_run_hello(run, ++s->next_event_id);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* A session whose turn waited for its sandbox: now it goes (or fails). */
void session_send_pending(struct session *s, const char *failure)
{
	struct ad_err e;
	pthread_mutex_lock(&s->lock);
	cJSON *turn = s->pending_turn;
	s->pending_turn = NULL;
	struct chat_run *run = NULL;
	if (turn != NULL && failure == NULL && s->link != NULL && hub_link_send(s->link, FRAME_TURN, turn, &e) == 0) {
		session_enter(s, SESSION_RUNNING, NULL);
	} else if (turn != NULL) {
		run = s->run;
		s->run = NULL;
		snprintf(e.msg, sizeof(e.msg), "%s", failure ? failure : "the session's sandbox is gone");
	}
	pthread_mutex_unlock(&s->lock);
	cJSON_Delete(turn);
	if (run != NULL) {
		chat_run_fail(run, "sandbox_error", e.msg);
		chat_run_unref(run);
	}
}

int session_send_op(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err)
{
	cJSON_DeleteItemFromObjectCaseSensitive(op, "id");
	cJSON_AddNumberToObject(op, "id", ++s->next_op_id);
	if (hub_link_send(s->link, FRAME_OP, op, err) < 0)
		return -1;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "op");
	snprintf(s->op_kind, sizeof(s->op_kind), "%s", cJSON_IsString(kind) ? kind->valuestring : "");
	cJSON_Delete(s->op_input);
	s->op_input = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(op, "command"), true);
	op_run_ref(w);
	s->op = w;
	s->last_active = time(NULL);
	s->idle_since_ns = clock_mono_ns();
	return 0;
}

int session_op(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err)
{
	int rc;
	pthread_mutex_lock(&s->lock);
	if (s->link == NULL || s->closing || s->state == SESSION_FAILED || s->state == SESSION_DESTROYED ||
	    s->state == SESSION_SUSPENDED)
		rc = ad_err_code(err, ENOENT, "session %s is %s%s", s->id, session_state_names[s->state],
				s->state == SESSION_SUSPENDED ? "; a message resumes it" : "");
	else if (s->run != NULL || s->op != NULL)
		rc = ad_err_code(err, EBUSY, "session %s is working on a %s; try again when it is done", s->id,
				s->run ? "turn" : "command or file");
	else
		rc = session_send_op(s, op, w, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int session_interrupt(struct session *s, struct ad_err *err)
{
	int rc;
	pthread_mutex_lock(&s->lock);
	if (s->run == NULL || s->link == NULL) {
		rc = ad_err_code(err, ENOENT, "session %s has no turn in flight", s->id);
	} else {
		cJSON *cancel = cJSON_CreateObject();
		rc = hub_link_send(s->link, FRAME_CANCEL, cancel, err);
		cJSON_Delete(cancel);
		if (rc == 0)
			log_info("session %s: interrupt", s->id);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void session_destroy(struct session *s, const char *why)
{
	pthread_mutex_lock(&s->lock);
	if (s->state == SESSION_DESTROYED) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->closing = true;
	session_enter(s, SESSION_DESTROYED, why);
	if (s->link != NULL)
		hub_link_close(s->link);    /* the supervisor tears the sandbox down */
	session_readers_wake(s);
	/* its saved state goes, but at shutdown, when it stays to be resumed; a save on
	 * its way to disk removes it itself once written (hybrid.c) */
	bool drop = s->pattern == PATTERN_HYBRID && !registry_shutting_down(s->reg);
	if (drop && s->saving) {
		s->drop_saved = true;
		drop = false;
	}
	pthread_mutex_unlock(&s->lock);
	registry_remove(s->reg, s);
	if (drop)
		persist_remove(registry_config(s->reg)->state_dir, s->id);
}

cJSON *session_json(struct session *s, bool detail)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&s->lock);
	cJSON_AddStringToObject(j, "id", s->id);
	cJSON_AddStringToObject(j, "state", session_state_names[s->state]);
	cJSON_AddStringToObject(j, "pattern", session_pattern_names[s->pattern]);
	cJSON_AddNumberToObject(j, "created", (double)s->created);
	cJSON_AddNumberToObject(j, "last_active", (double)s->last_active);
	cJSON_AddNumberToObject(j, "idle_timeout_s", s->idle_timeout_s);
	cJSON_AddNumberToObject(j, "turns", s->turns);
	if (s->state == SESSION_FAILED && s->reason != NULL)
		cJSON_AddStringToObject(j, "error", s->reason);
	cJSON_AddItemToObject(j, "usage", usage_json(&s->usage));
	cJSON_AddNumberToObject(j, "cost_usd", usage_cost(registry_config(s->reg), &s->usage));
	if (detail)
		cJSON_AddItemToObject(j, "resources", s->cgroup && s->link ? sandbox_cgroup_stats(s->cgroup)
									   : cJSON_CreateNull());
	pthread_mutex_unlock(&s->lock);
	return j;
}

cJSON *session_transcript(struct session *s)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&s->lock);
	cJSON_AddItemToObject(j, "messages", cJSON_Duplicate(s->transcript, true));
	pthread_mutex_unlock(&s->lock);
	return j;
}

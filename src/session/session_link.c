/* What a session's link to its supervisor brings (on the hub's thread): run events,
 * the link's end, and the ticks by which idle sessions time out. See session.c for the
 * locking rules. */
#include "session_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/waiters.h"
#include "core/cleanup.h"
#include "core/clock.h"
#include "core/log.h"
#include "session/hub.h"
#include "supervisor/spawner.h"

/* Under the lock: the turn in flight is over; the caller gets its reference. */
static struct chat_run *detach_run(struct session *s)
{
	struct chat_run *run = s->run;
	s->run = NULL;
	if (s->state == SESSION_RUNNING)
		session_enter(s, SESSION_IDLE, NULL);
	return run;
}

/* Under the lock: a completed turn in the turn log, with the transcript's messages since
 * the last one (so a page that starts from the transcript shows each turn's cost). */
static void log_turn(struct session *s, const cJSON *done)
{
	if (s->turn_log == NULL && (s->turn_log = cJSON_CreateArray()) == NULL)
		return;
	cJSON *t = cJSON_CreateObject();
	cJSON_AddNumberToObject(t, "first_message", s->committed);
	static const char *const fields[] = { "stop_reason", "model_calls", "usage", "cost_usd" };
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(done, fields[i]);
		cJSON_AddItemToObject(t, fields[i], v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
	}
	cJSON_AddItemToArray(s->turn_log, t);
}

/* What an event of the agent's or the supervisor's changes in the session, under its
 * lock, before it is logged (id: its event id). One small function a type. */
static void note_ready(struct session *s, cJSON *ev, unsigned id)
{
	cJSON_Delete(s->cgroup);
	s->cgroup = cJSON_DetachItemFromObjectCaseSensitive(ev, "cgroup");
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(ev, "init_pid");
	s->init_pid = cJSON_IsNumber(pid) ? pid->valueint : 0;
	const cJSON *netns = cJSON_GetObjectItemCaseSensitive(ev, "netns");
	s->netns = cJSON_IsNumber(netns) ? (uint64_t)netns->valuedouble : 0;
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "netns");
	s->views = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "views"));
	cJSON_Delete(s->network);
	s->network = cJSON_DetachItemFromObjectCaseSensitive(ev, "network");
	cJSON_Delete(s->mcp);
	s->mcp = cJSON_DetachItemFromObjectCaseSensitive(ev, "mcp");
	/* a resumed hybrid's turn went with its spawn (hybrid_resume.c): it runs now */
	bool resumed = s->resume_building && s->run != NULL && s->pending_turn == NULL;
	s->resume_building = false;
	if (s->state == SESSION_CREATING)
		session_enter(s, resumed ? SESSION_RUNNING : SESSION_READY, resumed ? "resumed" : "the sandbox is up");
}

static void note_message(struct session *s, cJSON *ev, unsigned id)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "message");
	if (m != NULL) {          /* and into the log: the conversation is in the events */
		cJSON_AddItemToArray(s->transcript, cJSON_Duplicate(m, true));
		s->transcript_event = id;
	}
}

static void note_usage(struct session *s, cJSON *ev, unsigned id)
{
	struct usage u = { 0 };
	usage_read_json(&u, cJSON_GetObjectItemCaseSensitive(ev, "call"));
	usage_add(&s->usage, &u);
}

static void note_error(struct session *s, cJSON *ev, unsigned id)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "error"), "message");
	free(s->reason);
	s->reason = cJSON_IsString(m) ? strdup(m->valuestring) : NULL;
}

static const struct {
	const char *type;
	void (*note)(struct session *s, cJSON *ev, unsigned id);
} notes[] = {
	{ "ready", note_ready }, { "message", note_message }, { "usage", note_usage }, { "error", note_error },
};

/* Under the lock: the turn ended with its done or error event (done: true). The
 * transcript keeps or rolls back its messages; a hybrid turn's done is held until it is
 * saved (true then: the turn hears of its end later); else *ended gets the turn. */
static bool end_turn(struct session *s, bool done, unsigned id, const cJSON *ev, struct chat_run **ended)
{
	s->turns += done;
	s->last_active = time(NULL);
	if (done) {
		log_turn(s, ev);
		s->committed = cJSON_GetArraySize(s->transcript);
	} else {              /* the agent rolled the turn back: so does the transcript */
		while (cJSON_GetArraySize(s->transcript) > s->committed)
			cJSON_DeleteItemFromArray(s->transcript, s->committed);
	}
	bool held = done && hybrid_hold_done(s, id, ev);
	if (!held)
		*ended = detach_run(s);
	return held;
}

/* Under the lock: a pooled supervisor's notes, nobody's events: its pid, then its
 * sandbox's cgroup, its first two frames, sent before the agent can send any: later
 * ones (the agent's, passed on) are not believed. The cgroup of one taken before it
 * said it is returned, to be raised (pool_raise_taken) once the lock is let go of. */
static cJSON *note_builder(struct session *s, cJSON *ev)
{
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(ev, "pid");
	if (!(s->pooled || s->builder_taken) || s->state == SESSION_DESTROYED || s->builder_cgroup != NULL)
		return NULL;
	if (s->builder_pid == 0 && s->pooled && cJSON_IsNumber(pid) && pid->valuedouble > 1 &&
	    pid->valuedouble < INT_MAX) {
		s->builder_pid = (int)pid->valuedouble;
		session_log(s, AD_LOG_DEBUG, "pool: its sandbox is built by pid %d", s->builder_pid);
	} else if (s->builder_pid != 0) {
		s->builder_cgroup = cJSON_DetachItemFromObjectCaseSensitive(ev, "cgroup");
		if (s->builder_cgroup == NULL)
			s->builder_cgroup = cJSON_CreateNull();    /* said: no other is believed */
		else if (s->builder_taken)
			return cJSON_Duplicate(s->builder_cgroup, true);
	}
	return NULL;
}

/* An event from the supervisor: an op's or a view's goes to its waiter; every other is
 * noted, logged (printed once, as the SSE frame that the log and the turn's client
 * share), handed to the turn in flight, and may end the turn. */
static void on_event(void *owner, cJSON *ev)
{
	struct session *s = owner;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	char type[32];
	snprintf(type, sizeof(type), "%s", cJSON_IsString(t) ? t->valuestring : "");
	pthread_mutex_lock(&s->lock);
	if (strcmp(type, "op_end") == 0 && session_view_end(s, ev))
		return;                            /* a view's only event; the lock let go of */
	if (strncmp(type, "op_", 3) == 0) {
		session_op_event(s, type, ev);     /* lets go of the lock, takes ev */
		return;
	}
	if (strcmp(type, "builder") == 0) {
		cJSON *taken = note_builder(s, ev);
		pthread_mutex_unlock(&s->lock);
		cJSON_Delete(ev);
		if (taken != NULL)
			pool_raise_taken(s, taken);
		return;
	}
	unsigned id = ++s->next_event_id;      /* every event below is logged with it */
	session_metrics_event(s, type, ev);
	for (size_t i = 0; i < ARRAY_SIZE(notes); i++)
		if (strcmp(type, notes[i].type) == 0)
			notes[i].note(s, ev, id);
	bool host_ready = strcmp(type, "ready") == 0 && s->hidden;
	session_history_event(s, type, ev);
	size_t frame_len = 0;
	_cleanup_free_ char *frame = session_event_frame(id, type, ev, &frame_len);
	if (frame != NULL)
		session_log_frame(s, id, frame, frame_len);
	struct chat_run *run = s->run, *ended = NULL;
	if (run != NULL)
		chat_run_ref(run);
	bool done = strcmp(type, "done") == 0, last = done || strcmp(type, "error") == 0;
	if (last && end_turn(s, done, id, ev, &ended) && run != NULL) {
		chat_run_unref(run);               /* it hears of its end once it is saved */
		run = NULL;
	}
	bool destroy = last && s->pattern == PATTERN_EPHEMERAL;
	/* its client may send the next message as soon as it has this one, before the
	 * destroy below: that message hears that the session has ended, not that it was
	 * destroyed during its turn */
	s->turns_over |= destroy;
	pthread_mutex_unlock(&s->lock);
	if (run != NULL) {
		chat_run_event(run, id, ev, frame, frame_len);
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
	session_metrics_closed(s);
	s->link = NULL;
	s->views = false;                  /* the next sandbox says for itself (its "ready") */
	struct chat_run *run = s->run;
	struct op_run *ops[1 + SESSION_VIEWS_MAX] = { s->op };
	size_t nops = 1 + session_views_take(s, ops + 1);
	s->run = NULL;
	s->op = NULL;
	struct op_run *suspended = NULL;
	bool destroyed = s->state == SESSION_DESTROYED;
	/* a hybrid session's resume whose sandbox never came up (its workspace held by
	 * another process, the host short of something) changed nothing it saved: it is
	 * suspended again, and the next message tries again */
	bool back = !destroyed && s->resume_building;
	s->resume_building = false;
	if (s->state == SESSION_SUSPENDING) {
		session_enter(s, SESSION_SUSPENDED, "its sandbox is gone");
		suspended = s->suspend_reply; /* who asked hears it now, when a message can resume it */
		s->suspend_reply = NULL;
	} else if (back) {
		const char *cause = s->reason ? s->reason : why;     /* its supervisor's words first */
		snprintf(msg, sizeof(msg), "its sandbox could not be built%s%s; it stays suspended, and the next "
			 "message tries again", cause ? ": " : "", cause ? cause : "");
		session_enter(s, SESSION_SUSPENDED, msg);
		free(s->reason);
		s->reason = strdup(msg);
	} else if (!destroyed) {
		snprintf(msg, sizeof(msg), "the session's supervisor ended%s%s", why ? ": " : s->reason ? ": " : "",
			 why ? why : s->reason ? s->reason : "");
		session_enter(s, SESSION_FAILED, msg);
		free(s->reason);              /* GET .../{id} says why, whatever ended it */
		s->reason = strdup(msg);
	}
	/* a turn that waited for it hears why it ended (a sandbox that could not be set up
	 * may end before the turn was handed to it) */
	char run_msg[700];
	snprintf(run_msg, sizeof(run_msg), "%s%s%s", destroyed ? "the session was destroyed during the turn"
		 : back ? "the session was not resumed" : "the session ended before the turn finished",
		 !destroyed && s->reason ? ": " : "", !destroyed && s->reason ? s->reason : "");
	session_listeners_wake(s);
	bool host_failed = s->hidden && !destroyed;
	/* a supervisor that ends by itself removes its workspace as it goes; one that was
	 * killed cannot: a failed session's is of no use to anyone (a hybrid's stays with
	 * its saved state, which a restart brings back) */
	bool drop = !destroyed && suspended == NULL && s->state == SESSION_FAILED && s->pattern != PATTERN_HYBRID;
	pthread_mutex_unlock(&s->lock);
	if (drop)
		session_workspace_drop(s);
	if (host_failed)
		shared_host_failed(s);
	if (suspended != NULL)
		hybrid_reply_suspended(suspended);
	if (run != NULL) {
		chat_run_fail(run, "sandbox_error", run_msg);
		chat_run_unref(run);
	}
	for (size_t i = 0; i < nops; i++) {
		if (ops[i] == NULL)
			continue;
		op_run_fail(ops[i], "the session's sandbox ended before the operation finished");
		op_run_unref(ops[i]);
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
	for (struct session_listener *l = s->listeners; l != NULL; l = l->next)
		l->tick(l);
	/* a draining node suspends its hybrids as soon as they are idle (node.c) */
	bool idle = (s->state == SESSION_IDLE || s->state == SESSION_READY) && !s->pooled && !s->hidden &&
		    (clock_mono_ns() - s->idle_since_ns > (uint64_t)s->idle_timeout_s * 1000000000u ||
		     (s->pattern == PATTERN_HYBRID && sessions_draining(s->reg)));
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
	if (idle && s->pattern == PATTERN_HYBRID && session_suspend(s, NULL, &e) < 0)
		session_log(s, AD_LOG_WARN, "cannot suspend: %s", e.msg);
	else if (idle && s->pattern != PATTERN_HYBRID)
		session_destroy(s, "idle timeout");
}

/* Stopped or hung, its supervisor would never see the hang-up, and keep its sandbox
 * for as long as agentd runs: the spawner, its parent, kills it and removes its cgroup. */
static void on_stalled(void *owner)
{
	struct session *s = owner;
	struct ad_err e;
	if (spawner_end(s->reg->spawner, s->sup_peer, &e) < 0)
		session_log(s, AD_LOG_WARN, "its stuck supervisor stays: %s", e.msg);
}

const struct hub_link_ops session_link_ops = { on_event, on_closed, on_tick, on_stalled };

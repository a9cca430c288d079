/* A session on the gateway's side: see include/session/session.h.
 *
 * Locks, in this order and never the other way: the registry's lock, then a session's
 * (the pool and shared groups look at their sessions' states under the registry's),
 * then a turn's (chat_run) or an op's (op_run). */
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/waiters.h"
#include "core/clock.h"
#include "core/log.h"
#include "ipc/frame.h"
#include "sandbox/cgroup.h"
#include "session/hub.h"
#include "session/persist.h"


const char *const session_pattern_names[] = {
	[PATTERN_EPHEMERAL] = "ephemeral", [PATTERN_LONG_RUNNING] = "long-running",
	[PATTERN_HYBRID] = "hybrid", [PATTERN_SHARED] = "shared", NULL,
};

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
	atomic_fetch_add(&s->refs, 1);
}

void session_unref(struct session *s)
{
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) > 1)
		return;
	session_log_free(s);
	cJSON_Delete(s->transcript);
	cJSON_Delete(s->turn_log);
	cJSON_Delete(s->history);
	cJSON_Delete(s->op_input);
	cJSON_Delete(s->held_end);
	cJSON_Delete(s->pending_turn);
	cJSON_Delete(s->cgroup);
	cJSON_Delete(s->builder_cgroup);
	cJSON_Delete(s->spawn_opts);
	cJSON_Delete(s->network);
	cJSON_Delete(s->mcp);
	free(s->reason);
	free(s->system);
	free(s->model);
	free(s->runtime);
	free(s->command);
	free(s->title);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int session_turn(struct session *s, cJSON *turn, struct chat_run *run, struct ad_err *err)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	if (s->model != NULL && cJSON_GetObjectItemCaseSensitive(turn, "model") == NULL)
		cJSON_AddStringToObject(turn, "model", s->model);
	if (s->system != NULL && cJSON_GetObjectItemCaseSensitive(turn, "system") == NULL)
		cJSON_AddStringToObject(turn, "system", s->system);
	if (s->runtime != NULL)
		cJSON_AddStringToObject(turn, "runtime", s->runtime);
	if (s->command != NULL)
		cJSON_AddStringToObject(turn, "command", s->command);
	if (s->state == SESSION_SUSPENDED || s->state == SESSION_SUSPENDING) {
		/* the session's defaults come back with it */
		pthread_mutex_unlock(&s->lock);
		return hybrid_resume(s, turn, run, err);
	}
	/* a shared session whose sandbox is still being built: the turn waits for it */
	bool waits = s->link == NULL && s->state == SESSION_CREATING && s->group != NULL;
	if (!waits && (s->state == SESSION_DESTROYED || s->turns_over) && s->pattern == PATTERN_EPHEMERAL) {
		char ended[AD_ERR_MSG_MAX];
		session_end_sentence(ended, sizeof(ended), s->id, s->pattern, "");
		rc = ad_err_code(err, ENOENT, "%s", ended);
	} else if (!waits && (s->link == NULL || session_is_over(s))) {
		/* it takes no more messages: say why it ended (a sandbox that could not be
		 * built fails its session before the first message may come) */
		char ended[AD_ERR_MSG_MAX];
		session_end_sentence(ended, sizeof(ended), s->id, s->pattern,
				     s->reason ? s->reason : session_state_shown(s));
		rc = ad_err_code(err, ESRCH, "%s; start a new session", ended);
	} else if (s->state == SESSION_SAVING) {
		rc = ad_err_code(err, EBUSY, "session %s is being suspended; a message resumes it once it is", s->id);
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
			session_turn_hello(s, run);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void session_turn_hello(struct session *s, struct chat_run *run)
{
	unsigned id = ++s->next_event_id;
	cJSON *hello = cJSON_CreateObject();
	cJSON_AddStringToObject(hello, "session_id", s->id);
	session_log_event(s, id, "session", hello);
	cJSON_Delete(hello);
	chat_run_hello(run, id);
}

/* A session whose turn waited for its sandbox: now it goes (or fails). */
void session_send_pending(struct session *s, const char *failure)
{
	struct ad_err e;
	pthread_mutex_lock(&s->lock);
	cJSON *turn = s->pending_turn;
	s->pending_turn = NULL;
	struct chat_run *run = NULL;
	if (turn != NULL && failure == NULL && s->link != NULL && !session_is_over(s) &&
	    hub_link_send(s->link, FRAME_TURN, turn, &e) == 0) {
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
	if (s->link == NULL)          /* its sandbox ended: on_closed has been */
		return ad_err_code(err, ESRCH, "session %s has no sandbox now: %s", s->id,
				   s->reason ? s->reason : session_state_shown(s));
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
	if (strcmp(s->op_kind, "exec") == 0)
		session_exec_start(s, op, w);
	s->last_active = time(NULL);
	s->idle_since_ns = clock_mono_ns();
	return 0;
}

int session_op(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err)
{
	int rc;
	pthread_mutex_lock(&s->lock);
	bool suspended = s->state == SESSION_SUSPENDED || s->state == SESSION_SUSPENDING;
	if (host_files_serves(s, op))
		rc = host_files_queue(s, op, w, err);    /* no sandbox needed: done on the host */
	else if (s->link == NULL || session_is_over(s) || suspended)
		rc = ad_err_code(err, ENOENT, "session %s is %s%s", s->id, session_state_shown(s),
				suspended ? "; a message resumes it" : "");
	else if (s->views && session_is_view(op))
		rc = session_send_view(s, op, w, err);
	else if (s->state == SESSION_SAVING)
		rc = ad_err_code(err, EBUSY, "session %s is being suspended; a message resumes it once it is", s->id);
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
			session_log(s, AD_LOG_INFO, "interrupt");
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
	/* a suspend whose save is done hears so now: its sandbox goes either way */
	struct op_run *suspended = NULL;
	if (s->state == SESSION_SUSPENDING) {
		suspended = s->suspend_reply;
		s->suspend_reply = NULL;
	}
	session_enter(s, SESSION_DESTROYED, why);
	if (s->link != NULL)
		hub_link_close(s->link);    /* the supervisor tears the sandbox down */
	session_listeners_wake(s);
	/* its saved state goes, but at shutdown, when it stays to be resumed; a save on
	 * its way to disk removes it itself once written (hybrid.c) */
	bool drop = s->pattern == PATTERN_HYBRID && !registry_shutting_down(s->reg);
	if (drop && s->saves_pending > 0) {
		s->drop_saved = true;
		drop = false;
	}
	pthread_mutex_unlock(&s->lock);
	if (suspended != NULL)
		hybrid_reply_suspended(suspended);
	registry_remove(s->reg, s, why);
	if (drop)
		persist_remove(registry_config(s->reg), s->id);
}

cJSON *session_json(struct session *s, bool detail)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&s->lock);
	cJSON_AddStringToObject(j, "id", s->id);
	cJSON_AddStringToObject(j, "state", session_state_shown(s));
	cJSON_AddStringToObject(j, "pattern", session_pattern_names[s->pattern]);
	cJSON_AddStringToObject(j, "runtime", s->runtime ? s->runtime : "agentd");
	cJSON_AddStringToObject(j, "title", s->title ? s->title : "");
	cJSON_AddNumberToObject(j, "created", (double)s->created);
	cJSON_AddNumberToObject(j, "last_active", (double)s->last_active);
	cJSON_AddNumberToObject(j, "idle_timeout_s", s->idle_timeout_s);
	cJSON_AddNumberToObject(j, "turns", s->turns);
	if (s->state == SESSION_FAILED && s->reason != NULL)
		cJSON_AddStringToObject(j, "error", s->reason);
	cJSON_AddItemToObject(j, "usage", usage_json(&s->usage));
	cJSON_AddNumberToObject(j, "cost_usd", usage_cost(registry_config(s->reg), &s->usage));
	if (detail && s->network != NULL)
		cJSON_AddItemToObject(j, "network", cJSON_Duplicate(s->network, true));
	if (detail && s->mcp != NULL)
		cJSON_AddItemToObject(j, "mcp", cJSON_Duplicate(s->mcp, true));
	if (detail) {
		cJSON *r = s->cgroup && s->link ? sandbox_cgroup_stats(s->cgroup) : cJSON_CreateObject();
		session_disk_json(s, r);
		if (r->child == NULL) {
			cJSON_Delete(r);
			r = cJSON_CreateNull();
		}
		cJSON_AddItemToObject(j, "resources", r);
	}
	pthread_mutex_unlock(&s->lock);
	return j;
}

cJSON *session_transcript(struct session *s)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&s->lock);
	cJSON_AddItemToObject(j, "messages", cJSON_Duplicate(s->transcript, true));
	/* what the messages hold ends there: the events after it (Last-Event-ID) follow on.
	 * In a turn, that is the last message's event (the reply in progress is not in the
	 * transcript yet); between turns, everything so far. */
	bool in_turn = s->run != NULL || s->state == SESSION_RUNNING;
	cJSON_AddNumberToObject(j, "event_id", in_turn ? s->transcript_event : s->next_event_id);
	cJSON_AddItemToObject(j, "turns", s->turn_log ? cJSON_Duplicate(s->turn_log, true) : cJSON_CreateArray());
	pthread_mutex_unlock(&s->lock);
	return j;
}

int session_sandbox_net(struct session *s, int *pid, uint64_t *netns)
{
	pthread_mutex_lock(&s->lock);
	bool up = s->link != NULL && s->init_pid > 0 && s->netns != 0 &&
		  (s->state == SESSION_READY || s->state == SESSION_IDLE || s->state == SESSION_RUNNING);
	*pid = s->init_pid;
	*netns = s->netns;
	pthread_mutex_unlock(&s->lock);
	return up ? 0 : -1;
}

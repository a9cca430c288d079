/* A session's state machine. Every state the session code tests is one of these, and
 * it changes only through session_enter(), which checks the change against the table
 * below and logs it. The ways through:
 *
 *   creating -> ready -> running -> idle -> running ...     a sandbox, its turns
 *   ready | idle -> saving -> suspending -> suspended       a hybrid suspend: the
 *                   saving -> ready | idle                  workspace saved, the sandbox
 *                                                           gone; or the save failed
 *   suspended -> creating -> (ready ->) running             a message resumes it
 *   creating | ready -> suspending | suspended              the resume failed
 *   any but suspending, suspended -> failed                 its sandbox or supervisor died
 *   any -> destroyed                                        deleted, timed out; the end
 *
 * saving and suspending are the two steps inside a suspend; a client is shown the
 * states it knows (the README's): the session as it was while it saves, suspended
 * while its sandbox goes. */
#include "session_int.h"

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/log.h"

const char *const session_state_names[] = {
	[SESSION_CREATING] = "creating", [SESSION_READY] = "ready", [SESSION_RUNNING] = "running",
	[SESSION_IDLE] = "idle", [SESSION_SAVING] = "saving", [SESSION_SUSPENDING] = "suspending",
	[SESSION_SUSPENDED] = "suspended", [SESSION_FAILED] = "failed", [SESSION_DESTROYED] = "destroyed",
};

#define TO(state) (1u << (state))
#define ENDS (TO(SESSION_FAILED) | TO(SESSION_DESTROYED))

static const unsigned transitions[] = {
	[SESSION_CREATING] = TO(SESSION_READY) | TO(SESSION_RUNNING) | TO(SESSION_SUSPENDING) |
			     TO(SESSION_SUSPENDED) | ENDS,
	[SESSION_READY] = TO(SESSION_RUNNING) | TO(SESSION_SAVING) | TO(SESSION_SUSPENDING) | ENDS,
	[SESSION_RUNNING] = TO(SESSION_IDLE) | ENDS,
	[SESSION_IDLE] = TO(SESSION_RUNNING) | TO(SESSION_SAVING) | ENDS,
	[SESSION_SAVING] = TO(SESSION_READY) | TO(SESSION_IDLE) | TO(SESSION_SUSPENDING) | ENDS,
	[SESSION_SUSPENDING] = TO(SESSION_SUSPENDED) | TO(SESSION_DESTROYED),
	[SESSION_SUSPENDED] = TO(SESSION_CREATING) | TO(SESSION_DESTROYED),
	[SESSION_FAILED] = TO(SESSION_DESTROYED),
	[SESSION_DESTROYED] = 0,
};

bool session_transition_ok(enum session_state from, enum session_state to)
{
	return from < ARRAY_SIZE(transitions) && (transitions[from] & TO(to)) != 0;
}

bool session_enter(struct session *s, enum session_state to, const char *why)
{
	if (s->state == to)
		return true;
	if (!session_transition_ok(s->state, to)) {
		/* a bug, not a user's doing: said loudly (the tests look for it), and the
		 * session keeps the state it has */
		session_log(s, AD_LOG_ERROR, "no transition from %s to %s%s%s", session_state_names[s->state],
			  session_state_names[to], why ? ": " : "", why ? why : "");
		return false;
	}
	session_log(s, AD_LOG_INFO, "%s -> %s%s%s", session_state_names[s->state], session_state_names[to],
		 why ? ": " : "", why ? why : "");
	s->state = to;
	if (to == SESSION_IDLE || to == SESSION_READY)
		s->idle_since_ns = clock_mono_ns();
	return true;
}

const char *session_state_shown(const struct session *s)
{
	if (s->state == SESSION_SAVING)
		return session_state_names[s->turns > 0 ? SESSION_IDLE : SESSION_READY];
	if (s->state == SESSION_SUSPENDING)
		return session_state_names[SESSION_SUSPENDED];
	return session_state_names[s->state];
}

bool session_is_over(const struct session *s)
{
	return s->state == SESSION_FAILED || s->state == SESSION_DESTROYED;
}

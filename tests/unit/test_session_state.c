/* Unit tests for a session's state machine (src/session/session_state.c): the table
 * allows the changes the session code makes and refuses the others, and session_enter()
 * keeps the state it has when refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "../../src/session/session_int.h"

#define NSTATES (SESSION_DESTROYED + 1)

static void every_state_has_a_name_and_can_end(void **state)
{
	(void)state;
	for (int s = 0; s < NSTATES; s++) {
		assert_non_null(session_state_names[s]);
		if (s != SESSION_DESTROYED)
			assert_true(session_transition_ok(s, SESSION_DESTROYED));
	}
	for (int to = 0; to < NSTATES; to++)
		assert_false(session_transition_ok(SESSION_DESTROYED, to));
}

/* The changes the session code makes are allowed; the others are refused. */
static void the_table_allows_what_the_code_does_and_nothing_else(void **state)
{
	(void)state;
	static const struct { enum session_state from, to; bool ok; } cases[] = {
		{ SESSION_CREATING, SESSION_READY, true }, { SESSION_READY, SESSION_RUNNING, true },
		{ SESSION_RUNNING, SESSION_IDLE, true }, { SESSION_IDLE, SESSION_RUNNING, true },
		{ SESSION_IDLE, SESSION_SAVING, true }, { SESSION_READY, SESSION_SAVING, true },
		{ SESSION_SAVING, SESSION_IDLE, true }, { SESSION_SAVING, SESSION_READY, true },
		{ SESSION_SAVING, SESSION_SUSPENDING, true }, { SESSION_SUSPENDING, SESSION_SUSPENDED, true },
		{ SESSION_SUSPENDED, SESSION_CREATING, true }, { SESSION_CREATING, SESSION_RUNNING, true },
		{ SESSION_CREATING, SESSION_SUSPENDING, true }, { SESSION_READY, SESSION_SUSPENDING, true },
		{ SESSION_CREATING, SESSION_SUSPENDED, true }, { SESSION_RUNNING, SESSION_FAILED, true },
		{ SESSION_SAVING, SESSION_FAILED, true }, { SESSION_FAILED, SESSION_DESTROYED, true },
		{ SESSION_FAILED, SESSION_RUNNING, false }, { SESSION_FAILED, SESSION_SUSPENDED, false },
		{ SESSION_SUSPENDED, SESSION_RUNNING, false }, { SESSION_SUSPENDED, SESSION_FAILED, false },
		{ SESSION_SUSPENDING, SESSION_FAILED, false }, { SESSION_SUSPENDING, SESSION_CREATING, false },
		{ SESSION_RUNNING, SESSION_SAVING, false }, { SESSION_RUNNING, SESSION_READY, false },
		{ SESSION_IDLE, SESSION_READY, false }, { SESSION_IDLE, SESSION_SUSPENDED, false },
		{ SESSION_READY, SESSION_SUSPENDED, false }, { SESSION_SAVING, SESSION_RUNNING, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (session_transition_ok(cases[i].from, cases[i].to) != cases[i].ok)
			fail_msg("%s -> %s %s", session_state_names[cases[i].from], session_state_names[cases[i].to],
				 cases[i].ok ? "refused" : "allowed");
}

static void a_refused_change_keeps_the_state(void **state)
{
	(void)state;
	struct session s;
	memset(&s, 0, sizeof(s));
	strcpy(s.id, "sess_00");
	s.state = SESSION_IDLE;
	assert_true(session_enter(&s, SESSION_SAVING, "suspend"));
	assert_int_equal(s.state, SESSION_SAVING);
	assert_false(session_enter(&s, SESSION_RUNNING, "a turn"));
	assert_int_equal(s.state, SESSION_SAVING);
	assert_true(session_enter(&s, SESSION_SAVING, NULL));     /* no change is no error */
	assert_true(session_enter(&s, SESSION_DESTROYED, "deleted"));
	assert_false(session_enter(&s, SESSION_FAILED, "too late"));
	assert_int_equal(s.state, SESSION_DESTROYED);
}

static void clients_see_the_states_they_know(void **state)
{
	(void)state;
	struct session s;
	memset(&s, 0, sizeof(s));
	s.state = SESSION_SAVING;
	assert_string_equal(session_state_shown(&s), "ready");    /* no turn yet */
	s.turns = 2;
	assert_string_equal(session_state_shown(&s), "idle");
	s.state = SESSION_SUSPENDING;
	assert_string_equal(session_state_shown(&s), "suspended");
	s.state = SESSION_RUNNING;
	assert_string_equal(session_state_shown(&s), "running");
	assert_false(session_is_over(&s));
	s.state = SESSION_FAILED;
	assert_true(session_is_over(&s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_state_has_a_name_and_can_end),
		cmocka_unit_test(the_table_allows_what_the_code_does_and_nothing_else),
		cmocka_unit_test(a_refused_change_keeps_the_state),
		cmocka_unit_test(clients_see_the_states_they_know),
	};
	return cmocka_run_group_tests_name("session_state", tests, NULL, NULL);
}

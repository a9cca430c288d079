/* Unit tests for the persistent shell (include/agent/bash.h), with the real bash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/bash.h"
#include "core/utf8.h"
#include "wait_until.h"

static struct bash_session *sh;
static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/agentd-bash-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	sh = bash_session_new("/bin/bash", dir);
	return sh ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	bash_session_free(sh);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static bool run(const char *command, unsigned timeout, char *out, size_t size)
{
	cJSON *in = cJSON_CreateObject();
	cJSON_AddStringToObject(in, "command", command);
	struct tool_result r;
	tool_result_init(&r);
	tool_bash(sh, in, timeout, &r);
	snprintf(out, size, "%s", tool_result_text(&r));
	bool err = r.is_error;
	tool_result_free(&r);
	cJSON_Delete(in);
	return err;
}

static void state_survives_between_calls(void **state)
{
	(void)state;
	char out[4096];
	assert_false(run("mkdir -p sub && cd sub && export GREETING=hi", 10, out, sizeof(out)));
	assert_string_equal(out, "");
	assert_false(run("pwd; echo \"$GREETING\"", 10, out, sizeof(out)));
	char want[128];
	snprintf(want, sizeof(want), "%s/sub\nhi", dir);
	assert_string_equal(out, want);
	/* stderr comes along, the exit status is told */
	assert_true(run("echo out; echo err >&2; false", 10, out, sizeof(out)));
	assert_string_equal(out, "out\nerr\n[exit status 1]");
	/* stdin is /dev/null: a command that reads it ends at once */
	assert_false(run("cat; echo after", 10, out, sizeof(out)));
	assert_string_equal(out, "after");
	/* the marker cannot be forged by printing something like it */
	assert_false(run("echo __agentd_done_0000000000000000deadbeefdeadbeef_7", 10, out, sizeof(out)));
	assert_string_equal(out, "__agentd_done_0000000000000000deadbeefdeadbeef_7");
}

static void timeout_kills_the_group_and_restarts(void **state)
{
	(void)state;
	char out[4096];
	run("cd /", 10, out, sizeof(out));
	long t0 = wait_until_now_ms();
	assert_true(run("sleep 1000 & sleep 1001", 1, out, sizeof(out)));
	assert_in_range(wait_until_now_ms() - t0, 1000, WAIT_UNTIL_MS);   /* at its timeout, not its 1000 s */
	assert_non_null(strstr(out, "timed out after 1 s"));
	/* nothing it started is left (once the kill has taken) */
	assert_true(wait_process("sleep 1000", false) && wait_process("sleep 1001", false));
	/* a fresh shell, back in the starting directory */
	assert_false(run("pwd", 10, out, sizeof(out)));
	assert_string_equal(out, dir);
	/* exit ends the shell; the next command gets a new one */
	assert_true(run("exit 3", 10, out, sizeof(out)));
	assert_non_null(strstr(out, "the shell exited"));
	assert_false(run("echo again", 10, out, sizeof(out)));
	assert_string_equal(out, "again");
}

static void output_is_capped(void **state)
{
	(void)state;
	static char out[TOOL_OUTPUT_MAX + 1024];
	assert_false(run("head -c 300000 /dev/zero | tr '\\0' x; echo", 20, out, sizeof(out)));
	assert_non_null(strstr(out, "[output cut:"));
	assert_true(strlen(out) < TOOL_OUTPUT_MAX + 200);
	assert_false(run("echo still here", 10, out, sizeof(out)));
	assert_string_equal(out, "still here");
}

static void bytes_that_are_not_text(void **state)
{
	(void)state;
	char out[8192];
	/* a NUL in the output does not hide the end of the command (hidden, it would run
	 * into its timeout: an error result) */
	assert_false(run("printf 'a\\000b\\377c\\n'", 60, out, sizeof(out)));
	assert_string_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
	/* whatever the bytes, the result is UTF-8 text */
	for (int i = 0; i < 5; i++) {
		assert_false(run("head -c 3000 /dev/urandom", 5, out, sizeof(out)));
		assert_true(utf8_valid(out, strlen(out), NULL));
		assert_true(strlen(out) >= 3000);
	}
	assert_false(run("echo still here", 10, out, sizeof(out)));
	assert_string_equal(out, "still here");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(state_survives_between_calls),
		cmocka_unit_test(timeout_kills_the_group_and_restarts),
		cmocka_unit_test(output_is_capped),
		cmocka_unit_test(bytes_that_are_not_text),
	};
	return cmocka_run_group_tests_name("bash", tests, setup, teardown);
}

/* Unit tests for the persistent shell (include/agent/bash.h), with the real bash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* Whether pid is a live process (not a zombie), by its state in /proc. */
static bool alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *end = strrchr(buf, ')');
	return end != NULL && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

/* The command's output is the shell's own pid: it ran in that shell. */
static void assert_runs_in(pid_t pid)
{
	char out[64], want[32];
	assert_false(run("echo $$", 10, out, sizeof(out)));
	snprintf(want, sizeof(want), "%d", (int)pid);
	assert_string_equal(out, want);
}

static void started_ahead_and_again_at_once(void **state)
{
	(void)state;
	char out[4096];
	struct bash_session *group = sh;       /* a session of its own, with no shell yet */
	sh = bash_session_new("/bin/bash", dir);
	assert_non_null(sh);
	/* started before any command: the first one runs in that shell */
	assert_int_equal(bash_session_pid(sh), 0);
	assert_int_equal(bash_session_start(sh), 0);
	pid_t first = bash_session_pid(sh);
	assert_true(first > 0 && alive(first));
	assert_int_equal(bash_session_start(sh), 0);        /* one shell, not two */
	assert_int_equal(bash_session_pid(sh), first);
	assert_runs_in(first);
	/* past a timeout, a new shell runs before the next command asks for one */
	assert_true(run("sleep 1000", 1, out, sizeof(out)));
	assert_non_null(strstr(out, "timed out after 1 s: the shell was killed"));
	assert_non_null(strstr(out, "a new shell was started: cwd and variables reset"));
	pid_t second = bash_session_pid(sh);
	assert_true(second > 0 && second != first && alive(second));
	assert_false(alive(first));
	assert_runs_in(second);
	/* so after its own exit, with the status it exited with */
	assert_true(run("echo bye; exit 3", 10, out, sizeof(out)));
	assert_string_equal(out, "bye\n[the shell exited with status 3; a new shell was started: cwd and "
			    "variables reset]");
	pid_t third = bash_session_pid(sh);
	assert_true(third > 0 && third != second && alive(third));
	assert_runs_in(third);
	/* killed between commands: the next command is not run in the new shell, whose cwd
	 * it does not expect, and says so */
	assert_false(run("cd /", 10, out, sizeof(out)));
	kill(third, SIGKILL);
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)third, &si, WEXITED | WNOWAIT), 0);
	assert_true(run("touch not-here", 10, out, sizeof(out)));
	assert_string_equal(out, "[the shell was ended by signal 9 (Killed) after the last command, and this "
			    "command was not run; a new shell was started: cwd and variables reset]");
	assert_true(bash_session_pid(sh) > 0 && bash_session_pid(sh) != third);
	assert_false(run("pwd; ls /not-here 2>/dev/null; test -e not-here || echo none", 10, out, sizeof(out)));
	char want[128];
	snprintf(want, sizeof(want), "%s\nnone", dir);
	assert_string_equal(out, want);
	bash_session_free(sh);
	sh = group;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Lines of path that read "warm". */
static int warm_ups(const char *path)
{
	char line[64];
	int n = 0;
	FILE *f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n += strcmp(line, "warm\n") == 0;
	if (f != NULL)
		fclose(f);
	return n;
}

/* A turn right after the shell's start (an ephemeral chat) finds its warm-up not yet
 * read: no second one is queued before the first command. A shell that has read all it
 * was sent is warmed again. The shell here waits at a gate (a fifo the test opens) before
 * it becomes bash, whose DEBUG trap (from BASH_ENV) logs each warm-up's ':' it runs. */
static void a_warm_up_waits_for_the_last_one(void **state)
{
	(void)state;
	char shell[128], gate[128], env[128], log[128], out[256];
	snprintf(shell, sizeof(shell), "%s/gated-bash", dir);
	snprintf(gate, sizeof(gate), "%s/gate", dir);
	snprintf(env, sizeof(env), "%s/env.sh", dir);
	snprintf(log, sizeof(log), "%s/warm.log", dir);
	write_file(shell, "#!/bin/sh\nread _ < \"$AGENTD_TEST_GATE\"\nexec /bin/bash --noprofile --norc\n", 0755);
	write_file(env, "trap '[ \"$BASH_COMMAND\" = : ] && echo warm >> \"$AGENTD_TEST_WARM_LOG\"' DEBUG\n", 0644);
	assert_int_equal(mkfifo(gate, 0600), 0);
	setenv("AGENTD_TEST_GATE", gate, 1);
	setenv("AGENTD_TEST_WARM_LOG", log, 1);
	setenv("BASH_ENV", env, 1);
	struct bash_session *other = sh;
	sh = bash_session_new(shell, dir);
	assert_non_null(sh);
	assert_int_equal(bash_session_start(sh), 0);     /* started, its warm-up sent */
	assert_int_equal(bash_session_start(sh), 0);     /* a turn: the warm-up is unread */
	int fd = open(gate, O_WRONLY | O_CLOEXEC);       /* the shell goes on */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	assert_false(run("true", 10, out, sizeof(out)));
	assert_int_equal(warm_ups(log), 1);
	assert_int_equal(bash_session_start(sh), 0);     /* all read: warmed again */
	assert_false(run("true", 10, out, sizeof(out)));
	assert_int_equal(warm_ups(log), 2);
	bash_session_free(sh);
	sh = other;
	unsetenv("BASH_ENV");
	unsetenv("AGENTD_TEST_GATE");
	unsetenv("AGENTD_TEST_WARM_LOG");
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
		cmocka_unit_test(started_ahead_and_again_at_once),
		cmocka_unit_test(a_warm_up_waits_for_the_last_one),
		cmocka_unit_test(output_is_capped),
		cmocka_unit_test(bytes_that_are_not_text),
	};
	return cmocka_run_group_tests_name("bash", tests, setup, teardown);
}

/* Waiting in a unit test for what the test does not control (a killed process to be
 * gone, a started one to show), with a generous deadline, never a fixed sleep: a
 * condition that holds returns at once, only a failing run waits the deadline.
 * Header-only. */
#ifndef AGENTD_TESTS_WAIT_UNTIL_H
#define AGENTD_TESTS_WAIT_UNTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WAIT_UNTIL_MS 30000   /* ASan builds on a loaded 2-core machine included */

static inline long wait_until_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Whether a process runs with exactly this command line (pgrep -f '^command$'). */
static inline bool process_running(const char *command)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "pgrep -f '^%s$' >/dev/null", command);
	return system(cmd) == 0;
}

/* Until process_running(command) is want (true), or WAIT_UNTIL_MS went by (false). */
static inline bool wait_process(const char *command, bool want)
{
	for (long end = wait_until_now_ms() + WAIT_UNTIL_MS;; usleep(20000)) {
		if (process_running(command) == want)
			return true;
		if (wait_until_now_ms() > end)
			return false;
	}
}

#endif

/* Timestamps of a sandbox's start-up steps, for the benchmark: with
 * AGENTD_SANDBOX_TIMING=1, `agentd sandbox run` prints one line per step on stderr,
 * "agentd-steptime NAME NS" (NS: CLOCK_MONOTONIC in nanoseconds), the launcher's and
 * the sandbox child's steps alike, in the order they happened.
 *
 * The marks go to a page shared with the child (the fork-like clone keeps it mapped
 * until the child's exec), so the child records without a syscall beyond the clock's.
 * Off (one branch per mark) unless sandbox_steptime_enable() was called. */
#ifndef AGENTD_SANDBOX_STEPTIME_H
#define AGENTD_SANDBOX_STEPTIME_H

/* Map the shared page. Call before sandbox_start(). */
void sandbox_steptime_enable(void);
/* Record now under name (a string literal: the child's copy points at the same text).
 * Async-signal-safe; a no-op when not enabled or when the page is full. */
void sandbox_steptime_mark(const char *name);
/* The marks, oldest first, to fd in one write. */
void sandbox_steptime_print(int fd);

#endif

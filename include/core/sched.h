/* CPU scheduling of work that must not compete: the warm pool's sandboxes are built at
 * SCHED_IDLE (they run only when a CPU has nothing else to do) and go back to the
 * normal policy when a session takes them. */
#ifndef AGENTD_CORE_SCHED_H
#define AGENTD_CORE_SCHED_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/err.h"

/* The calling thread to SCHED_IDLE; reset_on_fork: its children start at the normal
 * policy (SCHED_RESET_ON_FORK), else they inherit it. */
int sched_idle_enter(bool reset_on_fork, struct ad_err *err);
/* Thread tid from SCHED_IDLE back to SCHED_OTHER (nice 0): 1 when it was idle, 0 when
 * it was not (or is gone), -1 when it could not be changed (errno). */
int sched_idle_leave(pid_t tid);
/* The same for every thread a file lists, one id a line (a cgroup's "tasks" or
 * "cgroup.threads"), read again until a pass finds none idle (a thread forked by an
 * idle one during the pass inherited its policy). How many changed, or -1. */
int sched_idle_leave_listed(const char *path, struct ad_err *err);
/* The same for every thread of process pid (0: the calling process). */
int sched_idle_leave_process(pid_t pid, struct ad_err *err);

#endif

/* Headroom for one more session: before a sandbox is asked for, the hard limits the
 * session would take from are checked (the gateway's open files against RLIMIT_NOFILE,
 * the host's tasks against kernel.pid_max and kernel.threads-max, the pids.max of
 * agentd's cgroup and those above it, the memory the kernel says is available), so that
 * agentd refuses it with a message naming the limit and its value instead of failing
 * somewhere on the session's path. What no check foresaw (a fork, a socket or an
 * allocation that fails for want of a resource) is named the same way afterwards. */
#ifndef AGENTD_CORE_LIMITS_H
#define AGENTD_CORE_LIMITS_H

#include <stdbool.h>

#include "core/err.h"

/* What one idle session costs on its way (measured by tests/bench/density_bench.py,
 * rounded up: the supervisor with its threads, init, the agent and its shell), and what
 * agentd keeps free beyond it: fds for HTTP clients (health checks, deletes), tasks for
 * the rest of the host, memory for the kernel and for the sessions already there. */
#define LIMITS_SESSION_FDS 4
#define LIMITS_SESSION_TASKS 12
#define LIMITS_SPARE_FDS 64
#define LIMITS_SPARE_TASKS 64
/* Memory: a share of the host's (MemTotal / 32), at least 256 MiB and at most 2 GiB.
 * MemAvailable counts the page cache as available, the code of the running programs
 * included: a host that sessions bring down to a few hundred MiB of it pages that code
 * in and out and stops answering long before an allocation fails. */
#define LIMITS_SPARE_MEM_SHARE 32
#define LIMITS_SPARE_MEM_MIN_MIB 256
#define LIMITS_SPARE_MEM_MAX_MIB 2048

/* At start-up, before any thread: the soft limits agentd may raise up to their hard
 * limits (RLIMIT_NOFILE: a gateway holds a socket per session; RLIMIT_NPROC: supervisors
 * run under agentd's user). What it could not raise is only logged. */
void limits_raise(void);

/* The memory agentd keeps free on a host of total_kib (MemTotal), in KiB. */
long long limits_spare_mem_kib(long long total_kib);
/* 0 when a host with avail_kib of MemAvailable (-1: unknown) out of total_kib has room
 * for one more session; else -1 with EAGAIN and both figures named (limits_check reads
 * them from /proc/meminfo). */
int limits_check_memory(long long avail_kib, long long total_kib, struct ad_err *err);

/* 0 when one more session fits; else -1 with EAGAIN and the limit named. pids_cgroup:
 * the daemon's own cgroup directory of the pids controller (its pids.max and those of
 * the cgroups above it count), or NULL. */
int limits_check(const char *pids_cgroup, struct ad_err *err);

/* A system call's failure on a session's path: when its errno says a resource ran out
 * (EMFILE, ENFILE, ENOMEM, or EAGAIN from fork/clone), the limit is named after the
 * message and the code becomes EAGAIN (a 503 with Retry-After); other failures are left
 * as they are. Whether it was such a failure. */
bool limits_explain(struct ad_err *err, const char *pids_cgroup);

#endif

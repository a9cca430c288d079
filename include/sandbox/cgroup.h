/* One sandbox's cgroup: made below the daemon's own cgroup, limited by the policy,
 * killed through (freezer+SIGKILL on v1, cgroup.kill on v2, or cgroup.freeze+SIGKILL
 * before Linux 5.14) and removed at the end.
 * Never touches a cgroup it did not create. */
#ifndef AGENTD_SANDBOX_CGROUP_H
#define AGENTD_SANDBOX_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "sandbox/cgroup_host.h"
#include "sandbox/policy.h"

struct sandbox_cgroup {
	int version;                      /* 1 or 2; 0 when running without a cgroup */
	char dir[CG_NCTL][PATH_MAX];      /* v1: one per controller; v2: dir[0] */
	unsigned ndirs;
};

/* v2 only, once per process: memory, pids and cpu enabled for the children of the
 * daemon's cgroup, those of them it has (a missing one fails each sandbox_cgroup_create,
 * naming it and the fix). The daemon moves itself into a leaf ("<own>/agentd") when its
 * cgroup holds processes, as the no-internal-process rule demands. No-op on v1. */
int sandbox_cgroup_prepare(struct cgroup_host *host, struct ad_err *err);

/* Remove what parents that died without cleaning up (SIGKILL) left: "agentd-<pid>-<n>"
 * cgroups below ours whose <pid> is gone, empty and at least 2 s old. Returns how many. */
int sandbox_cgroup_sweep(const struct cgroup_host *host);
/* The same for one parent known to be dead (its parent reaped it): its cgroups, at
 * once, with whatever is still in them killed. Returns how many. */
int sandbox_cgroup_sweep_owner(const struct cgroup_host *host, pid_t owner);

int sandbox_cgroup_create(struct sandbox_cgroup *cg, const struct cgroup_host *host, const char *name,
			  const struct sandbox_policy *p, struct ad_err *err);
/* Joining, without the cost of migrating another process (which takes the kernel's
 * global threadgroup lock and, in turn, an RCU grace period: ~15 ms).
 * v2: one O_PATH descriptor of the cgroup, for clone3(CLONE_INTO_CGROUP).
 * v1: the controllers' "tasks" files, opened here by the parent, written "0" by the
 * child to move itself: a thread moving itself needs no global lock, and the kernel
 * checks permission against the opener, not the writer. Returns how many fds. */
int sandbox_cgroup_open_join(const struct sandbox_cgroup *cg, int fds[CG_NCTL], struct ad_err *err);
/* In the child, v1: move the calling (single-threaded) process in. */
int sandbox_cgroup_join_self(const int fds[CG_NCTL], unsigned n, struct ad_err *err);
/* A warm pool's sandbox (made with policy.cpu_low) was taken: its cgroup's CPU weight
 * back to the default, and every thread in it from SCHED_IDLE (inherited from its
 * builder) back to the normal policy. */
int sandbox_cgroup_cpu_normal(const struct sandbox_cgroup *cg, struct ad_err *err);
/* The same from the gateway, which knows the cgroup by its description
 * (sandbox_cgroup_json), at once, not when the supervisor gets the CPU to read that its
 * sandbox was taken (at SCHED_IDLE on a busy host, that can be long). */
int sandbox_cgroup_info_cpu_normal(const cJSON *info, struct ad_err *err);
/* Kill every process in the cgroup; returns once none is left or after ~2 s. */
void sandbox_cgroup_kill(const struct sandbox_cgroup *cg);
/* How many times the kernel's OOM killer struck in the cgroup. */
long sandbox_cgroup_oom_kills(const struct sandbox_cgroup *cg);
/* {"version", and the directories: "dir" (v2) or one per controller (v1)}. */
cJSON *sandbox_cgroup_json(const struct sandbox_cgroup *cg);
/* From such a description: {"memory_bytes", "memory_peak_bytes", "cpu_seconds", "pids"}
 * as the kernel counts them now (null where it does not say). */
cJSON *sandbox_cgroup_stats(const cJSON *info);
/* Processes the OOM killer took in the cgroup info names so far, or -1 when it cannot
 * be read (the cgroup is gone, or the kernel does not count them). */
double sandbox_cgroup_info_oom_kills(const cJSON *info);
/* Remove the cgroup (waiting briefly for exiting processes to leave it). */
int sandbox_cgroup_remove(struct sandbox_cgroup *cg, struct ad_err *err);

#endif

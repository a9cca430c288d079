/* The small steps a sandbox's first process (or one that joins the sandbox) takes on
 * itself: the loopback interface up (the only interface in its network namespace), its
 * host name, resource limits, signals and the process's own state. */
#ifndef AGENTD_SANDBOX_PROC_SETUP_H
#define AGENTD_SANDBOX_PROC_SETUP_H

#include <stdbool.h>

#include "core/err.h"
#include "sandbox/policy.h"

int sandbox_net_lo_up(struct ad_err *err);
int sandbox_set_hostname(const struct sandbox_policy *p, struct ad_err *err);
/* with_pids_rlimit: no pids cgroup counts for us, so RLIMIT_NPROC stands in. */
int sandbox_set_rlimits(const struct sandbox_policy *p, bool with_pids_rlimit, struct ad_err *err);
/* Every signal back to its default and none blocked: what the parent blocked or
 * ignored must not follow the command across exec. */
int sandbox_reset_signals(struct ad_err *err);
/* In /workspace, a session of its own (no terminal shared with the host), not dumpable
 * (no one may read its memory or ptrace it). */
int sandbox_process_setup(struct ad_err *err);

#endif

/* The small steps a sandbox's first process takes on itself: the loopback interface
 * up (the only interface in its network namespace), its host name, resource limits. */
#ifndef AGENTD_SANDBOX_PROC_SETUP_H
#define AGENTD_SANDBOX_PROC_SETUP_H

#include <stdbool.h>

#include "core/err.h"
#include "sandbox/policy.h"

int sandbox_net_lo_up(struct ad_err *err);
int sandbox_set_hostname(const struct sandbox_policy *p, struct ad_err *err);
/* with_pids_rlimit: no pids cgroup counts for us, so RLIMIT_NPROC stands in. */
int sandbox_set_rlimits(const struct sandbox_policy *p, bool with_pids_rlimit, struct ad_err *err);

#endif

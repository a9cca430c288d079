/* The supervisor: one process per session, on the host side. It builds the session's
 * sandbox with the agent inside, relays the agent's model calls (session/relay.h),
 * passes the run's events to the gateway and the gateway's turns to the agent, and
 * tears everything down when the gateway hangs up, the sandbox ends or its time is up.
 * Single-threaded; started by the spawner (supervisor/spawner.h). */
#ifndef AGENTD_SUPERVISOR_SUPERVISOR_H
#define AGENTD_SUPERVISOR_SUPERVISOR_H

#include "core/config.h"
#include "sandbox/cgroup_host.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp_filter.h"

/* Prepared once by the spawner and inherited by every supervisor. */
struct supervisor_env {
	const struct config *cfg;
	const struct sandbox_policy *policy;
	const struct seccomp_prog *seccomp;
	const struct cgroup_host *cgroups;
};

/* Serve the session whose gateway end is gw_fd until it ends; opts is the session's
 * options as the gateway sent them (JSON, checked there). The exit status. */
int supervisor_main(const struct supervisor_env *env, int gw_fd, const char *session_id, const char *opts);

#endif

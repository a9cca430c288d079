/* The start-up self-check: what this host really lets agentd do, found by trying it.
 * Namespaces are created in a throw-away child, a seccomp filter is loaded in another
 * and must make a syscall fail, a probe cgroup is made and removed. /api/health reports
 * the result. Run it before any thread exists: it forks. */
#ifndef AGENTD_SANDBOX_PROBE_H
#define AGENTD_SANDBOX_PROBE_H

#include <stdbool.h>

#include "sandbox/cgroup_host.h"

struct cJSON;

enum probe_ns { NS_USER, NS_PID, NS_MOUNT, NS_NET, NS_IPC, NS_UTS, NS_CGROUP, NS_COUNT };

struct sandbox_probe {
	int ns_errno[NS_COUNT];     /* 0: could be created; else the errno */
	long max_user_namespaces;   /* /proc/sys/user/max_user_namespaces, -1 unknown */
	bool seccomp;               /* a filter loaded and made a syscall fail */
	char seccomp_detail[128];
	unsigned seccomp_api;       /* libseccomp's API level for this kernel */
	struct cgroup_host cgroup;
	bool limits;                /* memory, pids and CPU limits can be enforced */
	bool allow_no_cgroup;       /* the policy lets sandboxes run without them */
	bool ready;                 /* everything a sandbox needs is here */
	char reason[256];           /* why not, when !ready */
};

/* allow_no_cgroup: the policy's sandbox.allow_no_cgroup (sandboxes may start without
 * limits, which the report then says). */
void sandbox_probe_run(struct sandbox_probe *p, bool allow_no_cgroup);
struct cJSON *sandbox_probe_json(const struct sandbox_probe *p);

#endif

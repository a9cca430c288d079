/* Inside the sandbox module: one sandbox as its parent holds it, shared by sandbox.c
 * (a sandbox of its own) and join.c (a process that joins another's). */
#ifndef AGENTD_SANDBOX_SANDBOX_INT_H
#define AGENTD_SANDBOX_SANDBOX_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"

struct sandbox {
	pid_t pid;                 /* init, as the host sees it */
	int pidfd;
	int report_fd;
	int sync_fd;               /* held open: the child's way to tell we are alive */
	int ids_lock;              /* holds the host id's slot (sandbox_ids_choose), or -1 */
	bool reaped;
	int init_status;
	uint64_t deadline_ns;
	unsigned timeout_s;
	uint64_t memory_max;
	struct sandbox_cgroup cg;
};


#endif

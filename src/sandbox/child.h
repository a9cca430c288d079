/* Inside the sandbox module: what the parent (sandbox.c) and the child (child.c) share.
 * The child reports over a pipe in fixed-size records, each one write(2) of less than
 * PIPE_BUF bytes, so records never interleave. */
#ifndef AGENTD_SANDBOX_CHILD_H
#define AGENTD_SANDBOX_CHILD_H

#include <stdint.h>

#include "core/err.h"
#include "sandbox/sandbox.h"

enum report_kind {
	REPORT_ERROR = 1,      /* a setup step failed: step and err say which and why */
	REPORT_STATUS = 2,     /* the command ended: wstatus as from waitpid */
};

struct child_report {
	uint32_t kind;
	int32_t wstatus;
	char step[32];
	struct ad_err err;
};

/* The child's life after clone: wait for the parent's go on sync_fd, take every setup
 * step, run the command under a minimal init. Never returns. */
_Noreturn void sandbox_child_main(const struct sandbox_spec *spec, int sync_fd, int report_fd,
				  bool have_cgroup);

#endif

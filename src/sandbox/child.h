/* Inside the sandbox module: what the parent (sandbox.c) and the child (child.c) share.
 * The child reports over a pipe in fixed-size records, each one write(2) of less than
 * PIPE_BUF bytes, so records never interleave. */
#ifndef AGENTD_SANDBOX_CHILD_H
#define AGENTD_SANDBOX_CHILD_H

#include <stdint.h>

#include "core/err.h"
#include "sandbox/cgroup_host.h"
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

/* One record on fd; a failing step's record, then _exit(code). */
void child_report_write(int fd, const struct child_report *r);
_Noreturn void child_report_fail(int fd, const char *step, const struct ad_err *e, int code);

/* Where the report pipe is in the fresh init image. */
#define CHILD_REPORT_FD 3

struct child_args {
	const struct sandbox_spec *spec;
	int exe_fd;                  /* agentd's own binary, O_PATH: the fresh init image */
	char **init_argv;            /* "agentd", "sandbox-init", the command... */
	int sync_fd;                 /* read end: the parent's go */
	int report_fd;               /* write end: struct child_report records */
	int join_fds[CG_NCTL];       /* v1: "tasks" files to write "0" to */
	unsigned njoin;
	bool have_cgroup;
};

/* The child's life after clone: join its cgroup, wait for the parent's go, take every
 * setup step, then exec agentd anew as the sandbox's init (sandbox_init_main), so that
 * nothing of the parent's memory or environment stays in the sandbox. Never returns. */
_Noreturn void sandbox_child_main(const struct child_args *a);

#endif

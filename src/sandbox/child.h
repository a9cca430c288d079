/* Inside the sandbox module: what the parent (sandbox.c) and the child (child.c) share.
 * The child reports over a pipe in fixed-size records, each one write(2) of less than
 * PIPE_BUF bytes, so records never interleave. */
#ifndef AGENTD_SANDBOX_CHILD_H
#define AGENTD_SANDBOX_CHILD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "sandbox/cgroup_host.h"
#include "sandbox/sandbox.h"
#include "init_wire.h"

enum report_kind {
	REPORT_ERROR = INIT_REPORT_ERROR,   /* a setup step failed: step and err say which and why */
	REPORT_STATUS = INIT_REPORT_STATUS, /* the command ended: wstatus as from waitpid */
	REPORT_ERRNO = INIT_REPORT_ERRNO,   /* init failed: err.msg without the errno's words */
};

struct child_report {
	uint32_t kind;
	int32_t wstatus;
	char step[32];
	struct ad_err err;
};

/* init (tiny_init/init.c) writes the same records without our headers. */
_Static_assert(sizeof(struct child_report) == sizeof(struct init_report), "report layout");
_Static_assert(offsetof(struct child_report, err.errnum) == offsetof(struct init_report, errnum) &&
	       offsetof(struct child_report, err.msg) == offsetof(struct init_report, msg) &&
	       sizeof(((struct child_report *)0)->step) == INIT_STEP_MAX && AD_ERR_MSG_MAX == INIT_MSG_MAX,
	       "report layout");
_Static_assert(SANDBOX_PASS_FD == INIT_PASS_FD, "the passed descriptor");

/* One record on fd; a failing step's record, then _exit(code). */
void child_report_write(int fd, const struct child_report *r);
_Noreturn void child_report_fail(int fd, const char *step, const struct ad_err *e, int code);

/* Where the report pipe is in the fresh init image. */
#define CHILD_REPORT_FD INIT_REPORT_FD

struct child_args {
	const struct sandbox_spec *spec;
	int init_fd;                 /* the init's sealed memfd (sandbox/init_image.h) */
	int exe_fd;                  /* the agent only: agentd's own binary, O_PATH, which
					init execs afresh; else -1 */
	char **init_argv;            /* "agentd", "sandbox-init", the command... */
	int sync_fd;                 /* read end: the parent's go */
	int report_fd;               /* write end: struct child_report records */
	int join_fds[CG_NCTL];       /* v1: "tasks" files to write "0" to */
	unsigned njoin;
	bool have_cgroup;
};

/* The child's life after clone: join its cgroup, wait for the parent's go, take every
 * setup step, then exec the sandbox's init (tiny_init/init.c) from its memfd, so that
 * nothing of the parent's memory or environment stays in the sandbox. Never returns. */
_Noreturn void sandbox_child_main(const struct child_args *a);

#endif

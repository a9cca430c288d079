/* Inside the sandbox layer: the seccomp program, as seccomp_filter.c compiles it with
 * libseccomp and seccomp_builtin.c holds it compiled at build time. */
#ifndef AGENTD_SANDBOX_SECCOMP_INT_H
#define AGENTD_SANDBOX_SECCOMP_INT_H

#include <linux/filter.h>

struct seccomp_prog {
	struct sock_fprog fprog;       /* what the kernel takes; points at insns (or the
					  built-in program's) */
	struct sock_filter insns[];
};

#endif

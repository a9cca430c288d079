/* The sandbox's seccomp filter as the build compiled it: see
 * include/sandbox/seccomp_filter.h. The Makefile runs seccomp_filter_build() once
 * (src/sandbox/seccomp_gen/main.c) and includes its instructions here, so no process
 * compiles the filter at run time (a millisecond per `agentd sandbox run`) and none
 * needs libseccomp for it; test_seccomp_builtin checks that the two never differ. */
#include "sandbox/seccomp_filter.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "seccomp_int.h"

#ifndef SANDBOX_SECCOMP_BPF
#error "SANDBOX_SECCOMP_BPF: the generated program (the Makefile's build/gen/seccomp_bpf.inc)"
#endif

static struct sock_filter builtin_insns[] = {
#include SANDBOX_SECCOMP_BPF
};

static const struct seccomp_prog builtin = {
	.fprog = { .len = ARRAY_SIZE(builtin_insns), .filter = builtin_insns },
};

const struct seccomp_prog *seccomp_filter_builtin(void)
{
	return &builtin;
}

/* Only syscalls and fixed strings here: this runs between fork and exec. */
int seccomp_filter_load(const struct seccomp_prog *prog, struct ad_err *err)
{
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	if (nnp < 0)
		return ad_err_sys(err, "seccomp: prctl(PR_GET_NO_NEW_PRIVS)");
	/* Without it the kernel refuses a filter from a process lacking CAP_SYS_ADMIN. */
	if (nnp == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ad_err_sys(err, "seccomp: prctl(PR_SET_NO_NEW_PRIVS)");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog->fprog) == 0)
		return 0;
	if (errno != ENOSYS)
		return ad_err_sys(err, "seccomp: seccomp(SECCOMP_SET_MODE_FILTER)");
	/* Kernels before 3.17 have only the prctl. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog->fprog, 0, 0) < 0)
		return ad_err_sys(err, "seccomp: prctl(PR_SET_SECCOMP)");
	return 0;
}

void seccomp_filter_free(struct seccomp_prog *prog)
{
	if (prog != &builtin)
		free(prog);
}

int seccomp_filter_equal(const struct seccomp_prog *a, const struct seccomp_prog *b)
{
	return a->fprog.len == b->fprog.len &&
	       memcmp(a->fprog.filter, b->fprog.filter, a->fprog.len * sizeof(struct sock_filter)) == 0;
}

/* The sandbox's seccomp filter: compiled with libseccomp when agentd is built (the
 * Makefile runs seccomp_filter_build and embeds the program: seccomp_filter_builtin),
 * loaded as the last setup step in the sandbox child.
 *
 * Default allow with a deny-list, at least as strict as Docker's default profile.
 * Refused with EPERM whatever the arguments: the names in seccomp_denied_syscalls.
 * Refused for some arguments only, with EPERM:
 *   clone       with any CLONE_NEW* namespace flag (plain fork and threads still work);
 *   socket      AF_ALG, AF_VSOCK, AF_PACKET, AF_KEY; SOCK_PACKET in any domain; SOCK_RAW
 *               in any domain but AF_NETLINK (iproute2 and getifaddrs() need it there);
 *   ioctl       TIOCSTI and TIOCLINUX (typing into a terminal);
 *   personality anything but 0 (PER_LINUX), 8 (PER_LINUX32) and 0xffffffff (query).
 * clone3 fails with ENOSYS: its flags sit in memory seccomp cannot read, and libc then
 * falls back to clone, whose flags are checked.
 * Only the native ABI is allowed: a syscall through another one (int $0x80, x32) kills
 * the whole process with SIGSYS.
 */
#ifndef AGENTD_SANDBOX_SECCOMP_FILTER_H
#define AGENTD_SANDBOX_SECCOMP_FILTER_H

#include "core/err.h"

struct seccomp_prog;                       /* opaque: the exported BPF program */

/* Compile it now with libseccomp (the build, the tests). */
int seccomp_filter_build(struct seccomp_prog **out, struct ad_err *err);

/* The program compiled when agentd was built: what sandboxes load. Never freed (its
 * seccomp_filter_free is a no-op). */
const struct seccomp_prog *seccomp_filter_builtin(void);

/* 1 when both are the same instructions. */
int seccomp_filter_equal(const struct seccomp_prog *a, const struct seccomp_prog *b);

/* Load into the calling thread. Async-signal-safe and allocation-free: it runs in a
 * forked child. Sets PR_SET_NO_NEW_PRIVS when it is not set yet. */
int seccomp_filter_load(const struct seccomp_prog *prog, struct ad_err *err);

void seccomp_filter_free(struct seccomp_prog *prog);

/* Names of the syscalls the filter refuses, for the README and the tests (NULL-terminated).
 * Names that do not exist on this architecture (vm86 on x86_64, ...) are in the list and
 * skipped by the build. */
extern const char *const seccomp_denied_syscalls[];

static inline void seccomp_filter_freep(struct seccomp_prog **prog)
{
	seccomp_filter_free(*prog);
}

#define _cleanup_seccomp_prog_ __attribute__((cleanup(seccomp_filter_freep)))

#endif

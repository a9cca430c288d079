/* The sandbox's seccomp filter: see include/sandbox/seccomp_filter.h.
 *
 * Built with libseccomp in the daemon, exported as plain BPF, loaded in the child with
 * the seccomp() syscall: the child needs neither libseccomp nor malloc. A deny-list
 * rather than Docker's allow-list because the sandbox runs arbitrary tools (compilers,
 * package managers, browsers) whose syscall set we do not control; the list covers
 * everything Docker refuses to a container without extra capabilities, and more.
 */
#include "sandbox/seccomp_filter.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdint.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "seccomp_int.h"

const char *const seccomp_denied_syscalls[] = {
	/* Mounts, old and new API, and changing the root. */
	"mount", "umount", "umount2", "pivot_root", "chroot",
	"move_mount", "open_tree", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr",
	/* Reading the mount tree by id (Linux 6.8): /proc/self/mountinfo says the same for
	 * this namespace, and they can name other namespaces. Docker refused them until its
	 * Linux 6.13 update (moby#50077); a new kernel surface nothing here needs. */
	"statmount", "listmount",
	/* Creating or entering namespaces (clone is checked by flag). */
	"unshare", "setns",
	/* Large kernel attack surface reachable without privilege. */
	"bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	/* The kernel keyring is not namespaced. */
	"keyctl", "add_key", "request_key",
	/* Replacing or extending the kernel. */
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "get_kernel_syms", "query_module",
	/* File handles open files by inode, past the mount tree ("shocker"). */
	"open_by_handle_at", "name_to_handle_at",
	/* Host-wide state. */
	"swapon", "swapoff", "reboot", "sethostname", "setdomainname", "acct",
	"quotactl", "quotactl_fd", "syslog", "vhangup", "lookup_dcookie", "fanotify_init",
	/* The clock. */
	"clock_settime", "clock_adjtime", "settimeofday", "stime", "adjtimex",
	/* Direct hardware access. */
	"iopl", "ioperm", "vm86", "vm86old",
	/* Reading or steering other processes. */
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
	"pidfd_getfd", "kcmp",
	/* NUMA placement (CAP_SYS_NICE in Docker, which refuses get_mempolicy as well). */
	"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages",
	"move_pages",
	/* The security modules' attributes of this process (Linux 6.8): CAP_SYS_ADMIN in
	 * Docker; AppArmor or SELinux on the host may guard /proc/self/attr by other means. */
	"lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
	/* Obsolete or never implemented; Docker refuses them as well. */
	"uselib", "nfsservctl", "_sysctl", "sysfs", "ustat", "afs_syscall", "getpmsg",
	"putpmsg", "security", "tuxcall", "vserver",
	NULL,
};

/* Syscalls the kernel may have but this libseccomp's table may not know yet (Debian 12's
 * libseccomp 2.5.4 stops at Linux 5.17: set_mempolicy_home_node, 450). A deny-list lets
 * unknown syscalls through, so the dangerous ones are named by number when libseccomp
 * cannot resolve the name. The numbers come from the unified table (424 and up) that
 * x86_64 and arm64 share. */
static const struct {
	const char *name;
	int nr;
} late_syscalls[] = {
#if defined(__x86_64__) || defined(__aarch64__)
	{ "statmount", 457 },
	{ "listmount", 458 },
	{ "lsm_get_self_attr", 459 },
	{ "lsm_set_self_attr", 460 },
	{ "lsm_list_modules", 461 },
	{ "open_tree_attr", 467 },
#endif
	{ NULL, 0 },
};

/* The native number of a syscall, or -1 when it does not exist on this architecture
 * (libseccomp answers with a negative pseudo-number for those). */
static int syscall_nr(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		for (size_t i = 0; late_syscalls[i].name != NULL; i++)
			if (strcmp(late_syscalls[i].name, name) == 0)
				nr = late_syscalls[i].nr;
	return nr < 0 ? -1 : nr;
}

static inline void cleanup_seccomp_ctx(scmp_filter_ctx *ctx)
{
	if (*ctx != NULL)
		seccomp_release(*ctx);
}

static int rule_add(scmp_filter_ctx ctx, uint32_t action, const char *name,
		    unsigned ncmp, const struct scmp_arg_cmp *cmp, struct ad_err *err)
{
	int nr = syscall_nr(name);
	if (nr < 0)
		return 0;
	int rc = seccomp_rule_add_array(ctx, action, nr, ncmp, cmp);
	if (rc < 0)
		return ad_err_set(err, -rc, "seccomp_rule_add %s", name);
	return 0;
}

static int deny(scmp_filter_ctx ctx, const char *name, struct scmp_arg_cmp cmp,
		struct ad_err *err)
{
	return rule_add(ctx, SCMP_ACT_ERRNO(EPERM), name, 1, &cmp, err);
}

/* libseccomp compares all 64 bits of an argument (its SCMP_A*_32 forms only truncate the
 * value compared with), but the kernel reads int arguments from the low 32 bits alone: a
 * plain equality would let a caller slip garbage into the upper half past the rule and
 * still reach the kernel with the refused value (CVE-2019-10063, Flatpak's TIOCSTI rule).
 * Masked compares with a 32-bit mask ignore the upper half, as the kernel does. */
#define ARG_EQ32(arg, value) SCMP_CMP((arg), SCMP_CMP_MASKED_EQ, 0xffffffffULL, (value))
#define ARG_BITS32(arg, mask, value) SCMP_CMP((arg), SCMP_CMP_MASKED_EQ, (mask), (value))

/* Namespace flags, one rule each: a rule's conditions are ANDed, separate rules ORed.
 * CLONE_NEWTIME (0x80) overlaps the exit-signal byte of clone(), but no valid signal has
 * that bit, so refusing it costs nothing. */
static int add_clone_rules(scmp_filter_ctx ctx, struct ad_err *err)
{
	static const uint32_t ns_flags[] = {
		CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC,
		CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME,
	};
	for (size_t i = 0; i < ARRAY_SIZE(ns_flags); i++)
		if (deny(ctx, "clone", ARG_BITS32(0, ns_flags[i], ns_flags[i]), err) < 0)
			return -1;
	return rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
}

static int add_socket_rules(scmp_filter_ctx ctx, struct ad_err *err)
{
	static const int domains[] = { AF_ALG, AF_VSOCK, AF_PACKET, AF_KEY };
	for (size_t i = 0; i < ARRAY_SIZE(domains); i++)
		if (deny(ctx, "socket", ARG_EQ32(0, domains[i]), err) < 0)
			return -1;

	/* The type is in the low 4 bits; SOCK_CLOEXEC and SOCK_NONBLOCK sit above them.
	 * Netlink keeps SOCK_RAW: it is the usual spelling there (iproute2, getifaddrs(),
	 * getaddrinfo's AI_ADDRCONFIG), SOCK_DGRAM gives the same socket anyway, and routing
	 * changes need CAP_NET_ADMIN, which the sandbox has dropped. The 64-bit "not netlink"
	 * errs on the safe side: netlink with garbage above is refused. */
	struct scmp_arg_cmp raw[] = {
		SCMP_A0(SCMP_CMP_NE, AF_NETLINK),
		ARG_BITS32(1, 0xf, SOCK_RAW),
	};
	if (rule_add(ctx, SCMP_ACT_ERRNO(EPERM), "socket", ARRAY_SIZE(raw), raw, err) < 0)
		return -1;
	/* The kernel turns (AF_INET, SOCK_PACKET) into a packet socket. */
	return deny(ctx, "socket", ARG_BITS32(1, 0xf, SOCK_PACKET), err);
}

/* Typing into a terminal: whoever reads it next (a shell outside) runs the input. */
static int add_ioctl_rules(scmp_filter_ctx ctx, struct ad_err *err)
{
	if (deny(ctx, "ioctl", ARG_EQ32(1, TIOCSTI), err) < 0)
		return -1;
	return deny(ctx, "ioctl", ARG_EQ32(1, TIOCLINUX), err);
}

/* personality: EPERM unless the value is 0 (PER_LINUX), 8 (PER_LINUX32) or 0xffffffff
 * (query), as Docker minus UNAME26; other personas switch off ASLR (ADDR_NO_RANDOMIZE) or
 * map page zero (MMAP_PAGE_ZERO). libseccomp 2.5 cannot compare one argument twice in a
 * rule, so "none of these" is a union of single masked compares: a 32-bit value that is
 * neither 0 nor all ones has, going round its bits, a 1 followed by a 0. One rule per
 * adjacent pair (b, b+1) catches it, except that the pair (3, 4) would catch 8 itself:
 * (2, 4) stands in for it, catching the runs of ones that end at bit 3 and are longer
 * than bit 3 alone. The kernel reads an unsigned int; so do these masks. */
static int add_personality_rules(scmp_filter_ctx ctx, struct ad_err *err)
{
	for (unsigned b = 0; b < 32; b++) {
		unsigned one = b == 3 ? 2 : b, zero = (b + 1) % 32;
		uint32_t mask = (UINT32_C(1) << one) | (UINT32_C(1) << zero);
		if (deny(ctx, "personality", ARG_BITS32(0, mask, UINT32_C(1) << one), err) < 0)
			return -1;
	}
	return 0;
}

static int add_rules(scmp_filter_ctx ctx, struct ad_err *err)
{
	for (size_t i = 0; seccomp_denied_syscalls[i] != NULL; i++)
		if (rule_add(ctx, SCMP_ACT_ERRNO(EPERM), seccomp_denied_syscalls[i], 0, NULL, err) < 0)
			return -1;
	if (add_clone_rules(ctx, err) < 0 || add_socket_rules(ctx, err) < 0 ||
	    add_ioctl_rules(ctx, err) < 0 || add_personality_rules(ctx, err) < 0)
		return -1;
	return 0;
}

/* libseccomp 2.5 exports only to a file descriptor: an anonymous memfd, read back whole. */
static int export_prog(scmp_filter_ctx ctx, struct seccomp_prog **out, struct ad_err *err)
{
	_cleanup_close_ int fd = memfd_create("agentd-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return ad_err_sys(err, "memfd_create");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return ad_err_set(err, -rc, "seccomp_export_bpf");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ad_err_sys(err, "fstat");

	size_t size = (size_t)st.st_size;
	size_t n = size / sizeof(struct sock_filter);
	if (n == 0 || n > BPF_MAXINSNS || size % sizeof(struct sock_filter) != 0)
		return ad_err_set(err, 0, "seccomp_export_bpf: %zu bytes is not a BPF program", size);

	_cleanup_free_ struct seccomp_prog *prog = malloc(sizeof(*prog) + size);
	if (prog == NULL)
		return ad_err_set(err, ENOMEM, "seccomp filter of %zu instructions", n);
	for (size_t off = 0; off < size;) {
		ssize_t got = pread(fd, (char *)prog->insns + off, size - off, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return ad_err_sys(err, "read exported filter");
		if (got == 0)
			return ad_err_set(err, 0, "read exported filter: short by %zu bytes", size - off);
		off += (size_t)got;
	}
	prog->fprog.len = (unsigned short)n;
	prog->fprog.filter = prog->insns;
	*out = steal_pointer(&prog);
	return 0;
}

int seccomp_filter_build(struct seccomp_prog **out, struct ad_err *err)
{
	*out = NULL;
	__attribute__((cleanup(cleanup_seccomp_ctx))) scmp_filter_ctx ctx =
		seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return ad_err_set(err, ENOMEM, "seccomp_init");
	/* The context holds the native architecture only, so syscalls through any other
	 * ABI (int $0x80, x32) never reach the rules, which know only native numbers. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0)
		return ad_err_set(err, -rc, "seccomp: bad-arch action");
	/* A binary search instead of a walk past ~80 syscall numbers on every call. Only
	 * a speed-up, so an older libseccomp without it is fine. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	if (add_rules(ctx, err) < 0 || export_prog(ctx, out, err) < 0)
		return ad_err_prefix(err, "seccomp");
	return 0;
}


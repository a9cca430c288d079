/* Unit tests for the sandbox's seccomp filter (include/sandbox/seccomp_filter.h).
 *
 * Each case forks a child that loads the filter and makes raw syscalls. These tests run as
 * root on shared machines, so every refused call has arguments the kernel would reject
 * anyway (nonexistent paths, bad fds, invalid flags or magic numbers): if the filter did
 * not bite, nothing would reboot, mount, load, unload or change the clock. A child reports
 * the first failing case as its exit status (index + 1) and names every failure on stderr.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "sandbox/seccomp_filter.h"
#include "fork_child.h"

#if !defined(SYS_open_tree_attr) && (defined(__x86_64__) || defined(__aarch64__))
#define SYS_open_tree_attr 467
#endif

#define NOPATH ((long)"/nonexistent-agentd-test/x")
#define HI (1L << 32)            /* garbage in the upper half of an int argument */

struct call {
	const char *sys;         /* syscall name, as in seccomp_denied_syscalls */
	const char *what;
	long nr;
	long a[6];
	int want;                /* errno expected under the filter */
};

#define C(name, want, ...) { #name, #name "(" #__VA_ARGS__ ")", SYS_##name, { __VA_ARGS__ }, want }

/* Comments give what the kernel would answer without the filter. */
static const struct call refused[] = {
	C(mount, EPERM, 0, NOPATH, 0, 0, 0),                    /* ENOENT */
	C(umount2, EPERM, NOPATH, 0),                           /* ENOENT */
	C(pivot_root, EPERM, NOPATH, NOPATH),                   /* ENOENT */
	C(chroot, EPERM, NOPATH),                               /* ENOENT */
	C(move_mount, EPERM, -1, NOPATH, -1, NOPATH, 0),        /* ENOENT */
	C(open_tree, EPERM, -1, NOPATH, 0),                     /* ENOENT */
#ifdef SYS_open_tree_attr
	C(open_tree_attr, EPERM, -1, NOPATH, 0, 0, 0),          /* ENOENT or ENOSYS */
#endif
	C(fsopen, EPERM, 0, -1),                                /* EINVAL: flags */
	C(fsconfig, EPERM, -1, 6, 0, 0, 0),                     /* EBADF */
	C(fsmount, EPERM, -1, 0, 0),                            /* EBADF */
	C(fspick, EPERM, -1, NOPATH, 0),                        /* ENOENT */
	C(mount_setattr, EPERM, -1, NOPATH, 0, 0, 0),           /* EINVAL: size 0 */
	C(unshare, EPERM, CLONE_NEWUSER | CLONE_PARENT),        /* EINVAL: CLONE_PARENT */
	C(setns, EPERM, -1, 0),                                 /* EBADF */
	/* CLONE_THREAD without CLONE_SIGHAND: EINVAL before anything is created. */
	C(clone, EPERM, CLONE_NEWUSER | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone, EPERM, CLONE_NEWNS | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone, EPERM, CLONE_NEWPID | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone, EPERM, CLONE_NEWNET | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone, EPERM, CLONE_NEWIPC | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone, EPERM, CLONE_NEWUTS | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone, EPERM, CLONE_NEWCGROUP | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone, EPERM, CLONE_NEWTIME | CLONE_THREAD | SIGCHLD, 0, 0, 0, 0),
	C(clone3, ENOSYS, 0, 0),                                /* EINVAL: size 0 */
	C(bpf, EPERM, -1, 0, 0),                                /* EINVAL: command */
	C(perf_event_open, EPERM, 0, 0, -1, -1, 0),             /* EFAULT */
	C(userfaultfd, EPERM, -1),                              /* EINVAL: flags */
	C(io_uring_setup, EPERM, 0, 0),                         /* EFAULT */
	C(io_uring_enter, EPERM, -1, 0, 0, 0, 0, 0),            /* EBADF */
	C(io_uring_register, EPERM, -1, 0, 0, 0),               /* EBADF */
	C(keyctl, EPERM, 0x7fffffff, 0, 0, 0, 0),               /* EOPNOTSUPP */
	C(add_key, EPERM, 0, 0, 0, 0, 0),                       /* EFAULT */
	C(request_key, EPERM, 0, 0, 0, 0),                      /* EFAULT */
	C(kexec_load, EPERM, 0, 17, 0, 0x8000),                 /* EINVAL: flags, count */
	C(kexec_file_load, EPERM, -1, -1, 0, 0, 0x40000000),    /* EINVAL: flags */
	C(init_module, EPERM, 0, 0, (long)""),                  /* ENOEXEC: length 0 */
	C(finit_module, EPERM, -1, (long)"", 0),                /* EBADF */
	C(delete_module, EPERM, (long)"agentd_no_such_module", O_NONBLOCK), /* ENOENT */
	C(open_by_handle_at, EPERM, -1, 0, 0),                  /* EBADF or EFAULT */
	C(name_to_handle_at, EPERM, -1, NOPATH, 0, 0, 0),       /* ENOENT */
	C(swapon, EPERM, NOPATH, 0),                            /* ENOENT */
	C(swapoff, EPERM, NOPATH),                              /* ENOENT */
	C(reboot, EPERM, 0, 0, 0, 0),                           /* EINVAL: magic */
	C(sethostname, EPERM, 0, -1),                           /* EINVAL: length */
	C(setdomainname, EPERM, 0, -1),                         /* EINVAL: length */
	C(acct, EPERM, NOPATH),                                 /* ENOENT (NULL would stop it) */
	C(quotactl, EPERM, -1, 0, 0, 0),                        /* EINVAL: type */
	C(quotactl_fd, EPERM, -1, -1, 0, 0),                    /* EBADF */
	C(syslog, EPERM, 10, 0, 0),                             /* SIZE_BUFFER: a read */
	C(vhangup, EPERM, 0),                                   /* no-op: setsid, no tty */
	C(lookup_dcookie, EPERM, 0, 0, 0),                      /* ENOSYS or EFAULT */
	C(fanotify_init, EPERM, -1, 0),                         /* EINVAL: flags */
	C(clock_settime, EPERM, 0x7fffffff, 0),                 /* EINVAL: clock id */
	C(clock_adjtime, EPERM, 0x7fffffff, 0),                 /* EINVAL: clock id */
	C(settimeofday, EPERM, 0, 0),                           /* no-op */
	C(adjtimex, EPERM, 0),                                  /* EFAULT */
	C(ptrace, EPERM, 16 /* PTRACE_ATTACH */, -1, 0, 0),     /* ESRCH */
	C(process_vm_readv, EPERM, 0x7fffffff, 0, 0, 0, 0, 0),  /* nothing to copy */
	C(process_vm_writev, EPERM, 0x7fffffff, 0, 0, 0, 0, 0), /* nothing to copy */
	C(process_madvise, EPERM, -1, 0, 0, 0, 0),              /* EBADF */
	C(pidfd_getfd, EPERM, -1, 0, 0),                        /* EBADF */
	C(kcmp, EPERM, 0x7fffffff, 0x7fffffff, 0, 0, 0),        /* ESRCH */
	C(mbind, EPERM, 0, 0, -1, 0, 0, 0),                     /* EINVAL: mode */
	C(set_mempolicy, EPERM, -1, 0, 0),                      /* EINVAL: mode */
	C(set_mempolicy_home_node, EPERM, 0, 0, 0, 1),          /* EINVAL: flags */
	C(migrate_pages, EPERM, 0x7fffffff, 0, 0, 0),           /* ESRCH */
	C(move_pages, EPERM, 0x7fffffff, 0, 0, 0, 0, -1),       /* EINVAL: flags */
	C(get_mempolicy, EPERM, 0, 0, 0, 0, -1),                /* EINVAL: flags */
#if defined(__x86_64__) || defined(__aarch64__)
	/* Linux 6.8; numbers of the unified table, which the headers here may not have. */
	{ "statmount", "statmount(0, 0, 0, -1)", 457, { 0, 0, 0, -1 }, EPERM },       /* EINVAL: flags */
	{ "listmount", "listmount(0, 0, 0, -1)", 458, { 0, 0, 0, -1 }, EPERM },       /* EINVAL: flags */
	{ "lsm_get_self_attr", "lsm_get_self_attr(0, 0, 0, -1)", 459, { 0, 0, 0, -1 }, EPERM },
	{ "lsm_set_self_attr", "lsm_set_self_attr(0, 0, 0, -1)", 460, { 0, 0, 0, -1 }, EPERM },
	{ "lsm_list_modules", "lsm_list_modules(0, 0, -1)", 461, { 0, 0, -1 }, EPERM }, /* EINVAL */
#endif
#ifdef __x86_64__
	C(iopl, EPERM, 4),                                      /* EINVAL: level */
	C(ioperm, EPERM, 0, 0, 0),                              /* EINVAL: no ports */
	C(create_module, EPERM, 0, 0),                          /* ENOSYS */
	C(get_kernel_syms, EPERM, 0),                           /* ENOSYS */
	C(query_module, EPERM, 0, 0, 0, 0, 0),                  /* ENOSYS */
	C(uselib, EPERM, NOPATH),                               /* ENOSYS or ENOENT */
	C(nfsservctl, EPERM, 0, 0, 0),                          /* ENOSYS */
	C(_sysctl, EPERM, 0),                                   /* ENOSYS */
	C(sysfs, EPERM, -1, 0, 0),                              /* EINVAL: option */
	C(ustat, EPERM, 0, 0),                                  /* EINVAL: no such device */
	C(afs_syscall, EPERM, 0), C(getpmsg, EPERM, 0), C(putpmsg, EPERM, 0),
	C(security, EPERM, 0), C(tuxcall, EPERM, 0), C(vserver, EPERM, 0),
#endif
	/* The sockets would be made (and closed at once) without the filter. */
	C(socket, EPERM, AF_ALG, SOCK_SEQPACKET, 0),
	C(socket, EPERM, AF_ALG | HI, SOCK_SEQPACKET, 0),
	C(socket, EPERM, AF_VSOCK, SOCK_STREAM, 0),
	C(socket, EPERM, AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0),
	C(socket, EPERM, AF_KEY, SOCK_RAW, 2 /* PF_KEY_V2 */),
	C(socket, EPERM, AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1 /* IPPROTO_ICMP */),
	C(socket, EPERM, AF_INET6, SOCK_RAW | SOCK_NONBLOCK, 58 /* IPPROTO_ICMPV6 */),
	C(socket, EPERM, AF_INET, SOCK_PACKET, 0),
	C(socket, EPERM, AF_INET, SOCK_RAW | HI, 1),
	/* fd -1: EBADF, nothing typed into any terminal. */
	C(ioctl, EPERM, -1, TIOCSTI, (long)"x"),
	C(ioctl, EPERM, -1, TIOCSTI | HI, (long)"x"),
	C(ioctl, EPERM, -1, TIOCLINUX, (long)"x"),
	/* Unfiltered these would change the throw-away child's persona only. */
	C(personality, EPERM, 0x0040000 /* ADDR_NO_RANDOMIZE */),
	C(personality, EPERM, 0x0100000 /* MMAP_PAGE_ZERO */),
	C(personality, EPERM, 0x0020000 /* UNAME26 */),
	C(personality, EPERM, 0x0040008),
	C(personality, EPERM, 1), C(personality, EPERM, 0xc), C(personality, EPERM, 0x18),
	C(personality, EPERM, 0xfffffffe), C(personality, EPERM, 0x7fffffff),
	C(personality, EPERM, 0xfffffff7), C(personality, EPERM, 0x80000000),
};

/* What the children share: no terminal (so vhangup and TIOCSTI have nothing to act on
 * even without the filter) and no core file when SIGSYS kills them. */
static void child_prepare(void)
{
	struct rlimit no_core = { 0, 0 };
	setsid();
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

struct job {
	int (*fn)(const struct seccomp_prog *);
	const struct seccomp_prog *prog;
};

static int job_body(void *arg)
{
	const struct job *j = arg;
	child_prepare();
	return j->fn(j->prog);
}

/* Run fn(prog) in a child (fork_child.h); return its wait status. Children leave with
 * _exit: no atexit handlers (LeakSanitizer's would need ptrace, which the filter refuses). */
static int in_child(int (*fn)(const struct seccomp_prog *), const struct seccomp_prog *prog)
{
	struct job j = { fn, prog };
	return fork_child_run(job_body, &j, 0);
}

static int load(const struct seccomp_prog *prog)
{
	struct ad_err e;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_filter_load(prog, &e) < 0) {
		fprintf(stderr, "load: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int child_refused(const struct seccomp_prog *prog)
{
	if (load(prog) < 0)
		return 255;
	int first = 0;
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		const struct call *c = &refused[i];
		errno = 0;
		long rc = syscall(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
		int got = errno;
		if (rc >= 0 && c->nr == SYS_socket)
			close((int)rc);
		if (rc == -1 && got == c->want)
			continue;
		fprintf(stderr, "%s: returned %ld, errno %s; want %s\n", c->what, rc,
			strerror(got), strerror(c->want));
		if (first == 0)
			first = i + 1 < 250 ? (int)i + 1 : 250;
	}
	return first;
}

static void refused_calls_fail(void **state)
{
	assert_child_exited(in_child(child_refused, *state), 0);
}

static void *thread_main(void *arg)
{
	return arg;
}

/* What an agent's tools do all day must still work under the filter. */
static int child_allowed(const struct seccomp_prog *prog)
{
	int step = 0;
#define CHECK(x) do { step++; if (!(x)) { fprintf(stderr, "allowed: %s\n", #x); return step; } } while (0)
	/* Not set beforehand: the load sets no_new_privs itself. */
	struct ad_err e;
	CHECK(seccomp_filter_load(prog, &e) == 0);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2);
	CHECK(syscall(SYS_getpid) == getpid());

	int status;
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7);
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(8);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 8);
	pthread_t t;
	void *ret = NULL;
	CHECK(pthread_create(&t, NULL, thread_main, &step) == 0);
	CHECK(pthread_join(t, &ret) == 0 && ret == &step);

	static const int sockets[][3] = {
		{ AF_INET, SOCK_STREAM, 0 }, { AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0 },
		{ AF_UNIX, SOCK_STREAM, 0 }, { AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0 },
		{ AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 /* NETLINK_ROUTE */ },
	};
	for (size_t i = 0; i < ARRAY_SIZE(sockets); i++) {
		int fd = socket(sockets[i][0], sockets[i][1], sockets[i][2]);
		CHECK(fd >= 0);
		close(fd);
	}

	char path[] = "/tmp/agentd-seccomp-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	char buf[6] = { 0 };
	int avail = -1;
	CHECK(write(fd, "hello", 5) == 5 && lseek(fd, 0, SEEK_SET) == 0);
	CHECK(ioctl(fd, FIONREAD, &avail) == 0 && avail == 5);
	CHECK(read(fd, buf, 5) == 5 && strcmp(buf, "hello") == 0);
	close(fd);
	errno = 0;
	CHECK(ioctl(-1, TCGETS, buf) == -1 && errno == EBADF);

	CHECK(syscall(SYS_personality, 0xffffffffL) >= 0);
	CHECK(syscall(SYS_personality, 0x8L) >= 0);
	CHECK(syscall(SYS_personality, HI) == 0x8);        /* the kernel reads 0 */
	CHECK(syscall(SYS_personality, 0L) == 0);
	CHECK(syscall(SYS_getcpu, NULL, NULL, NULL) == 0);        /* get_mempolicy is refused, as in Docker */
#undef CHECK
	return 0;
}

static void allowed_calls_work(void **state)
{
	assert_child_exited(in_child(child_allowed, *state), 0);
}

#ifdef __x86_64__
/* getpid through the i386 entry point (its number there is 20). */
static long int80_getpid(void)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "0"(20L) : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static int child_int80(const struct seccomp_prog *prog)
{
	if (prog != NULL && load(prog) < 0)
		return 255;
	return int80_getpid() == getpid() ? 0 : 1;
}

/* The x32 ABI: the native syscall instruction with bit 30 set in the number. */
static int child_x32(const struct seccomp_prog *prog)
{
	if (load(prog) < 0)
		return 255;
	syscall(0x40000000L | SYS_getpid);
	return 0;
}

/* Where the kernel has no i386 entry point (CONFIG_IA32_EMULATION off, or ia32_emulation=0)
 * int $0x80 faults (SIGSEGV) with or without a filter: nothing to test there. */
static void int80_is_killed(void **state)
{
	int status = in_child(child_int80, NULL);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) {
		print_message("int $0x80 faults here without a filter: skipped\n");
		skip();
	}
	assert_child_exited(status, 0);
	assert_child_killed(in_child(child_int80, *state), SIGSYS);
}

static void x32_is_killed(void **state)
{
	assert_child_killed(in_child(child_x32, *state), SIGSYS);
}
#endif

static void build_twice_and_free(void **state)
{
	(void)state;
	struct ad_err e;
	struct seccomp_prog *a = NULL;
	_cleanup_seccomp_prog_ struct seccomp_prog *b = NULL;
	assert_int_equal(seccomp_filter_build(&a, &e), 0);
	assert_int_equal(seccomp_filter_build(&b, &e), 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	seccomp_filter_free(a);
	seccomp_filter_free(NULL);
}

static bool in_denied_list(const char *name)
{
	for (size_t i = 0; seccomp_denied_syscalls[i] != NULL; i++)
		if (strcmp(seccomp_denied_syscalls[i], name) == 0)
			return true;
	return false;
}

/* Issue 3, point 6, by syscall name; and every listed name this architecture has is
 * exercised by the refused[] table above. */
static void denied_list_covers_issue(void **state)
{
	(void)state;
	static const char *const issue[] = {
		"mount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
		"fspick", "mount_setattr", "pivot_root", "unshare", "setns", "bpf",
		"perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
		"io_uring_register", "keyctl", "add_key", "request_key", "kexec_load",
		"kexec_file_load", "init_module", "finit_module", "delete_module",
		"open_by_handle_at", "swapon", "swapoff", "reboot", "sethostname",
		"clock_settime", "clock_adjtime", "settimeofday", "adjtimex", "acct", "quotactl",
		"iopl", "ioperm", "syslog", "ptrace", "process_vm_readv", "process_vm_writev",
	};
	for (size_t i = 0; i < ARRAY_SIZE(issue); i++)
		if (!in_denied_list(issue[i]))
			fail_msg("%s is not in seccomp_denied_syscalls", issue[i]);

	for (size_t i = 0; seccomp_denied_syscalls[i] != NULL; i++) {
		const char *name = seccomp_denied_syscalls[i];
		if (seccomp_syscall_resolve_name(name) < 0)
			continue;
		bool tested = false;
		for (size_t j = 0; j < ARRAY_SIZE(refused) && !tested; j++)
			tested = strcmp(refused[j].sys, name) == 0;
		if (!tested)
			fail_msg("%s is denied but has no case in refused[]", name);
	}
}

static int group_setup(void **state)
{
	struct ad_err e;
	struct seccomp_prog *prog;
	if (seccomp_filter_build(&prog, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	*state = prog;
	return 0;
}

static int group_teardown(void **state)
{
	seccomp_filter_free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refused_calls_fail),
		cmocka_unit_test(allowed_calls_work),
#ifdef __x86_64__
		cmocka_unit_test(int80_is_killed),
		cmocka_unit_test(x32_is_killed),
#endif
		cmocka_unit_test(build_twice_and_free),
		cmocka_unit_test(denied_list_covers_issue),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

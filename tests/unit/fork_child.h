/* Forking from inside a cmocka test: the one way every unit test does it.
 *
 * A child of fork() is a copy of the test runner. A cmocka assertion that fails in it, or
 * a fault caught by the signal handlers cmocka installs, longjmps back into that copy,
 * which runs the rest of the suite and exits with its own verdict, while the parent
 * sees some exit status and may well take it for something else. So here the child
 * puts back the default action of every caught signal (a fault kills it), makes a
 * cmocka failure abort() (CMOCKA_TEST_ABORT), runs the body and always leaves by _exit
 * with the body's status; the parent waits (with a deadline) and asserts on the status.
 * Header-only, included after cmocka.h. */
#ifndef AGENTD_TESTS_FORK_CHILD_H
#define AGENTD_TESTS_FORK_CHILD_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FORK_CHILD_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FORK_CHILD_LSAN 1
#endif
#endif
#ifdef FORK_CHILD_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* A child still running after this long is killed and the test fails: generous, for
 * ASan builds on a loaded machine; no passing child comes near it. */
#define FORK_CHILD_DEADLINE_MS 120000

/* fork_child_start flags */
#define FORK_CHILD_CHECK_LEAKS 1u   /* ASan builds: the body's leaks fail the child */
#define FORK_CHILD_LEAKED 23        /* ... with this exit status (LeakSanitizer's own) */

/* First thing in any child of the runner (fork_child_start calls it; a child made
 * another way, e.g. clone3, calls it itself): default actions for every signal the
 * runner catches, and cmocka failures that abort instead of jumping into the copy. */
static inline void fork_child_enter(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) == 0 && ((sa.sa_flags & SA_SIGINFO) != 0 ||
		    (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)))
			signal(sig, SIG_DFL);
	}
	signal(SIGABRT, SIG_DFL);
	setenv("CMOCKA_TEST_ABORT", "1", 1);
}

/* The child's only way out: what it printed, then _exit(status), no atexit handlers
 * (the runner's are not the child's business). */
static inline _Noreturn void fork_child_leave(int status, unsigned flags)
{
#ifdef FORK_CHILD_LSAN
	if ((flags & FORK_CHILD_CHECK_LEAKS) && __lsan_do_recoverable_leak_check() != 0)
		status = FORK_CHILD_LEAKED;
#else
	(void)flags;
#endif
	fflush(NULL);
	_exit(status & 0xff);
}

/* fork; the child runs body(arg) and exits with what it returns. The parent gets the
 * pid (the test fails if fork does). */
static inline pid_t fork_child_start(int (*body)(void *), void *arg, unsigned flags)
{
	fflush(NULL);   /* nothing buffered is printed twice */
	pid_t pid = fork();
	if (pid == 0) {
		fork_child_enter();
		fork_child_leave(body(arg), flags);
	}
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	return pid;
}

/* The child's wait status, once it has exited; past FORK_CHILD_DEADLINE_MS it is
 * killed and the test fails. */
static inline int fork_child_wait(pid_t pid)
{
	int status, n = 1, pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd p = { pidfd, POLLIN, 0 };
		while ((n = poll(&p, 1, FORK_CHILD_DEADLINE_MS)) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	if (n == 0)
		kill(pid, SIGKILL);
	pid_t got;
	while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (n == 0)
		fail_msg("child %d still ran after %d ms: killed", (int)pid, FORK_CHILD_DEADLINE_MS);
	if (got != pid)
		fail_msg("waitpid(%d): %s", (int)pid, strerror(errno));
	return status;
}

static inline int fork_child_run(int (*body)(void *), void *arg, unsigned flags)
{
	return fork_child_wait(fork_child_start(body, arg, flags));
}

/* "exit 3", "killed by signal 31 (Bad system call)", ... */
static inline const char *fork_child_describe(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit %d%s", WEXITSTATUS(status), WEXITSTATUS(status) == FORK_CHILD_LEAKED ?
			 " (LeakSanitizer found leaks: see above)" : "");
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "wait status 0x%x", (unsigned)status);
	return buf;
}

/* Macros, so that a failure names the caller's line. */
#define assert_child_exited(status, want)                                                          \
	do {                                                                                       \
		int st_ = (status), want_ = (want);                                                \
		char d_[96];                                                                       \
		if (!WIFEXITED(st_) || WEXITSTATUS(st_) != want_)                                  \
			fail_msg("child: %s; want exit %d", fork_child_describe(st_, d_, sizeof(d_)), want_); \
	} while (0)

#define assert_child_killed(status, sig)                                                           \
	do {                                                                                       \
		int st_ = (status), sig_ = (sig);                                                  \
		char d_[96];                                                                       \
		if (!WIFSIGNALED(st_) || WTERMSIG(st_) != sig_)                                    \
			fail_msg("child: %s; want signal %d (%s)", fork_child_describe(st_, d_, sizeof(d_)), \
				 sig_, strsignal(sig_));                                           \
	} while (0)

#endif

/* Unit tests for the seccomp program compiled at build time (seccomp_builtin.c):
 * it is what libseccomp compiles now from the same rules (so the two cannot drift:
 * a change of the rules, or of libseccomp, without a rebuild fails here), and a
 * sandbox child that loads it is refused what the filter refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/seccomp_filter.h"
#include "fork_child.h"

static void builtin_is_what_libseccomp_compiles(void **state)
{
	struct ad_err e;
	struct seccomp_prog *now = NULL;
	assert_int_equal(seccomp_filter_build(&now, &e), 0);
	const struct seccomp_prog *built = seccomp_filter_builtin();
	assert_true(seccomp_filter_equal(built, now));
	assert_true(seccomp_filter_equal(now, built));
	seccomp_filter_free(now);
	/* freeing the built-in one is a no-op, never a free() of static data */
	seccomp_filter_free((struct seccomp_prog *)(uintptr_t)built);
}

static int load_builtin_and_unshare(void *arg)
{
	struct ad_err e;
	if (seccomp_filter_load(seccomp_filter_builtin(), &e) < 0)
		return 10;
	if (syscall(SYS_unshare, CLONE_NEWUSER) == 0 || errno != EPERM)
		return 11;
	if (syscall(SYS_getppid) <= 0)      /* what is not refused still works */
		return 12;
	return 0;
}

static void builtin_refuses_in_a_child(void **state)
{
	int st = fork_child_run(load_builtin_and_unshare, NULL, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin_is_what_libseccomp_compiles),
		cmocka_unit_test(builtin_refuses_in_a_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

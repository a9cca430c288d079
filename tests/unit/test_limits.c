/* Unit tests for the headroom checks (include/core/limits.h): open files against a
 * lowered RLIMIT_NOFILE, pids.max read from a tree of files laid out as cgroups are,
 * and the naming of a resource's failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/limits.h"

static long open_now(void)
{
	struct stat st;
	assert_int_equal(stat("/proc/self/fd", &st), 0);
	return (long)st.st_size;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A forked child, since the limit it lowers cannot be raised again without privilege. */
static void open_files_meet_rlimit_nofile(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ad_err e;
		long open = open_now();
		struct rlimit rl = { (rlim_t)open + LIMITS_SESSION_FDS + LIMITS_SPARE_FDS + 4, 0 };
		rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || limits_check(NULL, &e) < 0)
			_exit(1);           /* room for a session still */
		for (int i = 0; i < 8; i++)
			if (dup(0) < 0)
				_exit(2);
		if (limits_check(NULL, &e) == 0 || e.errnum != EAGAIN || strstr(e.msg, "RLIMIT_NOFILE (") == NULL)
			_exit(3);
		while (dup(0) >= 0)
			;
		struct ad_err f;
		errno = EMFILE;
		ad_err_sys(&f, "socketpair");
		if (!limits_explain(&f, NULL) || f.errnum != EAGAIN || strncmp(f.msg, "socketpair: EMFILE; ", 20) != 0 ||
		    strstr(f.msg, "RLIMIT_NOFILE (") == NULL)
			_exit(4);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The daemon's cgroup and the one above it: the tighter one refuses, named with its
 * value; the walk stops where no pids.max is (the root cgroup has none). */
static void pids_max_of_the_cgroup_or_above(void **state)
{
	(void)state;
	char top[] = "/tmp/agentd-test-limits-XXXXXX";
	assert_non_null(mkdtemp(top));
	char mid[256], own[256];
	snprintf(mid, sizeof(mid), "%s/service", top);
	snprintf(own, sizeof(own), "%s/agentd", mid);
	assert_int_equal(mkdir(mid, 0700), 0);
	assert_int_equal(mkdir(own, 0700), 0);
	write_file(own, "pids.max", "max\n");
	write_file(own, "pids.current", "5\n");
	write_file(mid, "pids.max", "100\n");
	write_file(mid, "pids.current", "20\n");
	struct ad_err e;
	assert_int_equal(limits_check(own, &e), 0);

	write_file(mid, "pids.current", "95\n");
	assert_int_equal(limits_check(own, &e), -1);
	assert_int_equal(e.errnum, EAGAIN);
	assert_non_null(strstr(e.msg, "pids.max (100)"));
	assert_non_null(strstr(e.msg, mid));

	struct ad_err f;        /* a fork that failed: the cgroup is full */
	write_file(mid, "pids.current", "100\n");
	errno = EAGAIN;
	ad_err_sys(&f, "fork a supervisor");
	assert_true(limits_explain(&f, own));
	assert_non_null(strstr(f.msg, "fork a supervisor: EAGAIN; "));
	assert_non_null(strstr(f.msg, "pids.max (100)"));

	char rm[300];
	snprintf(rm, sizeof(rm), "rm -rf %s", top);
	assert_int_equal(system(rm), 0);
}

/* A failure that is not for want of a resource is left as it was. */
static void other_failures_are_left_alone(void **state)
{
	(void)state;
	struct ad_err e;
	errno = ENOENT;
	ad_err_sys(&e, "open x");
	assert_false(limits_explain(&e, NULL));
	assert_string_equal(e.msg, "open x: ENOENT");
	assert_int_equal(e.errnum, ENOENT);

	errno = ENFILE;
	ad_err_sys(&e, "socket");
	assert_true(limits_explain(&e, NULL));
	assert_non_null(strstr(e.msg, "fs.file-max ("));
	assert_int_equal(e.errnum, EAGAIN);
}

/* The memory kept free grows with the host, between its floor and its ceiling. */
static void spare_memory_scales_with_the_host(void **state)
{
	(void)state;
	const long long mib = 1024, gib = 1024 * mib;
	assert_int_equal(limits_spare_mem_kib(2 * gib), 256 * mib);     /* floor */
	assert_int_equal(limits_spare_mem_kib(24 * gib), 768 * mib);    /* a 32nd */
	assert_int_equal(limits_spare_mem_kib(256 * gib), 2 * gib);     /* ceiling */
	assert_int_equal(limits_spare_mem_kib(-1), 256 * mib);          /* unknown */
	/* a session is refused just under the spare, named with both figures */
	struct ad_err e;
	assert_int_equal(limits_check_memory(768 * mib, 24 * gib, &e), 0);
	assert_int_equal(limits_check_memory(-1, 24 * gib, &e), 0);     /* unknown: not refused */
	assert_int_equal(limits_check_memory(768 * mib - 1, 24 * gib, &e), -1);
	assert_int_equal(e.errnum, EAGAIN);
	assert_string_equal(e.msg, "memory: the host's MemAvailable (767 MiB) is under the 768 MiB agentd keeps free");
	assert_int_equal(limits_check_memory(255 * mib, 2 * gib, &e), -1);
	assert_non_null(strstr(e.msg, "under the 256 MiB"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_files_meet_rlimit_nofile),
		cmocka_unit_test(pids_max_of_the_cgroup_or_above),
		cmocka_unit_test(other_failures_are_left_alone),
		cmocka_unit_test(spare_memory_scales_with_the_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

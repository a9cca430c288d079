/* Unit tests for core/fsutil.c's fs_mkdir_p: every level made, from any existing one,
 * also past its list of cuts; an existing directory is fine, a file in the way is not. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"

static char top[64];

static int setup(void **state)
{
	snprintf(top, sizeof(top), "/tmp/agentd-fsutil-XXXXXX");
	return mkdtemp(top) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	struct ad_err e;
	return fs_remove_tree(AT_FDCWD, top, &e);
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void makes_every_level(void **state)
{
	struct ad_err e;
	char p[256];
	snprintf(p, sizeof(p), "%s/a/b/c", top);
	assert_int_equal(fs_mkdir_p(p, 0755, &e), 0);
	assert_true(is_dir(p));
	assert_int_equal(fs_mkdir_p(p, 0755, &e), 0);            /* there already */
	snprintf(p, sizeof(p), "%s/a/b/d/e/", top);              /* from an existing level */
	assert_int_equal(fs_mkdir_p(p, 0755, &e), 0);
	assert_true(is_dir(p));
}

static void deeper_than_its_cuts(void **state)
{
	struct ad_err e;
	char p[1024];
	int n = snprintf(p, sizeof(p), "%s/deep", top);
	for (int i = 0; i < 40; i++)
		n += snprintf(p + n, sizeof(p) - (size_t)n, "/%d", i);
	assert_int_equal(fs_mkdir_p(p, 0700, &e), 0);
	assert_true(is_dir(p));
}

static void a_file_in_the_way_fails(void **state)
{
	struct ad_err e;
	char f[256], p[256];
	snprintf(f, sizeof(f), "%s/file", top);
	int fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fs_mkdir_p(f, 0755, &e), -1);
	assert_int_equal(e.errnum, ENOTDIR);
	snprintf(p, sizeof(p), "%s/x/y", f);
	assert_int_equal(fs_mkdir_p(p, 0755, &e), -1);
	assert_int_equal(e.errnum, ENOTDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(makes_every_level, setup, teardown),
		cmocka_unit_test_setup_teardown(deeper_than_its_cuts, setup, teardown),
		cmocka_unit_test_setup_teardown(a_file_in_the_way_fails, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

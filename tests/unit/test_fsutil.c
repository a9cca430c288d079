/* Unit tests for core/fsutil.c: fs_mkdir_p makes every level, from any existing one,
 * also past its list of cuts (an existing directory is fine, a file in the way is not);
 * fs_chown_tree gives what one uid owns to another, never through a link; fs_lock_within
 * gives up at its deadline and takes a lock let go. */
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
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
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

static void make(const char *name, mode_t mode, uid_t uid)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", top, name);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, uid, uid), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static struct stat lstat_of(const char *name)
{
	char p[128];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", top, name);
	assert_int_equal(lstat(p, &st), 0);
	return st;
}

static void chown_tree_moves_one_owner_only(void **state)
{
	if (geteuid() != 0)
		skip();
	const uid_t from = 971001, to = 971002, other = 971003;
	char p[128], q[128];
	struct ad_err e;
	snprintf(p, sizeof(p), "%s/d", top);
	assert_int_equal(mkdir(p, 0750), 0);
	assert_int_equal(chown(p, from, from), 0);
	assert_int_equal(chown(top, from, from), 0);
	make("d/f", 0644, from);
	make("d/suid", 04755, from);
	make("theirs", 0600, other);
	make("outside", 0600, other);          /* what the link names: never followed */
	snprintf(p, sizeof(p), "%s/d/link", top);
	snprintf(q, sizeof(q), "%s/outside", top);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(lchown(p, from, from), 0);
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fs_chown_tree(fd, from, to, &e), 0);
	close(fd);
	struct stat st;
	assert_int_equal(stat(top, &st), 0);
	assert_int_equal(st.st_uid, to);
	assert_int_equal(st.st_gid, to);
	static const char *const moved[] = { "d", "d/f", "d/suid", "d/link" };
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		st = lstat_of(moved[i]);
		assert_int_equal(st.st_uid, to);
		assert_int_equal(st.st_gid, to);
	}
	assert_int_equal(lstat_of("d/suid").st_mode & 07777, 04755);
	assert_int_equal(lstat_of("d").st_mode & 07777, 0750);
	assert_int_equal(lstat_of("theirs").st_uid, other);
	assert_int_equal(lstat_of("outside").st_uid, other);
}

static void lock_within_gives_up_at_its_deadline(void **state)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/lock", top);
	int held = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	int fd = open(p, O_RDWR | O_CLOEXEC);      /* another open file: flock excludes it */
	assert_true(held >= 0 && fd >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);
	uint64_t t0 = clock_mono_ns();
	assert_int_equal(fs_lock_within(fd, 50), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_true(clock_mono_ns() - t0 >= 50000000u);
	assert_int_equal(flock(held, LOCK_UN), 0);
	assert_int_equal(fs_lock_within(fd, 50), 0);
	assert_int_equal(flock(held, LOCK_EX | LOCK_NB), -1);   /* fd has it now */
	close(fd);
	close(held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(makes_every_level, setup, teardown),
		cmocka_unit_test_setup_teardown(deeper_than_its_cuts, setup, teardown),
		cmocka_unit_test_setup_teardown(a_file_in_the_way_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(chown_tree_moves_one_owner_only, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_within_gives_up_at_its_deadline, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

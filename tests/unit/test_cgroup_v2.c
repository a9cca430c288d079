/* cgroup v2 for real (src/sandbox/cgroup.c, cgroup_host.c), in a test cgroup below our
 * own on this machine's cgroup2 hierarchy: clone3(CLONE_INTO_CGROUP), kill (cgroup.kill
 * and, without it, freeze and signal), removal, stats, and a pure v2 host as a private
 * mount namespace sees it. Mechanics only where no memory, pids or cpu controller is
 * given to v2 (hybrid hosts); prepare and create go the whole way where they are. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "sandbox/cgroup.h"
#include "fork_child.h"

#define MAXP 8
/* A kill that works takes milliseconds, one that leaves the cgroup populated runs into
 * its 10 s wait (CG_EMPTY_WAIT_MS): half of that tells them apart on a loaded machine. */
#define PROMPT_MS 5000
#define EXIT_WAIT_MS 30000   /* for processes to report or to be gone: generous, a poll */

static struct {
	char cgpath[PATH_MAX];   /* the test cgroup as /proc/PID/cgroup names it */
	char dir[PATH_MAX];      /* ... and its directory */
	char why[PATH_MAX + 64]; /* why the tests cannot run here, when they cannot */
	char opts[512];          /* the hierarchy's mount options, global: kept as they are */
	struct sandbox_cgroup cg;/* version 2, dir[0]: the test cgroup, made by hand */
	pid_t pids[MAXP];
	int pidfds[MAXP], n;
} fx;

#define NEED_V2() do { if (fx.why[0]) { print_message("skipped: %s\n", fx.why); skip(); } } while (0)

/* The first line of path after prefix ("" for the first line), or NULL. */
static char *line_of(const char *path, const char *prefix, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	char *hit = NULL;
	while (f != NULL && hit == NULL && fgets(buf, (int)size, f) != NULL)
		if (strncmp(buf, prefix, strlen(prefix)) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			hit = buf + strlen(prefix);
		}
	if (f != NULL)
		fclose(f);
	return hit;
}

static int setup(void **state)
{
	char line[4096], root[PATH_MAX] = "", mnt[PATH_MAX] = "", own[PATH_MAX], *p;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	memset(&fx, 0, sizeof(fx));
	while (f != NULL && mnt[0] == '\0' && fgets(line, sizeof(line), f) != NULL)
		if ((p = strstr(line, " - cgroup2 ")) == NULL || sscanf(p, " - %*s %*s %511s", fx.opts) != 1 ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			mnt[0] = '\0';
	if (f != NULL)
		fclose(f);
	size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (mnt[0] == '\0' || (p = line_of("/proc/self/cgroup", "0::", line, sizeof(line))) == NULL ||
	    strncmp(p, root, rl) != 0) {
		snprintf(fx.why, sizeof(fx.why), "no cgroup2 hierarchy holding our cgroup is mounted");
		return 0;
	}
	snprintf(own, sizeof(own), "%s", strcmp(p, "/") == 0 ? "" : p);
	snprintf(fx.cgpath, sizeof(fx.cgpath), "%s/agentd-test-%d", own, (int)getpid());
	snprintf(fx.dir, sizeof(fx.dir), "%s%s", mnt, fx.cgpath + rl);
	if (mkdir(fx.dir, 0755) < 0 && errno != EEXIST) {
		snprintf(fx.why, sizeof(fx.why), "cgroup2 at %s is not writable (mkdir %s: %s)", mnt, fx.dir,
			 strerror(errno));
		fx.dir[0] = '\0';
	}
	fx.cg = (struct sandbox_cgroup){ .version = 2, .ndirs = 1 };
	snprintf(fx.cg.dir[0], sizeof(fx.cg.dir[0]), "%s", fx.dir);
	/* orphans of the test cgroup come to us, to be waited for */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return 0;
}

static void write_to(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = write(fd, text, strlen(text));   /* best effort: checks come after */
		(void)n;
		close(fd);
	}
}

/* Wait up to ms for every tracked process to have exited; reap what is ours. */
static bool all_exited(int ms)
{
	uint64_t end = clock_mono_ms() + (uint64_t)ms;
	bool done = false;
	while (!done && clock_mono_ms() < end) {
		done = true;
		for (int i = 0; i < fx.n; i++) {
			struct pollfd pfd = { fx.pidfds[i], POLLIN, 0 };
			done = done && poll(&pfd, 1, 10) == 1;
		}
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return done;
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char sub[PATH_MAX + 256];
	while (d != NULL && (de = readdir(d)) != NULL)
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
			rm_tree(sub);
		}
	if (d != NULL)
		closedir(d);
	for (uint64_t end = clock_mono_ms() + 5000; rmdir(dir) < 0 && errno == EBUSY && clock_mono_ms() < end;)
		usleep(10000);
}

/* Whatever a test left: killed (without trusting the code under test), waited for, removed. */
static int teardown(void **state)
{
	if (fx.dir[0] != '\0' && access(fx.dir, F_OK) == 0) {
		write_to(fx.dir, "cgroup.kill", "1");
		for (int i = 0; i < fx.n; i++)
			syscall(SYS_pidfd_send_signal, fx.pidfds[i], SIGKILL, NULL, 0);
		all_exited(5000);
		rm_tree(fx.dir);
	}
	for (int i = 0; i < fx.n; i++)
		close(fx.pidfds[i]);
	fx.n = 0;
	return 0;
}

/* fork() straight into the cgroup, as sandbox_start does */
static pid_t clone_into(const struct sandbox_cgroup *cg)
{
	int fds[CG_NCTL];
	struct ad_err e;
	assert_int_equal(sandbox_cgroup_open_join(cg, fds, &e), 1);
	struct clone_args ca = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)fds[0] };
	fflush(NULL);
	pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		fork_child_enter();   /* a child of the runner all the same: see fork_child.h */
	else
		close(fds[0]);
	return pid;
}

static _Noreturn void report_and_idle(int fd, bool forker)
{
	pid_t me = getpid();
	if (write(fd, &me, sizeof(me)) != sizeof(me))
		_exit(1);
	for (pid_t k;;)
		if (!forker)
			pause();
		else if ((k = fork()) == 0)
			_exit(0);
		else if (k > 0)
			waitpid(k, NULL, 0);
}

/* In the cgroup: a leader, two idle children, one that forks without end, and a
 * double-forked grandchild in a session of its own. Each tells us its pid. */
static void spawn_family(const struct sandbox_cgroup *cg)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t leader = clone_into(cg);
	if (leader == 0) {
		for (int i = 0; i < 3; i++)
			if (fork() == 0)
				report_and_idle(p[1], i == 2);
		pid_t mid = fork();
		if (mid == 0) {
			if (fork() == 0 && setsid() > 0)
				report_and_idle(p[1], false);
			_exit(0);
		}
		waitpid(mid, NULL, 0);
		report_and_idle(p[1], false);
	}
	close(p[1]);
	assert_true(leader > 0);
	size_t got = 0;
	for (struct pollfd pfd = { p[0], POLLIN, 0 }; got < 5 * sizeof(pid_t) && poll(&pfd, 1, EXIT_WAIT_MS) == 1;) {
		ssize_t n = read(p[0], (char *)fx.pids + got, 5 * sizeof(pid_t) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	fx.n = (int)(got / sizeof(pid_t));
	for (int i = 0; i < fx.n; i++)
		fx.pidfds[i] = (int)syscall(SYS_pidfd_open, fx.pids[i], 0);
	assert_int_equal(fx.n, 5);
}

/* sandbox_cgroup_kill(*arg) without the capabilities that reach a file mode 0 */
static int kill_without_dac(void *arg)
{
	const struct sandbox_cgroup *const *cg = arg;
	char path[PATH_MAX + 32];
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &head, caps) < 0)
		return 2;
	caps[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
	if (syscall(SYS_capset, &head, caps) < 0)
		return 2;
	snprintf(path, sizeof(path), "%s/cgroup.kill", fx.dir);
	if (open(path, O_WRONLY | O_CLOEXEC) >= 0)
		return 3;
	sandbox_cgroup_kill(*cg);
	return 0;
}

/* The family killed through sandbox_cgroup_kill, by us or (without_kill) by a helper
 * for which cgroup.kill is out of reach, as on Linux before 5.14: promptly, all of it,
 * the double-forked grandchild too, and the cgroup left empty. */
static void kill_family(const struct sandbox_cgroup *cg, bool without_kill)
{
	char path[PATH_MAX + 32], buf[PATH_MAX];
	int status = 0;
	spawn_family(cg);
	for (int i = 0; i < fx.n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)fx.pids[i]);
		assert_string_equal(line_of(path, "0::", buf, sizeof(buf)), fx.cgpath);
	}
	snprintf(path, sizeof(path), "%s/cgroup.kill", fx.dir);
	assert_true(!without_kill || chmod(path, 0) == 0 || errno == ENOENT);
	uint64_t t = clock_mono_ms();
	if (without_kill)
		status = fork_child_run(kill_without_dac, &cg, 0);
	else
		sandbox_cgroup_kill(cg);
	assert_child_exited(status, 0);
	assert_in_range(clock_mono_ms() - t, 0, PROMPT_MS);
	assert_true(all_exited(EXIT_WAIT_MS));
	for (int i = 0; i < fx.n; i++)
		assert_true(kill(fx.pids[i], 0) < 0 && errno == ESRCH);
	snprintf(path, sizeof(path), "%s/cgroup.procs", fx.dir);
	assert_null(line_of(path, "", buf, sizeof(buf)));
	snprintf(path, sizeof(path), "%s/cgroup.events", fx.dir);
	assert_string_equal(line_of(path, "populated ", buf, sizeof(buf)), "0");
}

static void kill_empties_the_cgroup_and_remove_takes_it(void **state)
{
	NEED_V2();
	struct ad_err e;
	kill_family(&fx.cg, false);
	assert_int_equal(sandbox_cgroup_remove(&fx.cg, &e), 0);
	assert_true(access(fx.dir, F_OK) < 0 && errno == ENOENT);
	assert_int_equal(sandbox_cgroup_remove(&fx.cg, &e), 0);   /* twice is harmless */
}

static void kill_without_cgroup_kill_freezes_and_signals(void **state)
{
	NEED_V2();
	kill_family(&fx.cg, true);
}

static void stats_say_what_the_kernel_counts(void **state)
{
	NEED_V2();
	static const char *const files[][2] = { { "memory_bytes", "memory.current" },
		{ "memory_peak_bytes", "memory.peak" }, { "pids", "pids.current" } };
	char path[PATH_MAX + 32], buf[256];
	pid_t pid = clone_into(&fx.cg);
	if (pid == 0) {
		struct timespec ts;
		do
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		while (ts.tv_sec == 0 && ts.tv_nsec < 200000000);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	snprintf(path, sizeof(path), "%s/cpu.stat", fx.dir);
	const char *v = line_of(path, "usage_usec ", buf, sizeof(buf));
	double usec = v != NULL ? strtod(v, NULL) : 0;
	assert_true(usec >= 150000);   /* the kernel counted it */

	cJSON *info = sandbox_cgroup_json(&fx.cg), *st = sandbox_cgroup_stats(info);
	assert_int_equal(cJSON_GetObjectItem(info, "version")->valueint, 2);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(info, "dir")), fx.dir);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(st, "cpu_seconds")));
	double diff = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "cpu_seconds")) * 1e6 - usec;
	assert_true(diff < 1 && diff > -1);
	for (int i = 0; i < 3; i++) {   /* a number where the controller's file is, null where not */
		snprintf(path, sizeof(path), "%s/%s", fx.dir, files[i][1]);
		const cJSON *j = cJSON_GetObjectItem(st, files[i][0]);
		assert_true(access(path, F_OK) == 0 ? cJSON_IsNumber(j) : cJSON_IsNull(j));
	}
	cJSON_Delete(st);
	cJSON_Delete(info);
	/* a description of nothing, or of a cgroup gone: nulls, no crash */
	const char *odd[] = { "{\"version\":2}", "{\"version\":2,\"dir\":7}", "{\"version\":2,\"dir\":\"/nonexistent\"}" };
	for (unsigned i = 0; i < 3; cJSON_Delete(st), cJSON_Delete(info), i++) {
		st = sandbox_cgroup_stats(info = cJSON_Parse(odd[i]));
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(st, "cpu_seconds")) &&
			    cJSON_IsNull(cJSON_GetObjectItem(st, "memory_bytes")));
	}
}

#define CHECK(c) do { if (!(c)) { dprintf(out, "line %d: %s (%s)", __LINE__, #c, e.msg); return 1; } } while (0)

/* In a child in the test cgroup that sees /sys/fs/cgroup as a pure v2 host does. */
static int pure_v2_child(void *arg)
{
	int out = *(int *)arg;
	struct ad_err e = { 0 };
	struct cgroup_host h;
	struct sandbox_cgroup cg;
	struct sandbox_policy pol = { .memory_max = 64 << 20, .pids_max = 64, .cpus_milli = 500 };
	char want[PATH_MAX + 32], ctls[512] = " ", buf[PATH_MAX];
	write_to(fx.dir, "cgroup.procs", "0");
	CHECK(unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	umount2("/sys/fs/cgroup", MNT_DETACH);   /* the hybrid's tmpfs and all below it */
	/* with the options it has: a cgroup2 mount applies its own (nsdelegate, ...) to all */
	CHECK(mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, fx.opts) == 0);
	CHECK(cgroup_host_detect(&h, true, &e) == 0);
	snprintf(e.msg, sizeof(e.msg), "v%d hybrid %d dir %s", h.version, h.hybrid, h.v2_dir);
	CHECK(h.version == 2 && !h.hybrid);
	snprintf(want, sizeof(want), "/sys/fs/cgroup%s", fx.cgpath);
	CHECK(strcmp(h.v2_dir, want) == 0);
	snprintf(want, sizeof(want), "%s/cgroup.controllers", h.v2_dir);
	line_of(want, "", ctls + 1, sizeof(ctls) - 2);
	strcat(ctls, " ");
	bool all = true, any = false;
	for (int i = 0; i < CG_FREEZER; i++) {
		snprintf(buf, sizeof(buf), " %s ", cgroup_ctl_names[i]);
		CHECK(h.ctl[i].available == (strstr(ctls, buf) != NULL));
		CHECK(h.ctl[i].writable == h.ctl[i].available);
		all = all && h.ctl[i].available;
		any = any || h.ctl[i].available;
	}
	CHECK(h.ctl[CG_FREEZER].available && h.ctl[CG_FREEZER].writable);

	/* we live in our cgroup: enabling controllers moves us into a leaf first */
	CHECK(sandbox_cgroup_prepare(&h, &e) == 0);
	snprintf(want, sizeof(want), "%s%s", fx.cgpath, any ? "/agentd" : "");
	CHECK(strcmp(line_of("/proc/self/cgroup", "0::", buf, sizeof(buf)), want) == 0);
	snprintf(want, sizeof(want), "%s/agentd", h.v2_dir);
	CHECK(any == (access(want, F_OK) == 0));

	int rc = sandbox_cgroup_create(&cg, &h, "agentd-t", &pol, &e);
	snprintf(want, sizeof(want), "%s/agentd-t", h.v2_dir);
	if (all) {
		CHECK(rc == 0 && cg.version == 2 && strcmp(cg.dir[0], want) == 0);
		CHECK(strcmp(line_of(strcat(want, "/cpu.max"), "", buf, sizeof(buf)), "50000 100000") == 0);
		snprintf(want, sizeof(want), "%s/memory.max", cg.dir[0]);
		CHECK(strcmp(line_of(want, "", buf, sizeof(buf)), "67108864") == 0);
		CHECK(sandbox_cgroup_remove(&cg, &e) == 0);
		return 0;
	}
	int miss = 0;
	while (h.ctl[miss].available)
		miss++;
	snprintf(buf, sizeof(buf), "the %s controller is not", cgroup_ctl_names[miss]);
	CHECK(rc < 0 && strstr(e.msg, buf) && strstr(e.msg, h.v2_dir) && strstr(e.msg, "Delegate=yes") &&
	      strstr(e.msg, "sandbox.allow_no_cgroup"));
	CHECK(access(want, F_OK) < 0);
	pol.allow_no_cgroup = true;
	CHECK(sandbox_cgroup_create(&cg, &h, "agentd-t", &pol, &e) == 0 && cg.version == 0);
	CHECK(access(want, F_OK) < 0);
	return 0;
}

/* In a child in the test cgroup whose /sys/fs/cgroup is a bind mount of that cgroup
 * alone, as a container may be given: the mount shows the cgroup at its top. */
static int subtree_child(void *arg)
{
	int out = *(int *)arg;
	struct ad_err e = { 0 };
	struct cgroup_host h;
	write_to(fx.dir, "cgroup.procs", "0");
	CHECK(unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	CHECK(mount(fx.dir, "/sys/fs/cgroup", NULL, MS_BIND, NULL) == 0);
	CHECK(cgroup_host_detect(&h, true, &e) == 0);
	snprintf(e.msg, sizeof(e.msg), "v%d dir %s", h.version, h.v2_dir);
	CHECK(h.version == 2 && strcmp(h.v2_dir, "/sys/fs/cgroup") == 0);
	CHECK(h.ctl[CG_FREEZER].available && h.ctl[CG_FREEZER].writable);
	return 0;
}

/* fn(the write end of a pipe) in a child; what it wrote there says why it failed. */
static void in_child(int (*fn)(void *))
{
	int p[2];
	char msg[1024] = "";
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork_child_start(fn, &p[1], 0);
	close(p[1]);
	int status = fork_child_wait(pid);
	if (read(p[0], msg, sizeof(msg) - 1) < 0)
		msg[0] = '\0';
	close(p[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		print_message("child: %s\n", msg);
	assert_child_exited(status, 0);
}

static void pure_v2_host_detected_prepared_and_refused_with_the_fix(void **state)
{
	NEED_V2();
	in_child(pure_v2_child);
}

static void a_bind_mounted_subtree_is_found_at_its_mount(void **state)
{
	NEED_V2();
	in_child(subtree_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(kill_empties_the_cgroup_and_remove_takes_it, setup, teardown),
		cmocka_unit_test_setup_teardown(kill_without_cgroup_kill_freezes_and_signals, setup, teardown),
		cmocka_unit_test_setup_teardown(stats_say_what_the_kernel_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(pure_v2_host_detected_prepared_and_refused_with_the_fix, setup, teardown),
		cmocka_unit_test_setup_teardown(a_bind_mounted_subtree_is_found_at_its_mount, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

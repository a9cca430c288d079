/* Headroom for one more session: see include/core/limits.h.
 *
 * Every figure is read when a session is asked for (a stat and a few small /proc and
 * cgroup files: tens of microseconds), not cached: an operator may raise a limit while
 * agentd runs, and other programs on the host take tasks and memory too. */
#include "core/limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/log.h"

#define SMALL_FILE_MAX 4096   /* /proc/loadavg, a sysctl, a cgroup's pids.max; meminfo's start */

/* The first bytes of a small file, NUL-terminated; false when it cannot be read. */
static bool read_small(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n;
	while ((n = read(fd, buf, size - 1)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* A file holding one number; -1 for "max" (no limit) or when it cannot be read. */
static long long read_number(const char *path)
{
	char buf[64];
	if (!read_small(path, buf, sizeof(buf)) || strncmp(buf, "max", 3) == 0)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	return errno != 0 || end == buf ? -1 : v;
}

/* The descriptors this process has open: Linux 6.2 and later give their count as the
 * size of /proc/self/fd, older kernels are counted entry by entry. */
static long open_fds(void)
{
	struct stat st;
	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (long)st.st_size;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	long n = 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n - 3;      /* ".", ".." and the directory's own descriptor */
}

/* Tasks (processes and threads) on the host: the fourth field of /proc/loadavg. */
static long long host_tasks(void)
{
	char buf[128];
	const char *slash;
	if (!read_small("/proc/loadavg", buf, sizeof(buf)) || (slash = strchr(buf, '/')) == NULL)
		return -1;
	return strtoll(slash + 1, NULL, 10);
}

/* MemAvailable and MemTotal, in KiB (-1: unknown), from one read of /proc/meminfo. */
static void meminfo(long long *avail_kib, long long *total_kib)
{
	char buf[SMALL_FILE_MAX];
	const char *p;
	*avail_kib = *total_kib = -1;
	if (!read_small("/proc/meminfo", buf, sizeof(buf)))
		return;
	if ((p = strstr(buf, "MemTotal:")) != NULL)
		*total_kib = strtoll(p + strlen("MemTotal:"), NULL, 10);
	if ((p = strstr(buf, "MemAvailable:")) != NULL)
		*avail_kib = strtoll(p + strlen("MemAvailable:"), NULL, 10);
}

static long long mem_available_kib(void)
{
	long long avail, total;
	meminfo(&avail, &total);
	return avail;
}

long long limits_spare_mem_kib(long long total_kib)
{
	long long kib = total_kib / LIMITS_SPARE_MEM_SHARE;
	if (kib < (long long)LIMITS_SPARE_MEM_MIN_MIB * 1024)
		kib = (long long)LIMITS_SPARE_MEM_MIN_MIB * 1024;
	if (kib > (long long)LIMITS_SPARE_MEM_MAX_MIB * 1024)
		kib = (long long)LIMITS_SPARE_MEM_MAX_MIB * 1024;
	return kib;
}

void limits_raise(void)
{
	static const struct { int resource; const char *name; } raise[] = {
		{ RLIMIT_NOFILE, "RLIMIT_NOFILE" },
		{ RLIMIT_NPROC, "RLIMIT_NPROC" },
	};
	for (size_t i = 0; i < sizeof(raise) / sizeof(raise[0]); i++) {
		struct rlimit rl;
		if (getrlimit(raise[i].resource, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
			continue;
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(raise[i].resource, &rl) < 0)
			log_warn("limits: %s stays at %ju (the hard limit is %ju): %s", raise[i].name, (uintmax_t)was,
				 (uintmax_t)rl.rlim_max, strerror(errno));
		else
			log_debug("limits: %s raised from %ju to its hard limit, %ju", raise[i].name, (uintmax_t)was,
				  (uintmax_t)rl.rlim_max);
	}
}

static int check_fds(int need, struct ad_err *err)
{
	struct rlimit rl;
	long open = open_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || open < 0)
		return 0;
	if ((rlim_t)open + (rlim_t)need <= rl.rlim_cur)
		return 0;
	return ad_err_code(err, EAGAIN, "agentd has %ld files open, and its RLIMIT_NOFILE (%ju) leaves no room for "
			   "another session (raise LimitNOFILE= in agentd's systemd unit, or the hard limit it runs under)",
			   open, (uintmax_t)rl.rlim_cur);
}

/* kernel.pid_max and kernel.threads-max against the host's tasks. */
static int check_host_tasks(int need, struct ad_err *err)
{
	static const char *const sysctls[] = { "pid_max", "threads-max" };
	long long tasks = host_tasks();
	for (size_t i = 0; tasks >= 0 && i < 2; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/sys/kernel/%s", sysctls[i]);
		long long max = read_number(path);
		if (max > 0 && tasks + need > max)
			return ad_err_code(err, EAGAIN, "the host runs %lld tasks, and kernel.%s (%lld) leaves no room "
					   "for another session's (raise it: sysctl kernel.%s)", tasks, sysctls[i], max,
					   sysctls[i]);
	}
	return 0;
}

/* The pids.max of agentd's cgroup and of each one above it (the root has none). */
static int check_pids_cgroups(const char *dir, int need, struct ad_err *err)
{
	char d[PATH_MAX], path[PATH_MAX + 16];
	if (dir == NULL || snprintf(d, sizeof(d), "%s", dir) >= (int)sizeof(d))
		return 0;
	for (char *slash; d[0] != '\0'; *slash = '\0') {
		snprintf(path, sizeof(path), "%s/pids.max", d);
		if (access(path, F_OK) < 0)
			break;
		long long max = read_number(path);
		snprintf(path, sizeof(path), "%s/pids.current", d);
		long long cur = max > 0 ? read_number(path) : -1;
		if (cur >= 0 && cur + need > max)
			return ad_err_code(err, EAGAIN, "the cgroup %s has %lld tasks, and its pids.max (%lld) leaves no "
					   "room for another session (under systemd: TasksMax= in agentd's unit)", d, cur, max);
		if ((slash = strrchr(d, '/')) == NULL)
			break;
	}
	return 0;
}

int limits_check_memory(long long avail_kib, long long total_kib, struct ad_err *err)
{
	long long spare = limits_spare_mem_kib(total_kib);
	if (avail_kib < 0 || avail_kib >= spare)
		return 0;
	return ad_err_code(err, EAGAIN, "memory: the host's MemAvailable (%lld MiB) is under the %lld MiB agentd keeps "
			   "free", avail_kib / 1024, spare / 1024);
}

static int check_memory(struct ad_err *err)
{
	long long avail, total;
	meminfo(&avail, &total);
	return limits_check_memory(avail, total, err);
}

int limits_check(const char *pids_cgroup, struct ad_err *err)
{
	if (check_fds(LIMITS_SESSION_FDS + LIMITS_SPARE_FDS, err) < 0 ||
	    check_host_tasks(LIMITS_SESSION_TASKS + LIMITS_SPARE_TASKS, err) < 0 ||
	    check_pids_cgroups(pids_cgroup, LIMITS_SESSION_TASKS, err) < 0 || check_memory(err) < 0)
		return -1;
	return 0;
}

bool limits_explain(struct ad_err *err, const char *pids_cgroup)
{
	int e = err->errnum;
	struct ad_err why = { 0 };
	struct rlimit rl = { 0, 0 };
	char what[AD_ERR_MSG_MAX];
	snprintf(what, sizeof(what), "%s", err->msg);
	/* the checks with a need of 1 name the limit with its value; when they pass (the
	 * resource came back since), a sentence says which limit it was */
	if (e == EMFILE && check_fds(1, &why) == 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		ad_err_code(&why, EAGAIN, "agentd's open files reached its RLIMIT_NOFILE (%ju)", (uintmax_t)rl.rlim_cur);
	else if (e == ENFILE)
		ad_err_code(&why, EAGAIN, "the host's open files reached fs.file-max (%lld)",
			    read_number("/proc/sys/fs/file-max"));
	else if (e == ENOMEM && check_memory(&why) == 0)
		ad_err_code(&why, EAGAIN, "memory ran out (MemAvailable %lld MiB now)", mem_available_kib() / 1024);
	else if (e == EAGAIN && check_host_tasks(1, &why) == 0 && check_pids_cgroups(pids_cgroup, 1, &why) == 0)
		ad_err_code(&why, EAGAIN, "a task limit was reached (kernel.pid_max, kernel.threads-max, a cgroup's "
			    "pids.max or RLIMIT_NPROC)");
	else if (e != EMFILE && e != ENOMEM && e != EAGAIN)
		return false;
	ad_err_code(err, EAGAIN, "%s; %s", what, why.msg);
	return true;
}

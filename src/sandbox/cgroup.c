/* A sandbox's cgroup: see include/sandbox/cgroup.h. */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"

#define CPU_PERIOD_US 100000

static int write_file(const char *dir, const char *file, const char *value, struct ad_err *err)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return fs_write_text(path, value, 0, 0, err);
}

static ssize_t read_file(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* "key value" lines (memory.events, memory.oom_control): the value of key, or -1. */
static long keyed_value(const char *dir, const char *file, const char *key)
{
	char buf[2048];
	if (read_file(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	size_t n = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ' ')
			return strtol(line + n + 1, NULL, 10);
	return -1;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

int sandbox_cgroup_prepare(struct cgroup_host *host, struct ad_err *err)
{
	if (host->version != 2)
		return 0;
	const char *own = host->v2_dir;
	char have[512];
	if (read_file(own, "cgroup.subtree_control", have, sizeof(have)) < 0)
		return ad_err_sys(err, "read %s/cgroup.subtree_control", own);
	if (has_word(have, "memory") && has_word(have, "pids") && has_word(have, "cpu"))
		return 0;
	struct ad_err first;
	if (write_file(own, "cgroup.subtree_control", "+memory +pids +cpu", &first) == 0)
		return 0;
	if (first.errnum != EBUSY)
		return ad_err_set(err, first.errnum, "enable controllers in %s", own);
	/* Processes live in our cgroup: move ourselves into a leaf, then enable. */
	char leaf[PATH_MAX + 16];
	snprintf(leaf, sizeof(leaf), "%s/agentd", own);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return ad_err_sys(err, "mkdir %s", leaf);
	if (write_file(leaf, "cgroup.procs", "0", err) < 0 ||
	    write_file(own, "cgroup.subtree_control", "+memory +pids +cpu", err) < 0)
		return ad_err_prefix(err, "delegated cgroup %s", own);
	return 0;
}

static int limit_v1(struct sandbox_cgroup *cg, const struct sandbox_policy *p, struct ad_err *err)
{
	char v[64];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->memory_max);
	if (write_file(cg->dir[CG_MEMORY], "memory.limit_in_bytes", v, err) < 0)
		return -1;
	/* No swap: memory+swap capped at the memory limit where swap is accounted, and
	 * swappiness 0 for the cgroup either way. */
	struct ad_err ignore;
	if (write_file(cg->dir[CG_MEMORY], "memory.memsw.limit_in_bytes", v, &ignore) < 0 &&
	    ignore.errnum != ENOENT)
		return ad_err_set(err, ignore.errnum, "%s", ignore.msg);
	write_file(cg->dir[CG_MEMORY], "memory.swappiness", "0", &ignore);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->pids_max);
	if (write_file(cg->dir[CG_PIDS], "pids.max", v, err) < 0)
		return -1;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(p->cpus_milli * CPU_PERIOD_US / 1000));
	if (write_file(cg->dir[CG_CPU], "cpu.cfs_period_us", "100000", err) < 0 ||
	    write_file(cg->dir[CG_CPU], "cpu.cfs_quota_us", v, err) < 0)
		return -1;
	return 0;
}

static int limit_v2(struct sandbox_cgroup *cg, const struct sandbox_policy *p, struct ad_err *err)
{
	char v[64];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->memory_max);
	if (write_file(cg->dir[0], "memory.max", v, err) < 0)
		return -1;
	struct ad_err ignore;
	if (write_file(cg->dir[0], "memory.swap.max", "0", &ignore) < 0 && ignore.errnum != ENOENT)
		return ad_err_set(err, ignore.errnum, "%s", ignore.msg);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->pids_max);
	if (write_file(cg->dir[0], "pids.max", v, err) < 0)
		return -1;
	snprintf(v, sizeof(v), "%llu %d", (unsigned long long)(p->cpus_milli * CPU_PERIOD_US / 1000), CPU_PERIOD_US);
	return write_file(cg->dir[0], "cpu.max", v, err);
}

static int without_cgroup(struct sandbox_cgroup *cg, const struct sandbox_policy *p, struct ad_err *err);

/* EEXIST: a dead parent that had our pid left it (we never reuse a name); it goes if
 * it is empty, as it will be (sandboxes die with their parent). */
static int make_dir(const char *dir, struct ad_err *err)
{
	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return ad_err_sys(err, "mkdir %s", dir);
	if (rmdir(dir) < 0 || mkdir(dir, 0755) < 0)
		return ad_err_set(err, EEXIST, "mkdir %s (a cgroup of that name is still in use)", dir);
	return 0;
}

static int create_limited(struct sandbox_cgroup *cg, const struct cgroup_host *host, const char *name,
			  const struct sandbox_policy *p, struct ad_err *err)
{
	if (host->version == 0)
		return ad_err_set(err, 0, "no usable cgroup (%s); sandboxes need one for their limits "
				  "(sandbox.allow_no_cgroup runs them without)", host->detail);
	cg->version = host->version;
	unsigned want = host->version == 2 ? 1 : CG_NCTL;
	for (unsigned i = 0; i < want; i++) {
		const char *base = host->version == 2 ? host->v2_dir : host->ctl[i].dir;
		if (host->version == 1 && !host->ctl[i].available) {
			sandbox_cgroup_remove(cg, NULL);
			return ad_err_set(err, 0, "the %s controller is not available", cgroup_ctl_names[i]);
		}
		snprintf(cg->dir[i], sizeof(cg->dir[i]), "%s/%s", base, name);
		if (make_dir(cg->dir[i], err) < 0) {
			cg->dir[i][0] = '\0';
			sandbox_cgroup_remove(cg, NULL);
			return -1;
		}
		cg->ndirs = i + 1;
	}
	int rc = host->version == 2 ? limit_v2(cg, p, err) : limit_v1(cg, p, err);
	if (rc < 0)
		sandbox_cgroup_remove(cg, NULL);
	return rc;
}

int sandbox_cgroup_create(struct sandbox_cgroup *cg, const struct cgroup_host *host, const char *name,
			  const struct sandbox_policy *p, struct ad_err *err)
{
	memset(cg, 0, sizeof(*cg));
	if (create_limited(cg, host, name, p, err) == 0)
		return 0;
	return without_cgroup(cg, p, err);
}

/* The policy may let sandboxes run without limits when no cgroup can be had. */
static int without_cgroup(struct sandbox_cgroup *cg, const struct sandbox_policy *p, struct ad_err *err)
{
	if (!p->allow_no_cgroup)
		return -1;
	log_warn("sandbox: %s; running WITHOUT memory, pids and CPU limits (sandbox.allow_no_cgroup)", err->msg);
	sandbox_cgroup_remove(cg, NULL);
	memset(cg, 0, sizeof(*cg));
	return 0;
}

/* A sandbox dies with its parent (PR_SET_PDEATHSIG), so a parent's leftovers are
 * empty cgroups: nothing needs killing, only removing. A cgroup is taken for a
 * leftover when it is ours by name, its parent's pid is not alive (as far as we can
 * see), it is empty, and older than STALE_AFTER_S: a parent in another pid namespace,
 * whose pid we cannot see, may have made it a moment ago and not be in it yet. */
#define STALE_AFTER_S 2

static bool is_leftover(const char *base, const char *name, time_t now)
{
	unsigned long pid, n;
	char tail, path[PATH_MAX + 300], buf[16];
	struct stat st;
	if (sscanf(name, "agentd-%lu-%lu%c", &pid, &n, &tail) != 2 || pid == 0 || pid > INT32_MAX ||
	    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return false;
	snprintf(path, sizeof(path), "%s/%s", base, name);
	if (stat(path, &st) < 0 || now - st.st_mtime < STALE_AFTER_S)
		return false;
	return read_file(path, "cgroup.procs", buf, sizeof(buf)) == 0;
}

/* The whole cgroup of a sandbox named name: every controller's copy on v1. */
static void cgroup_by_name(struct sandbox_cgroup *cg, const struct cgroup_host *host, const char *name)
{
	memset(cg, 0, sizeof(*cg));
	cg->version = host->version;
	cg->ndirs = host->version == 2 ? 1 : CG_NCTL;
	for (unsigned i = 0; i < cg->ndirs; i++)
		if (host->version == 2 || host->ctl[i].available)
			snprintf(cg->dir[i], sizeof(cg->dir[i]), "%s/%s",
				 host->version == 2 ? host->v2_dir : host->ctl[i].dir, name);
}

int sandbox_cgroup_sweep(const struct cgroup_host *host)
{
	/* One directory is enough to find the names: on v1 every sandbox has a copy in
	 * every controller (sandbox_cgroup_create), and they go all together. */
	const char *base = host->version == 2 ? host->v2_dir
			 : host->version == 1 && host->ctl[CG_PIDS].available ? host->ctl[CG_PIDS].dir : NULL;
	DIR *d = base != NULL ? opendir(base) : NULL;
	if (d == NULL)
		return 0;
	int removed = 0;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || !is_leftover(base, de->d_name, now))
			continue;
		/* rmdir refuses a cgroup with processes: a live one is never harmed */
		struct sandbox_cgroup cg;
		cgroup_by_name(&cg, host, de->d_name);
		if (sandbox_cgroup_remove(&cg, NULL) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int sandbox_cgroup_open_join(const struct sandbox_cgroup *cg, int fds[CG_NCTL], struct ad_err *err)
{
	char path[PATH_MAX + 16];
	for (unsigned i = 0; i < cg->ndirs; i++) {
		if (cg->version == 2) {
			fds[i] = open(cg->dir[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		} else {
			snprintf(path, sizeof(path), "%s/tasks", cg->dir[i]);
			fds[i] = open(path, O_WRONLY | O_CLOEXEC);
		}
		if (fds[i] < 0) {
			ad_err_sys(err, "open %s", cg->dir[i]);
			while (i > 0)
				close(fds[--i]);
			return -1;
		}
	}
	return (int)cg->ndirs;
}

int sandbox_cgroup_join_self(const int fds[CG_NCTL], unsigned n, struct ad_err *err)
{
	for (unsigned i = 0; i < n; i++)
		if (write(fds[i], "0", 1) != 1)
			return ad_err_sys(err, "join cgroup %s", cgroup_ctl_names[i]);
	return 0;
}

/* How long a cgroup may take to empty once its processes are killed. */
#define CG_EMPTY_WAIT_MS 10000u

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* v1: signal every pid listed; returns how many were listed. */
static int kill_listed(const char *dir)
{
	char buf[65536];
	if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) <= 0)
		return 0;
	int n = 0;
	for (char *p = buf; *p;) {
		long pid = strtol(p, &p, 10);
		if (pid > 0) {
			kill((pid_t)pid, SIGKILL);
			n++;
		}
		while (*p == '\n')
			p++;
	}
	return n;
}

static bool populated(const struct sandbox_cgroup *cg)
{
	char buf[64];
	if (cg->version == 2)
		return keyed_value(cg->dir[0], "cgroup.events", "populated") > 0;
	for (unsigned i = 0; i < cg->ndirs; i++)
		if (read_file(cg->dir[i], "cgroup.procs", buf, sizeof(buf)) > 0)
			return true;
	return false;
}

void sandbox_cgroup_kill(const struct sandbox_cgroup *cg)
{
	struct ad_err ignore;
	if (cg->version == 0 || !populated(cg))
		return;
	if (cg->version == 2) {
		write_file(cg->dir[0], "cgroup.kill", "1", &ignore);
	} else {
		/* Freeze first so that nothing forks between reading the list and the kill;
		 * SIGKILL is delivered once the cgroup thaws. */
		const char *fz = cg->dir[CG_FREEZER];
		write_file(fz, "freezer.state", "FROZEN", &ignore);
		char state[32];
		for (int i = 0; i < 200 && read_file(fz, "freezer.state", state, sizeof(state)) > 0 &&
				strncmp(state, "FROZEN", 6) != 0; i++)
			pause_ms(1);
		kill_listed(fz);
		write_file(fz, "freezer.state", "THAWED", &ignore);
	}
	/* A killed process may take a while to leave: one that the OOM killer chose, or
	 * any on a loaded host. Wait by the clock, not by a count of naps. */
	uint64_t start = clock_mono_ms(), last_kill = start;
	for (long nap = 1; populated(cg) && clock_mono_ms() - start < CG_EMPTY_WAIT_MS; nap = nap < 16 ? nap * 2 : nap) {
		if (cg->version == 1 && clock_mono_ms() - last_kill >= 50) {
			kill_listed(cg->dir[CG_FREEZER]);
			last_kill = clock_mono_ms();
		}
		pause_ms(nap);
	}
}

long sandbox_cgroup_oom_kills(const struct sandbox_cgroup *cg)
{
	if (cg->version == 2)
		return keyed_value(cg->dir[0], "memory.events", "oom_kill");
	if (cg->version == 1)
		return keyed_value(cg->dir[CG_MEMORY], "memory.oom_control", "oom_kill");
	return 0;
}

int sandbox_cgroup_remove(struct sandbox_cgroup *cg, struct ad_err *err)
{
	int rc = 0;
	for (unsigned i = 0; i < cg->ndirs; i++) {
		if (cg->dir[i][0] == '\0')
			continue;
		/* A process just killed may still be leaving: EBUSY until it has. */
		uint64_t start = clock_mono_ms();
		for (long nap = 1; rmdir(cg->dir[i]) < 0; nap = nap < 16 ? nap * 2 : nap) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || clock_mono_ms() - start >= CG_EMPTY_WAIT_MS) {
				rc = ad_err_sys(err, "rmdir %s", cg->dir[i]);
				break;
			}
			pause_ms(nap);
		}
		cg->dir[i][0] = '\0';
	}
	cg->ndirs = 0;
	return rc;
}

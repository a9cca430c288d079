/* The end of a sandbox's cgroup: killing what is in it, removing it, and sweeping
 * what parents killed without cleaning up left behind. See include/sandbox/cgroup.h. */
#include "sandbox/cgroup.h"
#include "cgroup_int.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

/* A sandbox dies with its parent (PR_SET_PDEATHSIG), so a parent's leftovers are
 * empty cgroups: nothing needs killing, only removing. A cgroup is taken for a
 * leftover when it is ours by name, its parent's pid is not alive (as far as we can
 * see), it is empty, and older than STALE_AFTER_S: a parent in another pid namespace,
 * whose pid we cannot see, may have made it a moment ago and not be in it yet. */
#define STALE_AFTER_S 2

/* A parent killed while it was killing its sandbox (between freezing the cgroup and
 * thawing it) leaves the sandbox frozen for good: its processes cannot even die of
 * their parent's death. Such a cgroup is a leftover although it is not empty. */
static bool frozen_orphan(const struct cgroup_host *host, const char *name)
{
	char dir[PATH_MAX + 300];
	const char *base = host->version == 2 ? host->v2_dir : host->ctl[CG_FREEZER].dir;
	if (host->version == 1 && !host->ctl[CG_FREEZER].available)
		return false;
	snprintf(dir, sizeof(dir), "%s/%s", base, name);
	char state[32];
	if (host->version == 2)
		return cg_read(dir, "cgroup.freeze", state, sizeof(state)) > 0 && state[0] == '1';
	return cg_read(dir, "freezer.state", state, sizeof(state)) > 0 && strncmp(state, "FROZEN", 6) == 0;
}

static bool is_leftover(const struct cgroup_host *host, const char *base, const char *name, time_t now)
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
	return cg_read(path, "cgroup.procs", buf, sizeof(buf)) == 0 || frozen_orphan(host, name);
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

struct sweep {
	const struct cgroup_host *host;
	const char *base;
	time_t now;
	char prefix[48];             /* "agentd-<owner>-": the owner's, or "" for leftovers */
};

static bool sweep_this(const struct sweep *w, const char *name)
{
	if (w->prefix[0] != '\0')
		return strncmp(name, w->prefix, strlen(w->prefix)) == 0;
	return is_leftover(w->host, w->base, name, w->now);
}

/* Kill what is in each cgroup the sweep picks in base (only a frozen orphan's or a
 * dead owner's can hold anything: rmdir refuses a cgroup with processes, so a live one
 * is never harmed) and remove it, in every controller. */
static int sweep_dir(struct sweep *w, const char *base)
{
	DIR *d = opendir(base);
	if (d == NULL)
		return 0;
	w->base = base;
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || !sweep_this(w, de->d_name))
			continue;
		struct sandbox_cgroup cg;
		cgroup_by_name(&cg, w->host, de->d_name);
		sandbox_cgroup_kill(&cg);
		if (sandbox_cgroup_remove(&cg, NULL) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/* On v1 every controller's directory is looked at: the copies of one sandbox's cgroup
 * may sit below different parents (a process's memory cgroup need not be its pids
 * cgroup's), and another launcher's sweep may have removed some copies but not those
 * it could not see. */
static int sweep(struct sweep *w)
{
	const struct cgroup_host *host = w->host;
	if (host->version == 2)
		return sweep_dir(w, host->v2_dir);
	int removed = 0;
	for (unsigned i = 0; host->version == 1 && i < CG_NCTL; i++)
		if (host->ctl[i].available)
			removed += sweep_dir(w, host->ctl[i].dir);
	return removed;
}

int sandbox_cgroup_sweep(const struct cgroup_host *host)
{
	struct sweep w = { .host = host, .now = time(NULL) };
	return sweep(&w);
}

int sandbox_cgroup_sweep_owner(const struct cgroup_host *host, pid_t owner)
{
	struct sweep w = { .host = host };
	snprintf(w.prefix, sizeof(w.prefix), "agentd-%ld-", (long)owner);
	return sweep(&w);
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
	if (cg_read(dir, "cgroup.procs", buf, sizeof(buf)) <= 0)
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
		return cg_keyed(cg->dir[0], "cgroup.events", "populated") > 0;
	for (unsigned i = 0; i < cg->ndirs; i++)
		if (cg_read(cg->dir[i], "cgroup.procs", buf, sizeof(buf)) > 0)
			return true;
	return false;
}

static bool frozen(int version, const char *dir)
{
	char state[32];
	if (version == 2)
		return cg_keyed(dir, "cgroup.events", "frozen") != 0;
	return cg_read(dir, "freezer.state", state, sizeof(state)) <= 0 || strncmp(state, "FROZEN", 6) == 0;
}

/* Freeze first so that nothing forks between reading the list and the kill; SIGKILL
 * is delivered once the cgroup thaws (v1) or at once (v2). */
static void kill_frozen(int version, const char *dir)
{
	struct ad_err ignore;
	cg_write(dir, version == 2 ? "cgroup.freeze" : "freezer.state", version == 2 ? "1" : "FROZEN", &ignore);
	for (int i = 0; i < 200 && !frozen(version, dir); i++)
		pause_ms(1);
	kill_listed(dir);
	cg_write(dir, version == 2 ? "cgroup.freeze" : "freezer.state", version == 2 ? "0" : "THAWED", &ignore);
}

void sandbox_cgroup_kill(const struct sandbox_cgroup *cg)
{
	struct ad_err ignore;
	if (cg->version == 0 || !populated(cg))
		return;
	/* v2 has cgroup.kill since Linux 5.14; before, or where it cannot be written, the
	 * processes are signalled one by one as on v1 */
	const char *dir = cg->version == 2 ? cg->dir[0] : cg->dir[CG_FREEZER];
	bool by_list = cg->version == 1 || cg_write(dir, "cgroup.kill", "1", &ignore) < 0;
	if (by_list)
		kill_frozen(cg->version, dir);
	/* A killed process may take a while to leave: one that the OOM killer chose, or
	 * any on a loaded host. Wait by the clock, not by a count of naps. */
	uint64_t start = clock_mono_ms(), last_kill = start;
	for (long nap = 1; populated(cg) && clock_mono_ms() - start < CG_EMPTY_WAIT_MS; nap = nap < 16 ? nap * 2 : nap) {
		if (by_list && clock_mono_ms() - last_kill >= 50) {
			kill_listed(dir);
			last_kill = clock_mono_ms();
		}
		pause_ms(nap);
	}
}

long sandbox_cgroup_oom_kills(const struct sandbox_cgroup *cg)
{
	if (cg->version == 2)
		return cg_keyed(cg->dir[0], "memory.events", "oom_kill");
	if (cg->version == 1)
		return cg_keyed(cg->dir[CG_MEMORY], "memory.oom_control", "oom_kill");
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

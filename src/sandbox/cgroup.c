/* A sandbox's cgroup: see include/sandbox/cgroup.h. */
#include "sandbox/cgroup.h"
#include "cgroup_int.h"


#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"

#define CPU_PERIOD_US 100000

int cg_write(const char *dir, const char *file, const char *value, struct ad_err *err)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return fs_write_text(path, value, 0, 0, err);
}

ssize_t cg_read(const char *dir, const char *file, char *buf, size_t size)
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
long cg_keyed(const char *dir, const char *file, const char *key)
{
	char buf[2048];
	if (cg_read(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	size_t n = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ' ')
			return strtol(line + n + 1, NULL, 10);
	return -1;
}

int sandbox_cgroup_prepare(struct cgroup_host *host, struct ad_err *err)
{
	if (host->version != 2)
		return 0;
	const char *own = host->v2_dir;
	char have[512], want[64] = "";
	if (cg_read(own, "cgroup.subtree_control", have, sizeof(have)) < 0)
		return ad_err_sys(err, "read %s/cgroup.subtree_control", own);
	/* Only those our cgroup has: the lack of the others (no Delegate=yes) is for each
	 * sandbox to report, or to accept with sandbox.allow_no_cgroup. */
	for (int i = 0; i < CG_FREEZER; i++)
		if (host->ctl[i].available && !cgroup_list_has(have, cgroup_ctl_names[i]))
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s+%s",
				 want[0] ? " " : "", cgroup_ctl_names[i]);
	if (want[0] == '\0')
		return 0;
	struct ad_err first;
	if (cg_write(own, "cgroup.subtree_control", want, &first) == 0)
		return 0;
	if (first.errnum != EBUSY)
		return ad_err_set(err, first.errnum, "enable %s in %s/cgroup.subtree_control", want, own);
	/* Processes live in our cgroup. If we are the only one, move into a leaf and enable
	 * them; if others share it (a login shell's scope, say), it is not ours to rearrange. */
	long others = 0;
	char procs[4096];
	if (cg_read(own, "cgroup.procs", procs, sizeof(procs)) > 0)
		for (char *p = procs; *p != '\0';) {
			long pid = strtol(p, &p, 10);
			others += pid > 0 && pid != (long)getpid();
			p += strspn(p, "\n");
		}
	if (others > 0)
		return ad_err_set(err, EBUSY, "agentd's cgroup %s holds other processes too, so its controllers "
				  "cannot be handed to sandboxes: run agentd in a cgroup of its own (systemd with "
				  "Delegate=yes, or `systemd-run --scope -p Delegate=yes agentd ...`)", own);
	char leaf[PATH_MAX + 16];
	snprintf(leaf, sizeof(leaf), "%s/agentd", own);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return ad_err_sys(err, "mkdir %s", leaf);
	if (cg_write(leaf, "cgroup.procs", "0", err) < 0 ||
	    cg_write(own, "cgroup.subtree_control", want, err) < 0)
		return ad_err_prefix(err, "delegated cgroup %s", own);
	return 0;
}

static int limit_v1(struct sandbox_cgroup *cg, const struct sandbox_policy *p, struct ad_err *err)
{
	char v[64];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->memory_max);
	if (cg_write(cg->dir[CG_MEMORY], "memory.limit_in_bytes", v, err) < 0)
		return -1;
	/* No swap: memory+swap capped at the memory limit where swap is accounted, and
	 * swappiness 0 for the cgroup either way. */
	struct ad_err ignore;
	if (cg_write(cg->dir[CG_MEMORY], "memory.memsw.limit_in_bytes", v, &ignore) < 0 &&
	    ignore.errnum != ENOENT)
		return ad_err_set(err, ignore.errnum, "%s", ignore.msg);
	cg_write(cg->dir[CG_MEMORY], "memory.swappiness", "0", &ignore);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->pids_max);
	if (cg_write(cg->dir[CG_PIDS], "pids.max", v, err) < 0)
		return -1;
	/* the quota is per CPU_PERIOD_US, which is what the kernel gives every new cgroup
	 * (cpu.cfs_period_us starts at 100 ms, whatever the parent's): not written again */
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(p->cpus_milli * CPU_PERIOD_US / 1000));
	if (cg_write(cg->dir[CG_CPU], "cpu.cfs_quota_us", v, err) < 0)
		return -1;
	return p->cpu_low ? cg_write(cg->dir[CG_CPU], "cpu.shares", CPU_SHARES_LOW, err) : 0;
}

static int limit_v2(struct sandbox_cgroup *cg, const struct sandbox_policy *p, struct ad_err *err)
{
	char v[64];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->memory_max);
	if (cg_write(cg->dir[0], "memory.max", v, err) < 0)
		return -1;
	struct ad_err ignore;
	if (cg_write(cg->dir[0], "memory.swap.max", "0", &ignore) < 0 && ignore.errnum != ENOENT)
		return ad_err_set(err, ignore.errnum, "%s", ignore.msg);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)p->pids_max);
	if (cg_write(cg->dir[0], "pids.max", v, err) < 0)
		return -1;
	snprintf(v, sizeof(v), "%llu %d", (unsigned long long)(p->cpus_milli * CPU_PERIOD_US / 1000), CPU_PERIOD_US);
	if (cg_write(cg->dir[0], "cpu.max", v, err) < 0)
		return -1;
	return p->cpu_low ? cg_write(cg->dir[0], "cpu.weight", CPU_WEIGHT_LOW, err) : 0;
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
	if (host->version == 2 && cgroup_host_v2_check(host, err) < 0)
		return -1;
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

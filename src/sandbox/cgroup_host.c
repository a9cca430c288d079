/* Finding the daemon's cgroups: see include/sandbox/cgroup_host.h. */
#include "sandbox/cgroup_host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "core/cleanup.h"

const char *const cgroup_ctl_names[CG_NCTL] = { "memory", "pids", "cpu", "freezer" };

#define PROC_TEXT_MAX (4 << 20)   /* mountinfo of a host with tens of thousands of mounts */

/* A /proc file read whole, NUL-terminated; NULL on failure. Read once, searched for
 * every controller. */
static char *slurp(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap);
	if (fd < 0 || buf == NULL) {
		free(buf);
		return NULL;
	}
	for (;;) {
		if (len + 1 == cap) {
			char *nb = cap < PROC_TEXT_MAX ? realloc(buf, cap * 2) : NULL;
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/* Next line of text at *pos into line (cut to size); false at the end. */
static bool next_line(const char **pos, char *line, size_t size)
{
	const char *p = *pos;
	if (*p == '\0')
		return false;
	size_t n = strcspn(p, "\n");
	snprintf(line, size, "%.*s", (int)n, p);
	*pos = p + n + (p[n] == '\n');
	return true;
}

/* A cgroup hierarchy's mount: where, and which of its directories it shows there ("/"
 * but for a bind mount of a subtree, as a container may be given). */
struct mount_at {
	char dir[PATH_MAX];
	char root[PATH_MAX];
};

/* The mount of a v1 hierarchy carrying ctl, or of the cgroup2 hierarchy (ctl NULL), in
 * mountinfo's text; with at, the one on top at that mount point. */
static int find_mount(const char *mountinfo, const char *ctl, const char *at, struct mount_at *out)
{
	char line[4096];
	int found = -1;
	for (const char *pos = mountinfo; next_line(&pos, line, sizeof(line));) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char root[PATH_MAX], mnt[PATH_MAX], fstype[64], super[1024];
		const char *sep = strstr(line, " - ");
		if (sep == NULL || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, super) != 2 || (at != NULL && strcmp(mnt, at) != 0))
			continue;
		bool hit = ctl == NULL && strcmp(fstype, "cgroup2") == 0;
		if (ctl != NULL && strcmp(fstype, "cgroup") == 0) {
			char *save = NULL;
			for (char *o = strtok_r(super, ",", &save); o && !hit; o = strtok_r(NULL, ",", &save))
				hit = strcmp(o, ctl) == 0;
		}
		if (hit) {
			snprintf(out->dir, sizeof(out->dir), "%s", mnt);
			snprintf(out->root, sizeof(out->root), "%s", root);
			found = 0;
			if (at == NULL)
				break;                /* else: a later one is mounted over it */
		}
	}
	return found;
}

/* The daemon's path in the hierarchy of ctl ("" for the v2 line "0::/path"), in the
 * text of /proc/self/cgroup. */
static int own_path(const char *cgroups, const char *ctl, char *out, size_t size)
{
	char line[4096];
	for (const char *pos = cgroups; next_line(&pos, line, sizeof(line));) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		const char *list = c1 + 1;
		/* v2: "0::/path", hierarchy 0 with no controller list */
		bool hit = ctl[0] == '\0' && c1 == line + 1 && line[0] == '0' && list[0] == '\0';
		char copy[256];
		snprintf(copy, sizeof(copy), "%s", list);
		char *save = NULL;
		for (char *o = strtok_r(copy, ",", &save); !hit && o; o = strtok_r(NULL, ",", &save))
			hit = strcmp(o, ctl) == 0;
		if (hit) {
			snprintf(out, size, "%s", c2 + 1);
			return 0;
		}
	}
	return -1;
}

static bool try_child(const char *dir)
{
	char probe[PATH_MAX + 64];
	snprintf(probe, sizeof(probe), "%s/agentd-probe-%d", dir, (int)getpid());
	if (mkdir(probe, 0755) < 0 && errno != EEXIST)
		return false;
	return rmdir(probe) == 0;
}

/* The directory of the cgroup at path (as /proc/self/cgroup names it) through mount m;
 * -1 when m does not show it (a subtree mounted that it is not in). */
static int place(char *out, size_t size, const struct mount_at *m, const char *path)
{
	size_t rl = strcmp(m->root, "/") == 0 ? 0 : strlen(m->root);
	if (strncmp(path, m->root, rl) != 0 || (path[rl] != '\0' && path[rl] != '/'))
		return -1;
	const char *below = path + rl;
	snprintf(out, size, "%s%s", m->dir, strcmp(below, "/") == 0 ? "" : below);
	return 0;
}

/* The first line of dir/file (a list of controllers) into buf; "" when unreadable. */
static void read_line(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "re");
	if (f == NULL || fgets(buf, (int)size, f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (f != NULL)
		fclose(f);
}

bool cgroup_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

static void detect_v2(struct cgroup_host *h, const char *cgroups, const struct mount_at *m, bool test_write)
{
	char path[PATH_MAX], ctls[512];
	if (own_path(cgroups, "", path, sizeof(path)) < 0 || place(h->v2_dir, sizeof(h->v2_dir), m, path) < 0)
		return;
	read_line(h->v2_dir, "cgroup.controllers", ctls, sizeof(ctls));
	bool writable = test_write && try_child(h->v2_dir);
	for (int i = 0; i < CG_NCTL; i++) {
		/* v2 freezes through cgroup.freeze and kills through cgroup.kill: no controller */
		bool have = i == CG_FREEZER || cgroup_list_has(ctls, cgroup_ctl_names[i]);
		h->ctl[i].available = have;
		h->ctl[i].writable = have && writable;
		snprintf(h->ctl[i].dir, sizeof(h->ctl[i].dir), "%s", h->v2_dir);
	}
	h->version = 2;
}

static void detect_v1(struct cgroup_host *h, const char *mountinfo, const char *cgroups, bool test_write)
{
	for (int i = 0; i < CG_NCTL; i++) {
		struct mount_at m;
		char path[PATH_MAX];
		struct cgroup_ctl_info *c = &h->ctl[i];
		if (find_mount(mountinfo, cgroup_ctl_names[i], NULL, &m) < 0 ||
		    own_path(cgroups, cgroup_ctl_names[i], path, sizeof(path)) < 0 ||
		    place(c->dir, sizeof(c->dir), &m, path) < 0)
			continue;
		c->available = access(c->dir, F_OK) == 0;
		c->writable = c->available && test_write && try_child(c->dir);
		if (c->available)
			h->version = 1;
	}
}

int cgroup_host_detect(struct cgroup_host *h, bool test_write, struct ad_err *err)
{
	memset(h, 0, sizeof(*h));
	_cleanup_free_ char *cgroups = slurp("/proc/self/cgroup");
	if (cgroups == NULL)
		return ad_err_sys(err, "read /proc/self/cgroup");
	_cleanup_free_ char *mountinfo = slurp("/proc/self/mountinfo");
	if (mountinfo == NULL)
		return ad_err_sys(err, "read /proc/self/mountinfo");
	struct mount_at v2;
	bool have_v2 = find_mount(mountinfo, NULL, NULL, &v2) == 0;
	struct statfs sfs;
	bool pure_v2 = statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
	if (pure_v2 && find_mount(mountinfo, NULL, "/sys/fs/cgroup", &v2) < 0)
		v2 = (struct mount_at){ "/sys/fs/cgroup", "/" };

	detect_v1(h, mountinfo, cgroups, test_write);
	if (h->version == 1)
		h->hybrid = have_v2;
	else if (have_v2 || pure_v2)
		detect_v2(h, cgroups, &v2, test_write);
	if (h->version == 0)
		snprintf(h->detail, sizeof(h->detail), "no cgroup hierarchy with memory, pids or cpu found");
	return 0;
}

/* Without Delegate=yes, systemd gives a service's cgroup no controllers, or enables
 * them below it for its own use only: a sandbox's cgroup would have no memory.max. */
#define V2_FIX "set Delegate=yes in agentd's systemd unit, or sandbox.allow_no_cgroup to run " \
	       "sandboxes without memory, pids and CPU limits"

int cgroup_host_v2_check(const struct cgroup_host *h, struct ad_err *err)
{
	char enabled[512], offered[512];
	read_line(h->v2_dir, "cgroup.subtree_control", enabled, sizeof(enabled));
	for (int i = 0; i < CG_FREEZER; i++) {
		const char *name = cgroup_ctl_names[i];
		if (cgroup_list_has(enabled, name))
			continue;
		read_line(h->v2_dir, "cgroup.controllers", offered, sizeof(offered));
		if (!cgroup_list_has(offered, name))
			return ad_err_code(err, ENOENT, "the %s controller is not delegated to agentd's cgroup %s "
					   "(its cgroup.controllers: \"%s\"): " V2_FIX, name, h->v2_dir, offered);
		return ad_err_code(err, ENOENT, "the %s controller is not enabled for the children of agentd's "
				   "cgroup %s (its cgroup.subtree_control: \"%s\"): " V2_FIX, name, h->v2_dir, enabled);
	}
	return 0;
}

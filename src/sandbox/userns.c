/* User namespace ids: see include/sandbox/userns.h. */
#include "sandbox/userns.h"

#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"

void sandbox_ids_choose(struct sandbox_ids *ids, const struct sandbox_policy *p, unsigned long serial)
{
	if (geteuid() == 0 && p->host_uid != 0) {
		ids->host_uid = p->host_uid;
		ids->host_gid = p->host_uid;
	} else if (geteuid() == 0) {
		ids->host_uid = (uid_t)(p->uid_base + serial % p->uid_count);
		ids->host_gid = (gid_t)ids->host_uid;
	} else {
		ids->host_uid = geteuid();
		ids->host_gid = getegid();
	}
}

uint32_t sandbox_ids_for_name(const struct sandbox_policy *p, const char *name)
{
	uint32_t h = 2166136261u;                 /* FNV-1a */
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 16777619u;
	return p->uid_base + h % (p->uid_count ? p->uid_count : 1);
}

static int write_proc(pid_t pid, const char *file, const char *text, struct ad_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	return fs_write_text(path, text, 0, 0, err);
}

int sandbox_ids_write_maps(pid_t child, const struct sandbox_ids *ids, struct ad_err *err)
{
	char map[64];
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)ids->host_uid);
	if (write_proc(child, "uid_map", map, err) < 0)
		return -1;
	/* "deny" before gid_map: required when unprivileged, and it keeps the sandbox from
	 * shedding supplementary groups to get round a deny-ACL in any case. */
	if (write_proc(child, "setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)ids->host_gid);
	return write_proc(child, "gid_map", map, err);
}

int sandbox_ids_become_root(struct ad_err *err)
{
	if (setresgid(0, 0, 0) < 0)
		return ad_err_sys(err, "setresgid 0");
	if (setresuid(0, 0, 0) < 0)
		return ad_err_sys(err, "setresuid 0");
	return 0;
}

/* User namespace ids: see include/sandbox/userns.h. */
#include "sandbox/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"

/* The slots of a range are the bytes of one file in /run, locked with open file
 * description locks: they belong to the open file, not to the process, so a supervisor's
 * sandboxes exclude one another as well as other processes', and the kernel lets go of
 * them when the last descriptor of the file closes, however that happens. */
static int hold_slot(const struct sandbox_policy *p, unsigned long serial, uint32_t *slot, int *lock,
		     struct ad_err *err)
{
	char path[96];
	snprintf(path, sizeof(path), "/run/agentd-ids-%u-%u.lock", (unsigned)p->uid_base, (unsigned)p->uid_count);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ad_err_sys(err, "open %s", path);
	for (uint32_t i = 0; i < p->uid_count; i++) {
		uint32_t n = (uint32_t)((serial + i) % p->uid_count);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)n, .l_len = 1 };
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
			*slot = n;
			*lock = fd;
			return 0;
		}
		if (errno != EAGAIN && errno != EACCES) {
			ad_err_sys(err, "lock a host id in %s", path);
			close(fd);
			return -1;
		}
	}
	close(fd);
	return ad_err_set(err, EAGAIN, "all %u host ids of sandbox.uid_base %u are in use by live sandboxes "
			  "(sandbox.uid_count)", (unsigned)p->uid_count, (unsigned)p->uid_base);
}

int sandbox_ids_choose(struct sandbox_ids *ids, const struct sandbox_policy *p, unsigned long serial,
		       int *lock, struct ad_err *err)
{
	*lock = -1;
	if (geteuid() == 0 && p->host_uid != 0) {
		ids->host_uid = p->host_uid;
		ids->host_gid = p->host_uid;
	} else if (geteuid() == 0) {
		uint32_t slot = 0;
		if (hold_slot(p, serial, &slot, lock, err) < 0)
			return -1;
		ids->host_uid = (uid_t)(p->uid_base + slot);
		ids->host_gid = (gid_t)ids->host_uid;
	} else {
		ids->host_uid = geteuid();
		ids->host_gid = getegid();
	}
	return 0;
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

int sandbox_ids_hold(const struct sandbox_policy *p, uid_t want, uid_t *got, int *lock, struct ad_err *err)
{
	uint32_t slot = 0;
	unsigned long start = want >= p->uid_base && want - p->uid_base < p->uid_count ? want - p->uid_base : 0;
	*lock = -1;
	if (hold_slot(p, start, &slot, lock, err) < 0)
		return -1;
	*got = (uid_t)(p->uid_base + slot);
	return 0;
}

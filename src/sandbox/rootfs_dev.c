/* The sandbox's /dev: a read-only, noexec directory of the root's tmpfs (bound on itself
 * for those flags: no file system of its own, see rootfs.c) with the harmless character
 * devices bound from the host, a private devpts instance, the mount point of /dev/shm
 * and the usual links. */
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "sandbox/rootfs.h"

static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };

static const struct {
	const char *name, *target;
} links[] = {
	{ "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
	{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
};

int rootfs_dev(const char *root, struct ad_err *err)
{
	char dev[64], path[128], src[64];
	snprintf(dev, sizeof(dev), "%s/dev", root);
	if (fs_mkdir_p(dev, 0755, err) < 0)
		return -1;
	struct mount_attr noexec = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC };
	if (mount(dev, dev, NULL, MS_BIND, NULL) < 0 || mount_setattr(AT_FDCWD, dev, 0, &noexec, sizeof(noexec)) < 0)
		return ad_err_sys(err, "bind /dev on itself");
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++) {
		snprintf(src, sizeof(src), "/dev/%s", devices[i]);
		snprintf(path, sizeof(path), "%s/%s", dev, devices[i]);
		/* read-write, and without nodev: these are device nodes */
		if (access(src, F_OK) == 0 && rootfs_bind(src, path, ROOTFS_RW | ROOTFS_DEV, err) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/pts", dev);
	if (fs_mkdir_p(path, 0755, err) < 0)
		return -1;
	if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0)
		return ad_err_sys(err, "mount devpts");
	snprintf(path, sizeof(path), "%s/shm", dev);
	if (fs_mkdir_p(path, 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		snprintf(path, sizeof(path), "%s/%s", dev, links[i].name);
		if (symlink(links[i].target, path) < 0)
			return ad_err_sys(err, "symlink %s", path);
	}
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	if (mount_setattr(AT_FDCWD, dev, 0, &ro, sizeof(ro)) < 0)
		return ad_err_sys(err, "make /dev read-only");
	return 0;
}

/* The loop store (include/sandbox/workspace.h): a sparse ext4 image per workspace,
 * dir/workspace.img, mounted on dir/workspace. The file system is the limit: its size
 * is the bytes, its inode count the files, and a writer past either gets ENOSPC from
 * it, whatever memory the sandbox has. mkfs.ext4 (e2fsprogs) makes the image; the loop
 * device is set up with LOOP_CONFIGURE (Linux 5.8): autoclear, so that it goes with its
 * last mount, and direct I/O, so that the image's pages are not cached a second time
 * beneath the file system's. Called with dir locked (workspace.c). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "sandbox/workspace.h"
#include "workspace_int.h"

#define IMAGE "workspace.img"
/* An image smaller than this has no journal (mkfs.ext4's smallest is 4 MiB of it). */
#define JOURNAL_MIN_SIZE (64ull << 20)
/* ext4's first ten inodes are its own (the root directory is one of them). */
#define EXT4_RESERVED_INODES 10

static const char *const mkfs_paths[] = { "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4" };

static const char *mkfs_path(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(mkfs_paths); i++)
		if (access(mkfs_paths[i], X_OK) == 0)
			return mkfs_paths[i];
	return NULL;
}

int workspace_loop_probe(char *note, size_t size)
{
	if (geteuid() != 0)
		return snprintf(note, size, "agentd does not run as root"), -1;
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return snprintf(note, size, "/dev/loop-control: %s", strerror(errno)), -1;
	if (mkfs_path() == NULL)
		return snprintf(note, size, "mkfs.ext4 is not installed (e2fsprogs)"), -1;
	return 0;
}

/* mkfs.ext4 on the image: quiet, no blocks kept for root, the root directory the
 * owner's, inode tables left for the kernel to treat as empty (no zeroing pass over a
 * sparse file). Its stderr says why when it fails. */
static int mkfs(const char *image, uint64_t size, uint64_t files, uid_t owner, struct ad_err *err)
{
	char inodes[32], ext[128], said[512] = "", target[4200];
	snprintf(target, sizeof(target), "%s", image);
	snprintf(inodes, sizeof(inodes), "%llu", (unsigned long long)(files + EXT4_RESERVED_INODES));
	snprintf(ext, sizeof(ext), "root_owner=%u:%u,nodiscard,lazy_itable_init=1,lazy_journal_init=1",
		 (unsigned)owner, (unsigned)owner);
	char *argv[] = { "mkfs.ext4", "-q", "-F", "-m", "0", "-b", "4096", "-N", inodes, "-E", ext,
			       "-O", size < JOURNAL_MIN_SIZE ? "^has_journal" : "has_journal", target, NULL };
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return ad_err_sys(err, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	pid_t pid;
	int rc = posix_spawn(&pid, mkfs_path(), &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		return ad_err_set(err, rc, "run mkfs.ext4: %s", strerror(rc));
	}
	size_t got = 0;
	ssize_t n;
	while ((n = read(pipefd[0], said + got, sizeof(said) - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		got += n > 0 ? (size_t)n : 0;
	close(pipefd[0]);
	said[got] = '\0';
	for (char *p = said; (p = strchr(p, '\n')) != NULL;)
		*p = ' ';
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return ad_err_set(err, 0, "mkfs.ext4 failed (status %d): %s", status, said);
	return 0;
}

/* A new image of size bytes, formatted; none is left when it fails. */
static int make_image(const char *image, uint64_t size, uint64_t files, uid_t owner, struct ad_err *err)
{
	_cleanup_close_ int fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ad_err_sys(err, "create %s", image);
	if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
		ad_err_sys(err, "size %s", image);
		unlink(image);
		return -1;
	}
	if (mkfs(image, size, files, owner, err) < 0) {
		unlink(image);
		return -1;
	}
	return 0;
}

/* The loop device that backs the image already, if one does: a workspace unmounted
 * from the host while a sandbox still has it keeps its device (and its file system)
 * until that sandbox ends, and mounting the image again must share that file system,
 * never make a second one on the same blocks. The device is held open (so autoclear
 * cannot take it) and checked to back this very file before it is used. */
static int attached(const char *image, char *dev, size_t dev_size)
{
	char real[PATH_MAX], path[300], backing[PATH_MAX + 16];
	struct stat st;
	if (realpath(image, real) == NULL || stat(real, &st) < 0)
		return -1;
	DIR *d = opendir("/sys/block");
	if (d == NULL)
		return -1;
	int found = -1;
	struct dirent *de;
	while (found < 0 && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		_cleanup_close_ int f = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = f < 0 ? -1 : read(f, backing, sizeof(backing) - 1);
		if (n <= 0)
			continue;
		backing[n] = '\0';
		backing[strcspn(backing, "\n")] = '\0';
		if (strcmp(backing, real) != 0)
			continue;
		snprintf(dev, dev_size, "/dev/%s", de->d_name);
		int fd = open(dev, O_RDWR | O_CLOEXEC);
		struct loop_info64 info;
		if (fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &info) == 0 && info.lo_device == (uint64_t)st.st_dev &&
		    info.lo_inode == (uint64_t)st.st_ino)
			found = fd;
		else if (fd >= 0)
			close(fd);
	}
	closedir(d);
	return found;
}

/* A free loop device on the image: its descriptor (the device goes when the last
 * mount of it does, once this is closed). The kernel names a free one (making it if
 * need be); another program may take it first, or it may still be on its way out (an
 * autoclear not finished): then the kernel is asked again, never for one at or below
 * the last tried, so that each try moves on and, of any number asking at once, one
 * gets a device each round. Supervisors take turns under a lock on the control device,
 * which keeps a burst of them from trying in vain; a holder stopped or stuck keeps the
 * others waiting LOOP_LOCK_MS at most, then they go on without it. */
#define LOOP_LOCK_MS 2000
#define LOOP_TRIES 1024
static int attach(const char *image, char *dev, size_t dev_size, struct ad_err *err)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	_cleanup_close_ int file = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (ctl < 0 || file < 0)
		return ad_err_sys(err, "open %s", ctl < 0 ? "/dev/loop-control" : image);
	if (fs_lock_within(ctl, LOOP_LOCK_MS) < 0 && errno != EWOULDBLOCK)
		return ad_err_sys(err, "lock /dev/loop-control");
	struct loop_config lc = {
		.fd = (uint32_t)file, .block_size = 4096,
		.info = { .lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO },
	};
	snprintf((char *)lc.info.lo_file_name, sizeof(lc.info.lo_file_name), "%s", image);
	for (int k = 0, prev = -1; k < LOOP_TRIES; k++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return ad_err_sys(err, "find a free loop device");
		if (n <= prev && (n = prev + 1, ioctl(ctl, LOOP_CTL_ADD, n) < 0) && errno != EEXIST) {
			prev = n;
			continue;
		}
		prev = n;
		snprintf(dev, dev_size, "/dev/loop%d", n);
		int fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0 && (errno == ENOENT || errno == ENXIO))   /* being made or removed */
			continue;
		if (fd < 0)
			return ad_err_sys(err, "open %s", dev);
		if (ioctl(fd, LOOP_CONFIGURE, &lc) == 0)
			return fd;
		int e = errno;
		close(fd);
		if (e != EBUSY)
			return ad_err_set(err, e, "set up %s on %s: %s", dev, image, strerror(e));
	}
	return ad_err_set(err, EBUSY, "no free loop device for %s (%d tried)", image, LOOP_TRIES);
}

static int mount_image(const char *image, const char *target, bool fresh, struct ad_err *err)
{
	char path[300];
	_cleanup_close_ int dev = attached(image, path, sizeof(path));
	if (dev < 0 && (dev = attach(image, path, sizeof(path), err)) < 0)
		return -1;
	/* noinit_itable: mkfs left the inode tables as they are; the kernel must not write
	 * zeros over a sparse image in the background. discard: what is deleted in it is
	 * given back to the host's disk (the image's holes punched again). */
	if (mount(path, target, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "noinit_itable,discard") < 0)
		return ad_err_sys(err, "mount %s", image);
	if (fresh) {
		char lf[4200];
		snprintf(lf, sizeof(lf), "%s/lost+found", target);
		if ((rmdir(lf) < 0 && errno != ENOENT) || chmod(target, 0755) < 0)
			return ad_err_sys(err, "prepare %s", target);
	}
	return 0;
}

int workspace_loop_open(const char *dir, bool create, uint64_t size, uint64_t files, uid_t new_owner,
			struct ad_err *err)
{
	char image[4200], target[4200];
	snprintf(image, sizeof(image), "%s/" IMAGE, dir);
	snprintf(target, sizeof(target), "%s/" WORKSPACE_DIR, dir);
	if (workspace_mounted(target))
		return 0;
	bool fresh = access(image, F_OK) < 0;
	if (fresh && !create)
		return ad_err_code(err, ENOENT, "there is no workspace in %s", dir);
	if (fresh && make_image(image, size, files, new_owner, err) < 0)
		return -1;
	if (mkdir(target, 0700) < 0 && errno != EEXIST)
		return ad_err_sys(err, "mkdir %s", target);
	if (mount_image(image, target, fresh, err) < 0) {
		if (fresh)
			unlink(image);
		return -1;
	}
	return 0;
}

int workspace_loop_release(const char *dir, struct ad_err *err)
{
	char target[4200];
	snprintf(target, sizeof(target), "%s/" WORKSPACE_DIR, dir);
	workspace_note_usage(dir);
	for (int i = 0; i < 8 && workspace_mounted(target); i++)
		if (umount2(target, MNT_DETACH) < 0)
			return ad_err_sys(err, "unmount %s", target);
	return 0;
}

int workspace_loop_remove(const char *dir, struct ad_err *err)
{
	char image[4200], target[4200];
	snprintf(image, sizeof(image), "%s/" IMAGE, dir);
	snprintf(target, sizeof(target), "%s/" WORKSPACE_DIR, dir);
	/* lazily: a sandbox that still has it keeps the file system until it ends, and the
	 * loop device and the image's blocks go then */
	if (workspace_loop_release(dir, err) < 0)
		return -1;
	if (rmdir(target) < 0 && errno != ENOENT)
		return ad_err_sys(err, "remove %s", target);
	if (unlink(image) < 0 && errno != ENOENT)
		return ad_err_sys(err, "remove %s", image);
	snprintf(image, sizeof(image), "%s/" WORKSPACE_USAGE, dir);
	unlink(image);
	return 0;
}

/* Building the sandbox's root: see include/sandbox/rootfs.h. Runs in the sandbox's
 * first process, root of its user namespace, before any capability is dropped. */
#include "sandbox/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "sandbox/sandbox.h"

/* One tmpfs holds the root, /tmp and /dev/shm, each a directory of it bound in place:
 * every file system a sandbox mounts costs the kernel per-memory-cgroup state for each
 * memory cgroup on the host (a shrinker's slot), so a host of N sandboxes pays N^2 of
 * them per file system a sandbox mounts (README, density). It is mounted where the
 * host's /tmp was, hiding it only in the sandbox's own mount namespace (bind sources are
 * opened before, so a source under /tmp still works), and is detached from there with
 * the old root. The new root is assembled at STAGE. */
#define SCRATCH "/tmp"
#define STAGE SCRATCH "/rootfs"

static const char *const system_dirs[] = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32" };

int rootfs_write_file(const char *path, const char *text, struct ad_err *err)
{
	return fs_write_text(path, text, O_CREAT | O_TRUNC | O_NOFOLLOW, 0644, err);
}

static int make_mountpoint(const char *src, const char *dst, struct ad_err *err)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return ad_err_sys(err, "stat %s", src);
	if (S_ISDIR(st.st_mode))
		return fs_mkdir_p(dst, 0755, err);
	_cleanup_close_ int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EEXIST)
		return ad_err_sys(err, "create %s", dst);
	return 0;
}

int rootfs_bind(const char *src, const char *dst, unsigned flags, struct ad_err *err)
{
	if (make_mountpoint(src, dst, err) < 0)
		return -1;
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return ad_err_sys(err, "bind %s on %s", src, dst);
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID };
	if (!(flags & ROOTFS_RW))
		attr.attr_set |= MOUNT_ATTR_RDONLY;
	if (!(flags & ROOTFS_DEV))
		attr.attr_set |= MOUNT_ATTR_NODEV;
	/* the whole tree, submounts included, unlike a remount of the top */
	if (mount_setattr(AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return ad_err_sys(err, "set the mount flags of %s", dst);
	return 0;
}

static int mount_tmpfs(const char *dst, mode_t mode, uint64_t size, uint64_t inodes, struct ad_err *err)
{
	char opts[128];
	snprintf(opts, sizeof(opts), "mode=%04o,size=%llu,nr_inodes=%llu", (unsigned)mode,
		 (unsigned long long)size, (unsigned long long)inodes);
	if (fs_mkdir_p(dst, 0755, err) < 0)
		return -1;
	if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return ad_err_sys(err, "mount tmpfs on %s (%s)", dst, opts);
	return 0;
}

/* A writable /usr whose writes land in a tmpfs and vanish with the sandbox. The lower
 * layer is the parent's idmapped copy of the host's /usr, on which host root's files
 * belong to our root: otherwise no directory in /usr would be ours to write in. The
 * tmpfs holding both layers is detached at once; only the overlay reaches them. */
static int usr_overlay(const struct sandbox_policy *p, int usr_tree, const char *dst, struct ad_err *err)
{
	if (usr_tree < 0)
		return ad_err_set(err, 0, "no /usr tree for the overlay");
	if (mount_tmpfs(STAGE "/.usr-rw", 0755, p->tmp_size, p->tmp_files, err) < 0 ||
	    fs_mkdir_p(STAGE "/.usr-rw/lower", 0755, err) < 0 || fs_mkdir_p(STAGE "/.usr-rw/upper", 0755, err) < 0 ||
	    fs_mkdir_p(STAGE "/.usr-rw/work", 0755, err) < 0 || fs_mkdir_p(dst, 0755, err) < 0)
		return -1;
	if (move_mount(usr_tree, "", AT_FDCWD, STAGE "/.usr-rw/lower", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return ad_err_sys(err, "attach the idmapped /usr");
	if (mount("overlay", dst, "overlay", MS_NOSUID | MS_NODEV,
		  "lowerdir=" STAGE "/.usr-rw/lower,upperdir=" STAGE "/.usr-rw/upper,workdir=" STAGE "/.usr-rw/work,userxattr") < 0)
		return ad_err_sys(err, "mount overlay on /usr");
	if (umount2(STAGE "/.usr-rw", MNT_DETACH) < 0 || rmdir(STAGE "/.usr-rw") < 0)
		return ad_err_sys(err, "detach the /usr overlay's layers");
	return 0;
}

/* /usr and friends: a symlink on merged-/usr hosts (Debian's /bin -> usr/bin) is made
 * again, a directory is bound read-only, a missing one is skipped. */
static int system_tree(const struct sandbox_policy *p, int usr_tree, struct ad_err *err)
{
	char dst[64], src[64], link[256];
	for (size_t i = 0; i < ARRAY_SIZE(system_dirs); i++) {
		snprintf(src, sizeof(src), "/%s", system_dirs[i]);
		snprintf(dst, sizeof(dst), STAGE "/%s", system_dirs[i]);
		struct stat st;
		if (lstat(src, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(src, link, sizeof(link) - 1);
			if (n < 0)
				return ad_err_sys(err, "readlink %s", src);
			link[n] = '\0';
			if (symlink(link, dst) < 0)
				return ad_err_sys(err, "symlink %s", dst);
		} else if (i == 0 && p->usr_overlay) {
			if (usr_overlay(p, usr_tree, dst, err) < 0)
				return -1;
		} else if (rootfs_bind(src, dst, 0, err) < 0) {
			return -1;
		}
	}
	return 0;
}

static int scratch_mount(const struct sandbox_policy *p, struct ad_err *err)
{
	char opts[128];
	/* room for the root's few files; cut to size by scratch_limit once they are made */
	snprintf(opts, sizeof(opts), "mode=0755,size=%llu,nr_inodes=%llu",
		 (unsigned long long)p->tmp_size + (4u << 20), (unsigned long long)p->tmp_files + 4096);
	if (mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return ad_err_sys(err, "mount the sandbox's tmpfs (%s)", opts);
	static const char *const sticky[] = { SCRATCH "/tmp", SCRATCH "/shm" };
	if (fs_mkdir_p(STAGE, 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(sticky); i++)
		if (mkdir(sticky[i], 01777) < 0 || chmod(sticky[i], 01777) < 0) /* past the umask */
			return ad_err_sys(err, "mkdir %s", sticky[i]);
	/* pivot_root wants the new root to be a mount */
	if (mount(STAGE, STAGE, NULL, MS_BIND, NULL) < 0)
		return ad_err_sys(err, "bind the new root on itself");
	return 0;
}

/* /tmp and /dev/shm together get the policy's tmp_size and tmp_files, on top of what
 * the finished root uses (its directory, /tmp's and /dev/shm's are counted there, as a
 * tmpfs of their own counted its root directory). */
static int scratch_limit(const struct sandbox_policy *p, struct ad_err *err)
{
	struct statfs st;
	char opts[128];
	if (statfs(SCRATCH, &st) < 0)
		return ad_err_sys(err, "statfs the sandbox's tmpfs");
	unsigned long long used = (unsigned long long)(st.f_blocks - st.f_bfree) * st.f_bsize;
	unsigned long long files = (unsigned long long)(st.f_files - st.f_ffree);
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu", used + p->tmp_size, files + p->tmp_files - 1);
	if (mount(NULL, SCRATCH, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) < 0)
		return ad_err_sys(err, "limit the sandbox's tmpfs (%s)", opts);
	return 0;
}

static int pivot(struct ad_err *err)
{
	if (chdir(STAGE) < 0)
		return ad_err_sys(err, "chdir %s", STAGE);
	/* pivot_root(".", "."): the old root ends up mounted over the new one, at "/", and
	 * is detached at once; no directory for it is needed. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return ad_err_sys(err, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return ad_err_sys(err, "detach the old root");
	if (chdir("/") < 0)
		return ad_err_sys(err, "chdir /");
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	if (mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof(ro)) < 0)
		return ad_err_sys(err, "make / read-only");
	return 0;
}

/* The Messages API's socket (sandbox.h): anyone in the sandbox may connect. */
static int api_socket(int *out, struct ad_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), STAGE "%s", SANDBOX_API_SOCKET);
	*strrchr(a.sun_path, '/') = '\0';
	if (fs_mkdir_p(a.sun_path, 0755, err) < 0)
		return -1;
	snprintf(a.sun_path, sizeof(a.sun_path), STAGE "%s", SANDBOX_API_SOCKET);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(a.sun_path, 0666) < 0 ||
	    listen(fd, 128) < 0)
		return ad_err_sys(err, "listen on %s", SANDBOX_API_SOCKET);
	*out = steal_fd(&fd);
	return 0;
}

/* The workspace's tree from the host, or a tmpfs of the policy's size. */
static int workspace(const struct sandbox_policy *p, int tree, struct ad_err *err)
{
	if (tree < 0)
		return mount_tmpfs(STAGE "/workspace", 0755, p->workspace_size, p->workspace_files, err);
	if (fs_mkdir_p(STAGE "/workspace", 0755, err) < 0)
		return -1;
	if (move_mount(tree, "", AT_FDCWD, STAGE "/workspace", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return ad_err_sys(err, "attach the workspace");
	return 0;
}

int sandbox_rootfs_build(const struct sandbox_policy *p, const struct rootfs_trees *trees, int *api_sock,
			 struct ad_err *err)
{
	int usr_tree = trees->usr;
	int src_fd[SANDBOX_MAX_BINDS];
	char path[SANDBOX_BIND_PATH_MAX + 32], src[64];
	int rc = -1;
	unsigned opened = 0;

	/* Nothing done here may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return ad_err_sys(err, "make / private");
	for (; opened < p->nbinds; opened++) {
		src_fd[opened] = open(p->binds[opened].src, O_PATH | O_CLOEXEC);
		if (src_fd[opened] < 0) {
			ad_err_sys(err, "open bind source %s", p->binds[opened].src);
			goto out;
		}
	}
	if (scratch_mount(p, err) < 0 || system_tree(p, usr_tree, err) < 0 || rootfs_etc(STAGE, p, err) < 0)
		goto out;
	if (fs_mkdir_p(STAGE "/proc", 0555, err) < 0)
		goto out;
	if (mount("proc", STAGE "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		ad_err_sys(err, "mount proc");
		goto out;
	}
	if (rootfs_dev(STAGE, err) < 0 || rootfs_bind(SCRATCH "/shm", STAGE "/dev/shm", ROOTFS_RW, err) < 0 ||
	    rootfs_bind(SCRATCH "/tmp", STAGE "/tmp", ROOTFS_RW, err) < 0 || workspace(p, trees->workspace, err) < 0)
		goto out;
	for (unsigned i = 0; i < p->nbinds; i++) {
		snprintf(path, sizeof(path), STAGE "%s", p->binds[i].dst);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", src_fd[i]);
		if (rootfs_bind(src, path, p->binds[i].rw ? ROOTFS_RW : 0, err) < 0) {
			ad_err_prefix(err, "bind %s", p->binds[i].src);
			goto out;
		}
	}
	if ((api_sock != NULL && api_socket(api_sock, err) < 0) || scratch_limit(p, err) < 0)
		goto out;
	rc = pivot(err);
out:
	while (opened > 0)
		close(src_fd[--opened]);
	if (usr_tree >= 0)
		close(usr_tree);
	if (trees->workspace >= 0)
		close(trees->workspace);
	return rc;
}

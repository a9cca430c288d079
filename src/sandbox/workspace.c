/* Workspaces on the host's disk: see include/sandbox/workspace.h. The choice of store,
 * what the stores share (the lock, the removal of a tree), and the calls that pick the
 * store's own code (workspace_loop.c, workspace_quota.c). */
#include "sandbox/workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "workspace_int.h"

int workspace_probe(const char *base, enum workspace_store wanted, struct workspace_host *out,
		    struct ad_err *err)
{
	char quota[128] = "", loop[128] = "";
	*out = (struct workspace_host){ .store = WORKSPACE_TMPFS };
	if (wanted != WORKSPACE_TMPFS && fs_mkdir_p(base, 0700, err) < 0)
		return -1;
	bool q = wanted != WORKSPACE_TMPFS && wanted != WORKSPACE_LOOP &&
		 workspace_quota_probe(base, quota, sizeof(quota)) == 0;
	bool l = !q && wanted != WORKSPACE_TMPFS && wanted != WORKSPACE_QUOTA &&
		 workspace_loop_probe(loop, sizeof(loop)) == 0;
	if (wanted == WORKSPACE_QUOTA && !q)
		return ad_err_set(err, 0, "sandbox.workspace_store is quota, but %s", quota);
	if (wanted == WORKSPACE_LOOP && !l)
		return ad_err_set(err, 0, "sandbox.workspace_store is loop, but %s", loop);
	if (q) {
		out->store = WORKSPACE_QUOTA;
	} else if (l) {
		out->store = WORKSPACE_LOOP;
		if (wanted == WORKSPACE_AUTO)
			snprintf(out->note, sizeof(out->note), "no project quotas: %s", quota);
	} else if (wanted == WORKSPACE_AUTO) {
		snprintf(out->note, sizeof(out->note), "workspaces are in memory (tmpfs), and each sandbox's memory "
			 "limit is raised by their size: no project quotas (%s) and no loop devices (%s)", quota, loop);
	}
	return 0;
}

cJSON *workspace_host_json(const struct workspace_host *h)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "store", config_workspace_stores[h->store]);
	if (h->note[0] != '\0')
		cJSON_AddStringToObject(j, h->store == WORKSPACE_TMPFS ? "warning" : "note", h->note);
	return j;
}

int workspace_lock(const char *dir, struct ad_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ad_err_sys(err, "open %s", dir);
	if (fs_lock_within(fd, WORKSPACE_LOCK_MS) < 0) {
		if (errno == EWOULDBLOCK)
			ad_err_code(err, EBUSY, "%s has been locked by another process for %u s", dir,
				    WORKSPACE_LOCK_MS / 1000);
		else
			ad_err_sys(err, "lock %s", dir);
		close(fd);
		return -1;
	}
	return fd;
}

bool workspace_mounted(const char *path)
{
	struct statx stx;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* A detached copy of path's mount, for a sandbox: a descriptor opened before its clone
 * would be of the host's mount namespace, which the sandbox cannot bind from. */
static int clone_tree(const char *path, struct ad_err *err)
{
	_cleanup_close_ int tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (tree < 0)
		return ad_err_sys(err, "clone the mount of %s", path);
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return ad_err_sys(err, "set the mount flags of %s", path);
	return steal_fd(&tree);
}

int workspace_open(const struct workspace_host *h, const char *dir, bool create, uint64_t size,
		   uint64_t files, uid_t new_owner, uid_t *owner, int *tree, struct ad_err *err)
{
	char path[4200];
	if (h->store == WORKSPACE_TMPFS)
		return ad_err_set(err, EINVAL, "workspaces are not on disk here");
	_cleanup_close_ int lock = workspace_lock(dir, err);
	if (lock < 0)
		return -1;
	int rc = h->store == WORKSPACE_LOOP ? workspace_loop_open(dir, create, size, files, new_owner, err)
					    : workspace_quota_open(dir, create, size, files, new_owner, err);
	if (rc < 0)
		return -1;
	struct stat st;
	snprintf(path, sizeof(path), "%s/" WORKSPACE_DIR, dir);
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return ad_err_code(err, ENOTDIR, "%s is not a directory", path);
	*owner = st.st_uid;
	if (tree != NULL && (*tree = clone_tree(path, err)) < 0)
		return -1;
	return 0;
}

int workspace_remove(const struct workspace_host *h, const char *dir, struct ad_err *err)
{
	if (h->store == WORKSPACE_TMPFS)
		return 0;
	_cleanup_close_ int lock = workspace_lock(dir, err);
	if (lock < 0)
		return err->errnum == ENOENT ? 0 : -1;
	if (h->store == WORKSPACE_LOOP)
		return workspace_loop_remove(dir, err);
	workspace_quota_release(dir);
	return fs_remove_tree(lock, WORKSPACE_DIR, err);
}

int workspace_release(const struct workspace_host *h, const char *dir, struct ad_err *err)
{
	if (h->store != WORKSPACE_LOOP)
		return 0;
	_cleanup_close_ int lock = workspace_lock(dir, err);
	if (lock < 0)
		return err->errnum == ENOENT ? 0 : -1;
	return workspace_loop_release(dir, err);
}

/* A mounted image's figures, from its file system. */
static int mounted_usage(const char *path, uint64_t *bytes, uint64_t *files)
{
	struct statfs sf;
	if (!workspace_mounted(path) || statfs(path, &sf) < 0)
		return -1;
	/* ext4's reserved inodes (root's among them) are no files of the workspace's */
	*bytes = (uint64_t)(sf.f_blocks - sf.f_bfree) * (uint64_t)sf.f_bsize;
	*files = sf.f_files - sf.f_ffree > 10 ? (uint64_t)(sf.f_files - sf.f_ffree) - 10 : 0;
	return 0;
}

int workspace_usage(const struct workspace_host *h, const char *dir, uint64_t *bytes, uint64_t *files)
{
	char path[4200];
	if (h->store == WORKSPACE_QUOTA)
		return workspace_quota_usage(dir, bytes, files);
	if (h->store != WORKSPACE_LOOP)
		return -1;
	snprintf(path, sizeof(path), "%s/" WORKSPACE_DIR, dir);
	if (mounted_usage(path, bytes, files) == 0)
		return 0;
	/* not mounted (a suspended session's): as it was when it last was */
	char text[64];
	unsigned long long b, f;
	snprintf(path, sizeof(path), "%s/" WORKSPACE_USAGE, dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	if (sscanf(text, "%llu %llu", &b, &f) != 2)
		return -1;
	*bytes = b;
	*files = f;
	return 0;
}

void workspace_note_usage(const char *dir)
{
	char path[4200], text[64];
	uint64_t bytes, files;
	struct ad_err e;
	snprintf(path, sizeof(path), "%s/" WORKSPACE_DIR, dir);
	if (mounted_usage(path, &bytes, &files) < 0)
		return;
	snprintf(text, sizeof(text), "%llu %llu\n", (unsigned long long)bytes, (unsigned long long)files);
	snprintf(path, sizeof(path), "%s/" WORKSPACE_USAGE, dir);
	fs_write_text(path, text, O_CREAT | O_TRUNC | O_NOFOLLOW, 0600, &e);
}

int workspace_sync(const char *dir, struct ad_err *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" WORKSPACE_DIR, dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || syncfs(fd) < 0)
		return ad_err_sys(err, "sync %s", path);
	return 0;
}

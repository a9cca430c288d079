/* The quota store (include/sandbox/workspace.h): dir/workspace is a plain directory on
 * the state directory's file system, in a project of its own (FS_IOC_FSSETXATTR, with
 * PROJINHERIT so that everything made in it joins), whose project quota holds its bytes
 * and inodes. XFS keeps such a quota against the host's root as well, ext4 does not (a
 * process with CAP_SYS_RESOURCE passes its limits): only the sandbox, in its own user
 * namespace, may write into a workspace. The project id can be changed only from the
 * host's user namespace, so the sandbox cannot leave it. The project id is one no file
 * and no limit uses yet (an administrator's or another tool's may share the file
 * system), tried from the directory's inode number up, chosen under a lock on the
 * sessions' directory. Needs Linux 5.14 (quotactl_fd). Called with dir locked
 * (workspace.c). */
#include <errno.h>
#include <fcntl.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "sandbox/workspace.h"
#include "workspace_int.h"

/* A project quota command: Q_GETINFO and its kin are 0x800000 and up, which QCMD()
 * shifts out of an int (undefined: UBSan stops agentd at start-up); in unsigned, then
 * the bits quotactl takes. */
#define PRJ_CMD(cmd) ((int)QCMD((unsigned)(cmd), PRJQUOTA))

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif

static int quotactl_fd(int fd, int cmd, unsigned id, void *addr)
{
	return (int)syscall(SYS_quotactl_fd, fd, cmd, id, addr);
}

int workspace_quota_probe(const char *base, char *note, size_t size)
{
	if (geteuid() != 0)
		return snprintf(note, size, "agentd does not run as root"), -1;
	_cleanup_close_ int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct if_dqinfo info;
	struct fsxattr fx;
	if (fd < 0)
		return snprintf(note, size, "%s: %s", base, strerror(errno)), -1;
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fx) < 0)
		return snprintf(note, size, "%s has no project ids: %s", base, strerror(errno)), -1;
	if (quotactl_fd(fd, PRJ_CMD(Q_GETINFO), 0, &info) < 0)
		return snprintf(note, size, "%s's file system has no project quotas on (%s)", base,
				errno == ESRCH ? "mounted without prjquota" : strerror(errno)), -1;
	/* accounting alone (XFS's pqnoenforce, ext4's quota feature mounted without
	 * prjquota) answers Q_GETINFO too, but keeps no limit */
	struct fs_quota_statv qs = { .qs_version = FS_QSTATV_VERSION1 };
	if (quotactl_fd(fd, PRJ_CMD(Q_XGETQSTATV), 0, &qs) < 0)
		return snprintf(note, size, "%s: the project quotas' state: %s", base, strerror(errno)), -1;
	if (!(qs.qs_flags & FS_QUOTA_PDQ_ENFD))
		return snprintf(note, size, "%s's file system counts project quotas but does not enforce them "
				"(mounted with pqnoenforce, or without prjquota)", base), -1;
	return 0;
}

static int project_of(int fd, unsigned *id)
{
	struct fsxattr fx;
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fx) < 0)
		return -1;
	*id = fx.fsx_projid;
	return 0;
}

/* limits of 0 are none: the project's quota is released */
static int set_limits(int fd, unsigned id, uint64_t size, uint64_t files)
{
	struct if_dqblk q = {
		.dqb_bhardlimit = (size + 1023) / 1024, .dqb_bsoftlimit = (size + 1023) / 1024,
		.dqb_ihardlimit = files, .dqb_isoftlimit = files, .dqb_valid = QIF_LIMITS,
	};
	return quotactl_fd(fd, PRJ_CMD(Q_SETQUOTA), id, &q);
}

/* Is the project id free: no file in it, no limit on it? */
static bool project_free(int fd, unsigned id)
{
	struct if_dqblk q;
	if (quotactl_fd(fd, PRJ_CMD(Q_GETQUOTA), id, &q) < 0)
		return errno == ENOENT || errno == ESRCH;
	return q.dqb_curinodes == 0 && q.dqb_curspace == 0 && q.dqb_bhardlimit == 0 && q.dqb_bsoftlimit == 0 &&
	       q.dqb_ihardlimit == 0 && q.dqb_isoftlimit == 0;
}

/* fd (a new directory, inode number ino) put in a project no one uses, with PROJINHERIT:
 * from the inode number (folded into 1 .. 2^32 - 2: XFS's inode numbers pass 2^32 on a
 * file system of a few TiB) up. Under a lock on the sessions' directory, so that two
 * workspaces made at once do not take the same one; once the directory is in it, the
 * project has a file and is no longer free. */
static int join_free_project(int fd, const char *dir, uint64_t ino, unsigned *id, struct ad_err *err)
{
	char parent[4200];
	snprintf(parent, sizeof(parent), "%s/..", dir);
	_cleanup_close_ int lock = workspace_lock(parent, err);
	if (lock < 0)
		return -1;
	struct fsxattr fx;
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fx) < 0)
		return ad_err_sys(err, "%s", dir);
	unsigned cand = (unsigned)(ino % (UINT32_MAX - 1));
	for (int tries = 0; tries < 4096; tries++, cand = cand >= UINT32_MAX - 2 ? 1 : cand + 1) {
		if (cand == 0)
			cand = 1;
		if (!project_free(fd, cand))
			continue;
		fx.fsx_projid = cand;
		fx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
		if (ioctl(fd, FS_IOC_FSSETXATTR, &fx) < 0)
			return ad_err_sys(err, "put %s in project %u", dir, cand);
		*id = cand;
		return 0;
	}
	return ad_err_set(err, ENOSPC, "no free project id from %llu up", (unsigned long long)ino);
}

/* dir/workspace.new in a project of its own with the limits, owned by owner, then
 * renamed into place: a workspace is never seen without its limit. The top directory
 * is one of its files. */
static int make_dir(const char *dir, uint64_t size, uint64_t files, uid_t owner, struct ad_err *err)
{
	char fresh[4200], target[4200];
	snprintf(fresh, sizeof(fresh), "%s/" WORKSPACE_DIR ".new", dir);
	snprintf(target, sizeof(target), "%s/" WORKSPACE_DIR, dir);
	_cleanup_close_ int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (top < 0)
		return ad_err_sys(err, "open %s", dir);
	fs_remove_tree(top, WORKSPACE_DIR ".new", err);   /* a try cut short */
	if (mkdir(fresh, 0755) < 0)
		return ad_err_sys(err, "mkdir %s", fresh);
	_cleanup_close_ int fd = open(fresh, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	unsigned id = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		ad_err_sys(err, "%s", fresh);
		goto fail;
	}
	if (join_free_project(fd, dir, st.st_ino, &id, err) < 0)
		goto fail;
	if (set_limits(fd, id, size, files) < 0) {
		ad_err_sys(err, "set the quota of project %u", id);
		goto fail;
	}
	if (fchown(fd, owner, owner) < 0 || rename(fresh, target) < 0) {
		ad_err_sys(err, "%s", fresh);
		set_limits(fd, id, 0, 0);
		goto fail;
	}
	return 0;
fail: {
		/* no workspace.new left behind: nothing else would remove it */
		struct ad_err ignored;
		fs_remove_tree(top, WORKSPACE_DIR ".new", &ignored);
		return -1;
	}
}

int workspace_quota_open(const char *dir, bool create, uint64_t size, uint64_t files, uid_t new_owner,
			 struct ad_err *err)
{
	char target[4200];
	snprintf(target, sizeof(target), "%s/" WORKSPACE_DIR, dir);
	if (access(target, F_OK) == 0)
		return 0;
	if (!create)
		return ad_err_code(err, ENOENT, "there is no workspace in %s", dir);
	return make_dir(dir, size, files, new_owner, err);
}

int workspace_quota_usage(const char *dir, uint64_t *bytes, uint64_t *files)
{
	char target[4200];
	unsigned id;
	struct if_dqblk q;
	snprintf(target, sizeof(target), "%s/" WORKSPACE_DIR, dir);
	_cleanup_close_ int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || project_of(fd, &id) < 0 || quotactl_fd(fd, PRJ_CMD(Q_GETQUOTA), id, &q) < 0)
		return -1;
	*bytes = q.dqb_curspace;
	*files = q.dqb_curinodes > 0 ? q.dqb_curinodes - 1 : 0;     /* not the top itself */
	return 0;
}

int workspace_quota_release(const char *dir)
{
	char target[4200];
	unsigned id;
	snprintf(target, sizeof(target), "%s/" WORKSPACE_DIR, dir);
	_cleanup_close_ int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || project_of(fd, &id) < 0 || id == 0)
		return -1;
	return set_limits(fd, id, 0, 0);
}

/* File system helpers: see include/core/fsutil.h. */
#include "core/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/clock.h"

/* Every level from the top, for a path deeper than fs_mkdir_p's list of cuts. */
static int mkdir_each_level(char *buf, mode_t mode, struct ad_err *err)
{
	for (char *p = buf + 1;; p++) {
		bool last = *p == '\0';
		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return ad_err_sys(err, "mkdir %s", buf);
		if (last)
			return 0;
		*p = '/';
	}
}

int fs_mkdir_p(const char *path, mode_t mode, struct ad_err *err)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return ad_err_set(err, ENAMETOOLONG, "mkdir %s", path);
	/* Up from the end only as far as a level is missing, then down again: most callers
	 * (the sandbox's root, a session's folder) have every parent already, and each
	 * mkdir of an existing level is a system call for nothing. */
	char *cut[32];
	unsigned n = 0;
	bool made = false;
	for (;;) {
		if (mkdir(buf, mode) == 0) {
			made = n == 0;
			break;
		}
		if (errno == EEXIST && n > 0)
			break;
		if (errno == EEXIST)
			goto check;
		char *slash = strrchr(buf, '/');
		if (errno != ENOENT || slash == NULL || slash == buf)
			return ad_err_sys(err, "mkdir %s", buf);
		if (n == ARRAY_SIZE(cut)) {
			while (n > 0)
				*cut[--n] = '/';
			if (mkdir_each_level(buf, mode, err) < 0)
				return -1;
			goto check;
		}
		*slash = '\0';
		cut[n++] = slash;
	}
	while (n > 0) {
		*cut[--n] = '/';
		if (mkdir(buf, mode) == 0)
			made = n == 0;
		else if (errno != EEXIST)
			return ad_err_sys(err, "mkdir %s", buf);
	}
	if (made)
		return 0;
check:;
	struct stat st;
	if (stat(path, &st) < 0)
		return ad_err_sys(err, "stat %s", path);
	if (!S_ISDIR(st.st_mode))
		return ad_err_set(err, ENOTDIR, "%s", path);
	return 0;
}

/* With RESOLVE_BENEATH or RESOLVE_IN_ROOT, a ".." resolved while anything on the host
 * renames or mounts fails with EAGAIN: the kernel could not be sure it stayed beneath,
 * and asks the caller to try again. Seen under load (another agentd mounting
 * workspaces beside this one). */
#define OPENAT2_TRIES 64

int fs_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = { .flags = flags | O_CLOEXEC, .resolve = resolve };
	int fd, tries = 0;
	while ((fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how))) < 0 &&
	       (errno == EINTR || (errno == EAGAIN && ++tries < OPENAT2_TRIES)))
		;
	return fd;
}

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_text(const char *path, const char *text, int flags, mode_t mode, struct ad_err *err)
{
	_cleanup_close_ int fd = open(path, flags | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0)
		return ad_err_sys(err, "open %s", path);
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n)
		return ad_err_sys(err, "write %s", path);
	return 0;
}

/* fn on each entry of the directory fd (but . and ..), until one fails; fd is closed. */
typedef int entry_fn(int dirfd, const char *name, int depth, void *ctx, struct ad_err *err);

static int each_entry(int fd, int depth, entry_fn *fn, void *ctx, struct ad_err *err)
{
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return ad_err_sys(err, "read a directory");
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rc = fn(dirfd(d), de->d_name, depth, ctx, err);
	closedir(d);
	return rc;
}

/* The directory name in fd, opened to go down into it (never through a link): its
 * descriptor, -1 (ENOENT: gone meanwhile) or -2 with err set. */
static int descend(int fd, const char *name, int depth, struct ad_err *err)
{
	if (depth > 4096) {
		ad_err_set(err, ELOOP, "a tree deeper than 4096 directories");
		return -2;
	}
	int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0 && errno != ENOENT) {
		ad_err_sys(err, "open %s", name);
		return -2;
	}
	return sub;
}

/* name in the directory fd: a directory emptied and removed, anything else unlinked.
 * Never followed: a link is removed, not what it points at. */
static int remove_entry(int fd, const char *name, int depth, void *ctx, struct ad_err *err)
{
	if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return ad_err_sys(err, "remove %s", name);
	int sub = descend(fd, name, depth, err);
	if (sub < 0)
		return sub == -1 ? 0 : -1;
	int rc = each_entry(sub, depth + 1, remove_entry, ctx, err);
	if (rc == 0 && unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ad_err_sys(err, "remove %s", name);
	return rc;
}

int fs_remove_tree(int dirfd, const char *name, struct ad_err *err)
{
	return remove_entry(dirfd, name, 0, NULL, err);
}

struct chown_ids { uid_t from, to; };

/* name in fd ("": fd itself) given to ids->to where it is ids->from's. */
static int chown_if(int fd, const char *name, const struct stat *st, const struct chown_ids *ids,
		    struct ad_err *err)
{
	uid_t uid = st->st_uid == ids->from ? ids->to : (uid_t)-1;
	gid_t gid = st->st_gid == (gid_t)ids->from ? (gid_t)ids->to : (gid_t)-1;
	if (uid == (uid_t)-1 && gid == (gid_t)-1)
		return 0;
	if (fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0)
		return ad_err_sys(err, "chown %s", name[0] ? name : "a directory");
	if (S_ISREG(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) &&
	    fchmodat(fd, name, st->st_mode & 07777, 0) < 0)
		return ad_err_sys(err, "chmod %s", name);
	return 0;
}

static int chown_entry(int fd, const char *name, int depth, void *ctx, struct ad_err *err)
{
	struct stat st;
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ad_err_sys(err, "stat %s", name);
	if (chown_if(fd, name, &st, ctx, err) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return 0;
	int sub = descend(fd, name, depth, err);
	return sub < 0 ? (sub == -1 ? 0 : -1) : each_entry(sub, depth + 1, chown_entry, ctx, err);
}

int fs_chown_tree(int dirfd, uid_t from, uid_t to, struct ad_err *err)
{
	struct chown_ids ids = { from, to };
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return ad_err_sys(err, "stat a directory");
	if (chown_if(dirfd, "", &st, &ids, err) < 0)
		return -1;
	int sub = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sub < 0)
		return ad_err_sys(err, "open a directory");
	return each_entry(sub, 1, chown_entry, &ids, err);
}

int fs_lock_within(int fd, unsigned timeout_ms)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	long pause_ns = 200000;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return -1;
		uint64_t now = clock_mono_ns();
		if (now >= deadline) {
			errno = EWOULDBLOCK;
			return -1;
		}
		/* short at first (the usual holder keeps it for a few system calls), then up to
		 * 20 ms apart: a waiter never sleeps past the deadline by more than that */
		struct timespec ts = { 0, pause_ns };
		nanosleep(&ts, NULL);
		if (pause_ns < 20000000)
			pause_ns *= 2;
	}
}

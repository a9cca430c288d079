/* File system helpers: see include/core/fsutil.h. */
#include "core/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"

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

static int remove_entries(int fd, int depth, struct ad_err *err);

/* name in the directory fd: a directory emptied and removed, anything else unlinked.
 * Never followed: a link is removed, not what it points at. */
static int remove_entry(int fd, const char *name, int depth, struct ad_err *err)
{
	if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return ad_err_sys(err, "remove %s", name);
	if (depth > 4096)
		return ad_err_set(err, ELOOP, "a tree deeper than 4096 directories");
	int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return errno == ENOENT ? 0 : ad_err_sys(err, "open %s", name);
	int rc = remove_entries(sub, depth + 1, err);   /* closes sub */
	if (rc == 0 && unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ad_err_sys(err, "remove %s", name);
	return rc;
}

static int remove_entries(int fd, int depth, struct ad_err *err)
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
			rc = remove_entry(dirfd(d), de->d_name, depth, err);
	closedir(d);
	return rc;
}

int fs_remove_tree(int dirfd, const char *name, struct ad_err *err)
{
	return remove_entry(dirfd, name, 0, err);
}

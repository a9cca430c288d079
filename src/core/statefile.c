/* See include/core/statefile.h. */
#include "core/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"

int statefile_read(const char *path, size_t max, char **out, size_t *len, struct ad_err *err)
{
	/* O_NONBLOCK: a FIFO put in a state file's place must not hold the reader in open() */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return ad_err_sys(err, "%s", path);
	if (!S_ISREG(st.st_mode))
		return ad_err_set(err, 0, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return ad_err_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return ad_err_set(err, ENOMEM, "%s", path);
	size_t got = 0;
	while (got < (size_t)st.st_size) {     /* a file that shrinks meanwhile ends early */
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ad_err_sys(err, "read %s", path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	*out = steal_pointer(&buf);
	return 0;
}

/* The temporary file: written, owned and synced (closed by the caller, whose close()
 * reports late write errors on some file systems). */
static int fill_temp(int fd, int dirfd, const void *data, size_t len, mode_t mode, unsigned flags)
{
	struct stat st;
	if (fs_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0)
		return -1;
	if ((flags & STATEFILE_DIR_OWNER) && geteuid() == 0 &&
	    (fstat(dirfd, &st) < 0 || fchown(fd, st.st_uid, st.st_gid) < 0))
		return -1;
	return fsync(fd);
}

int statefile_replace(const char *dir, int dirfd, const char *name, const void *data, size_t len,
		      mode_t mode, unsigned flags, struct ad_err *err)
{
	_cleanup_close_ int own_dirfd = -1;
	if (dirfd < 0) {
		own_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (own_dirfd < 0)
			return ad_err_sys(err, "open %s", dir);
		dirfd = own_dirfd;
	}
	char path[PATH_MAX], tmp[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp))
		return ad_err_set(err, ENAMETOOLONG, "%s/%s", dir, name);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ad_err_sys(err, "create a temporary file in %s", dir);
	int failed = fill_temp(fd, dirfd, data, len, mode, flags);
	int saved = errno;
	if (close(fd) < 0 && failed == 0) {
		failed = -1;
		saved = errno;
	}
	if (failed == 0 && rename(tmp, path) < 0) {
		failed = -1;
		saved = errno;
	}
	if (failed < 0) {
		unlink(tmp);
		return ad_err_set(err, saved, "write %s", path);
	}
	if (fsync(dirfd) < 0)
		return ad_err_sys(err, "fsync %s", dir);
	return 0;
}

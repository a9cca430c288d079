/* The token store on disk, <state_dir>/tokens.json: read at the daemon's start, changed
 * by `agentd token add` and `agentd token remove`. See include/auth/tokens.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/tokens.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/statefile.h"

/* The store's text, read only if it is a regular file. The daemon reads it from an HTTP
 * worker: open(2) of a FIFO put in its place would wait for a writer, and a read of a
 * character device might never end, so it is opened without waiting and anything but
 * a regular file is refused before a byte is read. At most TOKEN_STORE_MAX_BYTES. */
static int read_text(const char *path, char **out, size_t *len, struct ad_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return ad_err_sys(err, "%s", path);
	if (!S_ISREG(st.st_mode))
		return ad_err_set(err, 0, "%s is not a regular file (a %s): not read", path,
				  S_ISFIFO(st.st_mode) ? "FIFO" : S_ISDIR(st.st_mode) ? "directory"
				  : S_ISSOCK(st.st_mode) ? "socket" : "device");
	if (st.st_size > TOKEN_STORE_MAX_BYTES)
		return ad_err_set(err, EFBIG, "%s is larger than %d bytes", path, TOKEN_STORE_MAX_BYTES);
	_cleanup_free_ char *buf = malloc(TOKEN_STORE_MAX_BYTES + 1);
	if (buf == NULL)
		return ad_err_set(err, ENOMEM, "%s", path);
	size_t got = 0;
	ssize_t n = 1;
	while (got <= TOKEN_STORE_MAX_BYTES && n != 0)   /* one byte past the cap tells it grew */
		if ((n = read(fd, buf + got, TOKEN_STORE_MAX_BYTES + 1 - got)) > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			return ad_err_sys(err, "read %s", path);
	if (got > TOKEN_STORE_MAX_BYTES)
		return ad_err_set(err, EFBIG, "%s is larger than %d bytes", path, TOKEN_STORE_MAX_BYTES);
	buf[got] = '\0';
	*len = got;
	*out = steal_pointer(&buf);
	return 0;
}

static int read_store(const char *path, struct token_set **out, struct ad_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (read_text(path, &text, &len, err) < 0) {
		if (err->errnum != ENOENT)
			return ad_err_prefix(err, "token store");
		*out = token_set_new();                /* no store: no tokens */
		return *out ? 0 : ad_err_set(err, ENOMEM, "tokens");
	}
	if (token_set_parse(out, text, len, err) < 0)
		return ad_err_prefix(err, "token store %s", path);
	return 0;
}

static int store_path(char *path, size_t size, const char *state_dir, struct ad_err *err)
{
	if (snprintf(path, size, "%s/%s", state_dir, TOKEN_STORE_FILE) >= (int)size)
		return ad_err_set(err, ENAMETOOLONG, "token store in %s", state_dir);
	return 0;
}

int token_store_load(struct token_set **out, const char *state_dir, struct ad_err *err)
{
	char path[PATH_MAX];
	if (store_path(path, sizeof(path), state_dir, err) < 0)
		return -1;
	return read_store(path, out, err);
}

/* Add a token for name (token != NULL; an admin's when admin) or remove the one named
 * name, under a lock on the state directory: two `agentd token add` at once must not
 * lose one of them. */
static int store_change(const char *state_dir, const char *name, bool admin, char *token, struct ad_err *err)
{
	char path[PATH_MAX];
	if (store_path(path, sizeof(path), state_dir, err) < 0 || fs_mkdir_p(state_dir, 0700, err) < 0)
		return -1;
	_cleanup_close_ int dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return ad_err_sys(err, "open %s", state_dir);
	int rc;
	while ((rc = flock(dirfd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		return ad_err_sys(err, "lock %s", state_dir);

	struct token_set *ts = NULL;
	if (read_store(path, &ts, err) < 0)
		return -1;
	rc = token ? token_set_make(ts, name, admin, token, err) : token_set_remove(ts, name, err);
	char *text = rc == 0 ? token_set_format(ts) : NULL;
	token_set_free(ts);
	if (rc < 0)
		return -1;
	if (text == NULL)
		return ad_err_set(err, ENOMEM, "token store");
	rc = statefile_replace(state_dir, dirfd, TOKEN_STORE_FILE, text, strlen(text), 0600,
			       STATEFILE_DIR_OWNER, err);
	free(text);
	if (rc < 0 && token != NULL)
		explicit_bzero(token, TOKEN_LEN + 1);   /* not kept: never shown */
	return rc;   /* the lock goes with dirfd */
}

int token_store_add(const char *state_dir, const char *name, bool admin, char *token, struct ad_err *err)
{
	return store_change(state_dir, name, admin, token, err);
}

int token_store_remove(const char *state_dir, const char *name, struct ad_err *err)
{
	return store_change(state_dir, name, false, NULL, err);
}

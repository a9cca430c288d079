/* The token store on disk, <state_dir>/tokens.json: read at the daemon's start, changed
 * by `agentd token add` and `agentd token remove`. See include/auth/tokens.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "auth/tokens.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/statefile.h"

static int read_store(const char *path, struct token_set **out, struct ad_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (statefile_read(path, TOKEN_STORE_MAX_BYTES, &text, &len, err) < 0) {
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

/* Add a token for name (token != NULL) or remove the one named name, under a lock on
 * the state directory: two `agentd token add` at once must not lose one of them. */
static int store_change(const char *state_dir, const char *name, char *token, struct ad_err *err)
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
	rc = token ? token_set_make(ts, name, token, err) : token_set_remove(ts, name, err);
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

int token_store_add(const char *state_dir, const char *name, char *token, struct ad_err *err)
{
	return store_change(state_dir, name, token, err);
}

int token_store_remove(const char *state_dir, const char *name, struct ad_err *err)
{
	return store_change(state_dir, name, NULL, err);
}

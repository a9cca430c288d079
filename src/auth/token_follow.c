/* Whether a running agentd follows a token store: see include/auth/token_source.h.
 *
 * A running daemon holds a shared fcntl(2) read lock on <state_dir>/tokens.lock for as
 * long as it follows the store; `agentd token` asks the kernel whether anyone holds one
 * (F_GETLK, which takes nothing). Record locks rather than flock(2) because they belong
 * to the process, not to the open file: the spawner and the supervisors that the daemon
 * forks do not inherit them, so a supervisor that outlives a killed daemon for a moment
 * does not pass for it, and the kernel drops the lock when the daemon dies. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "auth/token_source.h"
#include "core/cleanup.h"

static int lock_path(char *path, size_t size, const char *state_dir, struct ad_err *err)
{
	if (snprintf(path, size, "%s/%s", state_dir, TOKEN_LOCK_FILE) >= (int)size)
		return ad_err_set(err, ENAMETOOLONG, "%s in %s", TOKEN_LOCK_FILE, state_dir);
	return 0;
}

int token_follow_mark(const char *state_dir, struct ad_err *err)
{
	char path[PATH_MAX];
	if (lock_path(path, sizeof(path), state_dir, err) < 0)
		return -1;
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0)
		return ad_err_sys(err, "open %s", path);
	struct flock lk = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_SETLK, &lk) < 0)       /* shared, and nobody takes it exclusively */
		return ad_err_sys(err, "lock %s", path);
	return steal_fd(&fd);
}

int token_follower(const char *state_dir, pid_t *pid, struct ad_err *err)
{
	char path[PATH_MAX];
	if (lock_path(path, sizeof(path), state_dir, err) < 0)
		return -1;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;                      /* no agentd has ever followed this store */
	if (fd < 0)
		return ad_err_sys(err, "open %s", path);
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_GETLK, &lk) < 0)
		return ad_err_sys(err, "ask about the lock on %s", path);
	if (lk.l_type == F_UNLCK)
		return 0;
	*pid = lk.l_pid;
	return 1;
}

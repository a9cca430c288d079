/* Small file system helpers. */
#ifndef AGENTD_CORE_FSUTIL_H
#define AGENTD_CORE_FSUTIL_H

#include <stdint.h>
#include <sys/types.h>

#include <linux/openat2.h>   /* RESOLVE_* for fs_openat2() */

#include "core/err.h"

/* mkdir -p: create path and missing parents with mode; an existing directory is fine. */
int fs_mkdir_p(const char *path, mode_t mode, struct ad_err *err);

/* openat2(2): path opened from dirfd with flags (O_CLOEXEC added) and the RESOLVE_*
 * rules in resolve; a descriptor, or -1 with errno (ENOSYS before Linux 5.6). The
 * kernel's EAGAIN (a rename or mount raced a "..") is tried again, a few times. */
int fs_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve);

/* Write all of len bytes to fd, again after EINTR and short writes. 0, or -1 with errno
 * (EIO when write(2) wrote nothing). */
int fs_write_all(int fd, const void *data, size_t len);

/* The tree name in the directory dirfd removed, without following a link anywhere
 * (a link is removed, not what it points at): rm -rf beneath dirfd. Missing is fine. */
int fs_remove_tree(int dirfd, const char *name, struct ad_err *err);

/* What of the tree at dirfd (itself included) belongs to from (owner, group) given to
 * to instead, never through a link; a set-id bit the kernel drops is put back. */
int fs_chown_tree(int dirfd, uid_t from, uid_t to, struct ad_err *err);

/* Write text to path, opened with flags (O_WRONLY | O_CLOEXEC added) and mode, in one
 * write(2): cgroup, /proc and small generated files. */
int fs_write_text(const char *path, const char *text, int flags, mode_t mode, struct ad_err *err);

/* flock(fd, LOCK_EX), waiting at most timeout_ms: 0, or -1 with errno (EWOULDBLOCK when
 * another holder kept it that long). A lock shared by every session's supervisor must
 * not let one that is stopped or stuck while holding it stop all the others. */
int fs_lock_within(int fd, unsigned timeout_ms);

#endif

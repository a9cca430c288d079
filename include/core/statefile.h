/* State files: small files read whole within a cap, and replaced all at once, so that a
 * crash leaves the old contents or the new ones, never a mix or nothing. */
#ifndef AGENTD_CORE_STATEFILE_H
#define AGENTD_CORE_STATEFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"

/* Read the regular file path, at most max bytes, into *out (NUL-terminated, free()) and
 * *len. A missing file fails with err->errnum ENOENT, for callers to whom it is fine. */
int statefile_read(const char *path, size_t max, char **out, size_t *len, struct ad_err *err);

/* When running as root, give the new file the owner and group of its directory (a state
 * directory belongs to the user the daemon runs as; `sudo agentd ...` must not take the
 * daemon's own file away from it). */
#define STATEFILE_DIR_OWNER 1u

/* Write data as dir/name with mode: a temporary file in dir, written and fsync()ed,
 * renamed over name, then dir fsync()ed so that the rename itself is on disk. dirfd is
 * dir opened O_RDONLY | O_DIRECTORY (callers often hold it for a lock), or -1. */
int statefile_replace(const char *dir, int dirfd, const char *name, const void *data, size_t len,
		      mode_t mode, unsigned flags, struct ad_err *err);

#endif

/* Small file system helpers. */
#ifndef AGENTD_CORE_FSUTIL_H
#define AGENTD_CORE_FSUTIL_H

#include <sys/types.h>

#include "core/err.h"

/* mkdir -p: create path and missing parents with mode; an existing directory is fine. */
int fs_mkdir_p(const char *path, mode_t mode, struct ad_err *err);

#endif

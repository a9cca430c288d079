/* Inside the sandbox layer: a cgroup's files (cgroup.c), for cgroup_end.c. */
#ifndef AGENTD_SANDBOX_CGROUP_INT_H
#define AGENTD_SANDBOX_CGROUP_INT_H

#include <sys/types.h>

#include "core/err.h"

/* dir/file: written with value; read into buf (NUL-terminated; -1 when it cannot be
 * opened); of its "key value" lines, key's value (-1 when none). */
int cg_write(const char *dir, const char *file, const char *value, struct ad_err *err);
ssize_t cg_read(const char *dir, const char *file, char *buf, size_t size);
long cg_keyed(const char *dir, const char *file, const char *key);

#endif

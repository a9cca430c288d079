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

/* A warm pool's sandbox waits at the least CPU weight there is (v1 cpu.shares, v2
 * cpu.weight), the kernel's defaults once a session takes it (cgroup_prio.c): a weight
 * is what the scheduler weighs a cgroup by against its siblings, whatever its threads'
 * policies. */
#define CPU_SHARES_LOW "2"
#define CPU_SHARES_NORMAL "1024"
#define CPU_WEIGHT_LOW "1"
#define CPU_WEIGHT_NORMAL "100"

#endif

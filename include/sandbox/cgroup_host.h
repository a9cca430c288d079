/* Which cgroup hierarchy this host gives agentd, found from /proc/self/cgroup,
 * /proc/self/mountinfo and the file systems themselves. v2 when the daemon sits in a
 * unified hierarchy; v1 otherwise (hybrid hosts included: their unified hierarchy has no
 * controllers). Session cgroups go below the daemon's own cgroup, never elsewhere. */
#ifndef AGENTD_SANDBOX_CGROUP_HOST_H
#define AGENTD_SANDBOX_CGROUP_HOST_H

#include <limits.h>
#include <stdbool.h>

#include "core/err.h"

enum cgroup_ctl { CG_MEMORY, CG_PIDS, CG_CPU, CG_FREEZER, CG_NCTL };

struct cgroup_ctl_info {
	bool available;        /* the controller exists for the daemon's cgroup */
	bool writable;         /* agentd could create (and remove) a child cgroup there */
	char dir[PATH_MAX];    /* the daemon's own cgroup directory for this controller */
};

struct cgroup_host {
	int version;                         /* 0 (none usable), 1 or 2 */
	bool hybrid;                         /* v1 controllers with a unified hierarchy beside */
	char v2_dir[PATH_MAX];               /* v2: the daemon's own cgroup directory */
	struct cgroup_ctl_info ctl[CG_NCTL];
	char detail[256];                    /* why not usable, when version is 0 */
};

extern const char *const cgroup_ctl_names[CG_NCTL];

/* Find the hierarchy; with test_write, also try mkdir+rmdir of a probe child per
 * controller. Fails only when /proc cannot be read; "no cgroup" is version 0. */
int cgroup_host_detect(struct cgroup_host *h, bool test_write, struct ad_err *err);

/* Whether a cgroup file's list of names ("memory pids cpu") has word. */
bool cgroup_list_has(const char *list, const char *word);

/* v2: 0 when the children of the daemon's cgroup get the memory, pids and cpu
 * controllers (its cgroup.subtree_control, read now); otherwise fails naming the first
 * one missing, the cgroup and the fix (systemd's Delegate=yes). */
int cgroup_host_v2_check(const struct cgroup_host *h, struct ad_err *err);

#endif

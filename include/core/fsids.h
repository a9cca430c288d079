/* Working on files as another user, on the calling thread only: the gateway (root on
 * the host) in a tree that belongs to a sandbox, so that what it makes is the
 * sandbox's, the tree's limits hold for it, and every permission check is the one the
 * sandbox's root meets (a root with no capabilities: sandbox/caps.h).
 *
 * Linux keeps credentials per thread. glibc makes setuid(), setgroups() and their kin
 * act on every thread of the process (POSIX asks it), but not setfsuid() and setfsgid(),
 * and the raw setgroups and capset syscalls act on their caller alone; the other
 * threads of the gateway keep root throughout. fsids_become:
 *   - drops the supplementary groups (root's group 0 opens group-0 files, and ext4
 *     lets group 0 use the blocks it keeps back),
 *   - sets fsgid, then fsuid (as fsuid leaves 0 the kernel drops the DAC capabilities
 *     from the effective set),
 *   - empties the effective capabilities (CAP_SYS_RESOURCE lifts quotas and ext4's
 *     reserve; nothing else of root's is wanted either), keeping the permitted ones so
 *     that fsids_restore can take them back.
 * Each step is checked (setfsuid() says nothing when it fails: it is asked again). */
#ifndef AGENTD_CORE_FSIDS_H
#define AGENTD_CORE_FSIDS_H

#include <stdbool.h>
#include <sys/types.h>

#include <linux/capability.h>

#include "core/err.h"

struct fsids {
	bool saved;                   /* the fields below hold the thread's ids before */
	uid_t fsuid;
	gid_t fsgid;
	int ngroups;
	gid_t *groups;
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
};

/* The calling thread acts on files as uid:gid, its ids before kept in *before (which
 * fsids_restore needs whatever this returned). Not root: only its own ids (nothing
 * changes). */
int fsids_become(struct fsids *before, uid_t uid, gid_t gid, struct ad_err *err);

/* The thread's ids back as they were. Should a step fail, the thread keeps fewer
 * rights than it had, never more. */
int fsids_restore(struct fsids *before, struct ad_err *err);

#endif

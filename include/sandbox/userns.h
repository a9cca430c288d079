/* User namespace ids. Root in the sandbox is one host id that is never host root:
 * when agentd runs as root, uid_base + n from the policy's range; otherwise agentd's own
 * uid (the only one an unprivileged process may map). */
#ifndef AGENTD_SANDBOX_USERNS_H
#define AGENTD_SANDBOX_USERNS_H

#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "sandbox/policy.h"

struct sandbox_ids {
	uid_t host_uid;
	gid_t host_gid;
};

/* Pick the host ids for a sandbox; serial (init's pid) spreads sandboxes over the range.
 * When agentd runs as root with a range, the id is held for this sandbox alone: *lock is
 * an open file whose lock on the id's slot lasts until it is closed (sandbox_destroy),
 * or until its process ends; two live sandboxes never share a host id, also when
 * kernel.pid_max is larger than uid_count or several agentd share a range. *lock is -1
 * when nothing is held. */
int sandbox_ids_choose(struct sandbox_ids *ids, const struct sandbox_policy *p, unsigned long serial,
		       int *lock, struct ad_err *err);
/* The host id of uid_base's range that name (a session's id) is given when it first
 * needs one that lasts: its workspace's owner, for every sandbox it has. */
uint32_t sandbox_ids_for_name(const struct sandbox_policy *p, const char *name);
/* Root with a range: hold want (a workspace's owner) as sandbox_ids_choose holds an id,
 * or, when a live sandbox has it, the next free one: *got, and *lock to close once
 * nothing runs as it. */
int sandbox_ids_hold(const struct sandbox_policy *p, uid_t want, uid_t *got, int *lock, struct ad_err *err);
/* Parent: write the child's uid_map, setgroups ("deny") and gid_map. */
int sandbox_ids_write_maps(pid_t child, const struct sandbox_ids *ids, struct ad_err *err);
/* Child: become root of the new namespace (the maps are written by then). */
int sandbox_ids_become_root(struct ad_err *err);

#endif

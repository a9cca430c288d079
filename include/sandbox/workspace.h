/* A sandbox's /workspace on the host's disk: a directory with a hard limit on its bytes
 * and its files, which outlives the sandbox (a hybrid session's suspend keeps it where
 * it is, and the next sandbox is built on it). How the limit is kept depends on what
 * the host offers, found once at start-up (workspace_probe):
 *
 *   quota   a plain directory on the state directory's file system, in a project of
 *           its own whose quota (XFS or ext4 with project quotas on) is the limit:
 *           what Docker's overlay2 and Kubernetes' emptyDir use
 *   loop    agentd as root, no project quotas: a sparse ext4 image per workspace,
 *           formatted with the limit's size and inode count and loop-mounted (direct
 *           I/O, so its pages are not cached twice)
 *   tmpfs   neither (agentd unprivileged): no directory on disk; the sandbox makes a
 *           tmpfs of the limit's size, as before workspaces lived on disk
 *
 * On disk, a workspace lives in a folder of its own (a session's): dir/workspace is
 * what the sandbox binds at /workspace, owned by the host id that is root in the
 * sandbox; dir/workspace.img is the loop store's image. Everything here is safe to call
 * from several processes at once (a lock on dir): the gateway may reach a suspended
 * session's files while a supervisor resumes it, and an image is never mounted twice. */
#ifndef AGENTD_SANDBOX_WORKSPACE_H
#define AGENTD_SANDBOX_WORKSPACE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/config.h"      /* enum workspace_store */
#include "core/err.h"


/* The workspace's own folder in dir, where the sandbox's /workspace is bound from. */
#define WORKSPACE_DIR "workspace"

struct workspace_host {
	enum workspace_store store;      /* never WORKSPACE_AUTO once probed */
	char note[256];                  /* why not a better store, or "" */
};

/* Which store workspaces under base (the state directory's sessions/, made if missing)
 * can have: wanted, or with WORKSPACE_AUTO the best there is. Fails only when wanted
 * is a store this host cannot give (err says why). */
int workspace_probe(const char *base, enum workspace_store wanted, struct workspace_host *out,
		    struct ad_err *err);
cJSON *workspace_host_json(const struct workspace_host *h);

/* dir/workspace ready: made with size bytes and files entries at most, owned by
 * new_owner, when create is true and there is none; mounted when it is an image that
 * is not. *owner: the host id that owns it (the sandbox's root must be it). With tree,
 * also a detached copy of its mount (nosuid, nodev) for a sandbox (sandbox_spec's
 * workspace_tree), made under the folder's lock: the host's own mount may go at any
 * moment after (workspace_release), the copy stays. Without create, a workspace that
 * is missing fails with ENOENT. */
int workspace_open(const struct workspace_host *h, const char *dir, bool create, uint64_t size,
		   uint64_t files, uid_t new_owner, uid_t *owner, int *tree, struct ad_err *err);

/* The workspace in dir kept, but no longer mounted on the host (a suspended session's:
 * it holds no loop device then, once its last sandbox has ended); workspace_open mounts
 * it again, on the same file system while a sandbox still has it. */
int workspace_release(const struct workspace_host *h, const char *dir, struct ad_err *err);

/* Everything of the workspace in dir goes: unmounted (lazily: a sandbox still using it
 * keeps it until it ends), its files, its image, its quota. Missing is fine. */
int workspace_remove(const struct workspace_host *h, const char *dir, struct ad_err *err);

/* What the workspace in dir holds now: bytes in use and files (directories included).
 * -1 when it cannot be told (not mounted, say). */
int workspace_usage(const struct workspace_host *h, const char *dir, uint64_t *bytes, uint64_t *files);

/* Its files on stable storage (a hybrid session's suspend). */
int workspace_sync(const char *dir, struct ad_err *err);

#endif

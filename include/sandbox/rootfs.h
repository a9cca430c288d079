/* The sandbox's file system, built in its own mount namespace and entered with
 * pivot_root: a tmpfs root (read-only once built; the same tmpfs as /tmp's and
 * /dev/shm's, see rootfs.c) holding
 *   /usr, /bin, /lib*, /sbin   the host's, read-only (or /usr as a throw-away overlay)
 *   /etc                       a handful of files written for the sandbox, plus the CA
 *                              certificates, ld.so.cache and /etc/alternatives, read-only
 *   /proc                      a new one, for the sandbox's pid namespace
 *   /dev                       null zero full random urandom tty, pts, shm
 *   /tmp, /dev/shm             room in that tmpfs for tmp_size bytes and tmp_files
 *                              files, the two together
 *   /workspace                 the host's directory (sandbox/workspace.h), or a tmpfs
 *                              like /tmp's
 *   binds                      the operator's, read-only unless marked rw
 *   /run/agentd/api.sock       with api_sock: a listening Unix socket, for the parent
 * The old root is detached: nothing else of the host is reachable. */
#ifndef AGENTD_SANDBOX_ROOTFS_H
#define AGENTD_SANDBOX_ROOTFS_H

#include <stdbool.h>

#include "core/err.h"
#include "sandbox/policy.h"

/* The detached trees the parent made, each taken and closed, or -1:
 *   usr        with the policy's usr_overlay, the idmapped /usr (handoff_usr_tree),
 *              the overlay's lower layer
 *   workspace  the host's workspace directory (handoff_workspace_tree), put at
 *              /workspace instead of a tmpfs */
struct rootfs_trees {
	int usr, workspace;
};
/*
 * api_sock: NULL, or where the socket listening at SANDBOX_API_SOCKET goes (bound
 * before the root turns read-only, so nothing inside can replace it). */
int sandbox_rootfs_build(const struct sandbox_policy *p, const struct rootfs_trees *trees, int *api_sock,
			 struct ad_err *err);

/* Shared by the rootfs files: bind src on dst (created as a file or directory like
 * src), recursively, nosuid; read-only unless ROOTFS_RW, nodev unless ROOTFS_DEV. */
#define ROOTFS_RW 1u
#define ROOTFS_DEV 2u
int rootfs_bind(const char *src, const char *dst, unsigned flags, struct ad_err *err);
int rootfs_write_file(const char *path, const char *text, struct ad_err *err);
int rootfs_etc(const char *root, const struct sandbox_policy *p, struct ad_err *err);
int rootfs_dev(const char *root, struct ad_err *err);

#endif

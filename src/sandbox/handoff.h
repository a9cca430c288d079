/* Inside the sandbox module: the parent's "go" to its child over the sync socket
 * (SOCK_SEQPACKET), with at most one file descriptor passed along (SCM_RIGHTS). The
 * parent keeps its end open for the sandbox's life: a hang-up tells the child that the
 * parent died. */
#ifndef AGENTD_SANDBOX_HANDOFF_H
#define AGENTD_SANDBOX_HANDOFF_H

#include <sys/types.h>

#include "core/err.h"

/* fd: -1 for none. */
int handoff_send(int sock, int fd, struct ad_err *err);
/* Blocks for the go; *fd is -1 when none came. Fails on EOF (the parent gave up). */
int handoff_recv(int sock, int *fd, struct ad_err *err);

/* The host's /usr as a detached, read-only mount tree whose files, owned by host root,
 * belong to root of the user namespace of child: the lower layer of a /usr overlay the
 * sandbox can write to. Needs privilege over the host's mounts (agentd as root). */
int handoff_usr_tree(pid_t child, int *fd, struct ad_err *err);

#endif

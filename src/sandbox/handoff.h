/* Inside the sandbox module: one message over the sync socket (SOCK_SEQPACKET) between
 * parent and child: a tag byte with up to HANDOFF_FDS_MAX file descriptors passed along
 * (SCM_RIGHTS). The parent's "go" to its child goes this way, with the idmapped /usr;
 * the child's listeners come back this way, the tag saying which they are. The parent
 * keeps its end open for the sandbox's life: a hang-up tells the child that the parent
 * died. */
#ifndef AGENTD_SANDBOX_HANDOFF_H
#define AGENTD_SANDBOX_HANDOFF_H

#include <sys/types.h>

#include "core/err.h"

#define HANDOFF_FDS_MAX 4

/* fds[0..n): the descriptors, those < 0 left out (the tag must say which came). */
int handoff_send(int sock, char tag, const int *fds, unsigned n, struct ad_err *err);
/* Blocks for a message: its tag, and its descriptors in fds[0..*n) (at most max; any
 * more are closed). Fails on EOF (the peer gave up). */
int handoff_recv(int sock, char *tag, int *fds, unsigned max, unsigned *n, struct ad_err *err);

/* The host's /usr as a detached, read-only mount tree whose files, owned by host root,
 * belong to root of the user namespace of child: the lower layer of a /usr overlay the
 * sandbox can write to. Needs privilege over the host's mounts (agentd as root). */
int handoff_usr_tree(pid_t child, int *fd, struct ad_err *err);

/* The go's tag: which trees came with it, in this order. */
#define HANDOFF_GO 0x40
#define HANDOFF_USR 0x01
#define HANDOFF_WORKSPACE 0x02

#endif

/* The parent's go, and what it hands over: see handoff.h. */
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cleanup.h"

int handoff_send(int sock, char tag, const int *fds, unsigned n, struct ad_err *err)
{
	struct iovec iov = { &tag, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOFF_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int pass[HANDOFF_FDS_MAX];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < HANDOFF_FDS_MAX; i++)
		if (fds[i] >= 0)
			pass[k++] = fds[i];
	if (k > 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * k);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * k);
		memcpy(CMSG_DATA(c), pass, sizeof(int) * k);
	}
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1)
		return ad_err_sys(err, "hand over descriptors");
	return 0;
}

int handoff_recv(int sock, char *tag, int *fds, unsigned max, unsigned *n, struct ad_err *err)
{
	struct iovec iov = { tag, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOFF_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	*n = 0;
	ssize_t got;
	do
		got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got != 1)
		return ad_err_set(err, got < 0 ? errno : EPIPE, "wait for the other side's message");
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
		return 0;
	unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	int got_fds[HANDOFF_FDS_MAX];
	memcpy(got_fds, CMSG_DATA(c), sizeof(int) * (k < HANDOFF_FDS_MAX ? k : HANDOFF_FDS_MAX));
	for (unsigned i = 0; i < k && i < HANDOFF_FDS_MAX; i++) {
		if (i < max)
			fds[(*n)++] = got_fds[i];
		else
			close(got_fds[i]);
	}
	return 0;
}

#define NEEDS_ROOT(e) ((e) == EPERM ? " (sandbox.usr_overlay needs agentd to run as root)" : "")

int handoff_usr_tree(pid_t child, int *out, struct ad_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)child);
	_cleanup_close_ int userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0)
		return ad_err_sys(err, "open %s", path);
	_cleanup_close_ int tree = open_tree(AT_FDCWD, "/usr", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return ad_err_sys(err, "clone the /usr mount tree%s", NEEDS_ROOT(errno));
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
		.userns_fd = (uint64_t)userns,
	};
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return ad_err_sys(err, "idmap /usr for the overlay%s", NEEDS_ROOT(errno));
	*out = steal_fd(&tree);
	return 0;
}

/* Working on files as another user, on this thread: see include/core/fsids.h. */
#include "core/fsids.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The raw syscalls: the calling thread's alone (glibc's setgroups() is the process's). */
static int thread_setgroups(size_t n, const gid_t *groups)
{
	return (int)syscall(SYS_setgroups, n, groups);
}

static int thread_caps(bool set, struct __user_cap_data_struct *caps)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	return (int)syscall(set ? SYS_capset : SYS_capget, &head, caps);
}

/* setfsuid() returns the id before, whether it took or not: an invalid id changes
 * nothing and tells the one in force. */
static bool fsuid_is(uid_t uid)
{
	return (uid_t)setfsuid((uid_t)-1) == uid;
}

static bool fsgid_is(gid_t gid)
{
	return (gid_t)setfsgid((gid_t)-1) == gid;
}

static int save(struct fsids *b, struct ad_err *err)
{
	*b = (struct fsids){ .fsuid = (uid_t)setfsuid((uid_t)-1), .fsgid = (gid_t)setfsgid((gid_t)-1) };
	if (thread_caps(false, b->caps) < 0)
		return ad_err_sys(err, "capget");
	if ((b->ngroups = getgroups(0, NULL)) < 0)
		return ad_err_sys(err, "getgroups");
	if (b->ngroups > 0 && (b->groups = calloc((size_t)b->ngroups, sizeof(gid_t))) == NULL)
		return ad_err_set(err, ENOMEM, "getgroups");
	if (b->ngroups > 0 && getgroups(b->ngroups, b->groups) != b->ngroups) {
		free(b->groups);
		b->groups = NULL;
		return ad_err_set(err, EAGAIN, "getgroups: the groups changed meanwhile");
	}
	b->saved = true;
	return 0;
}

int fsids_become(struct fsids *before, uid_t uid, gid_t gid, struct ad_err *err)
{
	*before = (struct fsids){ 0 };
	if (geteuid() != 0)
		return uid == geteuid() && gid == getegid() ? 0 : ad_err_set(err, EPERM, "files of uid %u "
			"can be worked on as that user only by root", (unsigned)uid);
	if (save(before, err) < 0)
		return -1;
	if (thread_setgroups(0, NULL) < 0)
		return ad_err_sys(err, "setgroups (none)");
	setfsgid(gid);
	if (!fsgid_is(gid))
		return ad_err_set(err, EPERM, "setfsgid %u did not take", (unsigned)gid);
	setfsuid(uid);
	if (!fsuid_is(uid))
		return ad_err_set(err, EPERM, "setfsuid %u did not take", (unsigned)uid);
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
	memcpy(none, before->caps, sizeof(none));
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		none[i].effective = 0;
	if (thread_caps(true, none) < 0)
		return ad_err_sys(err, "capset (no effective capabilities)");
	return 0;
}

int fsids_restore(struct fsids *b, struct ad_err *err)
{
	int rc = 0;
	if (!b->saved)
		return 0;
	/* the capabilities first: setting the ids and groups back needs them */
	if (thread_caps(true, b->caps) < 0)
		rc = ad_err_sys(err, "capset (back)");
	setfsuid(b->fsuid);
	setfsgid(b->fsgid);
	if (rc == 0 && (!fsuid_is(b->fsuid) || !fsgid_is(b->fsgid)))
		rc = ad_err_set(err, EPERM, "setfsuid/setfsgid back to %u:%u did not take", (unsigned)b->fsuid,
				(unsigned)b->fsgid);
	if (rc == 0 && thread_setgroups((size_t)b->ngroups, b->groups) < 0)
		rc = ad_err_sys(err, "setgroups (back)");
	free(b->groups);
	b->groups = NULL;
	b->saved = false;
	return rc;
}

/* A suspended session's files, served by the gateway itself from the host's side of its
 * workspace (on disk: sandbox/workspace.h), so that a report can be downloaded or an
 * input uploaded without a sandbox, a resume or a model call.
 *
 * The tree belongs to an untrusted sandbox and the gateway is root on the host, so:
 *   - the work is core/tree_edit.h's, the agent's own code: every path resolved beneath
 *     a descriptor of the workspace and on its file system only (openat2 RESOLVE_BENEATH
 *     | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), symlinks replaced or removed, never
 *     followed out, a file read only if it is a regular one (looked at before it is
 *     opened: a device is never opened, a FIFO holds nothing up), the same replies and
 *     errors as the agent's;
 *   - it is done as the workspace's owner, the host id that is root in the sandbox, with
 *     no capabilities (core/fsids.h): what is made is the sandbox's, the workspace's
 *     size and file limits hold, and a permission check fails where the sandbox's root
 *     would fail it; and a hard link to a host file the sandbox cannot read cannot be
 *     read through here either;
 *   - off the HTTP thread, on the registry's file thread (a mount, a sync, a slow disk
 *     never hold up a handler); the end goes to the op's waiter as the agent's would.
 *
 * Which states: suspended, and suspending (the sandbox going, its workspace saved; a
 * client already sees "suspended"). A resume that races an op is harmless: both see the
 * same file system (each through its own copy of the workspace's mount), as an op and a
 * turn's bash do. A suspended session holds no mount: the op's is let go once it is done. */
#include "session_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/fsids.h"
#include "core/log.h"
#include "core/tree_edit.h"
#include "core/workq.h"
#include "ipc/op_end.h"
#include "ipc/protocol.h"
#include "sandbox/workspace.h"

/* What paths are named below, as the sandbox sees its workspace. */
#define WORKSPACE_PATH "/workspace"

struct files_job {
	struct session *s;         /* referenced */
	cJSON *op;
	struct op_run *w;          /* referenced */
};

static struct workspace_host host_of(const struct session *s)
{
	return (struct workspace_host){ .store = registry_config(s->reg)->sandbox.workspace_store };
}

static bool is_file_op(const cJSON *op, bool *changes)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "op");
	const char *k = cJSON_IsString(kind) ? kind->valuestring : "";
	*changes = strcmp(k, "write") == 0 || strcmp(k, "delete") == 0;
	return *changes || strcmp(k, "list") == 0 || strcmp(k, "read") == 0;
}

static bool suspended(enum session_state st)
{
	return st == SESSION_SUSPENDED || st == SESSION_SUSPENDING;
}

bool host_files_serves(const struct session *s, const cJSON *op)
{
	bool changes;
	return suspended(s->state) && session_workspace_on_disk(s) && is_file_op(op, &changes);
}

/* The op on the workspace in dir, as its owner; what its op_end carries into end. */
static int on_workspace(struct session *s, const char *dir, const cJSON *op, cJSON *end, struct ad_err *why)
{
	struct workspace_host h = host_of(s);
	uid_t owner;
	struct fsids before;
	struct ad_err e;
	/* a suspended session's image is not mounted on the host: mounted now, and the op
	 * works on a detached copy of that mount, as a sandbox does, which stays whoever
	 * unmounts the host's (a resume's sandbox ending, say) */
	_cleanup_close_ int top = -1;
	if (workspace_open(&h, dir, false, 0, 0, 0, &owner, &top, why) < 0)
		return ad_err_prefix(why, "session %s's workspace", s->id);
	if (owner == 0)
		return ad_err_set(why, EPERM, "session %s's workspace belongs to root", s->id);
	const struct tree t = { .top = top, .flags = TREE_ONE_MOUNT, .name = "the workspace" };
	/* the sandbox's group is its owner's id too (sandbox/userns.c maps both alike) */
	int rc = fsids_become(&before, owner, (gid_t)owner, why);
	if (rc == 0)
		rc = tree_file_op(&t, WORKSPACE_PATH, op, PROTO_FILE_MAX, end, why);
	if (fsids_restore(&before, &e) < 0)
		session_log(s, AD_LOG_ERROR, "the file thread's ids cannot be set back: %s", e.msg);
	return rc;
}

/* The state now, which may have changed since the op was queued: ended, or resumed (a
 * resume makes it "creating"). */
static enum session_state state_now(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	enum session_state st = s->state;
	pthread_mutex_unlock(&s->lock);
	return st;
}

static void files_job_run(void *ctx)
{
	struct files_job *j = ctx;
	struct ad_err why, e;
	char dir[4096];
	bool changes;
	is_file_op(j->op, &changes);
	session_workspace_dir(j->s, dir, sizeof(dir));
	cJSON *end = op_end_ok(-1);
	struct workspace_host h = host_of(j->s);
	/* resumed meanwhile, the op is done all the same: the sandbox sees the same files */
	enum session_state st = state_now(j->s);
	int rc = st == SESSION_FAILED || st == SESSION_DESTROYED
			 ? ad_err_code(&why, ENOENT, "session %s has ended", j->s->id)
			 : on_workspace(j->s, dir, j->op, end, &why);
	if (rc < 0) {
		cJSON_Delete(end);
		end = op_end_failed(-1, &why);
	} else if (changes && workspace_sync(dir, &e) < 0) {
		/* done, but not yet on stable storage as a suspended workspace otherwise is */
		session_log(j->s, AD_LOG_WARN, "%s", e.msg);
	}
	/* suspended, it holds no mount (sandbox/workspace.h); resumed meanwhile, its sandbox
	 * has a copy of the mount and the host's may stay */
	if (suspended(state_now(j->s)) && workspace_release(&h, dir, &e) < 0)
		session_log(j->s, AD_LOG_WARN, "unmounting its workspace: %s", e.msg);
	op_run_event(j->w, end);
	cJSON_Delete(end);
	cJSON_Delete(j->op);
	op_run_unref(j->w);
	session_unref(j->s);
	free(j);
}

int host_files_queue(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err)
{
	struct files_job *j = calloc(1, sizeof(*j));
	if (j == NULL || (j->op = cJSON_Duplicate(op, true)) == NULL) {
		free(j);
		return ad_err_set(err, ENOMEM, "a file op");
	}
	session_ref(s);
	op_run_ref(w);
	j->s = s;
	j->w = w;
	if (workq_push(s->reg->files, files_job_run, j) < 0) {
		cJSON_Delete(j->op);
		op_run_unref(w);
		session_unref(s);      /* not the last: the caller holds one */
		free(j);
		return ad_err_code(err, EAGAIN, "agentd is stopping; session %s's files cannot be reached now", s->id);
	}
	return 0;
}

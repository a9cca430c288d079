/* The session's workspace on the host's disk (sandbox/workspace.h), as its supervisor
 * sees it: made (or found, for a hybrid session that resumes) before the sandbox is
 * built, so that the sandbox's root is its owner; and, when the supervisor ends, gone
 * unless a hybrid session's saved state names it. The gateway removes it otherwise
 * (a suspended session deleted, or what a killed agentd left: at its next start). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "ipc/session_files.h"
#include "sandbox/userns.h"
#include "sandbox/workspace.h"
#include "supervisor_int.h"

static struct workspace_host host_of(const struct supervisor *s)
{
	return (struct workspace_host){ .store = s->env->cfg->sandbox.workspace_store };
}

bool sup_workspace_on_disk(const struct supervisor *s)
{
	return s->env->cfg->sandbox.workspace_store != WORKSPACE_TMPFS;
}

/* No workspace on disk here: the tmpfs the sandbox makes counts in its memory, which is
 * raised by its size, so that filling it meets ENOSPC before the OOM killer. */
static int in_memory(struct sandbox_policy *p, struct ad_err *err)
{
	if (p->memory_max > UINT64_MAX - p->workspace_size)
		return ad_err_set(err, EOVERFLOW, "memory_max + workspace_size");
	p->memory_max += p->workspace_size;
	return 0;
}

/* The workspace's owner held as a live sandbox's host id (sandbox/userns.h). When a
 * live sandbox has it already (a hybrid session resumed after its id went to another
 * meanwhile, two session ids that hash alike, a changed sandbox.uid_base), the
 * workspace is given a free one: two live sandboxes never share a host id. */
static int hold_owner(struct supervisor *s, const char *dir, const struct sandbox_policy *p, uid_t *owner,
		      struct ad_err *err)
{
	uid_t got;
	if (sandbox_ids_hold(p, *owner, &got, &s->ws_ids_lock, err) < 0)
		return -1;
	if (got == *owner)
		return 0;
	char path[4200];
	snprintf(path, sizeof(path), "%s/" WORKSPACE_DIR, dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ad_err_sys(err, "open %s", path);
	if (fs_chown_tree(fd, *owner, got, err) < 0)
		return ad_err_prefix(err, "give it to host uid %u", (unsigned)got);
	log_info("its workspace's owner, host uid %u, is a live sandbox's: the workspace is given %u",
		 (unsigned)*owner, (unsigned)got);
	*owner = got;
	return 0;
}

int sup_workspace_open(struct supervisor *s, struct sandbox_policy *p, struct ad_err *err)
{
	char dir[4096];
	uid_t owner;
	struct workspace_host h = host_of(s);
	if (!sup_workspace_on_disk(s))
		return in_memory(p, err);
	if (session_dir(s->env->cfg->state_dir, s->id, dir, sizeof(dir), err) < 0)
		return -1;
	if (workspace_open(&h, dir, true, p->workspace_size, p->workspace_files, sandbox_ids_for_name(p, s->id),
			   &owner, &s->ws_tree, err) < 0)
		return ad_err_prefix(err, "workspace");
	if (geteuid() == 0 && owner == 0)
		return ad_err_set(err, EPERM, "workspace: %s/" WORKSPACE_DIR " belongs to root", dir);
	if (geteuid() == 0 && p->uid_count > 0 && hold_owner(s, dir, p, &owner, err) < 0)
		return ad_err_prefix(err, "workspace");
	p->host_uid = owner;
	return 0;
}

void sup_workspace_end(struct supervisor *s)
{
	char dir[4096], meta[4200];
	struct ad_err e;
	if (s->ws_ids_lock >= 0)        /* after sandbox_destroy: nothing runs as it now */
		close(s->ws_ids_lock);
	s->ws_ids_lock = -1;
	if (s->ws_tree <= 0)
		return;
	close(s->ws_tree);
	s->ws_tree = 0;
	snprintf(dir, sizeof(dir), "%s/sessions/%s", s->env->cfg->state_dir, s->id);
	snprintf(meta, sizeof(meta), "%s/" SESSION_META_FILE, dir);
	struct workspace_host h = host_of(s);
	if (access(meta, F_OK) == 0) {
		/* a hybrid session's, saved: kept for its resume, not mounted meanwhile */
		if (workspace_release(&h, dir, &e) < 0)
			log_warn("unmounting its workspace: %s", e.msg);
		return;
	}
	if (workspace_remove(&h, dir, &e) < 0)
		log_warn("removing its workspace: %s", e.msg);
	else if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		log_warn("removing %s: %s", dir, strerror(errno));
}

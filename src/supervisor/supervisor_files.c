/* The supervisor reads the sandbox's /workspace itself (list, read: the ops the gateway
 * marks "view"), whatever the agent is doing, so that a client can follow what a turn
 * changes as it runs.
 *
 * The workspace is opened once, when the agent says hello (the sandbox's mounts are all
 * made by then): from the sandbox's root as the host sees it (/proc/PID/root) with
 * RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS, so that nothing the sandbox did to its tree can
 * make it another directory. Every later path is resolved beneath that descriptor and
 * on its file system only (core/tree_view.h, TREE_ONE_MOUNT): the workspace's own
 * tmpfs, whose files are all the sandbox's: the supervisor may read what the sandbox
 * cannot (it is root on the host), so it never follows a bind the operator put there.
 * Such a path fails marked "elsewhere": between turns the gateway asks the agent. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/tree_view.h"
#include "ipc/op_end.h"
#include "ipc/protocol.h"
#include "sandbox/sandbox.h"
#include "supervisor_int.h"

#define WORKSPACE "/workspace"

void sup_open_workspace(struct supervisor *s)
{
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)sandbox_init_pid(s->sb));
	_cleanup_close_ int top = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	s->ws = top < 0 ? -1 : fs_openat2(top, WORKSPACE + 1, O_PATH | O_DIRECTORY,
					  RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (s->ws < 0)   /* the gateway then sends every op to the agent, between turns */
		log_warn("the workspace cannot be opened from the host (%s): its files are "
			 "served between turns only", strerror(errno));
}

bool sup_serves_files(const cJSON *op)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, "view"));
}

void sup_file_op(struct supervisor *s, const cJSON *op)
{
	const cJSON *idj = cJSON_GetObjectItemCaseSensitive(op, "id");
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(op, "path");
	const cJSON *kj = cJSON_GetObjectItemCaseSensitive(op, "op");
	const char *kind = cJSON_IsString(kj) ? kj->valuestring : "";
	const struct tree t = { .top = s->ws, .flags = TREE_ONE_MOUNT, .name = "the workspace" };
	double id = cJSON_IsNumber(idj) ? idj->valuedouble : -1;
	struct ad_err why, e;
	char rel[4096];
	cJSON *end = op_end_ok(id);
	int rc;
	if (s->ws < 0)
		rc = ad_err_set(&why, 0, "the workspace cannot be read from the host here");
	else if (strcmp(kind, "procs") == 0)
		rc = sup_procs_view(s, op, end, &why);
	else if (strcmp(kind, "list") != 0 && strcmp(kind, "read") != 0)
		rc = ad_err_set(&why, 0, "only list, read and procs are views, not \"%s\"", kind);
	else if (!cJSON_IsString(path))
		rc = ad_err_set(&why, 0, "%s needs \"path\": a string", kind);
	else if ((rc = tree_rel(WORKSPACE, path->valuestring, rel, sizeof(rel), &why)) == 0)
		rc = strcmp(kind, "list") == 0 ? tree_list_json(&t, rel, path->valuestring, end, &why)
					       : tree_read_json(&t, rel, path->valuestring, PROTO_FILE_MAX, end, &why);
	if (rc < 0) {
		cJSON_Delete(end);
		end = op_end_failed(id, &why);
		/* out of the workspace, or onto another mount: the agent may be asked, between
		 * turns; it sees the tree as the sandbox does */
		if (why.errnum == EXDEV)
			cJSON_AddTrueToObject(end, "elsewhere");
		sup_to_gateway(s, end);
		return;
	}
	/* a reply past the frame's cap (a huge listing) fails the op, not the session */
	if (s->gw < 0) {
		cJSON_Delete(end);
	} else if (link_out_send_take(&s->to_gw, s->gw, FRAME_RUN_EVENT, end, &e) < 0) {
		if (e.errnum != EMSGSIZE && e.errnum != ENOMEM) {
			log_warn("the gateway cannot be written to: %s", e.msg);
			s->quit = true;
			return;
		}
		ad_err_set(&why, 0, "the %s reply is larger than agentd's frames can carry", kind);
		sup_to_gateway(s, op_end_failed(id, &why));
	}
}

/* The file OPs (read, write, delete, list): see include/agent/ops.h. The work is
 * core/tree_edit.h's, beneath a descriptor of the workspace: the gateway does the same
 * on the host for a suspended session, so both answer alike. */
#include "agent/ops.h"

#include <fcntl.h>

#include "core/cleanup.h"
#include "core/tree_edit.h"
#include "ipc/protocol.h"

int op_file(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	_cleanup_close_ int top = open(o->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return ad_err_sys(why, "the workspace %s", o->workspace);
	const struct tree t = { .top = top, .name = "the workspace" };
	return tree_file_op(&t, o->workspace, req, PROTO_FILE_MAX, end, why) < 0 ? OP_FAILED : OP_DONE;
}

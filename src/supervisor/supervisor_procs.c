/* The session's background processes read from the host (a "procs" view: ipc/bgproc.h),
 * so that a client sees them while a turn holds the agent. The sandbox's /tmp is opened
 * through its root as the workspace is (supervisor_files.c), never following a link; the
 * session's folder and everything in it are resolved beneath it and on its file system
 * only: what the sandbox put there is read, checked, and nothing beyond it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "ipc/bgproc.h"
#include "sandbox/sandbox.h"
#include "supervisor_int.h"

#define RESOLVE_SAFE (RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

int sup_procs_view(struct supervisor *s, const cJSON *op, cJSON *end, struct ad_err *why)
{
	const char *tag = json_str(op, "procs");
	if (!bgproc_tag_ok(tag))
		return ad_err_set(why, 0, "procs needs \"procs\": %d hex digits", BGPROC_TAG_LEN);
	char root[64], name[32], rel[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)sandbox_init_pid(s->sb));
	bgproc_dir_name(tag, name);
	snprintf(rel, sizeof(rel), "%s/%s", BGPROC_IN_TMP, name);
	_cleanup_close_ int top = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int tmp = top < 0 ? -1 : fs_openat2(top, "tmp", O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_SAFE);
	if (tmp < 0)
		return ad_err_sys(why, "the sandbox's /tmp cannot be opened from the host");
	_cleanup_close_ int dir = fs_openat2(tmp, rel, O_PATH | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_SAFE);
	if (dir < 0 && errno != ENOENT)
		return ad_err_words(why, "%s/%s", BGPROC_ROOT, name);
	const struct tree t = { .top = dir, .flags = TREE_ONE_MOUNT, .name = "the background processes" };
	return bgproc_answer(dir >= 0 ? &t : NULL, op, end, why);
}

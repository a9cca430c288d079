/* Changing a directory tree through a descriptor of its top (core/tree_view.h): a file
 * written whole, a path removed, and the four file ops (list, read, write, delete) as
 * the JSON requests of the protocol (ipc/protocol.h). The agent answers them in its
 * sandbox; the gateway answers them on the host for a suspended session, as the
 * workspace's owner. Both call this, so both give the same replies and the same errors.
 *
 * Every path is resolved beneath the top as tree_open() does; what is created or
 * removed is named relative to a directory opened that way, never by a path the kernel
 * walks again, so a symlink is replaced or removed, never followed out of the tree. */
#ifndef AGENTD_CORE_TREE_EDIT_H
#define AGENTD_CORE_TREE_EDIT_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/tree_view.h"

/* data (len bytes) becomes the file rel with exactly mode, its missing directories made
 * (0755): written whole under a temporary name beside it, then renamed over it, so a
 * reader sees the old file or the new one, never part of it. */
int tree_write_file(const struct tree *t, const char *rel, const char *shown, const void *data, size_t len,
		    mode_t mode, struct ad_err *why);

/* rel removed: a directory with all it holds (core/fsutil.h's fs_remove_tree), anything
 * else unlinked. */
int tree_delete(const struct tree *t, const char *rel, const char *shown, struct ad_err *why);

/* One file op of the protocol, req {"op": "list"|"read"|"write"|"delete", "path",
 * "data_b64"?, "mode"?}, on the tree whose top is top_path as the requests name it
 * ("/workspace": a path may be absolute below it); what its op_end carries is added
 * to end ("entries"; "size" and "data_b64"; "size"). max: the most bytes a file read
 * or written may have. */
int tree_file_op(const struct tree *t, const char *top_path, const cJSON *req, size_t max, cJSON *end,
		 struct ad_err *why);

#endif

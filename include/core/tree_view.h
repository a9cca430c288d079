/* A directory tree seen through a descriptor of its top: paths resolved beneath it, a
 * file's bytes, a directory's entries. The agent works on its /workspace this way from
 * inside the sandbox; the supervisor reads the same tree from the host (through the
 * sandbox's root) while a turn runs, and the gateway a suspended session's (changes to
 * it: core/tree_edit.h).
 *
 * Every path is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) from the
 * top: neither "..", an absolute path, nor a symlink (absolute, or leading out) reaches
 * anything outside it; with TREE_ONE_MOUNT no mount point is crossed either
 * (RESOLVE_NO_XDEV), so a reader on the host stays on the tree's own file system.
 * Failures name the path as the caller was given it, in the kernel's words. */
#ifndef AGENTD_CORE_TREE_VIEW_H
#define AGENTD_CORE_TREE_VIEW_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/err.h"

#define TREE_ONE_MOUNT 1u

struct tree {
	int top;              /* the top directory, O_PATH (the tree does not own it) */
	unsigned flags;       /* TREE_* */
	const char *name;     /* what the top is called in messages ("the workspace") */
};

/* The most entries a listing holds; a directory with more fails to list. */
#define TREE_LIST_MAX 100000

/* path, relative to the top or absolute below top_path, as a path relative to the top
 * ("." for the top itself) in rel (size bytes). */
int tree_rel(const char *top_path, const char *path, char *rel, size_t size, struct ad_err *why);

/* rel opened beneath the top with flags (O_CLOEXEC added): a descriptor, or -1 (why). */
int tree_open(const struct tree *t, const char *rel, const char *shown, int flags, struct ad_err *why);

/* The regular file rel, of at most max bytes: its bytes in *data (the caller's to free(),
 * a NUL after them) and *len. Anything else (a FIFO, a device) is refused before it is
 * opened. */
int tree_read_file(const struct tree *t, const char *rel, const char *shown, size_t max, char **data,
		   size_t *len, struct ad_err *why);

/* The same added to out as "size" and "data_b64". */
int tree_read_json(const struct tree *t, const char *rel, const char *shown, size_t max, cJSON *out,
		   struct ad_err *why);

/* The directory rel's entries, by name (bytes), added to out as "entries": [{"name",
 * "type": "file"|"dir"|"link"|"other", "size"}]; a name that is not UTF-8 is shown with
 * U+FFFD for what is not. */
int tree_list_json(const struct tree *t, const char *rel, const char *shown, cJSON *out, struct ad_err *why);

#endif

/* The file OPs (read, write, delete, list): see include/agent/ops.h. Every path is
 * opened beneath a descriptor of the workspace; what is created or removed is named
 * relative to a directory opened that way, never by a path the kernel walks again. */
#include "agent/ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/tree_view.h"
#include "ipc/protocol.h"

/* How deep a tree delete goes (a descriptor is open per level). */
#define DELETE_DEPTH_MAX 256

static void cleanup_closedirp(DIR **d)
{
	if (*d != NULL)
		closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(cleanup_closedirp)

/* The path as given, named in every error. */
struct where {
	const char *path;
	char rel[PATH_MAX];         /* below the workspace; "." for itself */
	struct tree t;              /* the workspace, opened O_PATH */
};

static void where_close(struct where *w)
{
	cleanup_closep(&w->t.top);
}

/* A failed call about path (and detail, or NULL), in the kernel's words. */
#define sys_failed(why, path, detail) \
	ad_err_words((why), "\"%s\"%s%s", (path), (detail) ? ": " : "", (detail) ? (detail) : "")

static int open_beneath(const struct where *w, const char *rel, int flags, struct ad_err *why)
{
	return tree_open(&w->t, rel, w->path, flags, why);
}

/* req's "path", below the workspace, which is opened. */
static int locate(const struct op *o, const cJSON *req, struct where *w, struct ad_err *why)
{
	w->t = (struct tree){ .top = -1, .name = "the workspace" };
	if ((w->path = op_string(req, "path", why)) == NULL ||
	    tree_rel(o->workspace, w->path, w->rel, sizeof(w->rel), why) < 0)
		return -1;
	if ((w->t.top = open(o->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return ad_err_sys(why, "the workspace %s", o->workspace);
	return 0;
}

/* mkdir -p w->rel, each directory made in its parent opened beneath the workspace: the
 * last one, opened. */
static int make_dirs(struct where *w, struct ad_err *why)
{
	int dir = open_beneath(w, ".", O_PATH | O_DIRECTORY, why);
	char *name = w->rel;
	for (char *p = w->rel; dir >= 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';             /* w->rel: the directories up to name */
		int next = -1;
		bool plain = *name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
		if (plain && mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
			sys_failed(why, w->path, "cannot make its directories");
		else
			next = open_beneath(w, w->rel, O_PATH | O_DIRECTORY, why);
		*p = c;
		name = p + 1;
		close(dir);
		dir = next;
		if (c == '\0')
			break;
	}
	return dir;
}

/* The directory that holds the last name of w->rel (made with its parents when make),
 * opened, and that name. */
static int open_parent(struct where *w, bool make, const char **name, struct ad_err *why)
{
	size_t len = strlen(w->rel);
	while (len > 1 && w->rel[len - 1] == '/')
		w->rel[--len] = '\0';
	char *slash = strrchr(w->rel, '/');
	*name = slash ? slash + 1 : w->rel;
	if (strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		return ad_err_set(why, 0, "\"%s\" does not end in a name below the workspace", w->path);
	if (slash == NULL)
		return open_beneath(w, ".", O_PATH | O_DIRECTORY, why);
	*slash = '\0';
	return make ? make_dirs(w, why) : open_beneath(w, w->rel, O_PATH | O_DIRECTORY, why);
}

int op_read(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	_cleanup_(where_close) struct where w;
	if (locate(o, req, &w, why) < 0 || tree_read_json(&w.t, w.rel, w.path, PROTO_FILE_MAX, end, why) < 0)
		return OP_FAILED;
	return OP_DONE;
}

/* "mode": the permission bits as a number (420 for 0644), or as octal text ("0644"). */
static int file_mode(const cJSON *req, mode_t *mode, struct ad_err *why)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "mode");
	double v = 0644;
	if (cJSON_IsString(m) && m->valuestring[0] != '\0' && strlen(m->valuestring) <= 5 &&
	    strspn(m->valuestring, "01234567") == strlen(m->valuestring))
		v = (double)strtol(m->valuestring, NULL, 8);
	else if (cJSON_IsNumber(m))
		v = m->valuedouble;
	else if (m != NULL)
		v = -1;
	if (v < 0 || v > 07777 || v != (double)(int)v)
		return ad_err_set(why, 0, "\"mode\" is a number from 0 to 4095 (420 for 0644) or octal text "
				  "(\"0644\")");
	*mode = (mode_t)v;
	return 0;
}

/* The data to write, decoded (the caller's to free). */
static char *file_data(const cJSON *req, const char *path, size_t *len, struct ad_err *why)
{
	const char *text = op_string(req, "data_b64", why);
	size_t tlen = text ? strlen(text) : 0;
	_cleanup_free_ char *data = NULL;
	if (text == NULL)
		return NULL;
	/* whole groups of 3 bytes, up to 2 of the last one padding */
	if (base64_decoded_max(tlen) <= PROTO_FILE_MAX + 2) {
		if ((data = malloc(base64_decoded_max(tlen) + 1)) == NULL) {
			ad_err_set(why, ENOMEM, "\"%s\"", path);
			return NULL;
		}
		if (base64_decode(text, tlen, data, len, why) < 0) {
			ad_err_prefix(why, "\"%s\": data_b64", path);
			return NULL;
		}
	}
	if (data == NULL || *len > PROTO_FILE_MAX) {
		ad_err_set(why, 0, "\"%s\": the data is more than the %u bytes an op writes", path, PROTO_FILE_MAX);
		return NULL;
	}
	return steal_pointer(&data);
}

/* Written whole under a temporary name, then renamed over the target: a reader sees the
 * old file or the new one, never part of it. */
int op_write(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	_cleanup_(where_close) struct where w;
	size_t len = 0;
	mode_t mode = 0644;
	const char *name;
	if (locate(o, req, &w, why) < 0 || file_mode(req, &mode, why) < 0)
		return OP_FAILED;
	_cleanup_free_ char *data = file_data(req, w.path, &len, why);
	if (data == NULL)
		return OP_FAILED;
	_cleanup_close_ int dir = open_parent(&w, true, &name, why);
	if (dir < 0)
		return OP_FAILED;
	unsigned long long nonce = 0;
	if (getrandom(&nonce, sizeof(nonce), 0) < 0)
		nonce = (unsigned long long)getpid() << 20 ^ (unsigned long long)len;
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".agentd-write-%016llx", nonce);
	_cleanup_close_ int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sys_failed(why, w.path, "cannot create a temporary file beside it");
	/* the mode exactly, not as the umask leaves it */
	if (fs_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || close(steal_fd(&fd)) < 0 || renameat(dir, tmp, dir, name) < 0) {
		sys_failed(why, w.path, NULL);
		unlinkat(dir, tmp, 0);
		return OP_FAILED;
	}
	cJSON_AddNumberToObject(end, "size", (double)len);
	return OP_DONE;
}

int op_remove_tree(int dir, const char *name, int depth, const char *path, struct ad_err *why)
{
	if (depth > DELETE_DEPTH_MAX)
		return ad_err_set(why, 0, "\"%s\" is nested deeper than %d directories", path, DELETE_DEPTH_MAX);
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		cleanup_closep(&fd);
		return sys_failed(why, path, name);
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;   /* gone meanwhile */
			return sys_failed(why, path, e->d_name);
		}
		if (S_ISDIR(st.st_mode)) {
			if (op_remove_tree(fd, e->d_name, depth + 1, path, why) < 0)
				return -1;
		} else if (unlinkat(fd, e->d_name, 0) < 0 && errno != ENOENT) {
			return sys_failed(why, path, e->d_name);
		}
	}
	if (unlinkat(dir, name, AT_REMOVEDIR) < 0)
		return sys_failed(why, path, name);
	return 0;
}

int op_delete(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	_cleanup_(where_close) struct where w;
	const char *name;
	if (locate(o, req, &w, why) < 0)
		return OP_FAILED;
	_cleanup_close_ int dir = open_parent(&w, false, &name, why);
	struct stat st;
	if (dir < 0)
		return OP_FAILED;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sys_failed(why, w.path, NULL);
	if (S_ISDIR(st.st_mode))
		return op_remove_tree(dir, name, 0, w.path, why) < 0 ? OP_FAILED : OP_DONE;
	if (unlinkat(dir, name, 0) < 0)
		return sys_failed(why, w.path, NULL);
	return OP_DONE;
}

int op_list(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	_cleanup_(where_close) struct where w;
	/* names are short, but a frame has a cap all the same: a listing past it fails when
	 * ops_handle sends it (EMSGSIZE) */
	if (locate(o, req, &w, why) < 0 || tree_list_json(&w.t, w.rel, w.path, end, why) < 0)
		return OP_FAILED;
	return OP_DONE;
}

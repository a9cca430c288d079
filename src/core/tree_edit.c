/* Changing a tree through a descriptor of its top: see include/core/tree_edit.h. */
#include "core/tree_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"

/* A failed call about path (and detail, or NULL), in the kernel's words. */
#define sys_failed(why, path, detail) \
	ad_err_words((why), "\"%s\"%s%s", (path), (detail) ? ": " : "", (detail) ? (detail) : "")

/* mkdir -p rel, each directory made in its parent opened beneath the top: the last
 * one, opened. rel is cut and mended on the way. */
static int make_dirs(const struct tree *t, char *rel, const char *shown, struct ad_err *why)
{
	int dir = tree_open(t, ".", shown, O_PATH | O_DIRECTORY, why);
	char *name = rel;
	for (char *p = rel; dir >= 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';             /* rel: the directories up to name */
		int next = -1;
		bool plain = *name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
		if (plain && mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
			sys_failed(why, shown, "cannot make its directories");
		else
			next = tree_open(t, rel, shown, O_PATH | O_DIRECTORY, why);
		*p = c;
		name = p + 1;
		close(dir);
		dir = next;
		if (c == '\0')
			break;
	}
	return dir;
}

/* The directory that holds the last name of rel (a copy of the caller's, cut here;
 * made with its parents when make), opened, and that name. */
static int open_parent(const struct tree *t, char *rel, const char *shown, bool make, const char **name,
		       struct ad_err *why)
{
	size_t len = strlen(rel);
	while (len > 1 && rel[len - 1] == '/')
		rel[--len] = '\0';
	char *slash = strrchr(rel, '/');
	*name = slash ? slash + 1 : rel;
	if (strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		return ad_err_set(why, 0, "\"%s\" does not end in a name below %s", shown, t->name);
	if (slash == NULL)
		return tree_open(t, ".", shown, O_PATH | O_DIRECTORY, why);
	*slash = '\0';
	return make ? make_dirs(t, rel, shown, why) : tree_open(t, rel, shown, O_PATH | O_DIRECTORY, why);
}

static int copy_rel(const char *rel, char *out, size_t size, const char *shown, struct ad_err *why)
{
	if ((size_t)snprintf(out, size, "%s", rel) >= size)
		return ad_err_set(why, ENAMETOOLONG, "\"%s\"", shown);
	return 0;
}

int tree_write_file(const struct tree *t, const char *rel, const char *shown, const void *data, size_t len,
		    mode_t mode, struct ad_err *why)
{
	char path[PATH_MAX];
	const char *name;
	if (copy_rel(rel, path, sizeof(path), shown, why) < 0)
		return -1;
	_cleanup_close_ int dir = open_parent(t, path, shown, true, &name, why);
	if (dir < 0)
		return -1;
	unsigned long long nonce = 0;
	if (getrandom(&nonce, sizeof(nonce), 0) < 0)
		nonce = (unsigned long long)getpid() << 20 ^ (unsigned long long)len;
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".agentd-write-%016llx", nonce);
	_cleanup_close_ int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sys_failed(why, shown, "cannot create a temporary file beside it");
	/* the mode exactly, not as the umask leaves it */
	if (fs_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || close(steal_fd(&fd)) < 0 ||
	    renameat(dir, tmp, dir, name) < 0) {
		sys_failed(why, shown, NULL);
		unlinkat(dir, tmp, 0);
		return -1;
	}
	return 0;
}

int tree_delete(const struct tree *t, const char *rel, const char *shown, struct ad_err *why)
{
	char path[PATH_MAX];
	const char *name;
	struct stat st;
	if (copy_rel(rel, path, sizeof(path), shown, why) < 0)
		return -1;
	_cleanup_close_ int dir = open_parent(t, path, shown, false, &name, why);
	if (dir < 0)
		return -1;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sys_failed(why, shown, NULL);
	if (S_ISDIR(st.st_mode))   /* rm -rf, links removed, never followed */
		return fs_remove_tree(dir, name, why) < 0 ? ad_err_prefix(why, "\"%s\"", shown) : 0;
	if (unlinkat(dir, name, 0) < 0)
		return sys_failed(why, shown, NULL);
	return 0;
}

/* ------------------------------------------------------------- the file ops */

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

/* "data_b64" decoded, at most max bytes (the caller's to free). */
static char *file_data(const cJSON *req, const char *path, size_t max, size_t *len, struct ad_err *why)
{
	const char *text = json_op_string(req, "data_b64", why);
	size_t tlen = text ? strlen(text) : 0;
	_cleanup_free_ char *data = NULL;
	if (text == NULL)
		return NULL;
	/* whole groups of 3 bytes, up to 2 of the last one padding */
	if (base64_decoded_max(tlen) <= max + 2) {
		if ((data = malloc(base64_decoded_max(tlen) + 1)) == NULL) {
			ad_err_set(why, ENOMEM, "\"%s\"", path);
			return NULL;
		}
		if (base64_decode(text, tlen, data, len, why) < 0) {
			ad_err_prefix(why, "\"%s\": data_b64", path);
			return NULL;
		}
	}
	if (data == NULL || *len > max) {
		ad_err_set(why, 0, "\"%s\": the data is more than the %zu bytes an op writes", path, max);
		return NULL;
	}
	return steal_pointer(&data);
}

int tree_file_op(const struct tree *t, const char *top_path, const cJSON *req, size_t max, cJSON *end,
		 struct ad_err *why)
{
	char rel[PATH_MAX];
	const char *kind = json_op_string(req, "op", why), *path = NULL;
	if (kind == NULL || (path = json_op_string(req, "path", why)) == NULL ||
	    tree_rel(top_path, path, rel, sizeof(rel), why) < 0)
		return -1;
	if (strcmp(kind, "read") == 0)
		return tree_read_json(t, rel, path, max, end, why);
	/* names are short, but a reply has a cap all the same: a listing past it fails
	 * when it is sent (EMSGSIZE) */
	if (strcmp(kind, "list") == 0)
		return tree_list_json(t, rel, path, end, why);
	if (strcmp(kind, "delete") == 0)
		return tree_delete(t, rel, path, why);
	if (strcmp(kind, "write") != 0)
		return ad_err_set(why, 0, "\"%s\" is not a file op (list, read, write, delete)", kind);
	mode_t mode = 0644;
	size_t len = 0;
	if (file_mode(req, &mode, why) < 0)
		return -1;
	_cleanup_free_ char *data = file_data(req, path, max, &len, why);
	if (data == NULL || tree_write_file(t, rel, path, data, len, mode, why) < 0)
		return -1;
	cJSON_AddNumberToObject(end, "size", (double)len);
	return 0;
}

/* A directory tree through a descriptor of its top: see include/core/tree_view.h. */
#include "core/tree_view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/utf8.h"

int tree_rel(const char *top_path, const char *path, char *rel, size_t size, struct ad_err *why)
{
	size_t tlen = strlen(top_path);
	while (tlen > 1 && top_path[tlen - 1] == '/')
		tlen--;
	const char *p = path;
	if (p[0] == '\0')
		return ad_err_set(why, 0, "the path is empty (\".\" is %.*s itself)", (int)tlen, top_path);
	if (p[0] == '/') {
		if (strncmp(p, top_path, tlen) != 0 || (p[tlen] != '/' && p[tlen] != '\0'))
			return ad_err_set(why, 0, "\"%s\" is outside the workspace (%.*s)", p, (int)tlen, top_path);
		p += tlen + strspn(p + tlen, "/");
	}
	if ((size_t)snprintf(rel, size, "%s", p[0] ? p : ".") >= size)
		return ad_err_set(why, ENAMETOOLONG, "\"%s\"", path);
	return 0;
}

int tree_open(const struct tree *t, const char *rel, const char *shown, int flags, struct ad_err *why)
{
	int fd = fs_openat2(t->top, rel, (uint64_t)flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
			    ((t->flags & TREE_ONE_MOUNT) ? RESOLVE_NO_XDEV : 0));
	if (fd >= 0)
		return fd;
	if (errno == EXDEV) {
		ad_err_set(why, 0, "\"%s\" leads out of %s%s", shown, t->name,
			   (t->flags & TREE_ONE_MOUNT) ? "'s file system" : "");
		why->errnum = EXDEV;
		return -1;
	}
	return ad_err_words(why, "\"%s\"", shown);
}

int tree_read_file(const struct tree *t, const char *rel, const char *shown, size_t max, char **data,
		   size_t *len, struct ad_err *why)
{
	/* Looked at before it is opened: opening a device can do something (a reader on the
	 * host is root), a FIFO's would wait for a writer. Then opened O_NONBLOCK and
	 * checked to be the same file, should the name have changed in between. */
	_cleanup_close_ int at = tree_open(t, rel, shown, O_PATH, why);
	struct stat was, st;
	if (at < 0)
		return -1;
	if (fstat(at, &was) < 0)
		return ad_err_words(why, "\"%s\"", shown);
	if (!S_ISREG(was.st_mode))
		return ad_err_set(why, 0, "\"%s\" is not a regular file", shown);
	_cleanup_close_ int fd = tree_open(t, rel, shown, O_RDONLY | O_NOCTTY | O_NONBLOCK, why);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		return ad_err_words(why, "\"%s\"", shown);
	if (!S_ISREG(st.st_mode) || st.st_ino != was.st_ino || st.st_dev != was.st_dev)
		return ad_err_set(why, EAGAIN, "\"%s\" changed while it was opened", shown);
	if ((uint64_t)st.st_size > max)
		return ad_err_set(why, 0, "\"%s\" is %lld bytes, more than the %zu read at once", shown,
				  (long long)st.st_size, max);
	/* one byte more than its size: a file that grew meanwhile is caught */
	size_t size = (size_t)st.st_size, got = 0;
	_cleanup_free_ char *buf = malloc(size + 1);
	if (buf == NULL)
		return ad_err_set(why, ENOMEM, "\"%s\"", shown);
	ssize_t n = 1;
	while (n > 0 && got <= size)
		if ((n = read(fd, buf + got, size + 1 - got)) > 0)
			got += (size_t)n;
	if (n < 0)
		return ad_err_words(why, "\"%s\"", shown);
	if (got > size)
		return ad_err_set(why, 0, "\"%s\" grew while it was read", shown);
	buf[got] = '\0';
	*len = got;
	*data = steal_pointer(&buf);
	return 0;
}

int tree_read_json(const struct tree *t, const char *rel, const char *shown, size_t max, cJSON *out,
		   struct ad_err *why)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (tree_read_file(t, rel, shown, max, &data, &len, why) < 0)
		return -1;
	_cleanup_free_ char *text = malloc(base64_encoded_len(len) + 1);
	if (text == NULL)
		return ad_err_set(why, ENOMEM, "\"%s\"", shown);
	base64_encode(data, len, text);
	cJSON_AddNumberToObject(out, "size", (double)len);
	cJSON_AddStringToObject(out, "data_b64", text);
	return 0;
}

static int not_dots(const struct dirent *e)
{
	return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

/* By bytes, whatever the locale. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static const char *type_of(mode_t mode)
{
	return S_ISREG(mode) ? "file" : S_ISDIR(mode) ? "dir" : S_ISLNK(mode) ? "link" : "other";
}

static cJSON *list_entry(int dir, const char *name)
{
	struct stat st;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return NULL;        /* gone meanwhile */
	char shown[4 * NAME_MAX + 1];
	if (utf8_valid(name, strlen(name), NULL))
		snprintf(shown, sizeof(shown), "%s", name);
	else
		utf8_sanitise(name, shown, sizeof(shown));   /* JSON text is UTF-8 */
	cJSON *entry = cJSON_CreateObject();
	cJSON_AddStringToObject(entry, "name", shown);
	cJSON_AddStringToObject(entry, "type", type_of(st.st_mode));
	cJSON_AddNumberToObject(entry, "size", (double)st.st_size);
	return entry;
}

int tree_list_json(const struct tree *t, const char *rel, const char *shown, cJSON *out, struct ad_err *why)
{
	_cleanup_close_ int dir = tree_open(t, rel, shown, O_RDONLY | O_DIRECTORY, why);
	struct dirent **names = NULL;
	int n = dir < 0 ? -1 : scandirat(dir, ".", &names, not_dots, by_name);
	if (n < 0)
		return dir < 0 ? -1 : ad_err_words(why, "\"%s\"", shown);
	cJSON *entries = cJSON_AddArrayToObject(out, "entries"), *entry;
	for (int i = 0; i < n; i++) {
		if (i < TREE_LIST_MAX && (entry = list_entry(dir, names[i]->d_name)) != NULL)
			cJSON_AddItemToArray(entries, entry);
		free(names[i]);
	}
	free(names);
	if (n > TREE_LIST_MAX)
		return ad_err_set(why, 0, "\"%s\" has more than %d entries", shown, TREE_LIST_MAX);
	return 0;
}

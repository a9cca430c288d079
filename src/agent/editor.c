/* The text editor tool: see include/agent/tools.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/tools.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"

#define SNIPPET_CONTEXT 4
#define MATCHES_COUNTED 1000     /* str_replace: how many matches it counts at most */

/* A whole text file; NULL and a result error otherwise. Symlinks are followed; what
 * is not a regular file (a FIFO, a device) is refused without waiting on it. */
/* A text file as the editor works on it. */
struct text_file {
	char *text;               /* NUL-terminated, without NULs inside */
	size_t len;
	mode_t mode;
};

static void text_file_free(struct text_file *f)
{
	free(f->text);
}

/* path's text into f, or false with r's error saying why. */
static bool read_text(const char *path, struct text_file *f, struct tool_result *r)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		tool_result_error(r, "cannot open %s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		tool_result_error(r, "%s is not a regular file; the editor works on text files", path);
		return false;
	}
	/* read to the end: the size said may be 0 (/proc) or already out of date */
	char *text = (size_t)st.st_size <= EDITOR_FILE_MAX ? tool_read_all(fd, EDITOR_FILE_MAX, &f->len) : NULL;
	if (text == NULL) {
		if ((size_t)st.st_size > EDITOR_FILE_MAX || errno == EFBIG)
			tool_result_error(r, "%s is larger than the %u bytes the editor works on", path, EDITOR_FILE_MAX);
		else
			tool_result_error(r, "cannot read %s: %s", path, strerror(errno));
		return false;
	}
	if (memchr(text, '\0', f->len) != NULL) {
		tool_result_error(r, "%s is a binary file; the editor works on text", path);
		free(text);
		return false;
	}
	f->text = text;
	f->mode = st.st_mode & 07777;
	return true;
}

/* Replace path's contents at once: a temporary file beside it, then rename. */
static int write_text(const char *path, const char *text, size_t len, mode_t mode, struct tool_result *r)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.agentd-edit-XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		tool_result_error(r, "cannot write beside %s: %s", path, strerror(errno));
		return -1;
	}
	if (fs_write_all(fd, text, len) < 0) {
		tool_result_error(r, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		tool_result_error(r, "cannot replace %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static size_t count_lines(const char *text, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	return n + (len > 0 && text[len - 1] != '\n');
}

/* Lines first..last (1-based, inclusive) with their numbers, as cat -n shows them. */
static void numbered(struct buf *out, const char *text, size_t first, size_t last)
{
	size_t line = 1;
	for (const char *p = text; *p && line <= last; line++) {
		size_t n = strcspn(p, "\n");
		if (line >= first) {
			buf_printf(out, "%6zu\t", line);
			buf_append(out, p, n);
			buf_puts(out, "\n");
		}
		p += n + (p[n] == '\n');
	}
}

/* The line an offset is on, 1-based. */
static size_t line_of(const char *text, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off; i++)
		line += text[i] == '\n';
	return line;
}

/* The edited lines from..to with a few around them. */
static void snippet(struct tool_result *r, const char *path, const char *text, size_t from, size_t to)
{
	size_t lines = count_lines(text, strlen(text));
	size_t first = from > SNIPPET_CONTEXT ? from - SNIPPET_CONTEXT : 1;
	size_t last = to + SNIPPET_CONTEXT < lines ? to + SNIPPET_CONTEXT : lines;
	buf_printf(&r->out, "The file %s has been edited. Lines %zu to %zu now read:\n", path, first, last);
	numbered(&r->out, text, first, last);
}

static void list_dir(struct buf *out, const char *dir, int depth)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (name[0] != '.') {
			char path[PATH_MAX];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			bool is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
			buf_printf(out, "%s%s\n", path, is_dir ? "/" : "");
			if (is_dir && depth < 2)
				list_dir(out, path, depth + 1);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

static void view(const char *path, const cJSON *input, struct tool_result *r)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		buf_printf(&r->out, "Files and directories in %s, two levels deep, hidden ones left out:\n", path);
		list_dir(&r->out, path, 1);
		return;
	}
	_cleanup_(text_file_free) struct text_file f = { 0 };
	if (!read_text(path, &f, r))
		return;
	size_t lines = count_lines(f.text, f.len), first = 1, last = lines;
	const cJSON *range = cJSON_GetObjectItemCaseSensitive(input, "view_range");
	if (range != NULL) {
		const cJSON *a = cJSON_GetArrayItem(range, 0), *b = cJSON_GetArrayItem(range, 1);
		if (cJSON_GetArraySize(range) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valueint < 1 ||
		    (size_t)a->valueint > lines || (b->valueint != -1 && (b->valueint < a->valueint || (size_t)b->valueint > lines)))
			return tool_result_error(r, "view_range must be [first, last] with 1 <= first <= last <= %zu "
					      "(or last -1 for the end); %s has %zu lines", lines, path, lines);
		first = (size_t)a->valueint;
		last = b->valueint == -1 ? lines : (size_t)b->valueint;
	}
	const cJSON *maxc = cJSON_GetObjectItemCaseSensitive(input, "max_characters");
	if (cJSON_IsNumber(maxc) && maxc->valuedouble >= 1 && maxc->valuedouble < TOOL_OUTPUT_MAX)
		r->out.cap = (size_t)maxc->valuedouble;
	numbered(&r->out, f.text, first, last);
}

static void create(const char *path, const cJSON *input, struct tool_result *r)
{
	const char *text = json_str(input, "file_text");
	if (text == NULL)
		return tool_result_error(r, "create needs file_text");
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	struct ad_err e;
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (fs_mkdir_p(dir, 0755, &e) < 0)
			return tool_result_error(r, "cannot create %s: %s", path, e.msg);
	}
	struct stat st;
	mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
	if (write_text(path, text, strlen(text), mode, r) == 0)
		buf_printf(&r->out, "Created %s (%zu lines).", path, count_lines(text, strlen(text)));
}

/* Text with [at, at+cut) replaced by add: a new string. */
static char *text_splice(const char *text, size_t len, size_t at, size_t cut, const char *add, size_t *out_len)
{
	size_t alen = strlen(add);
	char *res = malloc(len - cut + alen + 1);
	if (res == NULL)
		return NULL;
	memcpy(res, text, at);
	memcpy(res + at, add, alen);
	memcpy(res + at + alen, text + at + cut, len - at - cut + 1);
	*out_len = len - cut + alen;
	return res;
}

/* Replace [at, at+cut) of f's text with add, write it, show the changed lines. */
static void apply_edit(const char *path, const struct text_file *f, size_t at, size_t cut, const char *add,
		       struct tool_result *r)
{
	size_t nlen;
	_cleanup_free_ char *edited = text_splice(f->text, f->len, at, cut, add, &nlen);
	if (edited == NULL)
		return tool_result_error(r, "out of memory");
	if (write_text(path, edited, nlen, f->mode, r) == 0)
		snippet(r, path, edited, line_of(edited, at), line_of(edited, at + strlen(add)));
}

static void str_replace(const char *path, const cJSON *input, struct tool_result *r)
{
	const char *old = json_str(input, "old_str"), *new = json_str(input, "new_str");
	if (old == NULL || old[0] == '\0')
		return tool_result_error(r, "str_replace needs a non-empty old_str");
	_cleanup_(text_file_free) struct text_file f = { 0 };
	if (!read_text(path, &f, r))
		return;
	const char *text = f.text;
	size_t len = f.len;
	/* the lines of the matches, each counted on from the match before (one pass in
	 * all), up to MATCHES_COUNTED of them: enough to say that old_str is not unique */
	size_t count = 0, first = 0, line = 1, counted = 0, n = 0, olen = strlen(old);
	char lines[256] = "";
	for (const char *p = text; count <= MATCHES_COUNTED && (p = memmem(p, len - (size_t)(p - text), old, olen));
	     p++) {
		size_t at = (size_t)(p - text);
		if (count++ == 0)
			first = at;
		line += line_of(text + counted, at - counted) - 1;
		counted = at;
		if (n < sizeof(lines) - 1)
			n += (size_t)snprintf(lines + n, sizeof(lines) - n, "%s%zu", n ? ", " : "", line);
	}
	if (count == 0)
		return tool_result_error(r, "old_str was not found in %s; it must match exactly, white space included", path);
	if (count > MATCHES_COUNTED)
		return tool_result_error(r, "old_str occurs more than %d times in %s (lines %s); include more context "
				      "so that it matches exactly once", MATCHES_COUNTED, path, lines);
	if (count > 1)
		return tool_result_error(r, "old_str occurs %zu times in %s (lines %s); include more context so that "
				      "it matches exactly once", count, path, lines);
	apply_edit(path, &f, first, olen, new ? new : "", r);
}

static void insert(const char *path, const cJSON *input, struct tool_result *r)
{
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(input, "insert_line");
	const char *add = json_str(input, "insert_text") ? json_str(input, "insert_text") : json_str(input, "new_str");
	if (!cJSON_IsNumber(at) || add == NULL)
		return tool_result_error(r, "insert needs insert_line and insert_text");
	_cleanup_(text_file_free) struct text_file f = { 0 };
	if (!read_text(path, &f, r))
		return;
	const char *text = f.text;
	size_t len = f.len;
	size_t lines = count_lines(text, len);
	if (at->valuedouble < 0 || at->valuedouble > (double)lines)
		return tool_result_error(r, "insert_line must be from 0 (the top) to %zu; %s has %zu lines", lines, path, lines);
	/* the offset just after line insert_line, which gets a newline if it had none */
	size_t off = 0, line = (size_t)at->valueint;
	for (size_t l = 0; l < line; l++)
		off += strcspn(text + off, "\n") + (text[off + strcspn(text + off, "\n")] == '\n');
	_cleanup_free_ char *piece = malloc(strlen(add) + 3);
	if (piece == NULL)
		return tool_result_error(r, "out of memory");
	bool need_nl_before = off == len && len > 0 && text[len - 1] != '\n';
	size_t alen = strlen(add);
	sprintf(piece, "%s%s%s", need_nl_before ? "\n" : "", add, alen && add[alen - 1] == '\n' ? "" : "\n");
	apply_edit(path, &f, off, 0, piece, r);
}

void tool_editor(const char *base, const cJSON *input, struct tool_result *r)
{
	const char *cmd = json_str(input, "command"), *p = json_str(input, "path");
	if (cmd == NULL || p == NULL || p[0] == '\0')
		return tool_result_error(r, "the editor needs a command and a path");
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s%s%s", p[0] == '/' ? "" : base, p[0] == '/' ? "" : "/", p) >= (int)sizeof(path))
		return tool_result_error(r, "path too long");
	if (strcmp(cmd, "view") == 0)
		view(path, input, r);
	else if (strcmp(cmd, "create") == 0)
		create(path, input, r);
	else if (strcmp(cmd, "str_replace") == 0)
		str_replace(path, input, r);
	else if (strcmp(cmd, "insert") == 0)
		insert(path, input, r);
	else
		tool_result_error(r, "unknown command \"%s\": use view, create, str_replace or insert", cmd);
}

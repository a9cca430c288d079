/* The glob and grep tools: see include/agent/tools.h. One bounded walk serves both:
 * symlinked directories are not followed, depth and the number of entries are capped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/tools.h"
#include "core/cleanup.h"

#define WALK_MAX_DEPTH 64
#define WALK_MAX_ENTRIES 200000
#define GREP_FILE_MAX (16u << 20)
#define MAX_SEGMENTS 64

struct walk {
	const char *root;
	size_t seen;
	bool truncated;
	bool done;                   /* the visitor has all it can use: stop */
	/* called for every entry, rel being its path below root */
	void (*visit)(struct walk *w, const char *rel, const char *full, bool is_dir);
	void *ctx;
};

static void walk_dir(struct walk *w, const char *rel, int depth)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s%s%s", w->root, rel[0] ? "/" : "", rel);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !w->truncated && !w->done) {
			char sub[PATH_MAX], full[PATH_MAX];
			struct stat st;
			snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", name);
			snprintf(full, sizeof(full), "%s/%s", w->root, sub);
			if (++w->seen > WALK_MAX_ENTRIES) {
				w->truncated = true;
			} else if (lstat(full, &st) == 0) {
				bool is_dir = S_ISDIR(st.st_mode);
				w->visit(w, sub, full, is_dir);
				if (is_dir && depth < WALK_MAX_DEPTH)
					walk_dir(w, sub, depth + 1);
			}
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

/* Path segments of s (modified in place); returns how many, -1 when too many. */
static int segments(char *s, char **seg)
{
	int n = 0;
	for (char *save = NULL, *p = strtok_r(s, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n == MAX_SEGMENTS)
			return -1;
		seg[n++] = p;
	}
	return n;
}

/* "**" takes any number of segments; other segments match as fnmatch(3) patterns, a
 * leading '.' only when the pattern spells it. */
static bool match_segments(char **pat, int np, char **path, int nq)
{
	if (np == 0)
		return nq == 0;
	if (strcmp(pat[0], "**") == 0)
		return match_segments(pat + 1, np - 1, path, nq) ||
		       (nq > 0 && path[0][0] != '.' && match_segments(pat, np, path + 1, nq - 1));
	return nq > 0 && fnmatch(pat[0], path[0], FNM_PERIOD) == 0 && match_segments(pat + 1, np - 1, path + 1, nq - 1);
}

static bool glob_match(const char *pattern, const char *rel)
{
	char p[PATH_MAX], q[PATH_MAX];
	char *ps[MAX_SEGMENTS], *qs[MAX_SEGMENTS];
	snprintf(p, sizeof(p), "%s", pattern);
	snprintf(q, sizeof(q), "%s", rel);
	int np = segments(p, ps), nq = segments(q, qs);
	return np >= 0 && nq >= 0 && match_segments(ps, np, qs, nq);
}

/* The directory to search: input's "path" (relative to base) or base itself. */
static int search_root(const char *base, const cJSON *input, char *out, size_t size, struct tool_result *r)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(input, "path");
	const char *path = cJSON_IsString(p) && p->valuestring[0] ? p->valuestring : ".";
	snprintf(out, size, "%s%s%s", path[0] == '/' ? "" : base, path[0] == '/' ? "" : "/", path);
	struct stat st;
	if (stat(out, &st) < 0) {
		tool_result_error(r, "cannot search %s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}

struct glob_ctx {
	const char *pattern;
	struct tool_result *r;
	size_t matches;
};

static void glob_visit(struct walk *w, const char *rel, const char *full, bool is_dir)
{
	struct glob_ctx *g = w->ctx;
	if (glob_match(g->pattern, rel)) {
		buf_printf(&g->r->out, "%s%s\n", full, is_dir ? "/" : "");
		g->matches++;
	}
}

void tool_glob(const char *base, const cJSON *input, struct tool_result *r)
{
	const cJSON *pat = cJSON_GetObjectItemCaseSensitive(input, "pattern");
	char root[PATH_MAX];
	if (!cJSON_IsString(pat) || pat->valuestring[0] == '\0' || pat->valuestring[0] == '/')
		return tool_result_error(r, "glob needs a relative pattern, such as \"**/*.py\"");
	if (search_root(base, input, root, sizeof(root), r) < 0)
		return;
	struct glob_ctx g = { .pattern = pat->valuestring, .r = r };
	struct walk w = { .root = root, .visit = glob_visit, .ctx = &g };
	walk_dir(&w, "", 0);
	if (g.matches == 0)
		buf_printf(&r->out, "No paths below %s match %s.", root, g.pattern);
	if (w.truncated)
		buf_printf(&r->out, "\n[stopped after %d entries]", WALK_MAX_ENTRIES);
}

struct grep_ctx {
	regex_t re;
	const char *only;            /* a glob on file names, or NULL */
	struct tool_result *r;
	size_t matches;
	bool full;                   /* the output reached its cap: no more searching */
};

static void grep_file(struct grep_ctx *g, const char *full)
{
	_cleanup_close_ int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > GREP_FILE_MAX)
		return;
	/* read to the end: the size said may be 0 (/proc) or already out of date */
	size_t n = 0;
	_cleanup_free_ char *text = tool_read_all(fd, GREP_FILE_MAX, &n);
	if (text == NULL || n == 0 || memchr(text, '\0', n) != NULL)
		return;                      /* unreadable, too large, empty or binary */
	size_t line = 1;
	for (char *p = text; *p; line++) {
		char *nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (regexec(&g->re, p, 0, NULL, 0) == 0) {
			buf_printf(&g->r->out, "%s:%zu:%s\n", full, line, p);
			g->matches++;
			/* what comes after would only be counted as cut: stop here */
			if ((g->full = g->r->out.dropped > 0 || g->r->out.oom))
				break;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static void grep_visit(struct walk *w, const char *rel, const char *full, bool is_dir)
{
	struct grep_ctx *g = w->ctx;
	const char *name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	if (!is_dir && (g->only == NULL || glob_match(g->only, rel) || fnmatch(g->only, name, 0) == 0))
		grep_file(g, full);
	w->done = g->full;
}

void tool_grep(const char *base, const cJSON *input, struct tool_result *r)
{
	const cJSON *pat = cJSON_GetObjectItemCaseSensitive(input, "pattern");
	const cJSON *only = cJSON_GetObjectItemCaseSensitive(input, "glob");
	const cJSON *icase = cJSON_GetObjectItemCaseSensitive(input, "ignore_case");
	char root[PATH_MAX];
	if (!cJSON_IsString(pat) || pat->valuestring[0] == '\0')
		return tool_result_error(r, "grep needs a pattern (a POSIX extended regular expression)");
	if (search_root(base, input, root, sizeof(root), r) < 0)
		return;
	struct grep_ctx g = { .only = cJSON_IsString(only) ? only->valuestring : NULL, .r = r };
	int rc = regcomp(&g.re, pat->valuestring, REG_EXTENDED | REG_NOSUB | (cJSON_IsTrue(icase) ? REG_ICASE : 0));
	if (rc != 0) {
		char why[256];
		regerror(rc, &g.re, why, sizeof(why));
		return tool_result_error(r, "bad pattern \"%s\": %s", pat->valuestring, why);
	}
	struct stat st;
	struct walk w = { .root = root, .visit = grep_visit, .ctx = &g };
	if (stat(root, &st) == 0 && S_ISREG(st.st_mode))
		grep_file(&g, root);
	else
		walk_dir(&w, "", 0);
	regfree(&g.re);
	if (g.full) {                /* in place of tool_result_text's count of bytes cut */
		r->out.dropped = 0;
		r->out.cap += 160;
		buf_printf(&r->out, "\n[output cut at %u bytes: the search stopped there; narrow the pattern, "
			   "path or glob for the rest]", TOOL_OUTPUT_MAX);
		return;
	}
	if (g.matches == 0)
		buf_printf(&r->out, "No line below %s matches %s.", root, pat->valuestring);
	if (w.truncated)
		buf_printf(&r->out, "\n[stopped after %d entries]", WALK_MAX_ENTRIES);
}

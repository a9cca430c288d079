/* Unit tests for the glob and grep tools (include/agent/tools.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/tools.h"

static char dir[64], outside[64];

static void put(const char *rel, const char *text)
{
	char path[256], cmd[320];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/agentd-search-XXXXXX");
	snprintf(outside, sizeof(outside), "/tmp/agentd-outside-XXXXXX");
	if (mkdtemp(dir) == NULL || mkdtemp(outside) == NULL)
		return -1;
	put("a.py", "import os\nprint('hello')\n");
	put("src/b.py", "def hello():\n    return 'HELLO'\n");
	put("src/deep/er/c.py", "x = 1\n");
	put("src/notes.txt", "hello from notes\n");
	put(".hidden/h.py", "hello = 1\n");
	put("bin.dat", "hello");
	char path[256];
	snprintf(path, sizeof(path), "%s/bin.dat", dir);
	FILE *f = fopen(path, "w");
	fwrite("hello\0world", 1, 11, f);
	fclose(f);
	char link[256], target[256];
	snprintf(target, sizeof(target), "%s/secret.py", outside);
	f = fopen(target, "w");
	fputs("hello secret\n", f);
	fclose(f);
	snprintf(link, sizeof(link), "%s/src/out", dir);
	return symlink(outside, link);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, outside);
	return system(cmd);
}

static bool run(void (*tool)(const char *, const cJSON *, struct tool_result *), const char *json, char *out, size_t size)
{
	cJSON *in = cJSON_Parse(json);
	struct tool_result r;
	tool_result_init(&r);
	tool(dir, in, &r);
	snprintf(out, size, "%s", tool_result_text(&r));
	bool err = r.is_error;
	tool_result_free(&r);
	cJSON_Delete(in);
	return err;
}

/* How many lines of out end with suffix. */
static int lines_ending(const char *out, const char *suffix)
{
	int n = 0;
	size_t sl = strlen(suffix);
	for (const char *p = out; *p;) {
		size_t len = strcspn(p, "\n");
		if (len >= sl && strncmp(p + len - sl, suffix, sl) == 0)
			n++;
		p += len + (p[len] == '\n');
	}
	return n;
}

static void glob_patterns(void **state)
{
	(void)state;
	char out[8192];
	assert_false(run(tool_glob, "{\"pattern\":\"**/*.py\"}", out, sizeof(out)));
	assert_int_equal(lines_ending(out, "/a.py"), 1);
	assert_int_equal(lines_ending(out, "/src/b.py"), 1);
	assert_int_equal(lines_ending(out, "/src/deep/er/c.py"), 1);
	assert_null(strstr(out, "h.py"));         /* hidden: not unless named */
	assert_null(strstr(out, "secret"));       /* a symlinked directory: not followed */
	assert_false(run(tool_glob, "{\"pattern\":\"*.py\"}", out, sizeof(out)));
	assert_int_equal(lines_ending(out, ".py"), 1);
	assert_false(run(tool_glob, "{\"pattern\":\"src/*\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "/src/deep/\n"));
	assert_non_null(strstr(out, "/src/notes.txt\n"));
	assert_false(run(tool_glob, "{\"pattern\":\".hidden/*.py\"}", out, sizeof(out)));
	assert_int_equal(lines_ending(out, "/.hidden/h.py"), 1);
	assert_false(run(tool_glob, "{\"pattern\":\"*.py\",\"path\":\"src/deep/er\"}", out, sizeof(out)));
	assert_int_equal(lines_ending(out, "/c.py"), 1);
	assert_false(run(tool_glob, "{\"pattern\":\"**/*.rs\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "No paths below"));
	assert_true(run(tool_glob, "{\"pattern\":\"/etc/*\"}", out, sizeof(out)));
	assert_true(run(tool_glob, "{\"pattern\":\"*\",\"path\":\"nope\"}", out, sizeof(out)));
}

static void grep_lines(void **state)
{
	(void)state;
	char out[8192];
	assert_false(run(tool_grep, "{\"pattern\":\"hello\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "/a.py:2:print('hello')\n"));
	assert_non_null(strstr(out, "/src/b.py:1:def hello():\n"));
	assert_non_null(strstr(out, "/src/notes.txt:1:hello from notes\n"));
	assert_null(strstr(out, "bin.dat"));      /* binary: skipped */
	assert_null(strstr(out, "secret"));       /* not through the symlink */
	assert_false(run(tool_grep, "{\"pattern\":\"hello\",\"ignore_case\":true,\"glob\":\"*.py\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "/src/b.py:2:    return 'HELLO'\n"));
	assert_null(strstr(out, "notes.txt"));
	assert_false(run(tool_grep, "{\"pattern\":\"^x = [0-9]+$\",\"path\":\"src/deep/er/c.py\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "c.py:1:x = 1\n"));
	assert_false(run(tool_grep, "{\"pattern\":\"nothing-like-this\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "No line below"));
	assert_true(run(tool_grep, "{\"pattern\":\"(unclosed\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "bad pattern"));
	assert_true(run(tool_grep, "{}", out, sizeof(out)));
}

static void grep_odd_files(void **state)
{
	(void)state;
	char out[8192], path[256];
	/* a size that says nothing (/proc): read to the end all the same */
	assert_false(run(tool_grep, "{\"pattern\":\"^Name:\",\"path\":\"/proc/self/status\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "/proc/self/status:1:Name:"));
	/* a line that is not UTF-8 comes out as text */
	snprintf(path, sizeof(path), "%s/latin1.txt", dir);
	FILE *f = fopen(path, "w");
	fputs("caf\xe9 needle\n", f);
	fclose(f);
	assert_false(run(tool_grep, "{\"pattern\":\"needle\",\"path\":\"latin1.txt\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "latin1.txt:1:caf\xef\xbf\xbd needle\n"));
	unlink(path);
}

/* Bytes this process has read so far (read(2) and the like), from /proc/self/io. */
static unsigned long long bytes_read(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	unsigned long long n = 0;
	char line[128];
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "rchar: %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Once its output is full, grep stops: the files after the one that filled it are
 * not read (of the 8 MiB of matching files below, only the first ~300 KB), and the
 * result says where it stopped rather than counting bytes it never looked at. */
static void grep_stops_when_its_output_is_full(void **state)
{
	(void)state;
	char line[80], path[256];
	memset(line, 'x', sizeof(line) - 2);
	memcpy(line, "needle ", 7);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < 9; i++) {        /* full/0.txt, 300 KB, then 8 files of 1 MiB */
		snprintf(path, sizeof(path), "%s/full/%d.txt", dir, i);
		if (i == 0)
			put("full/0.txt", "");
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		for (size_t n = 0; n < (i == 0 ? (300u << 10) : (1u << 20)); n += sizeof(line) - 1)
			fputs(line, f);
		fclose(f);
	}
	cJSON *in = cJSON_Parse("{\"pattern\":\"needle\",\"path\":\"full\"}");
	struct tool_result r;
	tool_result_init(&r);
	unsigned long long before = bytes_read();
	tool_grep(dir, in, &r);
	unsigned long long read = bytes_read() - before;
	const char *out = tool_result_text(&r);
	assert_false(r.is_error);
	if (read > (2u << 20))
		fail_msg("grep read %llu bytes after its output was full", read);
	assert_non_null(strstr(out, "/full/0.txt:1:needle xx"));
	assert_null(strstr(out, "/full/1.txt:"));
	assert_non_null(strstr(out, "[output cut at 102400 bytes: the search stopped there"));
	assert_null(strstr(out, "more bytes not shown"));
	tool_result_free(&r);
	cJSON_Delete(in);
	snprintf(path, sizeof(path), "rm -rf '%s/full'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(glob_patterns),
		cmocka_unit_test(grep_lines),
		cmocka_unit_test(grep_odd_files),
		cmocka_unit_test(grep_stops_when_its_output_is_full),
	};
	return cmocka_run_group_tests_name("search", tests, setup, teardown);
}

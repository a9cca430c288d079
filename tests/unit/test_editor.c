/* Unit tests for the text editor tool (include/agent/tools.h), in a temporary directory. */
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

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/agentd-editor-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Run the editor with input given as JSON; returns the result text in out. */
static bool edit(const char *json, char *out, size_t size)
{
	cJSON *in = cJSON_Parse(json);
	assert_non_null(in);
	struct tool_result r;
	tool_result_init(&r);
	tool_editor(dir, in, &r);
	snprintf(out, size, "%s", tool_result_text(&r));
	bool err = r.is_error;
	tool_result_free(&r);
	cJSON_Delete(in);
	return err;
}

static void file_is(const char *name, const char *want)
{
	char path[256], got[4096] = "";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	assert_string_equal(got, want);
}

static void create_and_view(void **state)
{
	(void)state;
	char out[8192];
	assert_false(edit("{\"command\":\"create\",\"path\":\"sub/dir/a.txt\",\"file_text\":\"one\\ntwo\\nthree\\nfour\\n\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "Created"));
	file_is("sub/dir/a.txt", "one\ntwo\nthree\nfour\n");
	assert_false(edit("{\"command\":\"view\",\"path\":\"sub/dir/a.txt\"}", out, sizeof(out)));
	assert_string_equal(out, "     1\tone\n     2\ttwo\n     3\tthree\n     4\tfour\n");
	assert_false(edit("{\"command\":\"view\",\"path\":\"sub/dir/a.txt\",\"view_range\":[2,3]}", out, sizeof(out)));
	assert_string_equal(out, "     2\ttwo\n     3\tthree\n");
	assert_false(edit("{\"command\":\"view\",\"path\":\"sub/dir/a.txt\",\"view_range\":[3,-1]}", out, sizeof(out)));
	assert_string_equal(out, "     3\tthree\n     4\tfour\n");
	static const char *const bad[] = { "[0,2]", "[3,2]", "[5,-1]", "[1,9]", "[1]", "\"1-2\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char in[256];
		snprintf(in, sizeof(in), "{\"command\":\"view\",\"path\":\"sub/dir/a.txt\",\"view_range\":%s}", bad[i]);
		assert_true(edit(in, out, sizeof(out)));
		assert_non_null(strstr(out, "has 4 lines"));
	}
	/* max_characters cuts the view and says so */
	assert_false(edit("{\"command\":\"view\",\"path\":\"sub/dir/a.txt\",\"max_characters\":10}", out, sizeof(out)));
	assert_non_null(strstr(out, "[output cut:"));
	/* an absolute path; a directory, hidden entries left out */
	char in[512];
	snprintf(in, sizeof(in), "{\"command\":\"create\",\"path\":\"%s/sub/.hidden\",\"file_text\":\"x\"}", dir);
	assert_false(edit(in, out, sizeof(out)));
	assert_false(edit("{\"command\":\"view\",\"path\":\"sub\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "/sub/dir/\n"));
	assert_non_null(strstr(out, "/sub/dir/a.txt\n"));
	assert_null(strstr(out, ".hidden"));
}

static void str_replace_exactly_once(void **state)
{
	(void)state;
	char out[8192];
	edit("{\"command\":\"create\",\"path\":\"b.py\",\"file_text\":\"def f():\\n    return 1\\n\\ndef g():\\n    return 1\\n\"}", out, sizeof(out));
	char path[256];
	snprintf(path, sizeof(path), "%s/b.py", dir);
	assert_int_equal(chmod(path, 0750), 0);
	/* twice: refused with the lines, file untouched */
	assert_true(edit("{\"command\":\"str_replace\",\"path\":\"b.py\",\"old_str\":\"return 1\",\"new_str\":\"return 2\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "occurs 2 times"));
	assert_non_null(strstr(out, "lines 2, 5"));
	/* not at all */
	assert_true(edit("{\"command\":\"str_replace\",\"path\":\"b.py\",\"old_str\":\"return  1\",\"new_str\":\"x\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "was not found"));
	file_is("b.py", "def f():\n    return 1\n\ndef g():\n    return 1\n");
	/* once: replaced, a snippet with line numbers, the mode kept */
	assert_false(edit("{\"command\":\"str_replace\",\"path\":\"b.py\",\"old_str\":\"g():\\n    return 1\",\"new_str\":\"g():\\n    return 2\"}", out, sizeof(out)));
	file_is("b.py", "def f():\n    return 1\n\ndef g():\n    return 2\n");
	assert_non_null(strstr(out, "     5\t    return 2\n"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* no new_str: deleted */
	assert_false(edit("{\"command\":\"str_replace\",\"path\":\"b.py\",\"old_str\":\"\\ndef g():\\n    return 2\\n\"}", out, sizeof(out)));
	file_is("b.py", "def f():\n    return 1\n");
	assert_true(edit("{\"command\":\"str_replace\",\"path\":\"b.py\",\"old_str\":\"\"}", out, sizeof(out)));
}

/* The lines of many matches are right (several on a line, a match across lines), and
 * counting them takes one pass, stopped after 1000 matches: in a file of 4 Mi
 * one-character lines, counting each match's line from the top would scan some 8 TB
 * (hours); the alarm is a deadline for such a hang, far above the fraction of a second
 * the one pass takes, not a measure of speed. */
static void str_replace_counts_lines_in_one_pass(void **state)
{
	(void)state;
	char out[8192], path[256];
	edit("{\"command\":\"create\",\"path\":\"m.txt\",\"file_text\":\"ab ab\\nab\\n\\nxab\\nb\"}", out, sizeof(out));
	assert_true(edit("{\"command\":\"str_replace\",\"path\":\"m.txt\",\"old_str\":\"ab\",\"new_str\":\"\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "occurs 4 times in "));
	assert_non_null(strstr(out, "(lines 1, 1, 2, 4)"));
	assert_true(edit("{\"command\":\"str_replace\",\"path\":\"m.txt\",\"old_str\":\"b\\n\",\"new_str\":\"\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "(lines 1, 2, 4)"));

	enum { LINES = 4 << 20 };
	snprintf(path, sizeof(path), "%s/big.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < LINES; i++)
		fputs("x\n", f);
	fclose(f);
	alarm(60);
	assert_true(edit("{\"command\":\"str_replace\",\"path\":\"big.txt\",\"old_str\":\"x\",\"new_str\":\"y\"}", out, sizeof(out)));
	alarm(0);
	assert_non_null(strstr(out, "occurs more than 1000 times in "));
	assert_non_null(strstr(out, "(lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "));
	unlink(path);
}

static void insert_lines(void **state)
{
	(void)state;
	char out[8192];
	edit("{\"command\":\"create\",\"path\":\"c.txt\",\"file_text\":\"a\\nb\"}", out, sizeof(out));
	assert_false(edit("{\"command\":\"insert\",\"path\":\"c.txt\",\"insert_line\":0,\"insert_text\":\"top\"}", out, sizeof(out)));
	file_is("c.txt", "top\na\nb");
	assert_false(edit("{\"command\":\"insert\",\"path\":\"c.txt\",\"insert_line\":2,\"new_str\":\"mid\\n\"}", out, sizeof(out)));
	file_is("c.txt", "top\na\nmid\nb");
	assert_false(edit("{\"command\":\"insert\",\"path\":\"c.txt\",\"insert_line\":4,\"insert_text\":\"end\"}", out, sizeof(out)));
	file_is("c.txt", "top\na\nmid\nb\nend\n");
	assert_true(edit("{\"command\":\"insert\",\"path\":\"c.txt\",\"insert_line\":9,\"insert_text\":\"x\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "from 0 (the top) to 5"));
	assert_true(edit("{\"command\":\"insert\",\"path\":\"c.txt\",\"insert_line\":1}", out, sizeof(out)));
}

static void refusals(void **state)
{
	(void)state;
	char out[8192], path[256];
	snprintf(path, sizeof(path), "%s/bin.dat", dir);
	FILE *f = fopen(path, "w");
	fwrite("a\0b", 1, 3, f);
	fclose(f);
	static const struct {
		const char *in, *needle;
	} cases[] = {
		{ "{\"command\":\"view\",\"path\":\"bin.dat\"}", "binary file" },
		{ "{\"command\":\"view\",\"path\":\"nope.txt\"}", "cannot open" },
		{ "{\"command\":\"undo_edit\",\"path\":\"c.txt\"}", "unknown command" },
		{ "{\"command\":\"view\"}", "needs a command and a path" },
		{ "{\"command\":\"create\",\"path\":\"x\"}", "needs file_text" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(edit(cases[i].in, out, sizeof(out)));
		if (strstr(out, cases[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, out, cases[i].needle);
	}
}

static void files_that_are_not_plain(void **state)
{
	(void)state;
	char out[8192], path[256];
	/* a FIFO is refused, not waited on (an alarm fails the test instead of a hang) */
	snprintf(path, sizeof(path), "%s/pipe", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_true(edit("{\"command\":\"view\",\"path\":\"pipe\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "is not a regular file"));
	assert_true(edit("{\"command\":\"str_replace\",\"path\":\"pipe\",\"old_str\":\"a\",\"new_str\":\"b\"}",
			 out, sizeof(out)));
	assert_non_null(strstr(out, "is not a regular file"));
	alarm(0);
	/* a size that says nothing (/proc): read to the end all the same */
	assert_false(edit("{\"command\":\"view\",\"path\":\"/proc/self/status\"}", out, sizeof(out)));
	assert_non_null(strstr(out, "Name:"));
	assert_non_null(strstr(out, "Pid:"));
	/* bytes that are not UTF-8 come out as U+FFFD, also through a symlink */
	snprintf(path, sizeof(path), "%s/latin1.txt", dir);
	FILE *f = fopen(path, "w");
	fputs("caf\xe9\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/link.txt", dir);
	assert_int_equal(symlink("latin1.txt", path), 0);
	assert_false(edit("{\"command\":\"view\",\"path\":\"link.txt\"}", out, sizeof(out)));
	assert_string_equal(out, "     1\tcaf\xef\xbf\xbd\n");
	/* an edit keeps the bytes it did not touch */
	assert_false(edit("{\"command\":\"str_replace\",\"path\":\"latin1.txt\",\"old_str\":\"caf\",\"new_str\":\"th\"}",
			  out, sizeof(out)));
	file_is("latin1.txt", "th\xe9\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_and_view),
		cmocka_unit_test(str_replace_exactly_once),
		cmocka_unit_test(str_replace_counts_lines_in_one_pass),
		cmocka_unit_test(insert_lines),
		cmocka_unit_test(refusals),
		cmocka_unit_test(files_that_are_not_plain),
	};
	return cmocka_run_group_tests_name("editor", tests, setup, teardown);
}

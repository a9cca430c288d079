/* Unit tests for .env files (include/core/dotenv.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dotenv.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct dotenv *parse_ok(const char *text, size_t len)
{
	struct dotenv *env = NULL;
	struct ad_err e = { 0 };
	if (dotenv_parse(text, len, &env, &e) != 0)
		fail_msg("refused: %s", e.msg);
	assert_non_null(env);
	return env;
}

static void values(void **state)
{
	(void)state;
	static const char text[] =
		"# a comment\n"
		"\n"
		"   \t\n"
		"PLAIN=value\n"
		"export EXPORTED=v\n"
		"  INDENTED = spaced out  \n"
		"SINGLE='as $it \\n is # here'\n"
		"DOUBLE=\"line1\\nline2\\t\\\"q\\\" \\\\\"\n"
		"QUOTED_COMMENT=\"v\"   # trailing comment\n"
		"INLINE=abc # comment\n"
		"HASH=a#b\n"
		"EMPTY=\n"
		"EMPTY_QUOTES=''\n"
		"CRLF=windows\r\n"
		"EQUALS=a=b=c\n"
		"_under_score1=u\n"
		"LAST=first\n"
		"LAST=second\n"
		"NOEOL=end";
	static const struct {
		const char *key, *value;
	} want[] = {
		{ "PLAIN", "value" },
		{ "EXPORTED", "v" },
		{ "INDENTED", "spaced out" },
		{ "SINGLE", "as $it \\n is # here" },
		{ "DOUBLE", "line1\nline2\t\"q\" \\" },
		{ "QUOTED_COMMENT", "v" },
		{ "INLINE", "abc" },
		{ "HASH", "a#b" },
		{ "EMPTY", "" },
		{ "EMPTY_QUOTES", "" },
		{ "CRLF", "windows" },
		{ "EQUALS", "a=b=c" },
		{ "_under_score1", "u" },
		{ "LAST", "second" },
		{ "NOEOL", "end" },
	};
	struct dotenv *env = parse_ok(text, strlen(text));
	for (size_t i = 0; i < N(want); i++) {
		const char *got = dotenv_get(env, want[i].key);
		if (got == NULL)
			fail_msg("%s missing", want[i].key);
		if (strcmp(got, want[i].value) != 0)
			fail_msg("%s = \"%s\", expected \"%s\"", want[i].key, got, want[i].value);
	}
	assert_int_equal(dotenv_count(env), N(want));
	assert_null(dotenv_get(env, "export"));
	assert_null(dotenv_get(env, "plain"));   /* keys are case-sensitive */
	dotenv_free(env);
}

static void empty_inputs(void **state)
{
	(void)state;
	static const char *const texts[] = { "", "\n\n", "# only\n# comments\n", "\r\n  \r\n" };
	for (size_t i = 0; i < N(texts); i++) {
		struct dotenv *env = parse_ok(texts[i], strlen(texts[i]));
		assert_int_equal(dotenv_count(env), 0);
		dotenv_free(env);
	}
	/* NULL sets are empty too. */
	assert_null(dotenv_get(NULL, "X"));
	assert_int_equal(dotenv_count(NULL), 0);
	dotenv_free(NULL);
}

static void malformed_lines_name_the_line(void **state)
{
	(void)state;
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{ "=x\n", "line 1: expected NAME=value" },
		{ "A=1\n1KEY=x\n", "line 2: expected NAME=value" },
		{ "A=1\n\n# c\nno equals\n", "line 4: expected NAME=value" },
		{ "KEY-NAME=x", "line 1: expected NAME=value" },
		{ "KEY NAME=x", "line 1: expected NAME=value" },
		{ "export\n", "line 1: expected NAME=value" },
		{ "A=1\r\nB='open\r\n", "line 2: missing closing '" },
		{ "A=\"open\\\"\n", "line 1: missing closing \"" },
		{ "A='x' y\n", "line 1: text after the closing quote" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct dotenv *env = (struct dotenv *)0x1;
		struct ad_err e = { 0 };
		if (dotenv_parse(cases[i].text, strlen(cases[i].text), &env, &e) == 0)
			fail_msg("accepted \"%s\"", cases[i].text);
		assert_ptr_equal(env, (struct dotenv *)0x1);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].text, e.msg, cases[i].needle);
	}
}

static void nul_byte_refused(void **state)
{
	(void)state;
	static const char text[] = "A=1\nB=x\0y\n";
	struct dotenv *env = NULL;
	struct ad_err e = { 0 };
	assert_int_equal(dotenv_parse(text, sizeof(text) - 1, &env, &e), -1);
	assert_null(env);
	assert_non_null(strstr(e.msg, "NUL"));
}

/* Write text to a fresh file; returns its path (to free and unlink). */
static char *temp_file(const char *text)
{
	char *path = strdup("/tmp/test_dotenv.XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void load_file(void **state)
{
	(void)state;
	char *path = temp_file("# secrets\nexport ANTHROPIC_API_KEY=sk-test\nX=\"y\"\n");
	struct dotenv *env = NULL;
	struct ad_err e = { 0 };
	assert_int_equal(dotenv_load(path, &env, &e), 0);
	assert_int_equal(dotenv_count(env), 2);
	assert_string_equal(dotenv_get(env, "ANTHROPIC_API_KEY"), "sk-test");
	assert_string_equal(dotenv_get(env, "X"), "y");
	dotenv_free(env);
	unlink(path);
	free(path);
}

static void load_errors_name_the_file(void **state)
{
	(void)state;
	char *path = temp_file("OK=1\nbad line\n");
	struct dotenv *env = NULL;
	struct ad_err e = { 0 };
	assert_int_equal(dotenv_load(path, &env, &e), -1);
	assert_null(env);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "line 2"));
	unlink(path);
	free(path);

	/* A directory is not a .env file. */
	assert_int_equal(dotenv_load("/tmp", &env, &e), -1);
	assert_non_null(strstr(e.msg, "not a regular file"));
}

static void load_missing_file_is_empty(void **state)
{
	(void)state;
	struct dotenv *env = NULL;
	struct ad_err e = { 0 };
	assert_int_equal(dotenv_load("/nonexistent/dir/.env", &env, &e), 0);
	assert_non_null(env);
	assert_int_equal(dotenv_count(env), 0);
	assert_null(dotenv_get(env, "ANTHROPIC_API_KEY"));
	dotenv_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(values),
		cmocka_unit_test(empty_inputs),
		cmocka_unit_test(malformed_lines_name_the_line),
		cmocka_unit_test(nul_byte_refused),
		cmocka_unit_test(load_file),
		cmocka_unit_test(load_errors_name_the_file),
		cmocka_unit_test(load_missing_file_is_empty),
	};
	return cmocka_run_group_tests_name("dotenv", tests, NULL, NULL);
}

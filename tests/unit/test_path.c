/* Unit tests for request path decoding and sanitising (include/http/path.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "http/path.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void sanitise_accepts(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/", "" },
		{ "//", "" },
		{ "/index.html", "index.html" },
		{ "/css/app.css", "css/app.css" },
		{ "//a//b", "a/b" },
		{ "/a/b/", "a/b" },
		{ "/a%20b.txt", "a b.txt" },
		{ "/%41%62c", "Abc" },
		{ "/a.b/c..d", "a.b/c..d" },
		{ "/caf%C3%A9", "caf\xc3\xa9" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char out[PATH_MAX];
		memset(out, 'Z', sizeof(out));
		if (http_path_sanitise(cases[i].in, out, sizeof(out)) != 0)
			fail_msg("refused %s", cases[i].in);
		assert_string_equal(out, cases[i].out);
	}
}

static void sanitise_refuses(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"/../etc/passwd", "/a/../../x", "/..", "/.", "/a/./b",
		"/%2e%2e/x", "/%2E%2E/x", "/%2e", "/a%2fb", "/a%2Fb", "/a%5cb", "/a%5Cb",
		"/..%2f..%2fetc", "/.git/config", "/a/.hidden", "/%2egit",
		"/%00", "/a%00.html", "/a%0a", "/a%0D", "/a%7f", "/a\x01", "/a\x7f" "b",
		"/%zz", "/%4", "/a%", "/%g1",
		"relative", "", "a/b", "/a\\b",
	};
	for (size_t i = 0; i < N(bad); i++) {
		char out[PATH_MAX];
		if (http_path_sanitise(bad[i], out, sizeof(out)) != -1)
			fail_msg("accepted \"%s\" as \"%s\"", bad[i], out);
	}
}

static void sanitise_respects_the_buffer(void **state)
{
	(void)state;
	/* Long paths: refused, and nothing is written past the end. */
	char *path = malloc(2 * PATH_MAX + 1);
	assert_non_null(path);
	for (size_t i = 0; i < 2 * PATH_MAX; i++)
		path[i] = i % 8 == 0 ? '/' : 'a';
	path[2 * PATH_MAX] = '\0';
	struct {
		char out[64];
		char guard[16];
	} b;
	memset(b.guard, 'G', sizeof(b.guard));
	assert_int_equal(http_path_sanitise(path, b.out, sizeof(b.out)), -1);
	for (size_t i = 0; i < sizeof(b.guard); i++)
		assert_int_equal(b.guard[i], 'G');
	free(path);

	char small[4];
	assert_int_equal(http_path_sanitise("/a/b/c", small, 0), -1);
	assert_int_equal(http_path_sanitise("/abcd", small, sizeof(small)), -1);
	assert_int_equal(http_path_sanitise("/a/bcd", small, sizeof(small)), -1);
}

/* "a result longer than size - 1" is refused: one of exactly size - 1 characters fits,
 * whether it has one segment or several. */
static void sanitise_result_of_size_minus_one_fits(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/a/b", "a/b" },
		{ "//a/b/", "a/b" },
		{ "/abc", "abc" },
		{ "/%41bc", "Abc" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char small[4];
		if (http_path_sanitise(cases[i].in, small, sizeof(small)) != 0)
			fail_msg("refused \"%s\" into %zu bytes", cases[i].in, sizeof(small));
		assert_string_equal(small, cases[i].out);
	}
}

static void decode_segment(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool allow_slash;
		const char *out;   /* NULL: refused */
	} cases[] = {
		{ "abc", false, "abc" },
		{ "", false, "" },
		{ "a%20b", false, "a b" },
		{ "%41%4a%4A", false, "AJJ" },
		{ "100%25", false, "100%" },
		{ "a/b", false, NULL },
		{ "a/b", true, "a/b" },
		{ "a%2fb", true, NULL },
		{ "a%2Fb", false, NULL },
		{ "a%5cb", true, NULL },
		{ "%00", false, NULL },
		{ "%1b", false, NULL },
		{ "%7F", false, NULL },
		{ "a\tb", false, NULL },
		{ "%", false, NULL },
		{ "%4", false, NULL },
		{ "%zz", false, NULL },
		{ "%-1", false, NULL },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char *got = http_path_decode_segment(cases[i].in, strlen(cases[i].in), cases[i].allow_slash);
		if (cases[i].out == NULL && got != NULL)
			fail_msg("accepted \"%s\" as \"%s\"", cases[i].in, got);
		if (cases[i].out != NULL && got == NULL)
			fail_msg("refused \"%s\"", cases[i].in);
		if (got != NULL)
			assert_string_equal(got, cases[i].out);
		free(got);
	}
}

/* Only n bytes are decoded: an escape cut by n is incomplete. */
static void decode_segment_respects_length(void **state)
{
	(void)state;
	char *s = http_path_decode_segment("ab/cd", 2, false);
	assert_string_equal(s, "ab");
	free(s);
	assert_null(http_path_decode_segment("a%41", 3, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sanitise_accepts),
		cmocka_unit_test(sanitise_refuses),
		cmocka_unit_test(sanitise_respects_the_buffer),
		cmocka_unit_test(sanitise_result_of_size_minus_one_fits),
		cmocka_unit_test(decode_segment),
		cmocka_unit_test(decode_segment_respects_length),
	};
	return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}

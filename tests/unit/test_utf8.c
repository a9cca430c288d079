/* Unit tests for UTF-8 validation (include/core/utf8.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/utf8.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Inputs are written as C strings; len is strlen unless a NUL is part of the case. */
static void valid_sequences(void **state)
{
	(void)state;
	static const char *const good[] = {
		"",
		"plain ASCII, with punctuation ~!",
		"\x7f",                     /* highest 1-byte */
		"\xc2\x80",                 /* U+0080, lowest 2-byte */
		"h\xc3\xa9llo",             /* é */
		"\xdf\xbf",                 /* U+07FF */
		"\xe0\xa0\x80",             /* U+0800, lowest 3-byte */
		"\xe2\x82\xac",             /* € */
		"\xed\x9f\xbf",             /* U+D7FF, just below the surrogates */
		"\xee\x80\x80",             /* U+E000, just above */
		"\xef\xbf\xbf",             /* U+FFFF */
		"\xf0\x90\x80\x80",         /* U+10000, lowest 4-byte */
		"\xf0\x9f\x98\x80",         /* 😀 */
		"\xf4\x8f\xbf\xbf",         /* U+10FFFF, the last code point */
	};
	for (size_t i = 0; i < N(good); i++) {
		size_t bad = 12345;
		if (!utf8_valid(good[i], strlen(good[i]), &bad))
			fail_msg("case %zu refused at %zu", i, bad);
		assert_int_equal(bad, 12345);   /* untouched on success */
	}
	/* An embedded NUL is U+0000, valid UTF-8. */
	assert_true(utf8_valid("a\0b", 3, NULL));
}

static void invalid_sequences_and_offsets(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t bad_at;
		const char *what;
	} cases[] = {
		{ "\xc0\x80", 0, "overlong NUL, 2 bytes" },
		{ "\xc1\xbf", 0, "overlong 2-byte" },
		{ "ab\xe0\x80\x80", 2, "overlong 3-byte" },
		{ "\xe0\x9f\xbf", 0, "overlong U+07FF in 3 bytes" },
		{ "\xf0\x8f\xbf\xbf", 0, "overlong 4-byte" },
		{ "x\xed\xa0\x80", 1, "high surrogate U+D800" },
		{ "\xed\xbf\xbf", 0, "low surrogate U+DFFF" },
		{ "\xf4\x90\x80\x80", 0, "U+110000" },
		{ "\xf5\x80\x80\x80", 0, "F5 lead byte" },
		{ "\xff", 0, "FF byte" },
		{ "abc\xc3", 3, "truncated 2-byte at the end" },
		{ "\xe2\x82", 0, "truncated 3-byte at the end" },
		{ "\xf0\x9f\x98", 0, "truncated 4-byte at the end" },
		{ "\xe2\x82x", 0, "3-byte cut short by ASCII" },
		{ "\xc3\xa9\xc3", 2, "good then truncated" },
		{ "\x80", 0, "stray continuation byte" },
		{ "ok\xc3\xa9\xbf", 4, "continuation after a complete sequence" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		size_t bad = 12345;
		if (utf8_valid(cases[i].s, strlen(cases[i].s), &bad))
			fail_msg("accepted: %s", cases[i].what);
		if (bad != cases[i].bad_at)
			fail_msg("%s: bad_at %zu, expected %zu", cases[i].what, bad, cases[i].bad_at);
		assert_false(utf8_valid(cases[i].s, strlen(cases[i].s), NULL));
	}
}

/* The length given is the limit: a sequence running past it is truncated. */
static void length_is_respected(void **state)
{
	(void)state;
	size_t bad = 0;
	assert_false(utf8_valid("a\xc3\xa9", 2, &bad));
	assert_int_equal(bad, 1);
	assert_true(utf8_valid("a\xc3\xa9", 1, NULL));
	assert_true(utf8_valid("\xff", 0, NULL));
}

static void count_code_points(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t n;
	} cases[] = {
		{ "", 0 },
		{ "hello", 5 },
		{ "h\xc3\xa9\xc3\xa9", 3 },
		{ "\xe2\x82\xac 5", 3 },
		{ "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 2 },
	};
	for (size_t i = 0; i < N(cases); i++)
		assert_int_equal(utf8_count(cases[i].s, strlen(cases[i].s)), cases[i].n);
}

/* Text from a client becomes valid UTF-8 without control bytes, and fits its buffer. */
static void sanitise_escapes_and_cuts(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "h\xc3\xa9llo", "h\xc3\xa9llo" },                 /* valid UTF-8 kept */
		{ "/x\xff\xfe", "/x\\xff\\xfe" },                   /* invalid bytes spelled out */
		{ "\xc0\xaf", "\\xc0\\xaf" },                       /* overlong '/' */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },           /* surrogate */
		{ "a\nb\x1b[2J", "a\\x0ab\\x1b[2J" },               /* control bytes too */
	};
	char out[64];
	for (size_t i = 0; i < N(cases); i++) {
		utf8_sanitise(cases[i].in, out, sizeof(out));
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, cases[i].out);
		assert_true(utf8_valid(out, strlen(out), NULL));
	}
	/* cut whole: never half a sequence or half an escape */
	char small[6];
	utf8_sanitise("ab\xe2\x82\xac\xff", small, sizeof(small));
	assert_string_equal(small, "ab\xe2\x82\xac");
	utf8_sanitise("abc\xff", small, sizeof(small));
	assert_string_equal(small, "abc");
}

static void bytes_become_text(void **state)
{
	(void)state;
	char out[64];
	size_t kept = 99;
	/* a bad byte and a NUL become U+FFFD; valid text stays */
	assert_int_equal(utf8_to_text("a\xff" "b\0c\xc3\xa9", 7, true, out, &kept), 11);
	assert_string_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xc3\xa9");
	assert_int_equal(kept, 0);
	/* a sequence cut at the end waits, unless final */
	assert_int_equal(utf8_to_text("x\xe2\x82", 3, false, out, &kept), 1);
	assert_string_equal(out, "x");
	assert_int_equal(kept, 2);
	assert_int_equal(utf8_to_text("x\xe2\x82", 3, true, out, &kept), 7);
	assert_string_equal(out, "x\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(kept, 0);
	/* a start no continuation can mend does not wait */
	assert_int_equal(utf8_to_text("x\xe0\x80", 3, false, out, &kept), 7);
	assert_int_equal(kept, 0);
	assert_int_equal(utf8_to_text("\xf0", 1, false, out, &kept), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(utf8_to_text("", 0, true, out, NULL), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_sequences),
		cmocka_unit_test(invalid_sequences_and_offsets),
		cmocka_unit_test(length_is_respected),
		cmocka_unit_test(count_code_points),
		cmocka_unit_test(sanitise_escapes_and_cuts),
		cmocka_unit_test(bytes_become_text),
	};
	return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}

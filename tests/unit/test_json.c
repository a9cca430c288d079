/* Unit tests for strict JSON parsing (include/core/json.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* text with bytes outside printable ASCII written as \xNN, for failure messages */
static const char *show(const char *s, size_t len)
{
	static char buf[256];
	size_t o = 0;
	for (size_t i = 0; i < len && o + 5 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

struct refusal {
	const char *text;
	size_t len;            /* 0: strlen(text) */
	const char *needle;    /* must appear in the message */
};

static void expect_refused(const struct refusal *c)
{
	size_t len = c->len ? c->len : strlen(c->text);
	cJSON *j = (cJSON *)0x1;
	struct ad_err e = { 0 };
	if (json_parse_strict(c->text, len, &j, &e) == 0) {
		cJSON_Delete(j);
		fail_msg("accepted \"%s\"", show(c->text, len));
	}
	assert_ptr_equal(j, (cJSON *)0x1);   /* *out untouched on failure */
	if (strstr(e.msg, c->needle) == NULL)
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", show(c->text, len), e.msg, c->needle);
}

static cJSON *expect_parsed(const char *text, size_t len)
{
	cJSON *j = NULL;
	struct ad_err e = { 0 };
	if (json_parse_strict(text, len, &j, &e) != 0)
		fail_msg("refused \"%s\": %s", text, e.msg);
	assert_non_null(j);
	return j;
}

static void refusals_name_the_offset(void **state)
{
	(void)state;
	static const struct refusal cases[] = {
		{ "", 0, "empty" },
		{ "{\"a\":\"x\ny\"}", 0, "control character 0x0a in a string at byte 7" },
		{ "[\"\t\"]", 0, "control character 0x09 in a string at byte 2" },
		{ "{\"a\":\"x\\u0000y\"}", 0, "\\u0000) in a string at byte 7" },
		{ "[\"\\u0000\"]", 0, "at byte 2" },
		{ "[\"\xc3\"]", 0, "invalid UTF-8 at byte 2" },
		{ "[\"ab\xed\xa0\x80\"]", 0, "invalid UTF-8 at byte 4" },
		{ "{} x", 0, "after the JSON document at byte 3" },
		{ "[1] [2]", 0, "at byte 4" },
		{ "{}\0", 3, "byte 2" },
		{ "{}\x01", 0, "byte 2" },
		{ "{}\x0c", 0, "byte 2" },
		{ "{\"a\":}", 0, "byte 5" },
		{ "{\"a\":1,}", 0, "invalid JSON" },
	};
	for (size_t i = 0; i < N(cases); i++)
		expect_refused(&cases[i]);
}

/* Bytes below 0x20 other than tab, CR and LF are not JSON white space (RFC 8259 §2),
 * wherever they are; cJSON itself skips every byte <= 0x20 as white space. */
static void control_bytes_outside_strings_refused(void **state)
{
	(void)state;
	static const struct refusal cases[] = {
		{ "\x0b[1]", 0, "byte 0" },
		{ "[1,\x1f" "2]", 0, "byte 3" },
		{ "{\"a\":\x01" "1}", 0, "byte 5" },
	};
	for (size_t i = 0; i < N(cases); i++)
		expect_refused(&cases[i]);
}

static void invalid_json_reports_line_and_column(void **state)
{
	(void)state;
	static const char text[] = "{\n  \"a\": 1,\n  \"b\": ]\n}";
	cJSON *j = NULL;
	struct ad_err e;
	assert_int_equal(json_parse_strict(text, strlen(text), &j, &e), -1);
	assert_null(j);
	/* ']' is line 3, column 8, byte 19 */
	assert_non_null(strstr(e.msg, "line 3, column 8"));
	assert_non_null(strstr(e.msg, "byte 19"));
}

/* An escaped backslash followed by the text u0000 is not a NUL escape. */
static void escaped_backslash_before_u0000_accepted(void **state)
{
	(void)state;
	static const char text[] = "[\"\\\\u0000\", \"\\\\\\\\u0000\"]";
	cJSON *j = expect_parsed(text, strlen(text));
	assert_string_equal(cJSON_GetArrayItem(j, 0)->valuestring, "\\u0000");
	assert_string_equal(cJSON_GetArrayItem(j, 1)->valuestring, "\\\\u0000");
	cJSON_Delete(j);
}

static void accepts_good_documents(void **state)
{
	(void)state;
	static const char *const good[] = {
		"{}", "[]", "0", "\"s\"", "null", "true",
		"{\"a\":[1,2,{\"b\":\"\\u00e9\\n\"}]}",
		"{\"k\":\"h\xc3\xa9\xf0\x9f\x98\x80\"}",
		"  {\"a\":1}  \r\n\t\n",
		"{\"s\":\"[[[{{{\"}",              /* brackets in strings do not nest */
		"\"\\u0001 escaped controls are fine\"",
	};
	for (size_t i = 0; i < N(good); i++)
		cJSON_Delete(expect_parsed(good[i], strlen(good[i])));
}

/* The length is the document: bytes after it are never looked at. */
static void length_bounds_the_document(void **state)
{
	(void)state;
	static const char text[] = "[1]garbage";
	cJSON *j = expect_parsed(text, 3);
	assert_int_equal(cJSON_GetArraySize(j), 1);
	cJSON_Delete(j);
}

static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);
	assert_non_null(s);
	memset(s, '[', (size_t)depth);
	memset(s + depth, ']', (size_t)depth);
	s[depth * 2] = '\0';
	return s;
}

static void depth_limit(void **state)
{
	(void)state;
	char *ok = nested(JSON_MAX_DEPTH);
	cJSON_Delete(expect_parsed(ok, strlen(ok)));
	free(ok);

	char *deep = nested(JSON_MAX_DEPTH + 1);
	char needle[64];
	snprintf(needle, sizeof(needle), "deeper than %d levels at byte %d", JSON_MAX_DEPTH, JSON_MAX_DEPTH);
	expect_refused(&(struct refusal){ deep, 0, needle });
	free(deep);

	/* Far deeper than cJSON's own limit: refused by the scan, without recursion. */
	char *huge = nested(100000);
	expect_refused(&(struct refusal){ huge, 0, "deeper than" });
	free(huge);
}

static void print_round_trip(void **state)
{
	(void)state;
	static const char text[] = "{\"a\":[1,true,null],\"b\":\"x\"}";
	cJSON *j = expect_parsed(text, strlen(text));
	char *s = json_print(j);
	assert_string_equal(s, text);
	free(s);
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refusals_name_the_offset),
		cmocka_unit_test(control_bytes_outside_strings_refused),
		cmocka_unit_test(invalid_json_reports_line_and_column),
		cmocka_unit_test(escaped_backslash_before_u0000_accepted),
		cmocka_unit_test(accepts_good_documents),
		cmocka_unit_test(length_bounds_the_document),
		cmocka_unit_test(depth_limit),
		cmocka_unit_test(print_round_trip),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}

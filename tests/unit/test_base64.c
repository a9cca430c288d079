/* Unit tests for base64 (include/core/base64.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* RFC 4648, section 10. */
static const struct {
	const char *plain, *text;
} vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void the_rfc_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(vectors); i++) {
		size_t n = strlen(vectors[i].plain), len = strlen(vectors[i].text);
		char text[16], plain[16];
		assert_int_equal(base64_encoded_len(n), len);
		base64_encode(vectors[i].plain, n, text);
		assert_string_equal(text, vectors[i].text);
		size_t got = 99;
		struct ad_err e;
		assert_true(base64_decoded_max(len) >= n);
		assert_int_equal(base64_decode(vectors[i].text, len, plain, &got, &e), 0);
		assert_int_equal(got, n);
		assert_memory_equal(plain, vectors[i].plain, n);
	}
}

static void every_byte_and_length_round_trips(void **state)
{
	(void)state;
	unsigned char bytes[600];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7 + (i >> 8));
	char *text = malloc(base64_encoded_len(sizeof(bytes)) + 1);
	unsigned char *back = malloc(sizeof(bytes));
	for (size_t n = 0; n <= sizeof(bytes); n++) {
		base64_encode(bytes, n, text);
		size_t len = strlen(text), got;
		assert_int_equal(len, base64_encoded_len(n));
		assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), len);
		struct ad_err e;
		assert_int_equal(base64_decode(text, len, back, &got, &e), 0);
		assert_int_equal(got, n);
		assert_memory_equal(back, bytes, n);
	}
	/* the two characters past the letters and digits */
	base64_encode("\xfb\xff\xbf", 3, text);
	assert_string_equal(text, "+/+/");
	free(text);
	free(back);
}

static void bad_text_is_refused_with_where(void **state)
{
	(void)state;
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "Zg=", "not a multiple of 4" },
		{ "Zm9", "not a multiple of 4" },
		{ "Zm 9", "not a base64 character at offset 2" },
		{ "Zm9v\n", "not a multiple of 4" },
		{ "Zm9-", "not a base64 character at offset 3" },
		{ "Z===", "misplaced padding at offset 1" },
		{ "====", "misplaced padding at offset 0" },
		{ "Zg==Zm9v", "misplaced padding at offset 2" },
		{ "Zm=v", "misplaced padding at offset 2" },
		{ "Zh==", "non-zero unused bits at offset 0" },
		{ "Zm9=", "non-zero unused bits at offset 0" },
		{ "Zm9vZm+=", "non-zero unused bits at offset 4" },
		{ "Zm9v\xc3\xa9==", "not a base64 character at offset 4" },
	};
	for (size_t i = 0; i < N(bad); i++) {
		unsigned char out[16];
		size_t got = 99;
		struct ad_err e;
		if (base64_decode(bad[i].text, strlen(bad[i].text), out, &got, &e) == 0)
			fail_msg("case %zu (%s) was decoded", i, bad[i].text);
		if (strstr(e.msg, bad[i].why) == NULL)
			fail_msg("case %zu (%s): \"%s\", wanted \"%s\"", i, bad[i].text, e.msg, bad[i].why);
		assert_int_equal(got, 99);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_rfc_vectors),
		cmocka_unit_test(every_byte_and_length_round_trips),
		cmocka_unit_test(bad_text_is_refused_with_where),
	};
	return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}

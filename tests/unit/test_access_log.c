/* Unit tests for the access log's request target: query values redacted
 * (include/http/access_log.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/access_log.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void redacts_query_values(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/", "/" },
		{ "/api/health", "/api/health" },
		{ "/x?", "/x?" },
		{ "/x?access_token=agt_0123", "/x?access_token=***" },
		{ "/x?a=1&b&c=", "/x?a=***&b&c=***" },
		{ "/x?a=1=2&&b=3", "/x?a=***&&b=***" },
		{ "/x?=secret", "/x?=***" },
		{ "/x?flag", "/x?flag" },
		{ "/x?a=1#frag=2", "/x?a=***" },
		{ "/x#frag?a=1", "/x" },
		{ "/p%20q?k=v%20w", "/p%20q?k=***" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char *got = access_log_target(cases[i].in);
		assert_non_null(got);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

static void a_long_target_with_many_empty_values_fits(void **state)
{
	(void)state;
	char in[4096] = "/x?";
	while (strlen(in) + 2 < sizeof(in))
		strcat(in, "=&");
	char *got = access_log_target(in);
	assert_non_null(got);
	assert_int_equal(strncmp(got, "/x?=***&=***&", 13), 0);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(redacts_query_values),
		cmocka_unit_test(a_long_target_with_many_empty_values_fits),
	};
	return cmocka_run_group_tests_name("access_log", tests, NULL, NULL);
}

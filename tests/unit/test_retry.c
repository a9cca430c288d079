/* Unit tests for the retry rules (include/claude/retry.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "claude/retry.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void which_are_retried(void **state)
{
	(void)state;
	static const struct {
		long status;
		const char *should;
		bool want;
	} cases[] = {
		{ 0, NULL, true },       /* connection failed */
		{ 408, NULL, true }, { 409, NULL, true }, { 429, NULL, true }, { 500, NULL, true },
		{ 502, NULL, true }, { 503, NULL, true }, { 529, NULL, true },
		{ 400, NULL, false }, { 401, NULL, false }, { 403, NULL, false }, { 404, NULL, false },
		{ 413, NULL, false }, { 422, NULL, false },
		{ 400, "true", true },   /* the server's word first */
		{ 529, "false", false }, { 429, "FALSE", false }, { 500, "maybe", true },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct claude_attempt a = { .status = cases[i].status, .should_retry = cases[i].should };
		if (claude_should_retry(&a) != cases[i].want)
			fail_msg("status %ld, x-should-retry %s", cases[i].status, cases[i].should ? cases[i].should : "-");
	}
}

static void delays(void **state)
{
	(void)state;
	time_t now = 1764140000;   /* Wed, 26 Nov 2025 06:53:20 GMT */
	static const struct {
		const char *ms, *after;
		unsigned retry;
		double jitter;
		long want;
	} cases[] = {
		{ "1500", NULL, 1, 0.0, 1500 },               /* retry-after-ms wins */
		{ "250.5", "30", 1, 0.0, 250 },
		{ NULL, "2", 1, 0.0, 2000 },                   /* seconds */
		{ NULL, "0.5", 3, 0.9, 500 },
		{ NULL, "Wed, 26 Nov 2025 06:53:30 GMT", 1, 0.0, 10000 },   /* a date, 10 s on */
		{ NULL, NULL, 1, 0.0, 500 },                   /* backoff: 0.5 s, doubling */
		{ NULL, NULL, 2, 0.0, 1000 },
		{ NULL, NULL, 3, 0.0, 2000 },
		{ NULL, NULL, 5, 0.0, 8000 },                  /* capped at 8 s */
		{ NULL, NULL, 40, 0.0, 8000 },
		{ NULL, NULL, 1, 0.999, 375 },                 /* less up to 25% of jitter */
		{ NULL, "120", 1, 0.0, 500 },                  /* over 60 s: backoff instead */
		{ "0", "0", 2, 0.0, 1000 },                    /* zero: backoff */
		{ "-5", "soon", 1, 0.0, 500 },                 /* nonsense: backoff */
		{ NULL, "Wed, 26 Nov 2025 06:00:00 GMT", 1, 0.0, 500 },     /* a date in the past */
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct claude_attempt a = { .status = 429, .retry_after_ms = cases[i].ms, .retry_after = cases[i].after };
		long got = claude_retry_delay_ms(&a, cases[i].retry, cases[i].jitter, now);
		if (got != cases[i].want)
			fail_msg("case %zu: %ld ms, want %ld", i, got, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(which_are_retried),
		cmocka_unit_test(delays),
	};
	return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}

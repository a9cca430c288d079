/* Unit tests for the rate limiter (include/auth/ratelimit.h), on a clock the test moves. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "auth/ratelimit.h"

#define SEC 1000000000ull

static uint64_t fake_now(void *ctx)
{
	return *(const uint64_t *)ctx;
}

static struct ratelimit *limiter(int64_t per_minute, int64_t burst, size_t max_keys, uint64_t *clock)
{
	struct ratelimit_opts o = { .per_minute = per_minute, .burst = burst, .max_keys = max_keys,
				    .now_ns = fake_now, .clock_ctx = clock };
	struct ratelimit *rl = NULL;
	struct ad_err e;
	if (ratelimit_new(&rl, &o, &e) < 0)
		fail_msg("ratelimit_new: %s", e.msg);
	return rl;
}

/* A full bucket lets burst requests through at once, then refuses. */
static void burst_then_refused(void **state)
{
	(void)state;
	uint64_t now = 1000 * SEC;
	struct ratelimit *rl = limiter(60, 5, 16, &now);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, "alice"), 0);
	assert_int_equal(ratelimit_take(rl, "alice"), 1);   /* one a second: back in 1 s */
	assert_int_equal(ratelimit_take(rl, "alice"), 1);   /* refusals take nothing */
	ratelimit_free(rl);
}

/* The bucket refills with time, at the rate, and no further than burst. */
static void refills_over_time(void **state)
{
	(void)state;
	uint64_t now = 5 * SEC;
	struct ratelimit *rl = limiter(60, 3, 16, &now);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(rl, "k"), 0);
	assert_int_not_equal(ratelimit_take(rl, "k"), 0);
	now += SEC / 2;
	assert_int_not_equal(ratelimit_take(rl, "k"), 0);   /* half a request back */
	now += SEC / 2;
	assert_int_equal(ratelimit_take(rl, "k"), 0);
	assert_int_not_equal(ratelimit_take(rl, "k"), 0);
	now += 3600 * SEC;                                   /* long idle: full, not more */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(rl, "k"), 0);
	assert_int_not_equal(ratelimit_take(rl, "k"), 0);
	ratelimit_free(rl);
}

/* Retry-After is the whole seconds until a request is back, at least 1. */
static void retry_after_counts_down(void **state)
{
	(void)state;
	uint64_t now = 0;
	struct ratelimit *rl = limiter(6, 1, 16, &now);      /* one every 10 s */
	assert_int_equal(ratelimit_take(rl, "k"), 0);
	assert_int_equal(ratelimit_take(rl, "k"), 10);
	now += 3 * SEC;
	assert_int_equal(ratelimit_take(rl, "k"), 7);
	now += 6 * SEC + SEC / 2;
	assert_int_equal(ratelimit_take(rl, "k"), 1);        /* 0.5 s left: rounded up */
	now += SEC / 2 - 1;
	assert_int_equal(ratelimit_take(rl, "k"), 1);        /* 1 ns left: still 1, never 0 */
	now += 1;
	assert_int_equal(ratelimit_take(rl, "k"), 0);
	ratelimit_free(rl);
}

static void keys_are_independent(void **state)
{
	(void)state;
	uint64_t now = 0;
	struct ratelimit *rl = limiter(60, 2, 16, &now);
	static const char *const keys[] = { "a", "b" };     /* a spent bucket spares b's */
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(ratelimit_take(rl, keys[i]), 0);
		assert_int_equal(ratelimit_take(rl, keys[i]), 0);
		assert_int_not_equal(ratelimit_take(rl, keys[i]), 0);
	}
	assert_int_equal(ratelimit_keys(rl), 2);
	ratelimit_free(rl);
}

/* Never more than max_keys buckets; the one idle the longest is the one dropped. */
static void eviction_is_bounded_and_takes_the_oldest(void **state)
{
	(void)state;
	uint64_t now = 0;
	struct ratelimit *rl = limiter(60, 1, 3, &now);
	assert_int_equal(ratelimit_take(rl, "a"), 0);
	now += 1;
	assert_int_equal(ratelimit_take(rl, "b"), 0);
	now += 1;
	assert_int_equal(ratelimit_take(rl, "c"), 0);
	now += 1;
	assert_int_not_equal(ratelimit_take(rl, "a"), 0);   /* a used again: b is now the oldest */
	assert_int_equal(ratelimit_take(rl, "d"), 0);       /* b goes */
	assert_int_equal(ratelimit_keys(rl), 3);
	assert_int_not_equal(ratelimit_take(rl, "a"), 0);   /* a, c, d still limited */
	assert_int_not_equal(ratelimit_take(rl, "c"), 0);
	assert_int_not_equal(ratelimit_take(rl, "d"), 0);
	assert_int_equal(ratelimit_take(rl, "b"), 0);       /* b: a new, full bucket */
	for (int i = 0; i < 1000; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		ratelimit_take(rl, key);
		assert_true(ratelimit_keys(rl) <= 3);
	}
	ratelimit_free(rl);
}

static void zero_rate_means_no_limit(void **state)
{
	(void)state;
	uint64_t now = 0;
	struct ratelimit *rl = limiter(0, 1, 4, &now);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(ratelimit_take(rl, "k"), 0);
	assert_int_equal(ratelimit_keys(rl), 0);
	ratelimit_free(rl);
}

static void bad_settings_refused(void **state)
{
	(void)state;
	struct ratelimit *rl = NULL;
	struct ad_err e;
	struct ratelimit_opts o = { .per_minute = 60, .burst = 0, .max_keys = 4 };
	assert_int_equal(ratelimit_new(&rl, &o, &e), -1);
	o = (struct ratelimit_opts){ .per_minute = -1, .burst = 1, .max_keys = 4 };
	assert_int_equal(ratelimit_new(&rl, &o, &e), -1);
	o = (struct ratelimit_opts){ .per_minute = 60, .burst = 1, .max_keys = 0 };
	assert_int_equal(ratelimit_new(&rl, &o, &e), -1);
	assert_null(rl);
}

/* From many threads at once, a frozen clock: exactly burst requests get through. */
struct race {
	struct ratelimit *rl;
	atomic_int allowed;
};

static void *hammer(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < 2000; i++)
		if (ratelimit_take(r->rl, i % 2 ? "x" : "y") == 0)
			atomic_fetch_add(&r->allowed, 1);
	return NULL;
}

static void threads_share_one_bucket(void **state)
{
	(void)state;
	uint64_t now = 42 * SEC;
	struct race r = { .rl = limiter(60, 100, 16, &now) };
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &r), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&r.allowed), 200);    /* 100 for x, 100 for y */
	ratelimit_free(r.rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_refused),
		cmocka_unit_test(refills_over_time),
		cmocka_unit_test(retry_after_counts_down),
		cmocka_unit_test(keys_are_independent),
		cmocka_unit_test(eviction_is_bounded_and_takes_the_oldest),
		cmocka_unit_test(zero_rate_means_no_limit),
		cmocka_unit_test(bad_settings_refused),
		cmocka_unit_test(threads_share_one_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

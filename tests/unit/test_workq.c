/* Unit tests for the work queue (include/core/workq.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/workq.h"

struct record {
	pthread_mutex_t lock;
	int order[64];
	int n;
	pthread_t ran_on[64];
};

struct item {
	struct record *r;
	int value;
};

static void note(void *ctx)
{
	struct item *it = ctx;
	struct timespec ts = { 0, 1000000 };        /* slow enough for the queue to fill */
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&it->r->lock);
	it->r->ran_on[it->r->n] = pthread_self();
	it->r->order[it->r->n++] = it->value;
	pthread_mutex_unlock(&it->r->lock);
}

static void runs_in_order_on_its_own_thread_and_stop_drains(void **state)
{
	struct record r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct item items[50];
	struct workq *q = NULL;
	struct ad_err e;
	assert_int_equal(workq_start(&q, "test-q", &e), 0);
	for (int i = 0; i < 50; i++) {
		items[i] = (struct item){ &r, i };
		assert_int_equal(workq_push(q, note, &items[i]), 0);
	}
	workq_stop(q);                              /* returns once all 50 have run */
	assert_int_equal(r.n, 50);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(r.order[i], i);
		assert_false(pthread_equal(r.ran_on[i], pthread_self()));
		assert_true(pthread_equal(r.ran_on[i], r.ran_on[0]));
	}
}

static void a_stopped_or_missing_queue_refuses(void **state)
{
	struct record r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct item it = { &r, 1 };
	assert_int_equal(workq_push(NULL, note, &it), -1);
	workq_stop(NULL);
	assert_int_equal(r.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runs_in_order_on_its_own_thread_and_stop_drains),
		cmocka_unit_test(a_stopped_or_missing_queue_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

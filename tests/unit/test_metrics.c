/* Unit tests for the metrics registry (include/core/metrics.h): the text format, label
 * values escaped and cut, the series cap, histograms' cumulative buckets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/metrics.h"

static char *scrape(struct buf *b)
{
	buf_init(b, 8u << 20);
	metrics_format(b);
	assert_false(b->oom);
	assert_int_equal(b->dropped, 0);
	return b->data;
}

static int reset(void **state)
{
	(void)state;
	metrics_free();
	return 0;
}

static void every_family_has_help_and_type(void **state)
{
	(void)state;
	struct buf b;
	const char *text = scrape(&b);
	for (unsigned id = 0; id < METRIC_COUNT; id++) {
		char want[256];
		snprintf(want, sizeof(want), "# TYPE %s %s\n", metric_defs[id].name,
			 metric_defs[id].type == METRIC_COUNTER ? "counter"
			 : metric_defs[id].type == METRIC_GAUGE ? "gauge" : "histogram");
		assert_non_null(strstr(text, want));
		if (metric_defs[id].type == METRIC_COUNTER)
			assert_non_null(strstr(metric_defs[id].name, "_total"));
	}
	buf_free(&b);
}

static void counters_add_and_never_go_down(void **state)
{
	(void)state;
	metric_add(METRIC_API_REQUESTS, METRIC_L("claude-x", "ok"), 1);
	metric_add(METRIC_API_REQUESTS, METRIC_L("claude-x", "ok"), 2);
	metric_add(METRIC_API_REQUESTS, METRIC_L("claude-x", "ok"), -5);
	metric_add(METRIC_API_COST, METRIC_L("claude-x", ""), 0.25);
	struct buf b;
	const char *text = scrape(&b);
	assert_non_null(strstr(text, "\nagentd_api_requests_total{model=\"claude-x\",outcome=\"ok\"} 3\n"));
	/* an empty value is a label left out */
	assert_non_null(strstr(text, "\nagentd_api_cost_usd_total{model=\"claude-x\"} 0.25\n"));
	buf_free(&b);
}

static void values_are_escaped_cut_and_made_utf8(void **state)
{
	(void)state;
	char longv[400];
	memset(longv, 'a', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	metric_add(METRIC_TOOL_CALLS, METRIC_L("q\"b\\s\nn\xff", "ok"), 1);
	metric_add(METRIC_TOOL_CALLS, METRIC_L(longv, "ok"), 1);
	struct buf b;
	const char *text = scrape(&b);
	/* the newline and the bad byte became text; quote and backslash are escaped */
	assert_non_null(strstr(text, "tool=\"q\\\"b\\\\s\\\\x0an\\\\xff\""));
	const char *l = strstr(text, "tool=\"aaa");
	assert_non_null(l);
	assert_true(strcspn(l + 6, "\"") <= METRIC_VALUE_MAX);
	buf_free(&b);
}

static void the_series_cap_holds(void **state)
{
	(void)state;
	unsigned cap = metric_defs[METRIC_TOOL_SECONDS].max_series;
	for (unsigned i = 0; i < cap * 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "tool_%u", i);
		metric_observe(METRIC_TOOL_SECONDS, METRIC_L(name), 0.002);
	}
	assert_int_equal(metric_series(METRIC_TOOL_SECONDS), cap + 1);
	struct buf b;
	const char *text = scrape(&b);
	char want[128];
	snprintf(want, sizeof(want), "\nagentd_tool_seconds_count{tool=\"other\"} %u\n", cap * 2);
	assert_non_null(strstr(text, want));
	buf_free(&b);
}

static void histograms_are_cumulative(void **state)
{
	(void)state;
	metric_observe(METRIC_SANDBOX_START, NULL, 0.0005);   /* <= 0.001 */
	metric_observe(METRIC_SANDBOX_START, NULL, 0.003);    /* <= 0.005 */
	metric_observe(METRIC_SANDBOX_START, NULL, 100);      /* +Inf only */
	struct buf b;
	const char *text = scrape(&b);
	assert_non_null(strstr(text, "\nagentd_sandbox_start_seconds_bucket{le=\"0.001\"} 1\n"));
	assert_non_null(strstr(text, "\nagentd_sandbox_start_seconds_bucket{le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(text, "\nagentd_sandbox_start_seconds_bucket{le=\"0.005\"} 2\n"));
	assert_non_null(strstr(text, "\nagentd_sandbox_start_seconds_bucket{le=\"10\"} 2\n"));
	assert_non_null(strstr(text, "\nagentd_sandbox_start_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "\nagentd_sandbox_start_seconds_count 3\n"));
	assert_non_null(strstr(text, "\nagentd_sandbox_start_seconds_sum 100.0035\n"));
	buf_free(&b);
}

static void gauges_are_set_and_touched_series_show_zero(void **state)
{
	(void)state;
	metric_touch(METRIC_OOM_KILLS, NULL);
	metric_set(METRIC_POOL_READY, NULL, 3);
	metric_set(METRIC_POOL_READY, NULL, 2);
	struct buf b;
	const char *text = scrape(&b);
	assert_non_null(strstr(text, "\nagentd_oom_kills_total 0\n"));
	assert_non_null(strstr(text, "\nagentd_pool_ready 2\n"));
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(every_family_has_help_and_type, reset),
		cmocka_unit_test_setup(counters_add_and_never_go_down, reset),
		cmocka_unit_test_setup(values_are_escaped_cut_and_made_utf8, reset),
		cmocka_unit_test_setup(the_series_cap_holds, reset),
		cmocka_unit_test_setup(histograms_are_cumulative, reset),
		cmocka_unit_test_setup(gauges_are_set_and_touched_series_show_zero, reset),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	metrics_free();
	return rc;
}

/* Unit tests for the supervisor relay's checks and accounting (include/supervisor/relay.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/json.h"
#include "supervisor/relay.h"

static char *models[] = { "claude-other", NULL };

static struct config test_config(void)
{
	struct config c = { 0 };
	c.anthropic.model = "claude-test";
	c.anthropic.models = models;
	c.anthropic.max_tokens = 4096;
	c.anthropic.price_input_milli = 3000;
	c.anthropic.price_output_milli = 15000;
	c.anthropic.price_cache_write_milli = 3750;
	c.anthropic.price_cache_write_1h_milli = 6000;
	c.anthropic.price_cache_read_milli = 300;
	return c;
}

/* 0 when the request (JSON text) passes; else the refusal must mention needle. */
static void check(const char *json, const char *needle)
{
	struct config cfg = test_config();
	cJSON *req = cJSON_Parse(json);
	assert_non_null(req);
	struct ad_err e = { 0 };
	int rc = relay_check_request(&cfg, req, &e);
	cJSON_Delete(req);
	if (needle == NULL && rc != 0)
		fail_msg("refused %s: %s", json, e.msg);
	if (needle != NULL && (rc == 0 || strstr(e.msg, needle) == NULL))
		fail_msg("%s: want a refusal about \"%s\", got rc %d \"%s\"", json, needle, rc, e.msg);
}

#define MSGS "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]"

static void accepted_requests(void **state)
{
	(void)state;
	check("{\"model\": \"claude-test\", \"max_tokens\": 100, \"stream\": true, " MSGS "}", NULL);
	check("{\"model\": \"claude-other\", \"max_tokens\": 4096, \"stream\": true, \"system\": \"s\", "
	      "\"tools\": [], " MSGS "}", NULL);
}

static void refused_requests(void **state)
{
	(void)state;
	check("[]", "not a JSON object");
	check("{\"model\": \"claude-opus\", \"max_tokens\": 100, \"stream\": true, " MSGS "}", "claude-opus");
	check("{\"max_tokens\": 100, \"stream\": true, " MSGS "}", "(none)");
	check("{\"model\": \"claude-test\", \"max_tokens\": 4097, \"stream\": true, " MSGS "}", "max_tokens");
	check("{\"model\": \"claude-test\", \"max_tokens\": 0, \"stream\": true, " MSGS "}", "max_tokens");
	check("{\"model\": \"claude-test\", \"max_tokens\": 1.5, \"stream\": true, " MSGS "}", "max_tokens");
	check("{\"model\": \"claude-test\", \"max_tokens\": 100, " MSGS "}", "stream");
	check("{\"model\": \"claude-test\", \"max_tokens\": 100, \"stream\": false, " MSGS "}", "stream");
	check("{\"model\": \"claude-test\", \"max_tokens\": 100, \"stream\": true, \"messages\": []}", "messages");
	/* a taken-over agent must not reach features the operator did not choose */
	check("{\"model\": \"claude-test\", \"max_tokens\": 100, \"stream\": true, \"mcp_servers\": [], " MSGS "}",
	      "mcp_servers");
	check("{\"model\": \"claude-test\", \"max_tokens\": 100, \"stream\": true, \"container\": \"x\", " MSGS "}",
	      "container");
}

static void usage_and_cost(void **state)
{
	(void)state;
	struct config cfg = test_config();
	struct usage total = { 0 }, a = { .input = 1000000 };
	struct usage b = { .output = 1000000, .cache_write = 1000000, .cache_read = 1000000 };
	usage_add(&total, &a);
	usage_add(&total, &b);
	/* 3 + 15 + 3.75 + 0.30 dollars */
	assert_true(usage_cost(&cfg, &total) > 22.0499 && usage_cost(&cfg, &total) < 22.0501);
	cJSON *j = usage_json(&total);
	char *text = json_print(j);
	assert_string_equal(text, "{\"input_tokens\":1000000,\"output_tokens\":1000000,"
				  "\"cache_creation_input_tokens\":1000000,\"cache_read_input_tokens\":1000000,"
				  "\"cache_creation\":{\"ephemeral_5m_input_tokens\":1000000,\"ephemeral_1h_input_tokens\":0}}");
	cJSON_free(text);
	cJSON_Delete(j);
	/* the API's usage, with its breakdown: a million 1-hour writes cost 6 dollars more */
	struct usage c = { 0 };
	cJSON *api = cJSON_Parse("{\"input_tokens\":0,\"cache_creation_input_tokens\":1000000,"
				 "\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":1000000}}");
	usage_read_json(&c, api);
	cJSON_Delete(api);
	assert_int_equal(c.cache_write_1h, 1000000);
	usage_add(&total, &c);
	assert_true(usage_cost(&cfg, &total) > 28.0499 && usage_cost(&cfg, &total) < 28.0501);
	/* and a breakdown that claims more than the total is held to it */
	api = cJSON_Parse("{\"cache_creation_input_tokens\":10,\"cache_creation\":{\"ephemeral_1h_input_tokens\":99}}");
	c = (struct usage){ 0 };
	usage_read_json(&c, api);
	cJSON_Delete(api);
	assert_int_equal(c.cache_write_1h, 10);
}

/* An API event reaches the agent as the bytes that came, inside its frame's JSON (not
 * as a string); what is not one JSON object, or a name that is not one, is refused. */
static void events_are_spliced_not_printed(void **state)
{
	(void)state;
	static const char data[] = "{\"type\":\"content_block_delta\",\"index\":0,"
				   "\"delta\":{\"type\":\"text_delta\",\"text\":\"a \\\"q\\\" \\u00e9 \xc3\xa9\"}}";
	char *p = NULL;
	size_t n = 0;
	struct ad_err e;
	assert_int_equal(relay_event_payload("content_block_delta", data, strlen(data), &p, &n, &e), 0);
	const char head[] = "{\"event\":\"content_block_delta\",\"data\":";
	assert_int_equal(n, strlen(head) + strlen(data) + 1);
	assert_memory_equal(p, head, strlen(head));
	assert_memory_equal(p + strlen(head), data, strlen(data));
	cJSON *j = NULL;
	assert_int_equal(json_parse_strict(p, n, &j, &e), 0);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "delta"),
						"text")->valuestring, "a \"q\" \xc3\xa9 \xc3\xa9");
	cJSON_Delete(j);
	free(p);
	static const struct { const char *event, *data, *needle; } bad[] = {
		{ "content_block_delta", "{\"a\":1", "not a JSON object" },
		{ "content_block_delta", "[1]", "not a JSON object" },
		{ "content_block_delta", "{\"a\":1},\"x\":{}", "not a JSON object" },
		{ "content_block_delta\",\"x", "{}", "not a name" },
		{ "", "{}", "not a name" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = NULL;
		if (relay_event_payload(bad[i].event, bad[i].data, strlen(bad[i].data), &p, &n, &e) == 0 ||
		    strstr(e.msg, bad[i].needle) == NULL)
			fail_msg("%s %s: want a refusal about \"%s\", got \"%s\"", bad[i].event, bad[i].data,
				 bad[i].needle, p ? p : e.msg);
		assert_null(p);
	}
}

/* A new key (a reload) replaces the one the next call copies; a copy taken before
 * keeps the old one (a call in flight), and the slot holds nothing of the old key. */
static void the_key_is_replaced_for_the_next_call(void **state)
{
	(void)state;
	struct config cfg = test_config();
	cfg.anthropic.api_key = "sk-ant-old-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	struct relay r;
	relay_init(&r, &cfg, -1);
	char in_flight[CONFIG_API_KEY_MAX + 1], next[CONFIG_API_KEY_MAX + 1];
	relay_key(&r, in_flight);
	assert_true(relay_set_key(&r, "sk-ant-new-b"));
	assert_false(relay_set_key(&r, "sk-ant-new-b"));
	relay_key(&r, next);
	assert_string_equal(in_flight, cfg.anthropic.api_key);
	assert_string_equal(next, "sk-ant-new-b");
	assert_null(memmem(r.api_key, sizeof(r.api_key), "aaaaaaaa", 8));
	pthread_mutex_destroy(&r.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted_requests),
		cmocka_unit_test(refused_requests),
		cmocka_unit_test(usage_and_cost),
		cmocka_unit_test(events_are_spliced_not_printed),
		cmocka_unit_test(the_key_is_replaced_for_the_next_call),
	};
	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}

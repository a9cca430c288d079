/* Unit tests for the context window's estimate (include/agent/context.h) and the
 * clearing of old tool results (conv_clear_results in include/agent/conversation.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/context.h"
#include "agent/conversation.h"
#include "core/json.h"

static void the_rate_comes_from_the_api(void **state)
{
	(void)state;
	struct context x;
	context_init(&x, 200000, 8192);
	assert_true(context_estimate(&x, 100000) >= 34000);        /* before any call: 0.34 a byte */
	/* a call of 40000 bytes counted 10000 tokens, cached or not */
	cJSON *u = cJSON_Parse("{\"input_tokens\":1000,\"cache_read_input_tokens\":6000,"
			       "\"cache_creation_input_tokens\":3000,\"output_tokens\":50}");
	context_learn(&x, 40000, u);
	assert_int_equal(context_estimate(&x, 80000), 20001);
	/* a small request says nothing of the rate */
	context_learn(&x, 1000, u);
	assert_int_equal(context_estimate(&x, 80000), 20001);
	cJSON_Delete(u);
	/* room for the reply: max_tokens, at most a fifth of the window */
	assert_true(context_fits(&x, (size_t)((200000 - 8192) * 4) - 8));
	assert_false(context_fits(&x, (size_t)((200000 - 8192) * 4) + 8));
	context_init(&x, 10000, 8192);
	assert_true(context_fits(&x, (size_t)(8000 / 0.34) - 8));
}

static void a_too_long_answer_sets_rate_and_window(void **state)
{
	(void)state;
	struct context x;
	context_init(&x, 200000, 4096);
	assert_int_equal(context_too_long(&x, 1000, "overloaded"), 0);
	assert_int_equal(context_too_long(&x, 1000, "prompt is too long: tokens"), 0);
	assert_int_equal(context_too_long(&x, 24000, "prompt is too long: 6000 tokens > 5000 maximum"), 6000);
	assert_int_equal(x.window, 5000);
	assert_int_equal(context_estimate(&x, 24000), 6001);
	assert_false(context_fits(&x, 24000));
	assert_true(context_fits(&x, 15000));           /* 3751 of 5000 - 1000 */
}

static void clearing_keeps_the_newest_results_and_the_pairs(void **state)
{
	(void)state;
	struct conv *c = conv_new();
	char block[256];
	cJSON_Delete(conv_add_user_text(c, "go"));
	for (int i = 0; i < 5; i++) {
		snprintf(block, sizeof(block), "[{\"type\":\"tool_use\",\"id\":\"t%d\",\"name\":\"bash\",\"input\":{}}]", i);
		assert_non_null(conv_add(c, "assistant", cJSON_Parse(block)));
		snprintf(block, sizeof(block), "[{\"type\":\"tool_result\",\"tool_use_id\":\"t%d\",\"content\":"
			 "[{\"type\":\"text\",\"text\":\"output %d\"}],\"is_error\":true}]", i, i);
		assert_non_null(conv_add(c, "user", cJSON_Parse(block)));
	}
	assert_int_equal(conv_clear_results(c, 3), 2);
	assert_int_equal(conv_clear_results(c, 3), 0);       /* done already */
	const cJSON *m;
	int i = 0;
	cJSON_ArrayForEach(m, conv_messages(c)) {
		const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "content"), 0);
		if (strcmp(json_str(b, "type"), "tool_result") != 0)
			continue;
		const char *content = json_str(b, "content");
		if (i < 2)
			assert_string_equal(content, CONV_CLEARED);
		else
			assert_null(content);                   /* its blocks, as they were */
		assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "is_error")));
		i++;
	}
	struct ad_err e;
	assert_int_equal(conv_check(conv_messages(c), &e), 0);
	assert_int_equal(conv_clear_results(c, 0), 3);
	conv_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_rate_comes_from_the_api),
		cmocka_unit_test(a_too_long_answer_sets_rate_and_window),
		cmocka_unit_test(clearing_keeps_the_newest_results_and_the_pairs),
	};
	return cmocka_run_group_tests_name("context", tests, NULL, NULL);
}

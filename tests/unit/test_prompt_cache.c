/* Unit tests for the prompt-cache breakpoints (include/agent/prompt_cache.h): where the
 * marks go as a conversation grows, that there are never more than four, that the
 * conversation itself is left as it was, and that a request with its marks taken out is
 * the request without caching, byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/conversation.h"
#include "agent/prompt_cache.h"
#include "core/json.h"

#define TOOLS "[{\"name\":\"bash\",\"type\":\"bash_20250124\"},{\"name\":\"glob\",\"description\":\"d\"," \
	      "\"input_schema\":{\"type\":\"object\"}}]"

/* A conversation built from JSON messages. */
static struct conv *conv_of(const char *messages_json)
{
	struct conv *c = conv_new();
	cJSON *ms = cJSON_Parse(messages_json), *m;
	assert_non_null(c);
	assert_non_null(ms);
	cJSON_ArrayForEach(m, ms)
		assert_non_null(conv_add(c, json_str(m, "role"),
					 cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(m, "content"), true)));
	cJSON_Delete(ms);
	return c;
}

static char *print(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	assert_non_null(s);
	return s;
}

/* The request for c, marked with ttl, printed (and checked: marks only on copies). */
static cJSON *marked(struct conv *c, const char *system, cJSON *tools, enum prompt_cache_ttl ttl)
{
	char *before = print(conv_messages(c)), *tools_before = print(tools);
	cJSON *req = conv_request(c, "claude-test", 1024, system, tools);
	assert_non_null(req);
	char *plain = print(req);
	assert_int_equal(prompt_cache_mark(req, ttl), 0);
	/* printed and parsed: what goes to the API, with nothing referenced any more */
	char *text = print(req);
	cJSON *sent = cJSON_Parse(text);
	cJSON_Delete(req);
	char *after = print(conv_messages(c)), *tools_after = print(tools);
	assert_string_equal(before, after);
	assert_string_equal(tools_before, tools_after);
	/* the marks taken out, and the system back to a string: the request without them */
	cJSON *bare = cJSON_Parse(text);
	prompt_cache_strip(cJSON_GetObjectItemCaseSensitive(bare, "tools"));
	cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(bare, "messages"))
		prompt_cache_strip(cJSON_GetObjectItemCaseSensitive(m, "content"));
	cJSON *sys = cJSON_GetObjectItemCaseSensitive(bare, "system");
	if (cJSON_IsArray(sys))
		cJSON_ReplaceItemInObjectCaseSensitive(bare, "system",
						       cJSON_CreateString(json_str(sys->child, "text")));
	char *unmarked = print(bare);
	assert_string_equal(unmarked, plain);
	cJSON_Delete(bare);
	free(before);
	free(after);
	free(tools_before);
	free(tools_after);
	free(plain);
	free(text);
	free(unmarked);
	return sent;
}

/* How many blocks of req carry a mark, anywhere. */
static int marks(const cJSON *j)
{
	int n = cJSON_GetObjectItemCaseSensitive(j, "cache_control") != NULL && cJSON_IsObject(j);
	const cJSON *c;
	cJSON_ArrayForEach(c, j)
		if (strcmp(c->string ? c->string : "", "cache_control") != 0)
			n += marks(c);
	return n;
}

/* Whether the last block of message i carries a mark. */
static bool last_marked(const cJSON *req, int i)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(req, "messages"), i), "content");
	const cJSON *last = cJSON_GetArrayItem(content, cJSON_GetArraySize(content) - 1);
	return cJSON_GetObjectItemCaseSensitive(last, "cache_control") != NULL;
}

static void the_ttl_is_named(void **state)
{
	(void)state;
	enum prompt_cache_ttl t;
	struct ad_err e;
	assert_int_equal(prompt_cache_ttl_parse("1h", &t, &e), 0);
	assert_int_equal(t, PROMPT_CACHE_1H);
	assert_int_equal(prompt_cache_ttl_parse("off", &t, &e), 0);
	assert_int_equal(t, PROMPT_CACHE_OFF);
	assert_int_equal(prompt_cache_ttl_parse("5m", &t, &e), 0);
	assert_int_equal(t, PROMPT_CACHE_5M);
	assert_int_equal(prompt_cache_ttl_parse("10m", &t, &e), -1);
	assert_non_null(strstr(e.msg, "\"10m\""));
}

static void off_sends_no_marks(void **state)
{
	(void)state;
	cJSON *tools = cJSON_Parse(TOOLS);
	struct conv *c = conv_of("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]");
	cJSON *req = marked(c, "Be brief.", tools, PROMPT_CACHE_OFF);
	assert_int_equal(marks(req), 0);
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "system")));
	cJSON_Delete(req);
	conv_free(c);
	cJSON_Delete(tools);
}

static void the_first_call_marks_the_system_and_the_last_block(void **state)
{
	(void)state;
	cJSON *tools = cJSON_Parse(TOOLS);
	struct conv *c = conv_of("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
				 "{\"type\":\"text\",\"text\":\"b\"}]}]");
	cJSON *req = marked(c, "Be brief.", tools, PROMPT_CACHE_5M);
	const cJSON *sys = cJSON_GetObjectItemCaseSensitive(req, "system");
	assert_int_equal(cJSON_GetArraySize(sys), 1);
	assert_string_equal(json_str(sys->child, "text"), "Be brief.");
	char *cc = print(cJSON_GetObjectItemCaseSensitive(sys->child, "cache_control"));
	assert_string_equal(cc, "{\"type\":\"ephemeral\"}");
	free(cc);
	assert_true(last_marked(req, 0));
	assert_int_equal(marks(req), 2);
	cJSON_Delete(req);
	/* no system prompt: the tools' end instead; a 1-hour lifetime says so */
	req = marked(c, "", tools, PROMPT_CACHE_1H);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "tools");
	assert_null(cJSON_GetObjectItemCaseSensitive(t->child, "cache_control"));
	cc = print(cJSON_GetObjectItemCaseSensitive(t->child->next, "cache_control"));
	assert_string_equal(cc, "{\"type\":\"ephemeral\",\"ttl\":\"1h\"}");
	free(cc);
	assert_int_equal(marks(req), 2);
	cJSON_Delete(req);
	conv_free(c);
	cJSON_Delete(tools);
}

/* As a run goes on: the end of the previous call and the end of this one, never more
 * than three marks, whatever came between (parallel tool calls, a paused reply). */
static void the_marks_move_forward_with_the_conversation(void **state)
{
	(void)state;
	cJSON *tools = cJSON_Parse(TOOLS);
	struct conv *c = conv_of(
		"[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"go\"}]},"
		"{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"},"
		"{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"bash\",\"input\":{}},"
		"{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"bash\",\"input\":{}}]},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"1\"},"
		"{\"type\":\"tool_result\",\"tool_use_id\":\"t2\",\"content\":\"2\"}]}]");
	cJSON *req = marked(c, "Be brief.", tools, PROMPT_CACHE_5M);
	assert_true(last_marked(req, 0) && !last_marked(req, 1) && last_marked(req, 2));
	assert_int_equal(marks(req), 3);
	cJSON_Delete(req);
	/* one more round: the marks are on messages 2 and 4 now */
	assert_non_null(conv_add(c, "assistant", cJSON_Parse("[{\"type\":\"tool_use\",\"id\":\"t3\","
							      "\"name\":\"bash\",\"input\":{}}]")));
	assert_non_null(conv_add(c, "user", cJSON_Parse("[{\"type\":\"tool_result\",\"tool_use_id\":\"t3\","
							 "\"content\":\"3\"}]")));
	req = marked(c, "Be brief.", tools, PROMPT_CACHE_5M);
	assert_true(!last_marked(req, 0) && last_marked(req, 2) && !last_marked(req, 3) && last_marked(req, 4));
	assert_int_equal(marks(req), 3);
	cJSON_Delete(req);
	/* a paused reply continues: the previous call ended at the user message before it */
	assert_non_null(conv_add(c, "assistant", cJSON_Parse("[{\"type\":\"text\",\"text\":\"half\"}]")));
	req = marked(c, "Be brief.", tools, PROMPT_CACHE_5M);
	assert_true(last_marked(req, 4) && last_marked(req, 5));
	assert_int_equal(marks(req), 3);
	cJSON_Delete(req);
	conv_free(c);
	cJSON_Delete(tools);
}

/* A block the API takes no mark on (thinking) is passed over, not marked. */
static void a_thinking_block_is_not_marked(void **state)
{
	(void)state;
	cJSON *tools = cJSON_Parse(TOOLS);
	struct conv *c = conv_of("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"go\"}]},"
				 "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\","
				 "\"signature\":\"s\"}]}]");
	cJSON *req = marked(c, "Be brief.", tools, PROMPT_CACHE_5M);
	assert_true(last_marked(req, 0) && !last_marked(req, 1));
	assert_int_equal(marks(req), 2);
	cJSON_Delete(req);
	conv_free(c);
	cJSON_Delete(tools);
}

/* A client's history comes without its own marks (they would count against the four). */
static void a_seeded_history_loses_its_marks(void **state)
{
	(void)state;
	struct conv *c = conv_new();
	struct ad_err e;
	cJSON *h = cJSON_Parse(
		"[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
		"{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"bash\",\"input\":{},"
		"\"cache_control\":{\"type\":\"ephemeral\"}}]},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":"
		"[{\"type\":\"text\",\"text\":\"r\",\"cache_control\":{\"type\":\"ephemeral\"}}]}]}]");
	assert_int_equal(conv_seed(c, h, &e), 0);
	assert_int_equal(marks(conv_messages(c)), 0);
	cJSON_Delete(h);
	conv_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_ttl_is_named),
		cmocka_unit_test(off_sends_no_marks),
		cmocka_unit_test(the_first_call_marks_the_system_and_the_last_block),
		cmocka_unit_test(the_marks_move_forward_with_the_conversation),
		cmocka_unit_test(a_thinking_block_is_not_marked),
		cmocka_unit_test(a_seeded_history_loses_its_marks),
	};
	return cmocka_run_group_tests_name("prompt_cache", tests, NULL, NULL);
}

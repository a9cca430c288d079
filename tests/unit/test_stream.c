/* Unit tests for putting a streamed message together (include/claude/stream.h), fed
 * through the event-stream parser as the client does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "claude/sse.h"
#include "claude/stream.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define START "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"," \
	      "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null," \
	      "\"usage\":{\"input_tokens\":25,\"output_tokens\":1,\"cache_read_input_tokens\":7}}}\n\n"
#define STOP "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
#define EV(name, json) "event: " name "\ndata: " json "\n\n"

static int to_stream(void *ctx, const char *event, const char *data, size_t len, struct ad_err *err)
{
	return claude_stream_event(ctx, event, data, len, err);
}

/* Feed text through both; returns the feed's result, s gets the outcome. */
static int run(const char *text, size_t max, struct claude_stream **out, struct ad_err *e)
{
	struct sse_parser *p = sse_parser_new(1 << 16);
	*out = claude_stream_new(max);
	int rc = sse_parser_feed(p, text, strlen(text), to_stream, *out, e);
	sse_parser_free(p);
	return rc;
}

static void a_full_message_is_rebuilt(void **state)
{
	(void)state;
	const char *text = START
		EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"let me \"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"see\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig==\"}}")
		EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
		EV("ping", "{\"type\": \"ping\"}")
		EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"H\\u00e9\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"llo \\ud83d\\ude00\"}}")
		EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}")
		EV("some_future_event", "{\"type\":\"some_future_event\"}")
		EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"bash\",\"input\":{}}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"comm\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"and\\\": \\\"ls\\\"}\"}}")
		EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}")
		EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"glob\",\"input\":{}}}")
		EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":3}")
		EV("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}")
		STOP;
	struct claude_stream *s;
	struct ad_err e;
	assert_int_equal(run(text, 1 << 20, &s, &e), 0);
	assert_true(claude_stream_done(s));
	assert_null(claude_stream_api_error(s));
	char *got = cJSON_PrintUnformatted(claude_stream_message(s));
	assert_string_equal(got,
		"{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"stop_reason\":\"tool_use\","
		"\"usage\":{\"input_tokens\":25,\"output_tokens\":42,\"cache_read_input_tokens\":7},"
		"\"content\":[{\"type\":\"thinking\",\"thinking\":\"let me see\",\"signature\":\"sig==\"},"
		"{\"type\":\"text\",\"text\":\"H\xc3\xa9llo \xf0\x9f\x98\x80\"},"
		"{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"bash\",\"input\":{\"command\":\"ls\"}},"
		"{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"glob\",\"input\":{}}],\"stop_sequence\":null}");
	cJSON_free(got);
	claude_stream_free(s);
}

static void broken_streams_fail_with_the_reason(void **state)
{
	(void)state;
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{ START EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"),
		  "overloaded_error: Overloaded" },
		{ EV("content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"text\"}}"), "before message_start" },
		{ START START, "a second message_start" },
		{ START EV("content_block_start", "{\"index\":1,\"content_block\":{\"type\":\"text\"}}"), "out of order" },
		{ START EV("content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"text\"}}")
		  EV("content_block_start", "{\"index\":1,\"content_block\":{\"type\":\"text\"}}"), "while block 0 is open" },
		{ START EV("content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}"), "not open" },
		{ START EV("content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"text\"}}")
		  EV("content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}"),
		  "a input_json_delta for a text block" },
		{ START EV("content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\"}}")
		  EV("content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}")
		  EV("content_block_stop", "{\"index\":0}"), "tool_use input" },
		{ START EV("content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\"}}")
		  EV("content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[1]\"}}")
		  EV("content_block_stop", "{\"index\":0}"), "not a JSON object" },
		{ START EV("content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"text\"}}") STOP, "while block 0 is open" },
		{ START STOP STOP, "after message_stop" },
		{ START EV("message_delta", "{not json"), "message_delta event: invalid JSON" },
		{ START EV("content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"text\"}}")
		  EV("content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"0123456789abcdefghij\"}}"),
		  "larger than 16 bytes" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct claude_stream *s;
		struct ad_err e = { 0 };
		if (run(cases[i].text, 16, &s, &e) == 0)
			fail_msg("case %zu accepted", i);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].needle);
		if (i == 0)
			assert_string_equal(claude_stream_api_error(s), "overloaded_error");
		claude_stream_free(s);
	}
}

/* Each delta's text is handed out as it comes (claude_stream_text_delta), and a block
 * that starts with text of its own keeps it before its deltas. */
static void text_deltas_are_handed_out(void **state)
{
	(void)state;
	struct claude_stream *s = claude_stream_new(1 << 10);
	struct ad_err e;
	size_t len = 99;
	static const struct { const char *event, *data, *delta; } evs[] = {
		{ "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],\"usage\":{}}}", NULL },
		{ "content_block_start", "{\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"pre:\"}}", NULL },
		{ "content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\\\"b\"}}", "a\"b" },
		{ "ping", "{}", NULL },
		{ "content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\"}}", "" },
		{ "content_block_delta", "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\\u00e9\"}}", "\xc3\xa9" },
		{ "content_block_stop", "{\"index\":0}", NULL },
		{ "content_block_start", "{\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}", NULL },
		{ "content_block_stop", "{\"index\":1}", NULL },
		{ "message_stop", "{}", NULL },
	};
	for (size_t i = 0; i < N(evs); i++) {
		assert_int_equal(claude_stream_event(s, evs[i].event, evs[i].data, strlen(evs[i].data), &e), 0);
		const char *d = claude_stream_text_delta(s, &len);
		if (evs[i].delta == NULL) {
			assert_null(d);
		} else {
			assert_non_null(d);
			assert_int_equal(len, strlen(evs[i].delta));
			assert_memory_equal(d, evs[i].delta, len);
		}
	}
	char *got = cJSON_PrintUnformatted(cJSON_GetObjectItem(claude_stream_message(s), "content"));
	assert_string_equal(got, "[{\"type\":\"text\",\"text\":\"pre:a\\\"b\xc3\xa9\"},{\"type\":\"text\",\"text\":\"\"}]");
	cJSON_free(got);
	claude_stream_free(s);
}

/* A reply of 4 MiB in 4-byte deltas (a million of them) comes out whole. Assembly that
 * copied the text so far on every delta would copy some 2 TB here and run for many
 * minutes; the alarm is a deadline (a hang), set far above the second or so that
 * linear assembly takes even under ASan, not a measure of speed. */
static void a_long_reply_in_small_deltas_is_whole(void **state)
{
	(void)state;
	enum { TOTAL = 4 << 20, STEP = 4 };
	/* a, b, a backslash and a quote: 4 bytes of text, 6 as JSON */
	static const char piece[] = "ab\\\"", json_piece[] = "ab\\\\\\\"";
	struct claude_stream *s = claude_stream_new(TOTAL);
	struct ad_err e;
	const char *start = "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],\"usage\":{}}}";
	const char *block = "{\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}";
	char delta[128];
	int n = snprintf(delta, sizeof(delta), "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
			 "{\"type\":\"text_delta\",\"text\":\"%s\"}}", json_piece);
	alarm(300);
	assert_int_equal(claude_stream_event(s, "message_start", start, strlen(start), &e), 0);
	assert_int_equal(claude_stream_event(s, "content_block_start", block, strlen(block), &e), 0);
	for (size_t i = 0; i < TOTAL / STEP; i++)
		if (claude_stream_event(s, "content_block_delta", delta, (size_t)n, &e) < 0)
			fail_msg("delta %zu: %s", i, e.msg);
	assert_int_equal(claude_stream_event(s, "content_block_stop", "{\"index\":0}", 11, &e), 0);
	assert_int_equal(claude_stream_event(s, "message_stop", "{}", 2, &e), 0);
	alarm(0);
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(claude_stream_message(s), "content"), 0);
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
	assert_non_null(text);
	assert_int_equal(strlen(text), TOTAL);
	for (size_t i = 0; i < TOTAL; i += STEP)
		if (memcmp(text + i, piece, STEP) != 0)
			fail_msg("the text differs at byte %zu", i);
	/* one byte more than the cap fails the stream */
	assert_int_equal(claude_stream_event(s, "content_block_delta", delta, (size_t)n, &e), -1);
	claude_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_full_message_is_rebuilt),
		cmocka_unit_test(broken_streams_fail_with_the_reason),
		cmocka_unit_test(text_deltas_are_handed_out),
		cmocka_unit_test(a_long_reply_in_small_deltas_is_whole),
	};
	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}

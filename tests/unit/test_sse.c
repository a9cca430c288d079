/* Unit tests for the event-stream parser (include/claude/sse.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "claude/sse.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Events are collected as "name|data\n" lines in one string. */
struct collect {
	char out[8192];
	size_t len;
	int stop_after;   /* > 0: fail on that event */
	int count;
};

static int collect(void *ctx, const char *event, const char *data, size_t data_len, struct ad_err *err)
{
	struct collect *c = ctx;
	assert_int_equal(strlen(data), data_len);
	c->len += (size_t)snprintf(c->out + c->len, sizeof(c->out) - c->len, "%s|%s\n", event, data);
	if (++c->count == c->stop_after)
		return ad_err_set(err, 0, "stop requested");
	return 0;
}

static void parse_all(const char *in, size_t chunk, struct collect *c)
{
	struct sse_parser *p = sse_parser_new(4096);
	struct ad_err e;
	size_t len = strlen(in);
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < len; i += chunk)
		assert_int_equal(sse_parser_feed(p, in + i, len - i < chunk ? len - i : chunk, collect, c, &e), 0);
	sse_parser_free(p);
}

static void fields_and_framing(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "event: ping\ndata: {\"type\": \"ping\"}\n\n", "ping|{\"type\": \"ping\"}\n" },
		{ "data: a\ndata: b\n\n", "message|a\nb\n" },              /* lines joined with \n */
		{ "data:x\n\n", "message|x\n" },                           /* the space is optional */
		{ "data:  x\n\n", "message| x\n" },                        /* only one is dropped */
		{ "data\n\n", "message|\n" },                              /* a field without colon */
		{ "event: e\r\ndata: 1\r\n\r\n", "e|1\n" },                /* CRLF */
		{ "event: e\rdata: 1\r\r", "e|1\n" },                      /* CR */
		{ "event: e\ndata: 1\r\n\r", "e|1\n" },                    /* mixed */
		{ ": a comment\ndata: d\n\n", "message|d\n" },
		{ "id: 7\nretry: 10\nfoo: bar\ndata: d\n\n", "message|d\n" },  /* other fields skipped */
		{ "event: only-name\n\n", "" },                            /* no data: no event */
		{ "data: 1\n\ndata: 2\n\n", "message|1\nmessage|2\n" },
		{ "event: a\n\ndata: x\n\n", "message|x\n" },              /* the name does not carry over */
		{ "data: unfinished\n", "" },                              /* no blank line yet */
		{ "\n\n\n", "" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct collect c;
		parse_all(cases[i].in, strlen(cases[i].in) + 1, &c);
		if (strcmp(c.out, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, c.out, cases[i].want);
	}
}

/* A Messages API stream, cut at every byte and in every chunk size up to 9: the same
 * events each time. */
static void split_anywhere(void **state)
{
	(void)state;
	const char *stream =
		"event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\r\n\r\n"
		"event: ping\ndata: {\"type\": \"ping\"}\n\n"
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"h\\u00e9llo\"}}\n\n"
		": keep-alive\n"
		"event: message_stop\rdata: {\"type\":\"message_stop\"}\r\r";
	struct collect whole;
	parse_all(stream, strlen(stream), &whole);
	assert_int_equal(whole.count, 4);
	for (size_t chunk = 1; chunk <= 9; chunk++) {
		struct collect c;
		parse_all(stream, chunk, &c);
		assert_string_equal(c.out, whole.out);
	}
	size_t len = strlen(stream);
	for (size_t cut = 1; cut < len; cut++) {
		struct sse_parser *p = sse_parser_new(4096);
		struct collect c = { .len = 0 };
		struct ad_err e;
		assert_int_equal(sse_parser_feed(p, stream, cut, collect, &c, &e), 0);
		assert_int_equal(sse_parser_feed(p, stream + cut, len - cut, collect, &c, &e), 0);
		assert_false(sse_parser_pending(p));
		sse_parser_free(p);
		assert_string_equal(c.out, whole.out);
	}
}

static void limits_and_failures(void **state)
{
	(void)state;
	struct ad_err e;
	struct collect c = { .len = 0 };
	char big[200];
	memset(big, 'x', sizeof(big));

	struct sse_parser *p = sse_parser_new(64);
	assert_int_equal(sse_parser_feed(p, "data: ", 6, collect, &c, &e), 0);
	assert_int_equal(sse_parser_feed(p, big, sizeof(big), collect, &c, &e), -1);
	assert_non_null(strstr(e.msg, "longer than 64 bytes"));
	assert_int_equal(sse_parser_feed(p, "\n\n", 2, collect, &c, &e), -1);   /* stays failed */
	sse_parser_free(p);

	/* many short data lines that add up past the cap */
	p = sse_parser_new(64);
	for (int i = 0; i < 20; i++)
		if (sse_parser_feed(p, "data: 0123456789\n", 17, collect, &c, &e) < 0)
			break;
	assert_non_null(strstr(e.msg, "larger than 64 bytes"));
	sse_parser_free(p);

	p = sse_parser_new(256);   /* the line fits; the name does not */
	char name[100] = "event: ";
	memset(name + 7, 'n', 80);
	name[87] = '\n';
	assert_int_equal(sse_parser_feed(p, name, 88, collect, &c, &e), -1);
	assert_non_null(strstr(e.msg, "name longer"));
	sse_parser_free(p);

	/* the callback stops the stream */
	p = sse_parser_new(64);
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(sse_parser_feed(p, "data: 1\n\ndata: 2\n\n", 18, collect, &c, &e), -1);
	assert_string_equal(e.msg, "stop requested");
	assert_int_equal(c.count, 1);
	sse_parser_free(p);

	/* a stream cut in the middle of an event is visible as pending */
	p = sse_parser_new(64);
	assert_int_equal(sse_parser_feed(p, "data: half", 10, collect, &c, &e), 0);
	assert_true(sse_parser_pending(p));
	sse_parser_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_and_framing),
		cmocka_unit_test(split_anywhere),
		cmocka_unit_test(limits_and_failures),
	};
	return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}

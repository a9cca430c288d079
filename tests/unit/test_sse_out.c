/* Unit tests for an outgoing event stream's queue (include/http/sse_out.h): what is
 * queued comes out in order, whole, however the reader keeps up. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/sse_out.h"

/* The byte at position i of the test's stream. */
static char byte_at(size_t i)
{
	return (char)('a' + (i * 7 + i / 26) % 26);
}

static void queue(struct sse_out *q, size_t *written, size_t n)
{
	char piece[4096];
	assert_true(n <= sizeof(piece));
	for (size_t i = 0; i < n; i++)
		piece[i] = byte_at(*written + i);
	sse_out_raw(q, piece, n);
	*written += n;
}

static void drain(struct sse_out *q, size_t *read, size_t max)
{
	char buf[4096];
	assert_true(max <= sizeof(buf));
	ssize_t n = sse_out_read(q, buf, max, true);
	assert_true(n > 0);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != byte_at(*read + (size_t)i))
			fail_msg("byte %zu of the stream is wrong", *read + (size_t)i);
	*read += (size_t)n;
}

/* A reader 16 MiB behind (a replay of the session's log, queued before the stream went
 * out, which the cap does not count), then 100,000 events of 8 bytes, each read as it
 * is queued (the live backlog stays under the cap). A queue that moved its unread bytes
 * to the front on every event would move some 1.6 TB here (hours); the alarm is a
 * deadline for such a hang, far above the fraction of a second that a queue linear in
 * its bytes takes, not a measure of speed. */
static void a_reader_far_behind_costs_linear_time(void **state)
{
	(void)state;
	struct sse_out q = { .stream = true };
	size_t written = 0, read = 0;
	while (written < (16u << 20))
		queue(&q, &written, 4096);
	alarm(60);
	for (size_t i = 0; i < 100000; i++) {
		queue(&q, &written, 8);
		drain(&q, &read, 8);
	}
	alarm(0);
	while (read < written)
		drain(&q, &read, 4096);
	assert_int_equal(read, written);
	assert_false(q.overflow);
	assert_int_equal(sse_out_read(&q, (char[8]){ 0 }, 8, true), MHD_CONTENT_READER_END_OF_STREAM);
	sse_out_free(&q);
}

/* Events and comments keep their format and order across reads of odd sizes. */
static void events_come_out_in_order(void **state)
{
	(void)state;
	struct sse_out q = { .stream = true };
	cJSON *data = cJSON_Parse("{\"text\":\"h\\u00e9\"}");
	sse_out_event(&q, 7, "text", data);
	sse_out_comment(&q, "keep-alive");
	sse_out_event(&q, 0, "done", data);
	cJSON_Delete(data);
	const char *want = "id: 7\nevent: text\ndata: {\"text\":\"h\xc3\xa9\"}\n\n: keep-alive\n\n"
			   "event: done\ndata: {\"text\":\"h\xc3\xa9\"}\n\n";
	char got[256] = "";
	size_t len = 0;
	ssize_t n;
	while ((n = sse_out_read(&q, got + len, 3, true)) > 0)
		len += (size_t)n;
	assert_int_equal(n, MHD_CONTENT_READER_END_OF_STREAM);
	got[len] = '\0';
	assert_string_equal(got, want);
	sse_out_free(&q);
}

/* A reader that falls SSE_BACKLOG_MAX behind once its stream has gone out has it cut. */
static void a_reader_too_far_behind_is_cut(void **state)
{
	(void)state;
	struct sse_out q = { .stream = true };
	size_t written = 0, read = 0;
	queue(&q, &written, 1);
	drain(&q, &read, 1);                  /* the stream goes out */
	written = 0;
	while (written < SSE_BACKLOG_MAX)
		queue(&q, &written, 4096);
	assert_false(q.overflow);
	queue(&q, &written, 1);
	assert_true(q.overflow);
	assert_int_equal(sse_out_read(&q, (char[8]){ 0 }, 8, false), MHD_CONTENT_READER_END_WITH_ERROR);
	sse_out_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_reader_far_behind_costs_linear_time),
		cmocka_unit_test(events_come_out_in_order),
		cmocka_unit_test(a_reader_too_far_behind_is_cut),
	};
	return cmocka_run_group_tests_name("sse_out", tests, NULL, NULL);
}

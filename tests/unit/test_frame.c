/* Unit tests for frames between processes (include/ipc/frame.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ipc/frame.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct got {
	unsigned types[16];
	char *json[16];
	int n;
};

static int take(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct got *g = ctx;
	if (g->n == 16)
		return ad_err_set(err, 0, "too many");
	g->types[g->n] = type;
	g->json[g->n++] = cJSON_PrintUnformatted(payload);
	cJSON_Delete(payload);
	return 0;
}

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		cJSON_free(g->json[i]);
	g->n = 0;
}

static char *encode(unsigned type, const char *json, size_t *len)
{
	cJSON *j = cJSON_Parse(json);
	char *out = NULL;
	struct ad_err e;
	assert_int_equal(frame_encode(type, j, &out, len, &e), 0);
	cJSON_Delete(j);
	return out;
}

/* Two frames back to back, cut at every byte: both come out whole, in order. */
static void round_trip_split_anywhere(void **state)
{
	(void)state;
	size_t l1, l2;
	char *f1 = encode(FRAME_API_REQUEST, "{\"model\":\"m\",\"max_tokens\":5,\"t\":\"h\\u00e9\"}", &l1);
	char *f2 = encode(FRAME_API_END, "{\"ok\":true}", &l2);
	char both[512];
	memcpy(both, f1, l1);
	memcpy(both + l1, f2, l2);
	free(f1);
	free(f2);
	for (size_t cut = 0; cut <= l1 + l2; cut++) {
		struct frame_decoder *d = frame_decoder_new(1024);
		struct got g = { .n = 0 };
		struct ad_err e;
		assert_int_equal(frame_decoder_feed(d, both, cut, take, &g, &e), 0);
		assert_int_equal(frame_decoder_feed(d, both + cut, l1 + l2 - cut, take, &g, &e), 0);
		assert_false(frame_decoder_pending(d));
		assert_int_equal(g.n, 2);
		assert_int_equal(g.types[0], FRAME_API_REQUEST);
		assert_string_equal(g.json[0], "{\"model\":\"m\",\"max_tokens\":5,\"t\":\"h\xc3\xa9\"}");
		assert_int_equal(g.types[1], FRAME_API_END);
		got_free(&g);
		frame_decoder_free(d);
	}
}

/* Each bad frame fails with its reason, and the decoder stays failed. */
static void bad_frames_are_refused(void **state)
{
	(void)state;
	static const struct {
		const char *bytes;
		size_t len;
		const char *needle;
	} cases[] = {
		{ "XG\x01\x01\x00\x00\x00\x02{}", 10, "bad magic" },
		{ "AG\x02\x01\x00\x00\x00\x02{}", 10, "version 2" },
		{ "AG\x01\x00\x00\x00\x00\x02{}", 10, "unknown frame type 0" },
		{ "AG\x01\x63\x00\x00\x00\x02{}", 10, "unknown frame type 99" },
		{ "AG\x01\x01\x00\x00\x10\x00", 8, "over the limit of 1024" },
		{ "AG\x01\x01\xff\xff\xff\xff", 8, "over the limit" },
		{ "AG\x01\x01\x00\x00\x00\x00", 8, "without a payload" },
		{ "AG\x01\x01\x00\x00\x00\x02[]", 10, "not a JSON object" },
		{ "AG\x01\x01\x00\x00\x00\x03{}x", 11, "unexpected data after" },
		{ "AG\x01\x01\x00\x00\x00\x02{\"", 10, "invalid JSON" },
		{ "AG\x01\x01\x00\x00\x00\x0c{\"a\":\"\\u0000\"}", 20, "NUL" },
		{ "AG\x01\x01\x00\x00\x00\x06{\"a\":\xff}", 14, "invalid UTF-8" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct frame_decoder *d = frame_decoder_new(1024);
		struct got g = { .n = 0 };
		struct ad_err e = { 0 };
		if (frame_decoder_feed(d, cases[i].bytes, cases[i].len, take, &g, &e) == 0)
			fail_msg("case %zu accepted", i);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].needle);
		assert_int_equal(g.n, 0);
		assert_int_equal(frame_decoder_feed(d, "AG", 2, take, &g, &e), -1);
		frame_decoder_free(d);
	}
}

static void encoder_checks(void **state)
{
	(void)state;
	char *out;
	size_t len;
	struct ad_err e;
	cJSON *arr = cJSON_CreateArray();
	cJSON *obj = cJSON_CreateObject();
	assert_int_equal(frame_encode(FRAME_HELLO, arr, &out, &len, &e), -1);
	assert_int_equal(frame_encode(0, obj, &out, &len, &e), -1);
	assert_int_equal(frame_encode(FRAME_TYPE_END, obj, &out, &len, &e), -1);
	assert_string_equal(frame_type_name(FRAME_RUN_EVENT), "run_event");
	assert_string_equal(frame_type_name(200), "unknown");
	cJSON_Delete(arr);
	cJSON_Delete(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_split_anywhere),
		cmocka_unit_test(bad_frames_are_refused),
		cmocka_unit_test(encoder_checks),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}

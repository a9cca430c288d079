/* Unit tests for the parts of the Streamable HTTP transport that do no I/O
 * (include/supervisor/mcp_remote.h): ${VAR} in configured headers, the header lines,
 * and response bodies (JSON, or event streams cut at every byte) read for their answer,
 * with what server-everything 2026.8.31 sends and what the spec allows beyond it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/mcp_remote.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int setup_env(void **state)
{
	(void)state;
	setenv("MR_TOKEN", "tok-123", 1);
	setenv("MR_A", "a", 1);
	setenv("MR_B", "b", 1);
	setenv("MR_EMPTY", "", 1);
	setenv("MR_REF", "${MR_A}", 1);
	setenv("MR_CRLF", "x\r\nX-Evil: 1", 1);
	unsetenv("MR_MISSING");
	return 0;
}

/* ${VAR} */

static void expand_ok(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain value", "plain value" },
		{ "", "" },
		{ "Bearer ${MR_TOKEN}", "Bearer tok-123" },
		{ "${MR_A}${MR_B}-${MR_A}", "ab-a" },             /* several, side by side */
		{ "${MR_REF}", "${MR_A}" },                       /* what a variable holds stays */
		{ "$MR_A and $ and a$", "$MR_A and $ and a$" },   /* "$" without "{" is itself */
		{ "$${MR_A}", "$a" },
		{ "{MR_A} }", "{MR_A} }" },
		{ "x${MR_A}y${MR_B}z", "xaybz" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct ad_err e = { 0 };
		char *got = mcp_remote_expand(cases[i].in, &e);
		if (got == NULL)
			fail_msg("\"%s\": %s", cases[i].in, e.msg);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

static void expand_refused(void **state)
{
	(void)state;
	static const struct {
		const char *in, *needle;
		int code;
	} cases[] = {
		{ "Bearer ${MR_MISSING}", "MR_MISSING is not set", ENOENT },
		{ "${MR_TOKEN}${MR_MISSING}", "MR_MISSING is not set", ENOENT },   /* the first, fine, is not shown */
		{ "${MR_EMPTY}", "MR_EMPTY is empty", ENOENT },
		{ "${MR_A", "without its", EINVAL },
		{ "${}", "variable's name", EINVAL },
		{ "${1A}", "variable's name", EINVAL },
		{ "${MR-A}", "variable's name", EINVAL },
		{ "${ MR_A }", "variable's name", EINVAL },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct ad_err e = { 0 };
		char *got = mcp_remote_expand(cases[i].in, &e);
		if (got != NULL)
			fail_msg("\"%s\" gave \"%s\"", cases[i].in, got);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("\"%s\": \"%s\" lacks \"%s\"", cases[i].in, e.msg, cases[i].needle);
		assert_int_equal(e.errnum, cases[i].code);
		assert_null(strstr(e.msg, "tok-123"));
	}
}

static void expand_cap(void **state)
{
	(void)state;
	char *big = malloc(MCP_REMOTE_HEADER_MAX + 1);
	memset(big, 'v', MCP_REMOTE_HEADER_MAX);
	big[MCP_REMOTE_HEADER_MAX] = '\0';
	setenv("MR_BIG", big, 1);
	struct ad_err e = { 0 };
	char *got = mcp_remote_expand("${MR_BIG}", &e);   /* exactly the cap */
	assert_non_null(got);
	assert_int_equal(strlen(got), MCP_REMOTE_HEADER_MAX);
	free(got);
	assert_null(mcp_remote_expand("x${MR_BIG}", &e));
	assert_int_equal(e.errnum, E2BIG);
	unsetenv("MR_BIG");
	free(big);
}

/* The configured headers */

static int make(const char *json, struct mcp_remote_headers *h, struct ad_err *e)
{
	cJSON *j = cJSON_Parse(json);
	assert_non_null(j);
	int rc = mcp_remote_headers_make(j, h, e);
	cJSON_Delete(j);
	return rc;
}

static void headers_lines(void **state)
{
	(void)state;
	struct mcp_remote_headers h;
	struct ad_err e = { 0 };
	assert_int_equal(mcp_remote_headers_make(NULL, &h, &e), 0);
	assert_int_equal(h.n, 0);
	if (make("{\"Authorization\": \"Bearer ${MR_TOKEN}\", \"X-Team\": \"${MR_A}-${MR_B}\", \"X-Empty\": \"\","
		 " \"x_under\": \"v\\tw\"}", &h, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(h.n, 4);
	assert_string_equal(h.line[0], "Authorization: Bearer tok-123");
	assert_string_equal(h.line[1], "X-Team: a-b");
	assert_string_equal(h.line[2], "X-Empty;");            /* libcurl's way to send an empty one */
	assert_string_equal(h.line[3], "x_under: v\tw");
	mcp_remote_headers_wipe(&h);
	assert_int_equal(h.n, 0);
	assert_null(h.line[0]);
}

static void headers_refused(void **state)
{
	(void)state;
	static const struct {
		const char *json, *needle;
	} cases[] = {
		{ "{\"Authorization\": \"Bearer ${MR_MISSING}\"}",
		  "headers: Authorization: the environment variable MR_MISSING is not set" },
		{ "{\"Accept\": \"text/html\"}", "Accept is a header agentd sets itself" },
		{ "{\"content-type\": \"text/plain\"}", "content-type is a header agentd sets itself" },
		{ "{\"Mcp-Session-Id\": \"s\"}", "Mcp-Session-Id is a header agentd sets itself" },
		{ "{\"MCP-Protocol-Version\": \"2025-11-25\"}", "agentd sets itself" },
		{ "{\"mcp-param-region\": \"eu\"}", "agentd sets itself" },
		{ "{\"Host\": \"example.com\"}", "agentd sets itself" },
		{ "{\"Bad Name\": \"v\"}", "\"Bad Name\" is not a header name" },
		{ "{\"a:b\": \"v\"}", "is not a header name" },
		{ "{\"\": \"v\"}", "is not a header name" },
		{ "{\"X-A\": \"1\", \"x-a\": \"2\"}", "x-a is given twice" },
		{ "{\"X-A\": 1}", "X-A: the value must be a string" },
		{ "{\"X-A\": \"${MR_CRLF}\"}", "X-A: the value holds a control character" },
		{ "{\"X-A\": \"a\\nb\"}", "control character" },
		{ "[\"X-A\"]", "an object" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct mcp_remote_headers h;
		struct ad_err e = { 0 };
		if (make(cases[i].json, &h, &e) == 0)
			fail_msg("%s was accepted", cases[i].json);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].json, e.msg, cases[i].needle);
		assert_null(strstr(e.msg, "X-Evil"));
		assert_int_equal(h.n, 0);
	}
	/* one too many */
	cJSON *j = cJSON_CreateObject();
	for (int i = 0; i <= MCP_REMOTE_HEADERS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "X-H%d", i);
		cJSON_AddStringToObject(j, name, "v");
	}
	struct mcp_remote_headers h;
	struct ad_err e = { 0 };
	assert_int_equal(mcp_remote_headers_make(j, &h, &e), -1);
	assert_non_null(strstr(e.msg, "more than"));
	assert_int_equal(h.n, 0);
	cJSON_Delete(j);
}

/* Response bodies */

struct seen {
	int requests;
	char method[64];
	bool fail;
};

static int on_request(void *ctx, const struct mcp_msg *request, struct ad_err *err)
{
	struct seen *s = ctx;
	s->requests++;
	snprintf(s->method, sizeof(s->method), "%s", request->method);
	return s->fail ? ad_err_code(err, EIO, "cannot answer") : 0;
}

/* A client with one request in flight (tools/list, id 1). */
static struct mcp_client *client_waiting(void)
{
	struct ad_err e;
	struct mcp_client *c = mcp_client_new(MCP_ERA_LEGACY);
	cJSON *msg = mcp_req_tools_list(c, NULL, &e);
	assert_non_null(msg);
	assert_int_equal(mcp_id_of(msg), 1);
	cJSON_Delete(msg);
	return c;
}

/* body fed in the pieces cut at cuts[] (ascending offsets), then ended. */
static int read_body(const char *type, const char *body, size_t len, const size_t *cuts, size_t ncuts,
		     struct seen *s, struct mcp_msg *answer, bool *list_changed, struct ad_err *e)
{
	struct mcp_client *c = client_waiting();
	struct mcp_remote_body *b = mcp_remote_body_new(c, 1, type, on_request, s);
	assert_non_null(b);
	size_t at = 0;
	int rc = 0;
	for (size_t i = 0; i <= ncuts && rc == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		rc = mcp_remote_body_feed(b, body + at, end - at, e);
		at = end;
	}
	if (rc == 0)
		rc = mcp_remote_body_end(b, answer, e);
	*list_changed = mcp_remote_body_list_changed(b);
	mcp_remote_body_free(b);
	mcp_client_free(c);
	return rc;
}

static void check_tools_answer(struct mcp_msg *m, const char *tool)
{
	assert_int_equal(m->kind, MCP_MSG_RESULT);
	assert_int_equal(m->id, 1);
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(m->result, "tools");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, 0), "name")->valuestring, tool);
	mcp_msg_free(m);
}

/* What server-everything streams (priming event, id fields), with, before the answer,
 * a request and notifications of the server's, as the spec allows; after it, bytes
 * that are not read. In LF and CRLF, fed in pieces of 1 to 6 bytes at every alignment,
 * so that every byte offset is a cut (claude/sse.h's own tests cut its input at every
 * offset in two; a reader here costs an 8 MiB parser, slow under ASan, hence pieces). */
static void sse_split_anywhere(void **state)
{
	(void)state;
	static const char lf[] =
		"id: a0fd8fc8-973d-4562-98a5-9a05ab81d18f\ndata: \n\n"
		": a comment\n"
		"event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"method\":\"ping\"}\n\n"
		"data: {\"method\":\"notifications/tools/list_changed\",\"jsonrpc\":\"2.0\"}\n\n"
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
		"\"params\":{\"level\":\"info\",\"data\":\"\u00e9\"}}\n\n"
		"event: endpoint\ndata: /not-mcp\n\n"
		"event: message\nid: 783e5d21\ndata: {\"result\":{\"tools\":[{\"name\":\"echo\",\"inputSchema\":"
		"{\"type\":\"object\"}}]},\n"
		"data: \"jsonrpc\":\"2.0\",\"id\":1}\n\n"
		"event: message\ndata: {not json, and never read}\n\n";
	char crlf[2 * sizeof(lf)];
	size_t n = 0;
	for (const char *p = lf; *p; p++) {
		if (*p == '\n')
			crlf[n++] = '\r';
		crlf[n++] = *p;
	}
	crlf[n] = '\0';
	const char *bodies[] = { lf, crlf };
	static size_t cuts[2 * sizeof(lf)];
	for (size_t k = 0; k < N(bodies); k++) {
		size_t len = strlen(bodies[k]);
		for (size_t piece = 1; piece <= 6; piece++) {
			for (size_t first = 0; first < piece; first++) {
				size_t ncuts = 0;
				for (size_t at = first; at < len; at += piece)
					if (at > 0)
						cuts[ncuts++] = at;
				struct seen s = { 0 };
				struct mcp_msg m;
				struct ad_err e = { 0 };
				bool changed = false;
				if (read_body(k ? "text/event-stream; charset=utf-8" : "text/event-stream", bodies[k], len,
					      cuts, ncuts, &s, &m, &changed, &e) != 1)
					fail_msg("body %zu in pieces of %zu from %zu: %s", k, piece, first, e.msg);
				check_tools_answer(&m, "echo");
				assert_int_equal(s.requests, 1);
				assert_string_equal(s.method, "ping");
				assert_true(changed);
			}
		}
	}
}

static void json_split_anywhere(void **state)
{
	(void)state;
	static const char body[] =
		"{\"result\":{\"tools\":[{\"name\":\"get-sum\",\"inputSchema\":{\"type\":\"object\"}}]},"
		"\"jsonrpc\":\"2.0\",\"id\":1}\n";
	size_t len = strlen(body);
	for (size_t i = 0; i <= len; i++) {
		struct seen s = { 0 };
		struct mcp_msg m;
		struct ad_err e = { 0 };
		bool changed;
		size_t cut = i;
		if (read_body("Application/JSON; charset=utf-8", body, len, &cut, 1, &s, &m, &changed, &e) != 1)
			fail_msg("cut at %zu: %s", i, e.msg);
		check_tools_answer(&m, "get-sum");
		assert_int_equal(s.requests, 0);
	}
}

/* Bodies without an answer: 0; bodies that cannot be read: -1 with the reason. */
static void bodies_without_answer(void **state)
{
	(void)state;
	static const struct {
		const char *type, *body;
		int rc;
		const char *needle;
	} cases[] = {
		{ NULL, "", 0, NULL },                                                    /* a 202 */
		{ "application/json", "", 0, NULL },
		{ "text/html", "<h1>Not Found</h1>", 0, NULL },
		{ "text/event-stream", "id: 1\ndata: \n\n", 0, NULL },                   /* cut before the answer */
		/* no blank line after the answer: not dispatched */
		{ "text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n", 0, NULL },
		{ "text/event-stream", "data: hello\n\n", -1, "an event of the stream: not a JSON-RPC message" },
		{ "text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n", -1, "never sent" },
		{ "application/json", "<html>", -1, "not a JSON-RPC message" },
		{ "application/json", "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}]", -1, "batch" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct seen s = { 0 };
		struct mcp_msg m;
		struct ad_err e = { 0 };
		bool changed;
		int rc = read_body(cases[i].type, cases[i].body, strlen(cases[i].body), NULL, 0, &s, &m, &changed, &e);
		if (rc != cases[i].rc)
			fail_msg("case %zu: %d (%s)", i, rc, e.msg);
		if (rc == 1)
			mcp_msg_free(&m);
		if (cases[i].needle != NULL && strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].needle);
	}
}

/* server-everything's 400 to the probe: an error without an id is the answer. */
static void error_without_id(void **state)
{
	(void)state;
	static const char body[] =
		"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"Bad Request: Server not initialized\"},"
		"\"id\":null}";
	struct seen s = { 0 };
	struct mcp_msg m;
	struct ad_err e = { 0 };
	bool changed;
	assert_int_equal(read_body("application/json", body, strlen(body), NULL, 0, &s, &m, &changed, &e), 1);
	assert_int_equal(m.kind, MCP_MSG_ERROR);
	assert_int_equal(m.id, 0);
	assert_int_equal(m.code, -32000);
	assert_string_equal(m.message, "Bad Request: Server not initialized");
	mcp_msg_free(&m);
}

/* A failure stays: later feeds and the end say the same. */
static void failure_sticks(void **state)
{
	(void)state;
	struct mcp_client *c = client_waiting();
	struct seen s = { .fail = true };
	struct mcp_remote_body *b = mcp_remote_body_new(c, 1, "text/event-stream", on_request, &s);
	struct ad_err e = { 0 };
	static const char ping[] = "data: {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\n\n";
	assert_int_equal(mcp_remote_body_feed(b, ping, strlen(ping), &e), -1);
	assert_string_equal(e.msg, "cannot answer");
	memset(&e, 0, sizeof(e));
	assert_int_equal(mcp_remote_body_feed(b, "\n", 1, &e), -1);
	assert_string_equal(e.msg, "cannot answer");
	struct mcp_msg m;
	memset(&e, 0, sizeof(e));
	assert_int_equal(mcp_remote_body_end(b, &m, &e), -1);
	assert_string_equal(e.msg, "cannot answer");
	mcp_remote_body_free(b);
	mcp_client_free(c);
}

/* Caps: a JSON body over MCP_MESSAGE_MAX, an event stream over MCP_REMOTE_BODY_MAX. */
static void caps(void **state)
{
	(void)state;
	size_t piece = 1u << 20;
	char *spaces = malloc(piece);
	memset(spaces, ' ', piece);
	static const struct {
		const char *type;
		size_t cap;
	} kinds[] = { { "application/json", MCP_MESSAGE_MAX }, { "text/html", MCP_MESSAGE_MAX },
		      { "text/event-stream", MCP_REMOTE_BODY_MAX } };
	for (size_t k = 0; k < N(kinds); k++) {
		struct mcp_client *c = client_waiting();
		struct mcp_remote_body *b = mcp_remote_body_new(c, 1, kinds[k].type, NULL, NULL);
		struct ad_err e = { 0 };
		size_t fed = 0;
		int rc = 0;
		while (rc == 0 && fed <= kinds[k].cap) {
			/* event-stream: comment lines, so that no event grows */
			if (k == 2)
				spaces[0] = ':', spaces[piece - 1] = '\n';
			rc = mcp_remote_body_feed(b, spaces, piece, &e);
			fed += piece;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(fed, kinds[k].cap + piece);
		assert_int_equal(e.errnum, EMSGSIZE);
		assert_non_null(strstr(e.msg, "a response of more than"));
		mcp_remote_body_free(b);
		mcp_client_free(c);
	}
	free(spaces);
}

static void words(void **state)
{
	(void)state;
	static const struct {
		const char *type, *body, *want;
	} cases[] = {
		{ "text/html", "<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1></body></html>",
		  "404 Not Found Not Found" },
		{ "text/plain", "Internal error:\n\tsomething   broke\r\n", "Internal error: something broke" },
		{ "text/plain", "a <b> c", "a <b> c" },                         /* markup only in HTML */
		{ "text/plain", "bell\a and \xff", "bell\\x07 and \\xff" },
		{ "application/json", "{\"error\": \"bad\"}", "{\"error\": \"bad\"}" },
		{ NULL, "", "" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct mcp_client *c = client_waiting();
		struct mcp_remote_body *b = mcp_remote_body_new(c, 0, cases[i].type, NULL, NULL);
		struct ad_err e;
		char out[MCP_REMOTE_WORDS_MAX + 1];
		assert_int_equal(mcp_remote_body_feed(b, cases[i].body, strlen(cases[i].body), &e), 0);
		mcp_remote_body_words(b, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
		mcp_remote_body_free(b);
		mcp_client_free(c);
	}
	/* long: cut */
	struct mcp_client *c = client_waiting();
	struct mcp_remote_body *b = mcp_remote_body_new(c, 0, "text/plain", NULL, NULL);
	struct ad_err e;
	char long_text[2000], out[MCP_REMOTE_WORDS_MAX + 1];
	memset(long_text, 'w', sizeof(long_text));
	assert_int_equal(mcp_remote_body_feed(b, long_text, sizeof(long_text), &e), 0);
	mcp_remote_body_words(b, out, sizeof(out));
	assert_int_equal(strlen(out), MCP_REMOTE_WORDS_MAX);
	mcp_remote_body_words(b, out, 10);
	assert_string_equal(out, "wwwwwwwww");
	mcp_remote_body_free(b);
	mcp_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expand_ok),
		cmocka_unit_test(expand_refused),
		cmocka_unit_test(expand_cap),
		cmocka_unit_test(headers_lines),
		cmocka_unit_test(headers_refused),
		cmocka_unit_test(sse_split_anywhere),
		cmocka_unit_test(json_split_anywhere),
		cmocka_unit_test(bodies_without_answer),
		cmocka_unit_test(error_without_id),
		cmocka_unit_test(failure_sticks),
		cmocka_unit_test(caps),
		cmocka_unit_test(words),
	};
	return cmocka_run_group_tests(tests, setup_env, NULL);
}

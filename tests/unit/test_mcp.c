/* Unit tests for the MCP client's protocol (include/mcp/mcp.h): requests, reading,
 * choosing the revision, the model's tool names, tool results; with what real servers
 * send (server-everything 2026.8.31, see the notes on MCP) and what a hostile one
 * could. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "mcp/mcp.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The compact JSON of j, in a buffer that lasts until the next call. */
static const char *text_of(const cJSON *j)
{
	static char *last;
	free(last);
	last = cJSON_PrintUnformatted(j);
	assert_non_null(last);
	return last;
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void read_ok(struct mcp_client *c, const char *s, struct mcp_msg *m)
{
	struct ad_err e = { 0 };
	if (mcp_read(c, s, strlen(s), m, &e) < 0)
		fail_msg("refused %s: %s", s, e.msg);
}

static void read_refused(struct mcp_client *c, const char *s, size_t len, const char *needle)
{
	struct mcp_msg m = { 0 };
	struct ad_err e = { 0 };
	if (mcp_read(c, s, len ? len : strlen(s), &m, &e) == 0) {
		mcp_msg_free(&m);
		fail_msg("accepted %.200s", s);
	}
	if (strstr(e.msg, needle) == NULL)
		fail_msg("%.200s: \"%s\" lacks \"%s\"", s, e.msg, needle);
}

/* A request built for c, its id returned, the message freed. */
static int64_t sent(cJSON *msg)
{
	assert_non_null(msg);
	int64_t id = mcp_id_of(msg);
	cJSON_Delete(msg);
	return id;
}

static int open_with(struct mcp_client *c, const char *answer, int http_status, cJSON **next, struct ad_err *e);

static struct mcp_client *legacy_ready(void)
{
	struct mcp_client *c = mcp_client_new(MCP_ERA_LEGACY);
	struct ad_err e = { 0 };
	struct mcp_msg m;
	cJSON *next = NULL;
	assert_int_equal(sent(mcp_open(c, &e)), 1);
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}", &m);
	assert_int_equal(mcp_open_reply(c, &m, 0, &next, &e), 0);
	mcp_msg_free(&m);
	cJSON_Delete(next);
	assert_true(mcp_client_ready(c));
	return c;
}

/* A fixture: a client opened with a legacy server, in *state. */
static int ready_client(void **state)
{
	*state = legacy_ready();
	return 0;
}

static int free_client(void **state)
{
	mcp_client_free(*state);
	return 0;
}

static void requests_are_json_rpc_lines(void **state)
{
	struct mcp_client *c = *state;
	struct ad_err e = { 0 };
	cJSON *args = cJSON_Parse("{\"message\":\"two\\nlines\"}");
	cJSON *msg = mcp_req_tools_call(c, "echo", args, &e);
	assert_string_equal(text_of(msg), "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
			    "{\"name\":\"echo\",\"arguments\":{\"message\":\"two\\nlines\"}}}");
	size_t len;
	char *line = mcp_encode(msg, &len);
	assert_int_equal(len, strlen(line));
	assert_ptr_equal(strchr(line, '\n'), line + len - 1);   /* one line, newline-ended */
	free(line);
	cJSON_Delete(msg);
	assert_string_equal(text_of(msg = mcp_req_tools_list(c, "page 2", &e)),
			    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\",\"params\":{\"cursor\":\"page 2\"}}");
	cJSON_Delete(msg);
	assert_string_equal(text_of(msg = mcp_req_tools_list(c, NULL, &e)),
			    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}");
	cJSON_Delete(msg);
	assert_string_equal(text_of(msg = mcp_req_ping(c, &e)), "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}");
	cJSON_Delete(msg);
	assert_string_equal(text_of(msg = mcp_req_tools_call(c, "get-sum", NULL, &e)),
			    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"get-sum\",\"arguments\":{}}}");
	cJSON_Delete(msg);
	cJSON *array = cJSON_CreateArray();
	assert_null(mcp_req_tools_call(c, "echo", array, &e));
	assert_int_equal(e.errnum, EINVAL);
	cJSON_Delete(array);
	cJSON_Delete(args);
	/* requests in flight are bounded; a forgotten one frees its place */
	for (int i = 5; i < MCP_PENDING_MAX; i++)
		sent(mcp_req_ping(c, &e));
	assert_null(mcp_req_ping(c, &e));
	assert_int_equal(e.errnum, EBUSY);
	mcp_forget(c, 3);
	assert_non_null(msg = mcp_req_ping(c, &e));
	cJSON_Delete(msg);
}

/* server-everything's initialize result over stdio, its instructions cut short */
#define EVERYTHING_INIT "{\"result\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"tools\":{\"listChanged\":true}," \
	"\"prompts\":{\"listChanged\":true},\"resources\":{\"subscribe\":true,\"listChanged\":true},\"logging\":{}," \
	"\"tasks\":{\"list\":{},\"cancel\":{},\"requests\":{\"tools\":{\"call\":{}}}},\"completions\":{}}," \
	"\"serverInfo\":{\"name\":\"mcp-servers/everything\",\"title\":\"Everything Reference Server\",\"version\":\"2.0.0\"}," \
	"\"instructions\":\"# Everything Server\"},\"jsonrpc\":\"2.0\",\"id\":2}"

/* The probe against server-everything over stdio: -32601, then the handshake. */
static void a_legacy_server_is_opened_with_initialize(void **state)
{
	(void)state;
	struct mcp_client *c = mcp_client_new(MCP_ERA_AUTO);
	struct ad_err e = { 0 };
	struct mcp_msg m;
	cJSON *next = NULL, *probe = mcp_open(c, &e);
	assert_string_equal(text_of(probe), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\",\"params\":"
			    "{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
			    "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"agentd\",\"version\":\"" AGENTD_VERSION "\"},"
			    "\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
	cJSON_Delete(probe);
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}", &m);
	assert_int_equal(mcp_open_reply(c, &m, 0, &next, &e), 0);
	mcp_msg_free(&m);
	assert_string_equal(text_of(next), "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":"
			    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"agentd\","
			    "\"version\":\"" AGENTD_VERSION "\"}}}");
	cJSON_Delete(next);
	assert_false(mcp_client_ready(c));
	read_ok(c, EVERYTHING_INIT, &m);
	assert_int_equal(mcp_open_reply(c, &m, 0, &next, &e), 0);
	mcp_msg_free(&m);
	assert_string_equal(text_of(next), "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	cJSON_Delete(next);
	assert_true(mcp_client_ready(c));
	assert_int_equal(mcp_client_era(c), MCP_ERA_LEGACY);
	assert_string_equal(mcp_client_version(c), "2025-11-25");
	assert_string_equal(mcp_client_server_name(c), "mcp-servers/everything");
	assert_string_equal(mcp_client_server_version(c), "2.0.0");
	assert_string_equal(mcp_client_instructions(c), "# Everything Server");
	assert_true(mcp_client_tools_change(c));
	/* its first notification, and a request of its own */
	read_ok(c, "{\"method\":\"notifications/tools/list_changed\",\"jsonrpc\":\"2.0\"}", &m);
	assert_int_equal(m.kind, MCP_MSG_NOTIFICATION);
	assert_string_equal(m.method, MCP_TOOLS_LIST_CHANGED);
	mcp_msg_free(&m);
	mcp_client_restart(c);
	assert_false(mcp_client_ready(c));
	assert_null(mcp_client_version(c));
	mcp_client_free(c);
}

static void a_modern_server_needs_no_handshake(void **state)
{
	(void)state;
	struct mcp_client *c = mcp_client_new(MCP_ERA_AUTO);
	struct ad_err e = { 0 };
	struct mcp_msg m;
	cJSON *next = NULL;
	sent(mcp_open(c, &e));
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"resultType\":\"complete\",\"supportedVersions\":"
		"[\"2026-07-28\",\"2025-11-25\"],\"capabilities\":{\"tools\":{}},\"instructions\":\"weather\","
		"\"ttlMs\":3600000,\"cacheScope\":\"public\",\"_meta\":{\"io.modelcontextprotocol/serverInfo\":"
		"{\"name\":\"ExampleServer\",\"version\":\"1.0.0\"}}}}", &m);
	assert_int_equal(mcp_open_reply(c, &m, 0, &next, &e), 0);
	mcp_msg_free(&m);
	assert_null(next);
	assert_true(mcp_client_ready(c));
	assert_int_equal(mcp_client_era(c), MCP_ERA_MODERN);
	assert_string_equal(mcp_client_version(c), "2026-07-28");
	assert_string_equal(mcp_client_server_name(c), "ExampleServer");
	assert_false(mcp_client_tools_change(c));
	cJSON *msg = mcp_req_tools_call(c, "get_weather", NULL, &e);
	assert_string_equal(text_of(msg), "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
			    "{\"name\":\"get_weather\",\"arguments\":{},\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":"
			    "\"2026-07-28\",\"io.modelcontextprotocol/clientInfo\":{\"name\":\"agentd\",\"version\":\""
			    AGENTD_VERSION "\"},\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
	struct mcp_headers h;
	assert_int_equal(mcp_http_headers(c, msg, &h, &e), 0);
	assert_int_equal(h.n, 5);
	assert_string_equal(h.line[0], "Accept: application/json, text/event-stream");
	assert_string_equal(h.line[1], "Content-Type: application/json");
	assert_string_equal(h.line[2], "MCP-Protocol-Version: 2026-07-28");
	assert_string_equal(h.line[3], "Mcp-Method: tools/call");
	assert_string_equal(h.line[4], "Mcp-Name: get_weather");
	cJSON_Delete(msg);
	/* a name that is not plain ASCII goes in base64 */
	msg = mcp_req_tools_call(c, "Hello, \xe4\xb8\x96\xe7\x95\x8c", NULL, &e);
	assert_int_equal(mcp_http_headers(c, msg, &h, &e), 0);
	assert_string_equal(h.line[4], "Mcp-Name: =?base64?SGVsbG8sIOS4lueVjA==?=");
	cJSON_Delete(msg);
	msg = mcp_req_tools_call(c, "=?base64?literal?=", NULL, &e);
	assert_int_equal(mcp_http_headers(c, msg, &h, &e), 0);
	assert_string_equal(h.line[4], "Mcp-Name: =?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
	cJSON_Delete(msg);
	/* no ping in 2026-07-28; a session id from a confused server is ignored */
	assert_null(mcp_req_ping(c, &e));
	assert_int_equal(e.errnum, EOPNOTSUPP);
	assert_int_equal(mcp_client_set_session(c, "abc", &e), 0);
	mcp_client_free(c);
	/* what a server says of itself is kept cut, as text */
	struct buf in;
	buf_init(&in, 1 << 20);
	buf_puts(&in, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"supportedVersions\":[\"2026-07-28\"],"
		 "\"capabilities\":{},\"serverInfo\":{\"name\":\"");
	for (int i = 0; i < 40000; i++)
		buf_puts(&in, "\xc3\xa9");
	buf_puts(&in, "\"},\"instructions\":\"x");
	for (int i = 0; i < 40000; i++)
		buf_puts(&in, "\xc3\xa9");
	buf_puts(&in, "\"}}");
	c = mcp_client_new(MCP_ERA_AUTO);
	assert_int_equal(open_with(c, buf_str(&in), 0, &next, &e), 0);
	buf_free(&in);
	const char *name = mcp_client_server_name(c), *instructions = mcp_client_instructions(c);
	assert_int_equal(strlen(name), 256);
	assert_int_equal(strlen(instructions), (64 << 10) - 1);   /* the x, then whole characters */
	assert_true(utf8_valid(name, strlen(name), NULL));
	assert_true(utf8_valid(instructions, strlen(instructions), NULL));
	mcp_client_free(c);
}

/* Open c, answering its first request with answer (NULL: none) and http_status. */
static int open_with(struct mcp_client *c, const char *answer, int http_status, cJSON **next, struct ad_err *e)
{
	struct mcp_msg m = { 0 };
	sent(mcp_open(c, e));
	if (answer != NULL)
		read_ok(c, answer, &m);
	int rc = mcp_open_reply(c, answer ? &m : NULL, http_status, next, e);
	mcp_msg_free(&m);
	return rc;
}

struct probe_case {
	const char *answer;       /* to request 1; NULL: none */
	int http_status;
	const char *expect;       /* "initialize", "ready", or a piece of the error */
	enum mcp_era era;
};

static void probe_answers_choose_the_revision(void **state)
{
	(void)state;
	static const struct probe_case cases[] = {
		/* legacy servers, as the TypeScript, Python and Go SDKs answer, or not at all */
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":\"Invalid request parameters\"}}", 0, "initialize", MCP_ERA_AUTO },
		{ NULL, 0, "initialize", MCP_ERA_AUTO },
		/* server-everything over HTTP: 400 with SDK 1.x's -32000, id null */
		{ "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"Bad Request: Server not initialized\"},\"id\":null}", 400, "initialize", MCP_ERA_AUTO },
		{ NULL, 202, "initialize", MCP_ERA_AUTO },
		{ NULL, 404, "initialize", MCP_ERA_AUTO },
		{ NULL, 401, "wants other credentials", MCP_ERA_AUTO },
		{ NULL, 403, "HTTP 403", MCP_ERA_AUTO },
		/* a result that is no DiscoverResult */
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", 0, "initialize", MCP_ERA_AUTO },
		/* modern answers */
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32022,\"message\":\"Unsupported protocol version\",\"data\":{\"supported\":[\"2027-01-01\",\"2025-11-25\"],\"requested\":\"2026-07-28\"}}}", 400, "initialize", MCP_ERA_AUTO },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32022,\"message\":\"Unsupported protocol version\",\"data\":{\"supported\":[\"2027-01-01\"],\"requested\":\"2026-07-28\"}}}", 400, "speaks 2027-01-01", MCP_ERA_AUTO },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32022,\"message\":\"no\"}}", 0, "speaks none", MCP_ERA_AUTO },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32020,\"message\":\"Header mismatch\"}}", 400, "refused server/discover (-32020): Header mismatch", MCP_ERA_AUTO },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32021,\"message\":\"need elicitation\"}}", 400, "(-32021)", MCP_ERA_AUTO },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"supportedVersions\":[\"2026-07-28\"],\"capabilities\":{}}}", 200, "ready", MCP_ERA_AUTO },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"supportedVersions\":[\"2025-06-18\"],\"capabilities\":{}}}", 0, "initialize", MCP_ERA_AUTO },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"supportedVersions\":[\"2024-11-05\",7,null],\"capabilities\":{}}}", 0, "speaks MCP 2024-11-05; agentd speaks 2026-07-28 and 2025-11-25", MCP_ERA_AUTO },
		/* pinned to 2026-07-28: no fallback */
		{ NULL, 0, "does not speak MCP 2026-07-28", MCP_ERA_MODERN },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"supportedVersions\":[\"2026-07-28\"],\"capabilities\":{}}}", 0, "ready", MCP_ERA_MODERN },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct mcp_client *c = mcp_client_new(cases[i].era);
		struct ad_err e = { 0 };
		cJSON *next = NULL;
		int rc = open_with(c, cases[i].answer, cases[i].http_status, &next, &e);
		const char *method = next ? cJSON_GetStringValue(cJSON_GetObjectItem(next, "method")) : NULL;
		if (strcmp(cases[i].expect, "initialize") == 0) {
			if (rc < 0 || method == NULL || strcmp(method, "initialize") != 0)
				fail_msg("case %zu: no initialize (%s)", i, e.msg);
		} else if (strcmp(cases[i].expect, "ready") == 0) {
			if (rc < 0 || next != NULL || !mcp_client_ready(c))
				fail_msg("case %zu: not ready (%s)", i, e.msg);
		} else {
			if (rc == 0)
				fail_msg("case %zu: accepted", i);
			if (strstr(e.msg, cases[i].expect) == NULL || strstr(e.msg, "opening the MCP server: ") != e.msg)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].expect);
		}
		cJSON_Delete(next);
		mcp_client_free(c);
	}
}

static void a_failed_initialize_says_why(void **state)
{
	(void)state;
	static const struct {
		const char *answer;
		int http_status;
		const char *needle;
	} cases[] = {
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":\"Unsupported protocol version\"}}", 0,
		  "initialize: the server answered -32602: Unsupported protocol version" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2024-11-05\"}}", 0, "speaks MCP 2024-11-05" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":7}}", 0, "without a protocolVersion" },
		{ NULL, 0, "initialize: no answer" },
		{ NULL, 500, "initialize: HTTP 500 without an answer" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct mcp_client *c = mcp_client_new(MCP_ERA_LEGACY);
		struct ad_err e = { 0 };
		cJSON *next = NULL;
		assert_int_equal(open_with(c, cases[i].answer, cases[i].http_status, &next, &e), -1);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].needle);
		assert_null(next);
		assert_false(mcp_client_ready(c));
		mcp_client_free(c);
	}
	/* an answer to another request while opening; no opening at all */
	struct mcp_client *c = mcp_client_new(MCP_ERA_LEGACY);
	struct ad_err e = { 0 };
	struct mcp_msg m;
	cJSON *next = NULL;
	assert_int_equal(mcp_open_reply(c, NULL, 0, &next, &e), -1);
	sent(mcp_open(c, &e));
	assert_null(mcp_open(c, &e));
	sent(mcp_req_ping(c, &e));
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}", &m);
	assert_int_equal(mcp_open_reply(c, &m, 0, &next, &e), -1);
	assert_non_null(strstr(e.msg, "the answer to request 2 while opening with 1"));
	mcp_msg_free(&m);
	mcp_client_free(c);
}

static void messages_are_read_and_answered(void **state)
{
	struct mcp_client *c = *state;
	struct ad_err e = { 0 };
	struct mcp_msg m;
	const cJSON *result;
	int64_t a = sent(mcp_req_tools_list(c, NULL, &e)), b = sent(mcp_req_ping(c, &e));
	read_ok(c, "{\"result\":{\"tools\":[]},\"jsonrpc\":\"2.0\",\"id\":2}", &m);
	assert_int_equal(m.kind, MCP_MSG_RESULT);
	assert_int_equal(mcp_result_of(&m, a, &result, &e), 0);
	assert_non_null(cJSON_GetObjectItem(result, "tools"));
	assert_int_equal(mcp_result_of(&m, b, &result, &e), -1);
	assert_non_null(strstr(e.msg, "the answer to request 2, not to 3"));
	mcp_msg_free(&m);
	/* an id answered already is refused, and so is one never sent */
	read_refused(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}", 0, "request 2, which is not waiting");
	read_refused(c, "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}", 0, "an id agentd never sent");
	read_refused(c, "{\"jsonrpc\":\"2.0\",\"id\":\"3\",\"result\":{}}", 0, "an id agentd never sent");
	read_refused(c, "{\"jsonrpc\":\"2.0\",\"id\":2.5,\"result\":{}}", 0, "an id agentd never sent");
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32601,\"message\":\"Method not found\",\"data\":[1]}}", &m);
	assert_int_equal(m.kind, MCP_MSG_ERROR);
	assert_int_equal(m.code, MCP_METHOD_NOT_FOUND);
	assert_int_equal(mcp_result_of(&m, b, &result, &e), -1);
	assert_string_equal(e.msg, "method not found (-32601): Method not found");
	assert_int_equal(e.errnum, EREMOTEIO);
	mcp_msg_free(&m);
	/* the server's requests: ping gets {}, anything else "method not found" */
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"method\":\"ping\"}", &m);
	assert_int_equal(m.kind, MCP_MSG_REQUEST);
	cJSON *answer = mcp_answer(&m);
	assert_string_equal(text_of(answer), "{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"result\":{}}");
	cJSON_Delete(answer);
	assert_int_equal(mcp_result_of(&m, a, &result, &e), -1);
	mcp_msg_free(&m);
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"roots/list\",\"params\":{}}", &m);
	answer = mcp_answer(&m);
	assert_string_equal(text_of(answer),
			    "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}");
	cJSON_Delete(answer);
	mcp_msg_free(&m);
	/* what no server may send */
	static const struct {
		const char *text;
		const char *needle;
	} bad[] = {
		{ "", "not a JSON-RPC message: empty body" },
		{ "Starting default (STDIO) server...", "not a JSON-RPC message: invalid JSON" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}} x", "unexpected data after" },
		{ "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}]", "a JSON-RPC batch" },
		{ "\"2.0\"", "not a JSON-RPC 2.0 message" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":4,\"result\":{}}", "not a JSON-RPC 2.0 message" },
		{ "{\"jsonrpc\":2,\"id\":4,\"result\":{}}", "not a JSON-RPC 2.0 message" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4}", "neither a request, a notification nor an answer" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{},\"error\":{\"code\":1,\"message\":\"x\"}}", "both a result and an error" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"x\",\"result\":{}}", "both a call and an answer" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":[]}", "a result that is not an object" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"resultType\":\"partial\"}}", "unknown resultType" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"resultType\":1}}", "unknown resultType" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":\"boom\"}", "without an error object" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":\"-32601\"}}", "integer code" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":1e300}}", "integer code" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"\"}", "not a name of 1 to 256 bytes" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":7}", "not a name" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":[1]}", "params that are not an object" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":{}}", "neither a string nor an integer" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"no\\u0000\"}", "NUL character" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}", "invalid UTF-8" },
	};
	for (size_t i = 0; i < N(bad); i++)
		read_refused(c, bad[i].text, 0, bad[i].needle);
	/* an error the server could not give an id, and a message over the cap */
	read_ok(c, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}", &m);
	assert_int_equal(m.id, 0);
	assert_int_equal(mcp_result_of(&m, a, &result, &e), -1);
	assert_non_null(strstr(e.msg, "parse error (-32700)"));
	mcp_msg_free(&m);
	char *huge = malloc(MCP_MESSAGE_MAX + 2);
	memset(huge, ' ', MCP_MESSAGE_MAX + 1);
	huge[MCP_MESSAGE_MAX + 1] = '\0';
	read_refused(c, huge, MCP_MESSAGE_MAX + 1, "at most");
	free(huge);
}

static void legacy_http_headers_carry_the_session(void **state)
{
	struct mcp_client *c = *state;
	struct ad_err e = { 0 };
	struct mcp_headers h;
	assert_int_equal(mcp_client_set_session(c, "has space", &e), -1);
	assert_int_equal(mcp_client_set_session(c, "", &e), -1);
	assert_int_equal(mcp_client_set_session(c, "0c7a2def-b1a9-442e-8398-b34c55807379", &e), 0);
	cJSON *msg = mcp_req_tools_list(c, NULL, &e);
	assert_int_equal(mcp_http_headers(c, msg, &h, &e), 0);
	assert_int_equal(h.n, 4);
	assert_string_equal(h.line[2], "MCP-Protocol-Version: 2025-11-25");
	assert_string_equal(h.line[3], "Mcp-Session-Id: 0c7a2def-b1a9-442e-8398-b34c55807379");
	cJSON_Delete(msg);
	mcp_client_restart(c);   /* a 404: the session is gone */
	msg = mcp_open(c, &e);
	assert_int_equal(mcp_http_headers(c, msg, &h, &e), 0);
	assert_int_equal(h.n, 2);
	cJSON_Delete(msg);
}

/* ---- tools: the model's names ---- */

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);
	if (j == NULL)
		fail_msg("test JSON does not parse: %.200s", s);
	return j;
}

/* Add one page to server's list; its cursor (or NULL) comes back. */
static const char *page(struct mcp_toolset *ts, const char *server, const char *result)
{
	cJSON *r = parse(result);
	const char *cursor = (const char *)1;
	struct ad_err e = { 0 };
	if (mcp_toolset_page(ts, server, r, &cursor, &e) < 0)
		fail_msg("%s: page refused: %s", server, e.msg);
	cJSON_Delete(r);
	return cursor;
}

/* A tools/list result with tools named prefix and i, i in [from, to). */
static cJSON *named_tools(const char *prefix, int from, int to)
{
	cJSON *r = cJSON_CreateObject(), *tools = cJSON_AddArrayToObject(r, "tools");
	char name[64];
	for (int i = from; i < to; i++) {
		cJSON *t = cJSON_CreateObject();
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		cJSON_AddStringToObject(t, "name", name);
		cJSON_AddItemToArray(tools, t);
	}
	return r;
}

static void begin(struct mcp_toolset *ts, const char *server)
{
	struct ad_err e = { 0 };
	if (mcp_toolset_begin(ts, server, &e) < 0)
		fail_msg("begin %s: %s", server, e.msg);
}

/* Every name of defs is one the API takes, and no two are the same. */
static void names_are_valid_and_unique(const cJSON *defs)
{
	regex_t re;
	assert_int_equal(regcomp(&re, "^[a-zA-Z0-9_-]{1,64}$", REG_EXTENDED | REG_NOSUB), 0);
	size_t n = (size_t)cJSON_GetArraySize(defs);
	const char **names = calloc(n + 1, sizeof(*names));
	size_t k = 0;
	const cJSON *d;
	cJSON_ArrayForEach(d, defs) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(d, "name"));
		assert_non_null(name);
		if (regexec(&re, name, 0, NULL, 0) != 0)
			fail_msg("the API would refuse the name %s", name);
		const cJSON *schema = cJSON_GetObjectItem(d, "input_schema");
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(schema, "type")), "object");
		names[k++] = name;
	}
	qsort(names, n, sizeof(*names), strcmp_ptr);
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			fail_msg("two tools are named %s", names[i]);
	free(names);
	regfree(&re);
}

static void find_ok(struct mcp_toolset *ts, const char *name, const char *server, const char *tool)
{
	const char *s = NULL, *t = NULL;
	if (mcp_toolset_find(ts, name, &s, &t) < 0)
		fail_msg("%s not found", name);
	assert_string_equal(s, server);
	assert_string_equal(t, tool);
}

/* The model's name of (server, tool), from the definitions. */
static const char *api_name(struct mcp_toolset *ts, const cJSON *defs, const char *server, const char *tool)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, defs) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(d, "name")), *s, *t;
		if (mcp_toolset_find(ts, name, &s, &t) == 0 && strcmp(s, server) == 0 && strcmp(t, tool) == 0)
			return name;
	}
	fail_msg("no name for %s/%s", server, tool);
	return NULL;
}

#define LONG_TOOL "a_tool_name_that_goes_on_and_on_well_past_what_the_messages_api_allows_for_names"

static void tools_get_names_the_api_takes(void **state)
{
	(void)state;
	struct mcp_toolset *ts = mcp_toolset_new();
	begin(ts, "everything");
	/* server-everything's own echo and get-sum, as tools/list gives them */
	assert_null(page(ts, "everything", "{\"tools\":[{\"name\":\"echo\",\"title\":\"Echo Tool\",\"description\":"
		"\"Echoes back the input string\",\"inputSchema\":{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
		"\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\",\"description\":\"Message to echo\"}},"
		"\"required\":[\"message\"]},\"annotations\":{\"readOnlyHint\":true},\"execution\":{\"taskSupport\":\"forbidden\"}},"
		"{\"name\":\"get-sum\",\"title\":\"Get Sum Tool\",\"inputSchema\":{\"type\":\"object\",\"properties\":"
		"{\"a\":{\"type\":\"number\"},\"b\":{\"type\":\"number\"}},\"required\":[\"a\",\"b\"]}},"
		"{\"name\":\"admin.tools.list\"}]}"));
	begin(ts, "my.server");
	assert_null(page(ts, "my.server", "{\"tools\":[{\"name\":\"get.data\"},{\"name\":\"get_data\"},"
		"{\"name\":\"" LONG_TOOL "\"},{\"name\":\"\xc3\xa9t\xc3\xa9\"}]}"));
	cJSON *defs = mcp_toolset_defs(ts);
	assert_non_null(defs);
	assert_int_equal(cJSON_GetArraySize(defs), 7);
	assert_int_equal(mcp_toolset_count(ts), 7);
	names_are_valid_and_unique(defs);
	assert_string_equal(text_of(cJSON_GetArrayItem(defs, 0)),
		"{\"name\":\"mcp__everything__echo\",\"description\":\"Echoes back the input string\",\"input_schema\":"
		"{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\",\"properties\":{\"message\":"
		"{\"type\":\"string\",\"description\":\"Message to echo\"}},\"required\":[\"message\"]}}");
	/* no description: the title; no schema: any object */
	assert_string_equal(text_of(cJSON_GetArrayItem(defs, 1)),
		"{\"name\":\"mcp__everything__get-sum\",\"description\":\"Get Sum Tool\",\"input_schema\":{\"type\":\"object\","
		"\"properties\":{\"a\":{\"type\":\"number\"},\"b\":{\"type\":\"number\"}},\"required\":[\"a\",\"b\"]}}");
	assert_string_equal(text_of(cJSON_GetArrayItem(defs, 2)),
			    "{\"name\":\"mcp__everything__admin_tools_list\",\"input_schema\":{\"type\":\"object\"}}");
	assert_string_equal(api_name(ts, defs, "my.server", "\xc3\xa9t\xc3\xa9"), "mcp__my_server____t__");
	/* get.data and get_data would share a name: both are hashed, apart */
	const char *a = api_name(ts, defs, "my.server", "get.data"), *b = api_name(ts, defs, "my.server", "get_data");
	assert_int_equal(strncmp(a, "mcp__my_server__get_data_", 25), 0);
	assert_int_equal(strncmp(b, "mcp__my_server__get_data_", 25), 0);
	assert_int_equal(strlen(a), 33);
	assert_string_not_equal(a, b);
	const char *l = api_name(ts, defs, "my.server", LONG_TOOL);
	assert_int_equal(strlen(l), MCP_API_NAME_MAX);
	assert_int_equal(strncmp(l, "mcp__my_server__a_tool_name", 27), 0);
	find_ok(ts, "mcp__everything__get-sum", "everything", "get-sum");
	find_ok(ts, a, "my.server", "get.data");
	find_ok(ts, l, "my.server", LONG_TOOL);
	const char *s, *t;
	assert_int_equal(mcp_toolset_find(ts, "mcp__everything__nope", &s, &t), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(mcp_toolset_find(ts, "bash", &s, &t), -1);
	assert_int_equal(mcp_toolset_find(ts, NULL, &s, &t), -1);
	cJSON_Delete(defs);
	/* listing a server again replaces its tools, and keeps the others */
	begin(ts, "everything");
	assert_null(page(ts, "everything", "{\"tools\":[{\"name\":\"echo\"}]}"));
	assert_int_equal(mcp_toolset_find(ts, "mcp__everything__get-sum", &s, &t), -1);
	find_ok(ts, "mcp__everything__echo", "everything", "echo");
	find_ok(ts, "mcp__my_server____t__", "my.server", "\xc3\xa9t\xc3\xa9");
	assert_int_equal(mcp_toolset_count(ts), 5);
	mcp_toolset_free(ts);
}

/* Names of (server, tool) pairs given in one order and the other must agree. */
static void names_do_not_depend_on_order(void **state)
{
	(void)state;
	static const char *const servers[] = { "s_1", "s.1" };
	static const char *const tools[] = { "a.b", "a_b", "a-b", "zz", LONG_TOOL "_x", LONG_TOOL "_y", "" };
	struct mcp_toolset *ts[2];
	cJSON *defs[2];
	for (int order = 0; order < 2; order++) {
		ts[order] = mcp_toolset_new();
		for (size_t k = 0; k < N(servers); k++) {
			const char *server = servers[order ? N(servers) - 1 - k : k];
			begin(ts[order], server);
			cJSON *r = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(r, "tools");
			for (size_t i = 0; i + 1 < N(tools); i++) {
				cJSON *tool = cJSON_CreateObject();
				cJSON_AddStringToObject(tool, "name", tools[order ? N(tools) - 2 - i : i]);
				cJSON_AddItemToArray(list, tool);
			}
			page(ts[order], server, text_of(r));
			cJSON_Delete(r);
		}
		defs[order] = mcp_toolset_defs(ts[order]);
		names_are_valid_and_unique(defs[order]);
	}
	for (size_t k = 0; k < N(servers); k++) {
		for (size_t i = 0; i + 1 < N(tools); i++) {
			char first[80];
			snprintf(first, sizeof(first), "%s", api_name(ts[0], defs[0], servers[k], tools[i]));
			assert_string_equal(first, api_name(ts[1], defs[1], servers[k], tools[i]));
		}
	}
	/* s_1 and s.1 make one name: nothing of theirs is plain, but each is found */
	assert_int_equal(mcp_toolset_find(ts[0], "mcp__s_1__zz", &(const char *){ 0 }, &(const char *){ 0 }), -1);
	cJSON_Delete(defs[0]);
	cJSON_Delete(defs[1]);
	mcp_toolset_free(ts[1]);
	/* a tool whose plain name is another's hashed one: still one name each */
	struct mcp_toolset *t2 = mcp_toolset_new();
	char hashed[80], json[256];
	snprintf(hashed, sizeof(hashed), "%s", api_name(ts[0], defs[0] = mcp_toolset_defs(ts[0]), "s_1", "a.b"));
	cJSON_Delete(defs[0]);
	begin(t2, "s_1");
	begin(t2, "s.1");
	page(t2, "s.1", "{\"tools\":[{\"name\":\"a.b\"},{\"name\":\"a_b\"}]}");
	snprintf(json, sizeof(json), "{\"tools\":[{\"name\":\"a.b\"},{\"name\":\"a_b\"},{\"name\":\"%s\"}]}",
		 hashed + strlen("mcp__s_1__"));
	page(t2, "s_1", json);
	cJSON *d2 = mcp_toolset_defs(t2);
	assert_int_equal(cJSON_GetArraySize(d2), 5);
	names_are_valid_and_unique(d2);
	find_ok(t2, api_name(t2, d2, "s_1", hashed + strlen("mcp__s_1__")), "s_1", hashed + strlen("mcp__s_1__"));
	cJSON_Delete(d2);
	mcp_toolset_free(t2);
	mcp_toolset_free(ts[0]);
}

static void hostile_tool_lists_are_bounded(void **state)
{
	(void)state;
	struct mcp_toolset *ts = mcp_toolset_new();
	struct ad_err e = { 0 };
	const char *cursor, *why;
	char long_name[MCP_SERVER_NAME_MAX + 2];
	memset(long_name, 's', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(mcp_toolset_begin(ts, "", &e), -1);
	assert_int_equal(mcp_toolset_begin(ts, long_name, &e), -1);
	cJSON *r = parse("{\"tools\":[]}");
	assert_int_equal(mcp_toolset_page(ts, "never-begun", r, &cursor, &e), -1);
	cJSON_Delete(r);
	begin(ts, "bad");
	static const char *const not_lists[] = { "[]", "{}", "{\"tools\":\"x\"}", "{\"tools\":{}}",
						 "{\"tools\":[],\"nextCursor\":5}" };
	for (size_t i = 0; i < N(not_lists); i++) {
		r = parse(not_lists[i]);
		if (mcp_toolset_page(ts, "bad", r, &cursor, &e) == 0)
			fail_msg("accepted %s", not_lists[i]);
		cJSON_Delete(r);
	}
	/* tools that cannot be offered are left out and counted */
	struct buf big;
	buf_init(&big, 1 << 20);
	buf_puts(&big, "{\"tools\":[5,{},{\"name\":\"\"},{\"name\":\"");
	for (int i = 0; i <= MCP_TOOL_NAME_MAX; i++)
		buf_puts(&big, "n");
	buf_puts(&big, "\"},{\"name\":\"s\",\"inputSchema\":\"string\"},{\"name\":\"t\",\"inputSchema\":{\"type\":\"string\"}},"
		 "{\"name\":\"u\",\"inputSchema\":{\"properties\":{}}},{\"name\":\"v\",\"inputSchema\":null},"
		 "{\"name\":\"dup\"},{\"name\":\"dup\"},{\"name\":7},"
		 "{\"name\":\"big\",\"inputSchema\":{\"type\":\"object\",\"description\":\"");
	for (int i = 0; i < 70000; i++)
		buf_puts(&big, "x");
	buf_puts(&big, "\"}},{\"name\":\"ok\",\"description\":\"");
	for (int i = 0; i < 3000; i++)
		buf_puts(&big, "\xc3\xa9");
	buf_puts(&big, "\"}],\"nextCursor\":\"\"}");
	assert_false(big.oom);
	begin(ts, "hostile");
	assert_null(page(ts, "hostile", buf_str(&big)));
	buf_free(&big);
	assert_int_equal(mcp_toolset_skipped(ts, "hostile", &why), 11);
	assert_string_equal(why, "a tool that is not an object");
	assert_int_equal(mcp_toolset_count(ts), 2);
	cJSON *defs = mcp_toolset_defs(ts);
	names_are_valid_and_unique(defs);
	const char *desc = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(defs, 1), "description"));
	assert_true(strlen(desc) <= MCP_DESCRIPTION_MAX);
	assert_true(utf8_valid(desc, strlen(desc), NULL));
	assert_string_equal(desc + strlen(desc) - 3, "\xe2\x80\xa6");
	cJSON_Delete(defs);
	/* pages: followed, a loop refused, and no more than MCP_PAGES_MAX */
	begin(ts, "paged");
	assert_string_equal(page(ts, "paged", "{\"tools\":[{\"name\":\"a\"}],\"nextCursor\":\"c1\"}"), "c1");
	assert_string_equal(page(ts, "paged", "{\"tools\":[{\"name\":\"b\"}],\"nextCursor\":\"c2\"}"), "c2");
	r = parse("{\"tools\":[{\"name\":\"c\"}],\"nextCursor\":\"c1\"}");
	assert_int_equal(mcp_toolset_page(ts, "paged", r, &cursor, &e), -1);
	assert_non_null(strstr(e.msg, "the same cursor twice"));
	assert_null(cursor);
	cJSON_Delete(r);
	begin(ts, "paged");
	char json[128];
	for (int i = 0; i < MCP_PAGES_MAX - 1; i++) {
		snprintf(json, sizeof(json), "{\"tools\":[{\"name\":\"t%d\"}],\"nextCursor\":\"p%d\"}", i, i);
		assert_non_null(page(ts, "paged", json));
	}
	r = parse("{\"tools\":[],\"nextCursor\":\"one more\"}");
	assert_int_equal(mcp_toolset_page(ts, "paged", r, &cursor, &e), -1);
	assert_non_null(strstr(e.msg, "more than 100 pages"));
	cJSON_Delete(r);
	mcp_toolset_free(ts);
}

static void ten_thousand_tools(void **state)
{
	(void)state;
	enum { SERVERS = 10, EACH = MCP_TOOLS_MAX };
	struct mcp_toolset *ts = mcp_toolset_new();
	const char *why;
	alarm(300);   /* a deadline for a hang, far above the time it takes */
	/* one server that lists ten thousand tools: the first thousand are taken */
	begin(ts, "flood");
	cJSON *r = named_tools("tool", 0, 10000);
	page(ts, "flood", text_of(r));
	cJSON_Delete(r);
	assert_int_equal(mcp_toolset_count(ts), MCP_TOOLS_MAX);
	assert_int_equal(mcp_toolset_skipped(ts, "flood", &why), 10000 - MCP_TOOLS_MAX);
	assert_string_equal(why, "tool1000: more than 1000 tools");
	begin(ts, "flood");
	/* ten servers whose tools all meet in pairs (t.N and t_N): ten thousand names */
	char server[16];
	for (int s = 0; s < SERVERS; s++) {
		snprintf(server, sizeof(server), "srv%d", s);
		begin(ts, server);
		r = named_tools("t.", 0, EACH / 2);
		const char *cursor = page(ts, server, text_of(r));
		assert_null(cursor);
		cJSON_Delete(r);
		r = named_tools("t_", 0, EACH / 2);
		cJSON_AddStringToObject(r, "nextCursor", "");
		page(ts, server, text_of(r));
		cJSON_Delete(r);
	}
	assert_int_equal(mcp_toolset_count(ts), SERVERS * EACH);
	cJSON *defs = mcp_toolset_defs(ts);
	assert_int_equal(cJSON_GetArraySize(defs), SERVERS * EACH);
	names_are_valid_and_unique(defs);
	/* each name leads back to one tool, each tool is reached once */
	static bool seen[SERVERS][EACH];
	const cJSON *d;
	cJSON_ArrayForEach(d, defs) {
		const char *s, *t;
		assert_int_equal(mcp_toolset_find(ts, cJSON_GetStringValue(cJSON_GetObjectItem(d, "name")), &s, &t), 0);
		int si = atoi(s + 3), ti = atoi(t + 2) * 2 + (t[1] == '_');
		assert_false(seen[si][ti]);
		seen[si][ti] = true;
	}
	alarm(0);
	cJSON_Delete(defs);
	mcp_toolset_free(ts);
}

/* ---- tool results ---- */

static cJSON *converted(const char *result, size_t max, bool *is_error)
{
	cJSON *r = parse(result), *content = NULL;
	struct ad_err e = { 0 };
	if (mcp_tool_result(r, max, &content, is_error, &e) < 0)
		fail_msg("refused %.200s: %s", result, e.msg);
	cJSON_Delete(r);
	const cJSON *b;
	cJSON_ArrayForEach(b, content) {
		const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(b, "text"));
		if (text != NULL && (text[0] == '\0' || !utf8_valid(text, strlen(text), NULL)))
			fail_msg("an empty or invalid text block from %.200s", result);
	}
	return content;
}

static void convert_is(const char *result, const char *want, bool want_error)
{
	bool is_error = !want_error;
	cJSON *content = converted(result, 1 << 20, &is_error);
	if (strcmp(text_of(content), want) != 0)
		fail_msg("%s\n gave %s\n  not %s", result, text_of(content), want);
	assert_int_equal(is_error, want_error);
	cJSON_Delete(content);
}

#define PNG "iVBORw0KGgo="   /* the 8 bytes a PNG starts with */
#define A40 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define A200 A40 A40 A40 A40 A40   /* 150 zero bytes in base64 */

static void tool_results_become_tool_result_content(void **state)
{
	(void)state;
	/* server-everything's answers */
	convert_is("{\"content\":[{\"type\":\"text\",\"text\":\"Echo: hello from agentd\"}]}",
		   "[{\"type\":\"text\",\"text\":\"Echo: hello from agentd\"}]", false);
	convert_is("{\"content\":[{\"type\":\"text\",\"text\":\"MCP error -32602: Tool no-such-tool not found\"}],\"isError\":true}",
		   "[{\"type\":\"text\",\"text\":\"MCP error -32602: Tool no-such-tool not found\"}]", true);
	convert_is("{\"content\":[{\"type\":\"text\",\"text\":\"Here's the image you requested:\"},{\"type\":\"image\","
		   "\"data\":\"" PNG "\",\"mimeType\":\"image/png\"},{\"type\":\"text\",\"text\":\"The image above is the MCP logo.\"}]}",
		   "[{\"type\":\"text\",\"text\":\"Here's the image you requested:\"},{\"type\":\"image\",\"source\":"
		   "{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" PNG "\"}},"
		   "{\"type\":\"text\",\"text\":\"The image above is the MCP logo.\"}]", false);
	convert_is("{\"content\":[{\"type\":\"text\",\"text\":\"Here are 2 resource links:\"},{\"name\":\"Blob Resource 1\","
		   "\"uri\":\"demo://resource/dynamic/blob/1\",\"description\":\"Resource 1: plaintext resource\","
		   "\"mimeType\":\"text/plain\",\"type\":\"resource_link\"},{\"type\":\"resource_link\",\"uri\":\"file:///a\",\"name\":\"a\"}]}",
		   "[{\"type\":\"text\",\"text\":\"Here are 2 resource links:\\n[resource link: Blob Resource 1 "
		   "<demo://resource/dynamic/blob/1> text/plain: Resource 1: plaintext resource]\\n[resource link: a <file:///a>]\"}]", false);
	convert_is("{\"content\":[{\"type\":\"text\",\"text\":\"{\\\"temperature\\\":33}\"}],\"structuredContent\":{\"temperature\":33}}",
		   "[{\"type\":\"text\",\"text\":\"{\\\"temperature\\\":33}\"}]", false);
	convert_is("{\"content\":[],\"structuredContent\":{\"temperature\":33,\"conditions\":\"Cloudy\"}}",
		   "[{\"type\":\"text\",\"text\":\"{\\\"temperature\\\":33,\\\"conditions\\\":\\\"Cloudy\\\"}\"}]", false);
	convert_is("{\"content\":[{\"type\":\"resource\",\"resource\":{\"uri\":\"demo://resource/dynamic/text/1\","
		   "\"mimeType\":\"text/plain\",\"text\":\"Resource 1: plaintext\"}}]}",
		   "[{\"type\":\"text\",\"text\":\"[resource demo://resource/dynamic/text/1]\\nResource 1: plaintext\"}]", false);
	/* what the model cannot take becomes a note */
	convert_is("{\"content\":[{\"type\":\"image\",\"data\":\"PHN2Zz4=\",\"mimeType\":\"image/svg+xml\"},"
		   "{\"type\":\"image\",\"data\":\"not base64!\",\"mimeType\":\"image/png\"},{\"type\":\"image\",\"mimeType\":\"image/gif\"},"
		   "{\"type\":\"image\",\"data\":\"" PNG "\",\"mimeType\":\"IMAGE/JPG\"},"
		   "{\"type\":\"audio\",\"data\":\"UklGRg==\",\"mimeType\":\"audio/wav\"},"
		   "{\"type\":\"resource\",\"resource\":{\"uri\":\"file:///x.gz\",\"mimeType\":\"application/gzip\",\"blob\":\"H4sI\"}},"
		   "{\"type\":\"resource\",\"resource\":{\"uri\":\"file:///x.png\",\"mimeType\":\"image/png\",\"blob\":\"" PNG "\"}},"
		   "{\"type\":\"video\\u0001\\u00e9\"},5,{\"text\":\"no type\"},{\"type\":\"text\"},{\"type\":\"resource\"}]}",
		   "[{\"type\":\"text\",\"text\":\"[image of type image/svg+xml not shown: the model takes png, jpeg, gif and webp]\\n"
		   "[image (image/png) not shown: its data is not base64]\\n[image (image/gif) not shown: its data is not base64]\"},"
		   "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\",\"data\":\"" PNG "\"}},"
		   "{\"type\":\"text\",\"text\":\"[audio (audio/wav, 8 bytes of base64) not shown: the model takes no audio]\\n"
		   "[resource file:///x.gz (application/gzip, 4 bytes of base64) not shown]\"},"
		   "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" PNG "\"}},"
		   "{\"type\":\"text\",\"text\":\"[content of type video\\\\x01\xc3\xa9 not shown]\\n[a content block that is not an object]\\n"
		   "[a content block without a type]\\n[a text block without text]\\n[a resource block without a resource]\"}]", false);
	/* notes cut where a character starts */
	struct buf in;
	buf_init(&in, 1 << 20);
	buf_puts(&in, "{\"content\":[{\"type\":\"resource_link\",\"name\":\"");
	for (int i = 0; i < 3; i++) {
		for (int k = 0; k < 300; k++)
			buf_puts(&in, "\xc3\xa9");
		buf_puts(&in, i == 0 ? "\",\"uri\":\"" : i == 1 ? "\",\"mimeType\":\"text/plain\",\"description\":\"" : "\"}]}");
	}
	bool is_error;
	cJSON *content = converted(buf_str(&in), 1 << 20, &is_error);
	assert_int_equal(cJSON_GetArraySize(content), 1);
	cJSON_Delete(content);
	buf_free(&in);
	convert_is("{\"content\":[]}", "[{\"type\":\"text\",\"text\":\"(no output)\"}]", false);
	convert_is("{}", "[{\"type\":\"text\",\"text\":\"(no output)\"}]", false);
	convert_is("{\"content\":[{\"type\":\"text\",\"text\":\"\"}],\"isError\":\"yes\"}",
		   "[{\"type\":\"text\",\"text\":\"(no output)\"}]", false);
	convert_is("{\"resultType\":\"input_required\",\"inputRequests\":{}}",
		   "[{\"type\":\"text\",\"text\":\"[the MCP server asked for input (elicitation, sampling or roots), which agentd "
		   "cannot give]\"}]", true);
	static const char *const refused[] = { "[]", "{\"content\":\"text\"}", "{\"content\":{}}" };
	for (size_t i = 0; i < N(refused); i++) {
		cJSON *r = parse(refused[i]);
		struct ad_err e = { 0 };
		content = (cJSON *)1;
		assert_int_equal(mcp_tool_result(r, 100, &content, &is_error, &e), -1);
		assert_null(content);
		cJSON_Delete(r);
	}
}

static void tool_results_are_capped(void **state)
{
	(void)state;
	bool is_error;
	struct buf in;
	/* 2000 bytes of é under a cap of 1001: cut where a character starts */
	buf_init(&in, 1 << 20);
	buf_puts(&in, "{\"content\":[{\"type\":\"text\",\"text\":\"");
	for (int i = 0; i < 1000; i++)
		buf_puts(&in, "\xc3\xa9");
	buf_puts(&in, "\"}]}");
	cJSON *content = converted(buf_str(&in), 1001, &is_error);
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "text"));
	assert_int_equal(cJSON_GetArraySize(content), 1);
	assert_int_equal(strncmp(text + 1000, "\n[output cut: 1000 more bytes not shown]", 41), 0);
	cJSON_Delete(content);
	buf_free(&in);
	/* an image over the cap is left out, text after it still fits */
	content = converted("{\"content\":[{\"type\":\"image\",\"data\":\"" A200 "\",\"mimeType\":\"image/png\"},"
			    "{\"type\":\"text\",\"text\":\"after\"}]}", 150, &is_error);
	assert_string_equal(text_of(content), "[{\"type\":\"text\",\"text\":\"[image (image/png, 200 bytes of base64) not shown: "
			    "over the output cap]\\nafter\\n[output cut: 200 more bytes not shown]\"}]");
	cJSON_Delete(content);
	/* a hundred thousand tiny blocks make one block, capped */
	buf_init(&in, 8 << 20);
	buf_puts(&in, "{\"content\":[");
	for (int i = 0; i < 100000; i++)
		buf_puts(&in, i ? ",{\"type\":\"text\",\"text\":\"x\"}" : "{\"type\":\"text\",\"text\":\"x\"}");
	buf_puts(&in, "]}");
	content = converted(buf_str(&in), 1000, &is_error);
	assert_int_equal(cJSON_GetArraySize(content), 1);
	text = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "text"));
	assert_true(strlen(text) < 1100);
	assert_non_null(strstr(text, "x\nx\n"));
	assert_non_null(strstr(text, "more bytes not shown]"));
	cJSON_Delete(content);
	buf_free(&in);
	/* nothing at all fits */
	content = converted("{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}", 0, &is_error);
	assert_string_equal(text_of(content), "[{\"type\":\"text\",\"text\":\"[output cut: 5 more bytes not shown]\"}]");
	cJSON_Delete(content);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(requests_are_json_rpc_lines, ready_client, free_client),
		cmocka_unit_test(a_legacy_server_is_opened_with_initialize),
		cmocka_unit_test(a_modern_server_needs_no_handshake),
		cmocka_unit_test(probe_answers_choose_the_revision),
		cmocka_unit_test(a_failed_initialize_says_why),
		cmocka_unit_test_setup_teardown(messages_are_read_and_answered, ready_client, free_client),
		cmocka_unit_test_setup_teardown(legacy_http_headers_carry_the_session, ready_client, free_client),
		cmocka_unit_test(tools_get_names_the_api_takes),
		cmocka_unit_test(names_do_not_depend_on_order),
		cmocka_unit_test(hostile_tool_lists_are_bounded),
		cmocka_unit_test(ten_thousand_tools),
		cmocka_unit_test(tool_results_become_tool_result_content),
		cmocka_unit_test(tool_results_are_capped),
	};
	return cmocka_run_group_tests_name("mcp", tests, NULL, NULL);
}

/* Unit tests for checking the body of POST /api/chat (include/api/chat_request.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "api/chat_request.h"
#include "core/json.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define LIMIT 10000

struct bad_case {
	const char *json;
	int64_t max_chars;
	const char *needle;   /* must appear in the error message */
};

static cJSON *parse(const char *text)
{
	cJSON *j = NULL;
	struct ad_err e = { 0 };
	if (json_parse_strict(text, strlen(text), &j, &e) != 0)
		fail_msg("test input is not JSON: %s: %s", text, e.msg);
	return j;
}

static void expect_ok(const char *json, int64_t max_chars)
{
	cJSON *body = parse(json);
	struct chat_request req;
	struct ad_err e = { 0 };
	if (chat_request_parse(body, max_chars, &req, &e) != 0)
		fail_msg("%s refused: %s", json, e.msg);
	cJSON_Delete(body);
}

static void expect_refused(const struct bad_case *c)
{
	cJSON *body = parse(c->json);
	struct chat_request req;
	struct ad_err e = { 0 };
	int rc = chat_request_parse(body, c->max_chars, &req, &e);
	cJSON_Delete(body);
	if (rc == 0)
		fail_msg("accepted %s", c->json);
	if (strstr(e.msg, c->needle) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", c->json, e.msg, c->needle);
}

static void minimal_request(void **state)
{
	(void)state;
	cJSON *body = parse("{\"message\":\"hi\"}");
	struct chat_request req;
	struct ad_err e = { 0 };
	assert_int_equal(chat_request_parse(body, LIMIT, &req, &e), 0);
	assert_string_equal(req.message, "hi");
	assert_null(req.history);
	assert_null(req.session_id);
	assert_null(req.system);
	assert_null(req.model);
	assert_false(req.stream);
	cJSON_Delete(body);
}

static void every_field(void **state)
{
	(void)state;
	cJSON *body = parse("{\"message\":\"go\",\"stream\":true,\"session_id\":\"s-1_A\","
			    "\"system\":\"be brief\",\"model\":\"claude-x.1:beta@2\","
			    "\"history\":[{\"role\":\"user\",\"content\":\"a\"},"
			    "{\"role\":\"assistant\",\"content\":\"b\"}]}");
	struct chat_request req;
	struct ad_err e = { 0 };
	assert_int_equal(chat_request_parse(body, LIMIT, &req, &e), 0);
	assert_string_equal(req.message, "go");
	assert_true(req.stream);
	assert_string_equal(req.session_id, "s-1_A");
	assert_string_equal(req.system, "be brief");
	assert_string_equal(req.model, "claude-x.1:beta@2");
	assert_int_equal(cJSON_GetArraySize(req.history), 2);
	cJSON_Delete(body);
}

static void accepted_bodies(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		int64_t max_chars;
	} cases[] = {
		{ "{\"message\":\"h\\u00e9\\u00e9\"}", 3 },              /* 3 characters, 5 bytes */
		{ "{\"message\":\"\xf0\x9f\x98\x80\"}", 1 },
		{ "{\"message\":\"a\\tb\\nc\\r\\n\"}", LIMIT },
		{ "{\"message\":\"x\",\"stream\":false}", LIMIT },
		{ "{\"message\":\"x\",\"history\":null}", LIMIT },
		{ "{\"message\":\"x\",\"history\":[]}", LIMIT },
		{ "{\"message\":\"x\",\"history\":[{\"role\":\"user\",\"content\":"
		  "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
		  "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"c\"}]}]}", LIMIT },
	};
	for (size_t i = 0; i < N(cases); i++)
		expect_ok(cases[i].json, cases[i].max_chars);
}

static void message_refusals(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "[]", LIMIT, "must be a JSON object" },
		{ "{}", LIMIT, "message is required" },
		{ "{\"stream\":true}", LIMIT, "message is required" },
		{ "{\"message\":\"\"}", LIMIT, "must not be empty" },
		{ "{\"message\":\" \\n\\t \"}", LIMIT, "message must hold more than white space" },
		{ "{\"message\":5}", LIMIT, "message must be a string" },
		{ "{\"message\":null}", LIMIT, "message must be a string" },
		{ "{\"message\":[\"hi\"]}", LIMIT, "message must be a string" },
		{ "{\"message\":\"h\\u00e9llo\"}", 3, "5 characters long; the limit is 3" },
		{ "{\"message\":\"abcd\"}", 3, "limit is 3" },
		{ "{\"message\":\"red \\u001b[31m\"}", LIMIT, "ESC" },
		{ "{\"message\":\"bell\\u0007\"}", LIMIT, "control character 0x07 at byte 4" },
		{ "{\"message\":\"\\u007f\"}", LIMIT, "control character 0x7f" },
		{ "{\"message\":\"\\u000b\"}", LIMIT, "control character 0x0b" },
		{ "{\"message\":\"x\",\"mesage\":\"y\"}", LIMIT, "unknown field \"mesage\"" },
	};
	for (size_t i = 0; i < N(cases); i++)
		expect_refused(&cases[i]);
}

static void field_refusals(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "{\"message\":\"x\",\"stream\":\"true\"}", LIMIT, "stream must be true or false" },
		{ "{\"message\":\"x\",\"stream\":1}", LIMIT, "stream must be true or false" },
		{ "{\"message\":\"x\",\"session_id\":\"a/b\"}", LIMIT, "session_id may hold only" },
		{ "{\"message\":\"x\",\"session_id\":\"a:b\"}", LIMIT, "session_id may hold only" },
		{ "{\"message\":\"x\",\"session_id\":\"\"}", LIMIT, "session_id must be 1 to 70" },
		{ "{\"message\":\"x\",\"session_id\":7}", LIMIT, "session_id must be a string" },
		/* a session id with the longest node name is 70 (core/node_id.h) */
		{ "{\"message\":\"x\",\"session_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", LIMIT, "1 to 70" },
		{ "{\"message\":\"x\",\"model\":\"claude 3\"}", LIMIT, "model may hold only" },
		{ "{\"message\":\"x\",\"model\":\"m/../x\"}", LIMIT, "model may hold only" },
		{ "{\"message\":\"x\",\"model\":true}", LIMIT, "model must be a string" },
		{ "{\"message\":\"x\",\"system\":1}", LIMIT, "system must be a string" },
		{ "{\"message\":\"x\",\"system\":\"\\u001b\"}", LIMIT, "system contains an ESC" },
	};
	for (size_t i = 0; i < N(cases); i++)
		expect_refused(&cases[i]);
}

#define H(turns) "{\"message\":\"x\",\"history\":" turns "}"
#define U(c) "{\"role\":\"user\",\"content\":" c "}"
#define A(c) "{\"role\":\"assistant\",\"content\":" c "}"

static void history_refusals(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ H("{}"), LIMIT, "history must be an array" },
		{ H("[" A("\"a\"") "]"), LIMIT, "history[0].role must be \"user\"" },
		{ H("[" U("\"a\"") "]"), LIMIT, "must end with an assistant turn" },
		{ H("[" U("\"a\"") "," A("\"b\"") "," U("\"c\"") "]"), LIMIT, "must end with an assistant" },
		{ H("[" U("\"a\"") "," U("\"b\"") "]"), LIMIT, "history[1].role must be \"assistant\"" },
		{ H("[{\"role\":\"system\",\"content\":\"a\"}]"), LIMIT, "history[0].role must be \"user\" or" },
		{ H("[{\"content\":\"a\"}]"), LIMIT, "history[0].role" },
		{ H("[\"hi\"]"), LIMIT, "history[0] must be an object" },
		{ H("[{\"role\":\"user\",\"content\":\"a\",\"x\":1}," A("\"b\"") "]"), LIMIT,
		  "history[0] has an unknown field \"x\"" },
		{ H("[" U("5") "," A("\"b\"") "]"), LIMIT, "history[0].content must be a string or" },
		{ H("[" U("[]") "," A("\"b\"") "]"), LIMIT, "non-empty array" },
		{ H("[" U("\"a\"") "," A("[\"text\"]") "]"), LIMIT, "history[1].content[0] must be an object" },
		{ H("[" U("[{\"type\":\"text\",\"text\":5}]") "," A("\"b\"") "]"), LIMIT,
		  "history[0].content[0].text must be a string" },
		{ H("[" U("\"a\\u001b\"") "," A("\"b\"") "]"), LIMIT, "history[0].content contains an ESC" },
		{ H("[" U("\"a\"") "," A("[{\"type\":\"text\",\"text\":\"ok\"},{\"type\":\"text\",\"text\":\"\\u0001\"}]") "]"),
		  LIMIT, "history[1].content[1].text contains the control character 0x01" },
		/* what the API would refuse, refused here with the field named */
		{ H("[" U("\" \\n\"") "," A("\"b\"") "]"), LIMIT, "history[0].content must hold more than white" },
		{ H("[" U("\"a\"") "," A("[{\"type\":\"text\",\"text\":\"\"}]") "]"), LIMIT,
		  "history[1].content[0].text must hold more than white space" },
		{ H("[" U("[{\"type\":\"image\",\"source\":{}}]") "," A("\"b\"") "]"), LIMIT,
		  "history[0].content[0] is a \"image\" block; history takes text blocks only" },
		{ H("[" U("[{\"type\":\"text\",\"text\":\"a\",\"cache_control\":{}}]") "," A("\"b\"") "]"), LIMIT,
		  "history[0].content[0] has an unknown field \"cache_control\"" },
	};
	for (size_t i = 0; i < N(cases); i++)
		expect_refused(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_request),
		cmocka_unit_test(every_field),
		cmocka_unit_test(accepted_bodies),
		cmocka_unit_test(message_refusals),
		cmocka_unit_test(field_refusals),
		cmocka_unit_test(history_refusals),
	};
	return cmocka_run_group_tests_name("chat_request", tests, NULL, NULL);
}

/* Unit tests for the agent loop (include/agent/agent.h): agent_main runs in a forked
 * child on one end of a socketpair, with a temporary directory as its workspace, and
 * the test plays the supervisor on the other end: it sends HELLO and TURNs, answers each
 * API_REQUEST with a scripted stream of API_EVENTs, checks every request against the
 * Messages API's rules, and checks the RUN_EVENTs that come back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "agent_harness.h"
#include "wait_until.h"

/* The Messages API's rules for messages, checked on every request (as the strict mock
 * server of tests/mock does). */
static void check_messages(const cJSON *messages)
{
	const cJSON *m, *prev = NULL;
	int i = 0;
	assert_true(cJSON_GetArraySize(messages) > 0);
	cJSON_ArrayForEach(m, messages) {
		const char *role = jstr(m, "role");
		const cJSON *content = jget(m, "content"), *b;
		assert_int_equal(cJSON_GetArraySize(m), 2);   /* role and content only */
		assert_string_equal(role, i % 2 == 0 ? "user" : "assistant");
		assert_true(cJSON_IsArray(content) && cJSON_GetArraySize(content) > 0);
		int results = 0, uses_before = 0;
		bool leading = true;
		cJSON_ArrayForEach(b, jget(prev, "content"))
			uses_before += strcmp(jstr(b, "type"), "tool_use") == 0;
		cJSON_ArrayForEach(b, content) {
			const char *type = jstr(b, "type");
			assert_non_null(type);
			if (strcmp(type, "text") == 0)
				assert_true(strspn(jstr(b, "text"), " \n\t") < strlen(jstr(b, "text")));
			if (strcmp(type, "tool_use") == 0)
				assert_string_equal(role, "assistant");
			if (strcmp(type, "tool_result") != 0) {
				leading = false;
				continue;
			}
			assert_string_equal(role, "user");
			assert_true(leading);
			results++;
			/* answers exactly one tool_use of the message before */
			const cJSON *u, *r;
			int found = 0, twice = 0;
			cJSON_ArrayForEach(u, jget(prev, "content"))
				found += strcmp(jstr(u, "type"), "tool_use") == 0 &&
					 strcmp(jstr(u, "id"), jstr(b, "tool_use_id")) == 0;
			cJSON_ArrayForEach(r, content)
				twice += strcmp(jstr(r, "type"), "tool_result") == 0 &&
					 strcmp(jstr(r, "tool_use_id"), jstr(b, "tool_use_id")) == 0;
			assert_int_equal(found, 1);
			assert_int_equal(twice, 1);
		}
		if (strcmp(role, "user") == 0)
			assert_int_equal(results, uses_before);
		prev = m;
		i++;
	}
	/* a request ends with the user's turn, or continues a paused assistant message */
	cJSON_ArrayForEach(m, jget(prev, "content"))
		assert_string_not_equal(jstr(m, "type"), "tool_use");
}

static void check_request(const cJSON *req)
{
	static const char *const tools[] = { "bash", "str_replace_based_edit_tool", "glob", "grep" };
	assert_non_null(jstr(req, "model"));
	assert_true(cJSON_IsNumber(jget(req, "max_tokens")));
	assert_true(cJSON_IsTrue(jget(req, "stream")));
	assert_int_equal(cJSON_GetArraySize(jget(req, "tools")), N(tools) + S.more_tools);
	for (size_t i = 0; i < N(tools); i++)
		assert_string_equal(jstr(cJSON_GetArrayItem(jget(req, "tools"), (int)i), "name"), tools[i]);
	check_messages(jget(req, "messages"));
}

/* Run events until the agent's next API_REQUEST, which is checked and kept in S.request. */
static const cJSON *until_request(void)
{
	for (;;) {
		unsigned type;
		cJSON *p = next(&type);
		if (type == FRAME_API_REQUEST) {
			cJSON_Delete(S.request);
			S.request = cJSON_DetachItemFromObject(p, "request");
			cJSON_Delete(p);
			check_request(S.request);
			return S.request;
		}
		assert_int_equal(type, FRAME_RUN_EVENT);
		cJSON_AddItemToArray(S.events, p);
		if (strcmp(jstr(p, "type"), "done") == 0 || strcmp(jstr(p, "type"), "error") == 0)
			fail_msg("the run ended (%s) where a model request was due", jstr(p, "type"));
	}
}


/* The nth run event of a type in this run, or NULL. */
static const cJSON *event(const char *type, int nth)
{
	const cJSON *ev;
	cJSON_ArrayForEach(ev, S.events)
		if (strcmp(jstr(ev, "type"), type) == 0 && nth-- == 0)
			return ev;
	return NULL;
}

static int count(const char *type)
{
	int n = 0;
	while (event(type, n) != NULL)
		n++;
	return n;
}

static void check_done(const char *reply, const char *stop_reason, int model_calls)
{
	const cJSON *done = until_end();
	assert_string_equal(jstr(done, "type"), "done");
	assert_string_equal(jstr(done, "reply"), reply);
	assert_string_equal(jstr(done, "stop_reason"), stop_reason);
	assert_int_equal(jget(done, "model_calls")->valueint, model_calls);
}

/* A TURN, and the run's first model request. */
static void ask(const char *json)
{
	turn(json);
	until_request();
}

/* The model ends its reply with text; the run is done after model_calls calls. */
static void end_turn_with(const char *text, int model_calls)
{
	ANSWER("end_turn", TEXT(text));
	check_done(text, "end_turn", model_calls);
}

/* The request's messages: how many, and message i. */
static int n_messages(void)
{
	return cJSON_GetArraySize(jget(S.request, "messages"));
}

static const cJSON *message(int i)
{
	const cJSON *m = jget(S.request, "messages");
	return cJSON_GetArrayItem(m, i < 0 ? cJSON_GetArraySize(m) + i : i);
}

/* Block j of message i (negative i: from the end). */
static const cJSON *block(int i, int j)
{
	return cJSON_GetArrayItem(jget(message(i), "content"), j);
}

/* -- the cases */

static void a_plain_text_reply(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Say hello\"}");
	assert_string_equal(jstr(S.request, "model"), "claude-test");
	assert_string_equal(jstr(S.request, "system"), "Be brief.");
	assert_int_equal(n_messages(), 1);
	assert_string_equal(jstr(block(0, 0), "text"), "Say hello");
	end_turn_with("Hello there", 1);
	/* the text as it streamed, then the message kept */
	assert_int_equal(count("text"), 2);
	assert_string_equal(jstr(event("text", 0), "text"), "Hello");
	assert_string_equal(jstr(event("text", 1), "text"), " there");
	assert_int_equal(count("message"), 2);
	const cJSON *user = jget(event("message", 0), "message"), *reply = jget(event("message", 1), "message");
	assert_string_equal(jstr(user, "role"), "user");
	assert_string_equal(jstr(reply, "role"), "assistant");
	assert_string_equal(jstr(cJSON_GetArrayItem(jget(reply, "content"), 0), "text"), "Hello there");
	finish(0);
}

static void one_bash_call_then_text(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Make a file\"}");
	ANSWER("tool_use", TEXT("Making it."), TOOL("toolu_1", "bash", "{\"command\":\"echo hi > f && pwd\"}"));
	until_request();
	const cJSON *start_ev = event("tool_start", 0), *out = event("tool_output", 0), *end = event("tool_end", 0);
	assert_string_equal(jstr(start_ev, "id"), "toolu_1");
	assert_string_equal(jstr(start_ev, "name"), "bash");
	assert_string_equal(jstr(jget(start_ev, "input"), "command"), "echo hi > f && pwd");
	assert_string_equal(jstr(out, "output"), S.dir);
	assert_true(cJSON_IsFalse(jget(end, "is_error")));
	assert_true(cJSON_IsNumber(jget(end, "duration_ms")));
	/* the result answers the tool_use; the file is in the workspace */
	assert_int_equal(n_messages(), 3);
	assert_string_equal(jstr(block(1, 1), "type"), "tool_use");
	assert_string_equal(jstr(block(2, 0), "tool_use_id"), "toolu_1");
	assert_string_equal(jstr(block(2, 0), "content"), S.dir);
	assert_null(jget(block(2, 0), "is_error"));
	char path[128], buf[16] = "";
	snprintf(path, sizeof(path), "%s/f", S.dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "hi\n");
	end_turn_with("Done.", 2);
	/* user, assistant with the tool_use, the results, the last reply */
	assert_int_equal(count("message"), 4);
	finish(0);
}

static void two_tools_in_one_reply(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Write and read\"}");
	ANSWER("tool_use",
	       TOOL("toolu_a", "str_replace_based_edit_tool",
		    "{\"command\":\"create\",\"path\":\"a.txt\",\"file_text\":\"hello\\n\"}"),
	       TOOL("toolu_b", "bash", "{\"command\":\"cat a.txt\"}"));
	until_request();
	/* run in order, each with its events */
	assert_string_equal(jstr(event("tool_start", 0), "id"), "toolu_a");
	assert_string_equal(jstr(event("tool_start", 1), "id"), "toolu_b");
	assert_string_equal(jstr(event("tool_output", 1), "output"), "hello");
	assert_int_equal(cJSON_GetArraySize(jget(message(2), "content")), 2);
	assert_string_equal(jstr(block(2, 0), "tool_use_id"), "toolu_a");
	assert_null(jget(block(2, 0), "is_error"));
	assert_string_equal(jstr(block(2, 1), "tool_use_id"), "toolu_b");
	assert_string_equal(jstr(block(2, 1), "content"), "hello");
	end_turn_with("It says hello.", 2);
	finish(0);
}

static void tool_output_that_is_not_text_is_sent_as_text(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Show some bytes\"}");
	ANSWER("tool_use", TOOL("toolu_r", "bash", "{\"command\":\"head -c 2000 /dev/urandom\"}"),
	       TOOL("toolu_n", "bash", "{\"command\":\"printf 'a\\\\377b\\\\000c'\"}"));
	until_request();
	/* the frames were UTF-8 (the harness parses them strictly) and the run goes on */
	assert_true(cJSON_IsFalse(jget(event("tool_end", 0), "is_error")));
	const char *bytes = jstr(block(2, 0), "content");
	assert_non_null(bytes);
	assert_true(strlen(bytes) >= 2000);
	assert_string_equal(jstr(event("tool_output", 1), "output"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
	assert_string_equal(jstr(block(2, 1), "content"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
	end_turn_with("Noise.", 2);
	finish(0);
}

static void denied_commands_and_unknown_tools_are_error_results(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Try\"}");
	ANSWER("tool_use", TOOL("toolu_d", "bash", "{\"command\":\"echo forbidden > marker\"}"),
	       TOOL("toolu_u", "teleport", "{\"to\":\"mars\"}"));
	until_request();
	assert_true(cJSON_IsTrue(jget(block(2, 0), "is_error")));
	assert_string_equal(jstr(block(2, 0), "content"),
			    "refused: the command matches agentd's deny-list (pattern: \\bforbidden\\b)");
	assert_true(cJSON_IsTrue(jget(block(2, 1), "is_error")));
	assert_non_null(strstr(jstr(block(2, 1), "content"), "unknown tool \"teleport\""));
	assert_true(cJSON_IsTrue(jget(event("tool_end", 0), "is_error")));
	assert_true(cJSON_IsTrue(jget(event("tool_end", 1), "is_error")));
	/* the refused command did not run */
	char path[128];
	snprintf(path, sizeof(path), "%s/marker", S.dir);
	assert_int_not_equal(access(path, F_OK), 0);
	end_turn_with("Both refused.", 2);
	finish(0);
}

static void max_tokens_runs_no_tools_and_keeps_the_conversation_valid(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Go\"}");
	ANSWER("max_tokens", TEXT("Partial answer"), TOOL("toolu_x", "bash", "{\"command\":\"touch ran\"}"));
	check_done("Partial answer", "max_tokens", 1);
	assert_int_equal(count("tool_start"), 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/ran", S.dir);
	assert_int_not_equal(access(path, F_OK), 0);
	/* the tool_use was dropped from the message kept */
	ask("{\"message\":\"Go on\"}");
	assert_int_equal(n_messages(), 3);
	assert_int_equal(cJSON_GetArraySize(jget(message(1), "content")), 1);
	assert_string_equal(jstr(block(1, 0), "text"), "Partial answer");
	/* a reply with nothing left is not kept: the next text joins the user message */
	ANSWER("max_tokens", TOOL("toolu_y", "bash", "{\"command\":\"touch ran\"}"));
	check_done("", "max_tokens", 1);
	ask("{\"message\":\"Again\"}");
	assert_int_equal(n_messages(), 3);
	assert_string_equal(jstr(block(2, 0), "text"), "Go on");
	assert_string_equal(jstr(block(2, 1), "text"), "Again");
	end_turn_with("Fine.", 1);
	finish(0);
}

static void pause_turn_continues_the_same_message(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Think\"}");
	ANSWER("pause_turn", TEXT("Thinking about it."));
	until_request();
	assert_int_equal(n_messages(), 2);
	assert_string_equal(jstr(message(1), "role"), "assistant");
	assert_string_equal(jstr(block(1, 0), "text"), "Thinking about it.");
	ANSWER("end_turn", TEXT(" Done."));
	check_done("Thinking about it. Done.", "end_turn", 2);
	/* one assistant message, told once it is whole */
	assert_int_equal(count("message"), 2);
	assert_int_equal(cJSON_GetArraySize(jget(jget(event("message", 1), "message"), "content")), 2);
	ask("{\"message\":\"Next\"}");
	assert_int_equal(n_messages(), 3);
	end_turn_with("Ok.", 1);
	finish(0);
}

static void max_model_calls_end_the_run_with_results_kept(void **state)
{
	(void)state;
	start(2);
	ask("{\"message\":\"Loop\"}");
	ANSWER("tool_use", TOOL("toolu_1", "bash", "{\"command\":\"echo one\"}"));
	until_request();
	ANSWER("tool_use", TOOL("toolu_2", "bash", "{\"command\":\"echo two\"}"));
	check_done("", "max_model_calls", 2);
	assert_int_equal(count("tool_end"), 2);
	/* the next turn's text follows the last results in the same user message */
	ask("{\"message\":\"Stop now\"}");
	assert_int_equal(n_messages(), 5);
	assert_string_equal(jstr(block(4, 0), "tool_use_id"), "toolu_2");
	assert_string_equal(jstr(block(4, 0), "content"), "two");
	assert_string_equal(jstr(block(4, 1), "text"), "Stop now");
	end_turn_with("Stopped.", 1);
	/* a model that keeps pausing ends with pause_turn */
	ask("{\"message\":\"Pause\"}");
	ANSWER("pause_turn", TEXT("One"));
	until_request();
	ANSWER("pause_turn", TEXT("Two"));
	check_done("OneTwo", "pause_turn", 2);
	finish(0);
}

static void an_api_error_rolls_the_run_back(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"First\"}");
	ANSWER("tool_use", TOOL("toolu_1", "bash", "{\"command\":\"true\"}"));
	until_request();
	send_json(FRAME_API_END, "{\"ok\":false,\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"},"
				 "\"status\":529}");
	const cJSON *end = until_end();
	assert_string_equal(jstr(end, "type"), "error");
	assert_string_equal(jstr(jget(end, "error"), "type"), "overloaded_error");
	assert_string_equal(jstr(jget(end, "error"), "message"), "Overloaded");
	/* the next turn starts from before "First" */
	ask("{\"message\":\"Second\"}");
	assert_int_equal(n_messages(), 1);
	assert_string_equal(jstr(block(0, 0), "text"), "Second");
	/* an error event in the stream fails the call too */
	api_event("message_start", cJSON_Parse("{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}"));
	api_event("error", cJSON_Parse("{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}"));
	send_json(FRAME_API_END, "{\"ok\":true}");
	end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "api_error");
	/* and a stream cut before message_stop */
	ask("{\"message\":\"Third\"}");
	assert_int_equal(n_messages(), 1);
	api_event("message_start", cJSON_Parse("{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}"));
	send_json(FRAME_API_END, "{\"ok\":true}");
	end = until_end();
	assert_string_equal(jstr(end, "type"), "error");
	ask("{\"message\":\"Fourth\"}");
	assert_int_equal(n_messages(), 1);
	end_turn_with("Here.", 1);
	finish(0);
}

static void cancel_stops_a_long_command(void **state)
{
	(void)state;
	start(10);
	ask("{\"message\":\"Wait\"}");
	ANSWER("tool_use", TOOL("toolu_s", "bash", "{\"command\":\"sleep 301\"}"),
	       TOOL("toolu_t", "bash", "{\"command\":\"touch late\"}"));
	unsigned type;
	cJSON *ev = next(&type);
	while (type == FRAME_RUN_EVENT && strcmp(jstr(ev, "type"), "tool_start") != 0) {
		cJSON_Delete(ev);
		ev = next(&type);
	}
	cJSON_Delete(ev);
	/* promptly: the sleep would run 300 s; WAIT_MS bounds every frame anyway */
	long t0 = wait_until_now_ms();
	send_json(FRAME_CANCEL, "{}");
	check_done("", "interrupted", 1);
	assert_in_range(wait_until_now_ms() - t0, 0, WAIT_MS);
	assert_true(cJSON_IsTrue(jget(event("tool_end", 0), "is_error")));
	assert_int_equal(count("tool_start"), 0);   /* the first was read above; the second never ran */
	assert_true(wait_process("sleep 301", false));
	/* both tool_use blocks are answered; the next turn's request is valid */
	ask("{\"message\":\"Never mind\"}");
	assert_int_equal(n_messages(), 3);
	assert_true(cJSON_IsTrue(jget(block(2, 0), "is_error")));
	assert_non_null(strstr(jstr(block(2, 0), "content"), "interrupted"));
	assert_string_equal(jstr(block(2, 1), "content"), "interrupted");
	assert_string_equal(jstr(block(2, 2), "text"), "Never mind");
	end_turn_with("Ok.", 1);
	finish(0);
}

static void cancel_during_a_model_call(void **state)
{
	(void)state;
	start(10);
	/* as agentd's supervisor does it: the call abandoned, then the CANCEL passed on */
	ask("{\"message\":\"One\"}");
	send_json(FRAME_API_END, "{\"ok\":false,\"error\":{\"type\":\"cancelled\",\"message\":\"x\"},\"status\":0}");
	send_json(FRAME_CANCEL, "{}");
	check_done("", "interrupted", 1);
	/* the CANCEL first, the call's end later (between runs, or before the next call) */
	ask("{\"message\":\"Two\"}");
	assert_int_equal(n_messages(), 1);
	send_json(FRAME_CANCEL, "{}");
	check_done("", "interrupted", 1);
	api_event("ping", cJSON_Parse("{\"type\":\"ping\"}"));
	turn("{\"message\":\"Three\"}");
	send_json(FRAME_API_END, "{\"ok\":true}");
	until_request();
	/* the texts of the cancelled runs are kept, in one user message */
	assert_int_equal(n_messages(), 1);
	assert_int_equal(cJSON_GetArraySize(jget(message(0), "content")), 3);
	assert_string_equal(jstr(block(0, 2), "text"), "Three");
	end_turn_with("Three it is.", 1);
	finish(0);
}

static void two_turns_share_the_conversation(void **state)
{
	(void)state;
	start(10);
	turn("{\"message\":\"m1\",\"model\":\"claude-other\",\"system\":\"\",\"history\":["
	     "{\"role\":\"user\",\"content\":\"old question\"},"
	     "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"old answer\"}]}]}");
	until_request();
	assert_string_equal(jstr(S.request, "model"), "claude-other");
	assert_null(jget(S.request, "system"));
	assert_int_equal(n_messages(), 3);
	assert_string_equal(jstr(block(0, 0), "text"), "old question");
	assert_string_equal(jstr(block(2, 0), "text"), "m1");
	end_turn_with("r1", 1);
	/* history only seeds an empty conversation; model and system were for one run */
	ask("{\"message\":\"m2\",\"history\":[{\"role\":\"user\",\"content\":\"ignored\"}]}");
	assert_string_equal(jstr(S.request, "model"), "claude-test");
	assert_string_equal(jstr(S.request, "system"), "Be brief.");
	assert_int_equal(n_messages(), 5);
	assert_string_equal(jstr(block(3, 0), "text"), "r1");
	assert_string_equal(jstr(block(4, 0), "text"), "m2");
	end_turn_with("r2", 1);
	finish(0);
}

static void a_bad_history_fails_the_run_only(void **state)
{
	(void)state;
	start(10);
	turn("{\"message\":\"m\",\"history\":[{\"role\":\"assistant\",\"content\":\"first\"}]}");
	const cJSON *end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "invalid_request_error");
	turn("{\"message\":\"   \"}");
	end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "invalid_request_error");
	ask("{\"message\":\"m\"}");
	assert_int_equal(n_messages(), 1);
	end_turn_with("ok", 1);
	finish(0);
}

/* A conversation too large for a frame fails its run, not the agent: the request is
 * refused before a byte of it goes out. */
static void a_conversation_past_the_frame_cap_fails_the_run_only(void **state)
{
	(void)state;
	S.context_window = 1L << 30;    /* a window that takes it: the frame's cap is what stops it */
	start(10);
	size_t big = FRAME_MAX_PAYLOAD - 1000;        /* the TURN fits; with the tools, the request not */
	char *json = malloc(big + 200);
	assert_non_null(json);
	int n = snprintf(json, 200, "{\"message\":\"m\",\"history\":[{\"role\":\"user\",\"content\":\"");
	memset(json + n, 'a', big);
	snprintf(json + n + big, 200, "\"},{\"role\":\"assistant\",\"content\":\"ok\"}]}");
	turn(json);
	free(json);
	const cJSON *end = until_end();
	assert_string_equal(jstr(end, "type"), "error");
	assert_string_equal(jstr(jget(end, "error"), "type"), "request_too_large");
	assert_non_null(strstr(jstr(jget(end, "error"), "message"), "larger than agentd's frames"));
	/* the conversation keeps its history: the next turn says the same, and the agent
	 * still answers (the message tells the user to start a new session) */
	turn("{\"message\":\"small\"}");
	end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "request_too_large");
	finish(0);
}

/* Run events until the agent's next frame of another kind, which is returned. */
static cJSON *until_frame(unsigned want)
{
	for (;;) {
		unsigned type;
		cJSON *p = next(&type);
		if (type == want)
			return p;
		assert_int_equal(type, FRAME_RUN_EVENT);
		cJSON_AddItemToArray(S.events, p);
	}
}

/* The name of the request's nth tool beyond the agent's own. */
static const char *host_tool(int nth)
{
	return jstr(cJSON_GetArrayItem(jget(S.request, "tools"), 4 + nth), "name");
}

#define TOOL_DEF(name) "{\"name\":\"" name "\",\"description\":\"d\",\"input_schema\":{\"type\":\"object\"}}"

/* The supervisor's tools are called with a TOOL_CALL; a TOOL_RESULT may bring them
 * anew (a remote MCP server's list changed), and the next request offers those. */
static void host_tools_are_called_and_can_change(void **state)
{
	(void)state;
	S.host_tools = "[" TOOL_DEF("mcp__r__one") "]";
	S.more_tools = 1;
	start(10);
	ask("{\"message\":\"m\"}");
	assert_string_equal(host_tool(0), "mcp__r__one");
	ANSWER("tool_use", TOOL("toolu_1", "mcp__r__one", "{\"x\":1}"));
	cJSON *call = until_frame(FRAME_TOOL_CALL);
	assert_string_equal(jstr(call, "name"), "mcp__r__one");
	assert_int_equal(jget(jget(call, "input"), "x")->valueint, 1);
	cJSON_Delete(call);
	send_json(FRAME_TOOL_RESULT, "{\"id\":\"toolu_1\",\"content\":\"one done\",\"is_error\":false,"
		  "\"host_tools\":[" TOOL_DEF("mcp__r__one") "," TOOL_DEF("mcp__r__two") "]}");
	S.more_tools = 2;
	until_request();
	assert_string_equal(jstr(block(-1, 0), "content"), "one done");
	assert_string_equal(host_tool(0), "mcp__r__one");
	assert_string_equal(host_tool(1), "mcp__r__two");
	/* the new one is the supervisor's too; then there are none */
	ANSWER("tool_use", TOOL("toolu_2", "mcp__r__two", "{}"));
	call = until_frame(FRAME_TOOL_CALL);
	assert_string_equal(jstr(call, "name"), "mcp__r__two");
	cJSON_Delete(call);
	send_json(FRAME_TOOL_RESULT, "{\"id\":\"toolu_2\",\"content\":\"two done\",\"is_error\":false,"
		  "\"host_tools\":[]}");
	S.more_tools = 0;
	until_request();
	end_turn_with("Done.", 3);
	finish(0);
	/* host tools that take a name of the agent's own: the supervisor broke the protocol */
	S.host_tools = "[" TOOL_DEF("mcp__r__one") "]";
	S.more_tools = 1;
	start(10);
	ask("{\"message\":\"m\"}");
	ANSWER("tool_use", TOOL("toolu_1", "mcp__r__one", "{}"));
	cJSON_Delete(until_frame(FRAME_TOOL_CALL));
	send_json(FRAME_TOOL_RESULT, "{\"id\":\"toolu_1\",\"content\":\"x\",\"is_error\":false,"
		  "\"host_tools\":[" TOOL_DEF("bash") "]}");
	const cJSON *end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "protocol_error");
	finish(1);
}

static void a_malformed_frame_ends_the_agent(void **state)
{
	(void)state;
	/* during a run: a protocol_error event, then exit 1 */
	start(10);
	ask("{\"message\":\"m\"}");
	assert_int_equal(write(S.fd, "XXXXXXXXXXXX", 12), 12);
	const cJSON *end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "protocol_error");
	finish(1);
	/* between runs: an API_END nobody waits for */
	start(10);
	send_json(FRAME_API_END, "{\"ok\":true}");
	finish(1);
	/* a TURN whose message is not a string */
	start(10);
	turn("{\"message\":42}");
	end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "protocol_error");
	finish(1);
	/* a TURN during a run */
	start(10);
	ask("{\"message\":\"m\"}");
	send_json(FRAME_TURN, "{\"message\":\"m\"}");
	end = until_end();
	assert_string_equal(jstr(jget(end, "error"), "type"), "protocol_error");
	finish(1);
}

static void a_bad_hello_ends_the_agent(void **state)
{
	(void)state;
	static const char *const hellos[] = {
		"{\"role\":\"supervisor\",\"version\":2,\"config\":{}}",
		"{\"role\":\"gateway\",\"version\":1}",
		"{\"role\":\"supervisor\",\"version\":1,\"config\":{\"model\":\"m\",\"max_tokens\":1,\"system\":\"\","
		"\"max_model_calls\":0,\"command_timeout_s\":1,\"deny_commands\":[],\"workspace\":\"/tmp\"}}",
		"{\"role\":\"supervisor\",\"version\":1,\"config\":{\"model\":\"m\",\"max_tokens\":1,\"system\":\"\","
		"\"max_model_calls\":1,\"command_timeout_s\":1,\"deny_commands\":[\"(\"],\"workspace\":\"/tmp\"}}",
	};
	for (size_t i = 0; i < N(hellos); i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		pid_t pid = start_agent(sv);
		struct ad_err e;
		assert_int_equal(link_send_take(sv[0], FRAME_HELLO, cJSON_Parse(hellos[i]), &e), 0);
		assert_child_exited(fork_child_wait(pid), 1);
		close(sv[0]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(a_plain_text_reply, reap),
		cmocka_unit_test_teardown(one_bash_call_then_text, reap),
		cmocka_unit_test_teardown(two_tools_in_one_reply, reap),
		cmocka_unit_test_teardown(tool_output_that_is_not_text_is_sent_as_text, reap),
		cmocka_unit_test_teardown(denied_commands_and_unknown_tools_are_error_results, reap),
		cmocka_unit_test_teardown(max_tokens_runs_no_tools_and_keeps_the_conversation_valid, reap),
		cmocka_unit_test_teardown(pause_turn_continues_the_same_message, reap),
		cmocka_unit_test_teardown(max_model_calls_end_the_run_with_results_kept, reap),
		cmocka_unit_test_teardown(an_api_error_rolls_the_run_back, reap),
		cmocka_unit_test_teardown(cancel_stops_a_long_command, reap),
		cmocka_unit_test_teardown(cancel_during_a_model_call, reap),
		cmocka_unit_test_teardown(two_turns_share_the_conversation, reap),
		cmocka_unit_test_teardown(a_bad_history_fails_the_run_only, reap),
		cmocka_unit_test_teardown(a_conversation_past_the_frame_cap_fails_the_run_only, reap),
		cmocka_unit_test_teardown(host_tools_are_called_and_can_change, reap),
		cmocka_unit_test_teardown(a_malformed_frame_ends_the_agent, reap),
		cmocka_unit_test_teardown(a_bad_hello_ends_the_agent, reap),
	};
	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}

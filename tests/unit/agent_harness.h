/* The fake supervisor of the agent's unit tests (test_agent.c, test_ops.c): agent_main
 * runs in a forked child on one end of a socketpair, with a temporary directory as its
 * workspace, and the test plays the supervisor on the other end: HELLO, frames both
 * ways, scripted model replies as the API's event stream. Header-only (each test file
 * takes what it uses), included after cmocka.h. */
#ifndef AGENTD_TESTS_AGENT_HARNESS_H
#define AGENTD_TESTS_AGENT_HARNESS_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "ipc/frame.h"
#include "ipc/link.h"
#include "fork_child.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define WAIT_MS 30000

/* The fake supervisor's side of one agent. */
static struct {
	pid_t pid;
	int fd;
	struct frame_decoder *dec;
	cJSON *queue;          /* frames read but not taken: [{"type": n, "payload": {...}}] */
	cJSON *events;         /* the run events of the current run */
	cJSON *request;        /* the last API_REQUEST's "request" */
	char dir[64];
	int msg_id;
	int command_timeout_s; /* the HELLO's, for the next start(); 0: 20 */
	const char *host_tools; /* the HELLO's config.host_tools (JSON), for the next start() */
	int more_tools;        /* tools a request has beyond the agent's own */
	long context_window;   /* the HELLO's, for the next start(); 0: none given */
} S;

static inline int queue_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "type", type);
	cJSON_AddItemToObject(f, "payload", payload);
	cJSON_AddItemToArray(S.queue, f);
	return 0;
}

/* The next frame from the agent (the caller's), failing the test after WAIT_MS. */
static inline cJSON *next(unsigned *type)
{
	while (cJSON_GetArraySize(S.queue) == 0) {
		struct pollfd p = { S.fd, POLLIN, 0 };
		if (poll(&p, 1, WAIT_MS) <= 0)
			fail_msg("no frame from the agent in %d ms", WAIT_MS);
		struct ad_err e;
		int rc = link_recv(S.fd, S.dec, queue_frame, NULL, &e);
		if (rc != 0)
			fail_msg("reading the agent: %s", rc < 0 ? e.msg : "end of file");
	}
	cJSON *f = cJSON_DetachItemFromArray(S.queue, 0);
	*type = (unsigned)cJSON_GetObjectItem(f, "type")->valueint;
	cJSON *payload = cJSON_DetachItemFromObject(f, "payload");
	cJSON_Delete(f);
	return payload;
}

static inline void send_json(unsigned type, const char *json)
{
	cJSON *p = cJSON_Parse(json);
	struct ad_err e;
	assert_non_null(p);
	if (link_send_take(S.fd, type, p, &e) < 0)
		fail_msg("send: %s", e.msg);
}

static inline const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline const cJSON *jget(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* The child's side of a socketpair(sv): agent_main on sv[1]. */
static inline int agent_body(void *arg)
{
	int *sv = arg;
	close(sv[0]);
	return agent_main(sv[1]);
}

/* agent_main in a child (fork_child.h; in ASan builds its leaks fail it), on sv[1]. */
static inline pid_t start_agent(int sv[2])
{
	pid_t pid = fork_child_start(agent_body, sv, FORK_CHILD_CHECK_LEAKS);
	close(sv[1]);
	return pid;
}

/* Start an agent and say hello. */
static inline void start(int max_model_calls)
{
	int sv[2];
	snprintf(S.dir, sizeof(S.dir), "/tmp/agentd-agent-XXXXXX");
	assert_non_null(mkdtemp(S.dir));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	S.pid = start_agent(sv);
	S.fd = sv[0];
	S.dec = frame_decoder_new(FRAME_MAX_PAYLOAD);
	S.queue = cJSON_CreateArray();
	S.events = cJSON_CreateArray();
	char hello[2048], window[48] = "";
	if (S.context_window > 0)
		snprintf(window, sizeof(window), ",\"context_window\":%ld", S.context_window);
	snprintf(hello, sizeof(hello),
		 "{\"role\":\"supervisor\",\"version\":1,\"config\":{\"model\":\"claude-test\",\"max_tokens\":1024,"
		 "\"system\":\"Be brief.\",\"max_model_calls\":%d,\"command_timeout_s\":%d,"
		 "\"deny_commands\":[\"\\\\bforbidden\\\\b\"],\"workspace\":\"%s\"%s%s%s}}", max_model_calls,
		 S.command_timeout_s > 0 ? S.command_timeout_s : 20, S.dir, S.host_tools ? ",\"host_tools\":" : "",
		 S.host_tools ? S.host_tools : "", window);
	send_json(FRAME_HELLO, hello);
	unsigned type;
	cJSON *h = next(&type);
	assert_int_equal(type, FRAME_HELLO);
	assert_string_equal(jstr(h, "role"), "agent");
	assert_int_equal(jget(h, "version")->valueint, 1);
	cJSON_Delete(h);
}

/* Hang up (or not) and wait for the agent's exit status. */
static inline void finish(int want_status)
{
	close(S.fd);
	int status = fork_child_wait(S.pid);
	S.pid = 0;
	assert_child_exited(status, want_status);
	frame_decoder_free(S.dec);
	cJSON_Delete(S.queue);
	cJSON_Delete(S.events);
	cJSON_Delete(S.request);
	S.request = NULL;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	assert_int_equal(system(cmd), 0);
}

/* After a failed test: no agent left behind. */
static inline int reap(void **state)
{
	(void)state;
	S.host_tools = NULL;
	S.more_tools = 0;
	S.context_window = 0;
	if (S.pid > 0) {
		kill(S.pid, SIGKILL);
		waitpid(S.pid, NULL, 0);
		S.pid = 0;
		close(S.fd);
	}
	return 0;
}

static inline void turn(const char *json)
{
	cJSON_Delete(S.events);
	S.events = cJSON_CreateArray();
	send_json(FRAME_TURN, json);
}

/* Run events until the run's done or error event, which is returned. */
static inline const cJSON *until_end(void)
{
	for (;;) {
		unsigned type;
		cJSON *p = next(&type);
		if (type != FRAME_RUN_EVENT)
			fail_msg("a %s frame where run events were due", frame_type_name(type));
		cJSON_AddItemToArray(S.events, p);
		if (strcmp(jstr(p, "type"), "done") == 0 || strcmp(jstr(p, "type"), "error") == 0)
			return p;
	}
}

/* -- scripted replies: a description becomes the API's event stream */

struct block {
	const char *type;      /* "text" or "tool_use" */
	const char *text;      /* text, or the tool_use id */
	const char *name;      /* tool name */
	const char *input;     /* tool input, JSON text */
};
#define TEXT(t) { "text", t, NULL, NULL }
#define TOOL(id, name, input) { "tool_use", id, name, input }

static inline void api_event(const char *name, cJSON *data)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "event", name);
	cJSON_AddItemToObject(ev, "data", data);
	struct ad_err e;
	if (link_send_take(S.fd, FRAME_API_EVENT, ev, &e) < 0)
		fail_msg("send: %s", e.msg);
}

static inline cJSON *indexed(const char *type, int index)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "type", type);
	cJSON_AddNumberToObject(d, "index", index);
	return d;
}

/* Half of s, then the other half, as two deltas of kind (field). */
static inline void deltas(int index, const char *kind, const char *field, const char *s)
{
	size_t half = strlen(s) / 2;
	char *first = strndup(s, half);
	const char *parts[2] = { first, s + half };
	for (int i = 0; i < 2; i++) {
		cJSON *d = indexed("content_block_delta", index);
		cJSON *delta = cJSON_AddObjectToObject(d, "delta");
		cJSON_AddStringToObject(delta, "type", kind);
		cJSON_AddStringToObject(delta, field, parts[i]);
		api_event("content_block_delta", d);
	}
	free(first);
}

static inline void answer(const char *stop_reason, const struct block *b, size_t n)
{
	char start[256];
	snprintf(start, sizeof(start), "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_%d\",\"type\":\"message\","
		 "\"role\":\"assistant\",\"model\":\"claude-test\",\"content\":[],\"stop_reason\":null,"
		 "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}", ++S.msg_id);
	api_event("message_start", cJSON_Parse(start));
	api_event("ping", cJSON_Parse("{\"type\":\"ping\"}"));
	for (size_t i = 0; i < n; i++) {
		cJSON *d = indexed("content_block_start", (int)i);
		cJSON *cb = cJSON_AddObjectToObject(d, "content_block");
		cJSON_AddStringToObject(cb, "type", b[i].type);
		if (strcmp(b[i].type, "text") == 0) {
			cJSON_AddStringToObject(cb, "text", "");
			api_event("content_block_start", d);
			deltas((int)i, "text_delta", "text", b[i].text);
		} else {
			cJSON_AddStringToObject(cb, "id", b[i].text);
			cJSON_AddStringToObject(cb, "name", b[i].name);
			cJSON_AddObjectToObject(cb, "input");
			api_event("content_block_start", d);
			deltas((int)i, "input_json_delta", "partial_json", b[i].input);
		}
		api_event("content_block_stop", indexed("content_block_stop", (int)i));
	}
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "type", "message_delta");
	cJSON *delta = cJSON_AddObjectToObject(d, "delta");
	cJSON_AddStringToObject(delta, "stop_reason", stop_reason);
	cJSON_AddNullToObject(delta, "stop_sequence");
	cJSON_AddItemToObject(d, "usage", cJSON_Parse("{\"output_tokens\":5}"));
	api_event("message_delta", d);
	api_event("message_stop", cJSON_Parse("{\"type\":\"message_stop\"}"));
	send_json(FRAME_API_END, "{\"ok\":true}");
}

#define ANSWER(stop, ...)                                        \
	do {                                                     \
		const struct block blocks_[] = { __VA_ARGS__ };  \
		answer(stop, blocks_, N(blocks_));               \
	} while (0)

#endif

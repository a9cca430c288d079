/* The agent's main loop: see include/agent/agent.h. The HELLO exchange, then TURNs
 * (src/agent/run.c) until the supervisor hangs up. Nothing is logged: what went wrong
 * goes to the supervisor as an event, and the sandbox's output is not to be trusted
 * with anything anyway. */
#include "agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/host_tools.h"
#include "agent/mcp_stdio.h"
#include "agent/ops.h"
#include "agent/run.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "ipc/frame.h"
#include "ipc/link.h"
#include "ipc/protocol.h"

/* A whole number from min to max. */
static int whole(const cJSON *obj, const char *key, long min, long max, long *out, struct ad_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(long)v->valuedouble)
		return ad_err_set(err, 0, "hello: config.%s must be a whole number from %ld to %ld", key, min,
				  max);
	*out = (long)v->valuedouble;
	return 0;
}

/* HELLO's stdio MCP servers (config.mcp_servers, with mcp_limits), started, opened and
 * listed; their tools join the request's. */
static int start_mcp(struct agent *a, const cJSON *c, struct ad_err *err)
{
	const cJSON *servers = cJSON_GetObjectItemCaseSensitive(c, "mcp_servers");
	const cJSON *lim = cJSON_GetObjectItemCaseSensitive(c, "mcp_limits");
	long start_s, call_s, max_output;
	if (servers == NULL)
		return 0;
	if (!cJSON_IsObject(servers) || whole(lim, "start_timeout_s", 1, 3600, &start_s, err) < 0 ||
	    whole(lim, "call_timeout_s", 1, 86400, &call_s, err) < 0 ||
	    whole(lim, "max_output", 1024, 1L << 26, &max_output, err) < 0)
		return ad_err_set(err, 0, "hello: config.mcp_servers must be an object of servers, with mcp_limits");
	struct mcp_stdio_limits l = { (unsigned)start_s, (unsigned)call_s, (size_t)max_output };
	if ((a->mcp = mcp_stdio_start(servers, a->workspace, &l)) == NULL)
		return ad_err_set(err, ENOMEM, "agent");
	mcp_stdio_tooldefs(a->mcp, a->tooldefs);
	return 0;
}

/* The supervisor's HELLO: who it is, the protocol version, the agent's config. */
static int take_hello(struct agent *a, unsigned type, cJSON *hello, struct ad_err *err)
{
	a->hello = hello;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(hello, "version");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(hello, "config");
	if (type != FRAME_HELLO || !json_str(hello, "role") || strcmp(json_str(hello, "role"), "supervisor") != 0)
		return ad_err_set(err, 0, "the first frame must be the supervisor's hello");
	if (!cJSON_IsNumber(v) || v->valuedouble != PROTO_VERSION)
		return ad_err_set(err, 0, "hello: the supervisor speaks another protocol version (this "
				  "agent: %d)", PROTO_VERSION);
	a->model = json_str(c, "model");
	a->system = json_str(c, "system");
	a->workspace = json_str(c, "workspace");
	a->claude_code = json_str(c, "claude_code") ? json_str(c, "claude_code") : "claude";
	a->session_id = json_str(c, "session_id");
	if (!a->model || !a->model[0] || !a->system || !a->workspace || a->workspace[0] != '/')
		return ad_err_set(err, 0, "hello: config needs model, system (strings) and workspace (a "
				  "full path)");
	if (whole(c, "max_tokens", 1, 1L << 30, &a->max_tokens, err) < 0 ||
	    whole(c, "max_model_calls", 1, 1L << 20, &a->max_model_calls, err) < 0 ||
	    whole(c, "command_timeout_s", 1, 1L << 24, &a->command_timeout_s, err) < 0)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(c, "shell_rest_s") != NULL &&
	    whole(c, "shell_rest_s", 0, 1L << 24, &a->shell_rest_ms, err) < 0)
		return -1;
	a->shell_rest_ms *= 1000;
	long window = 200000;
	if (cJSON_GetObjectItemCaseSensitive(c, "context_window") != NULL &&
	    whole(c, "context_window", 1024, 1L << 30, &window, err) < 0)
		return -1;
	context_init(&a->ctx, window, a->max_tokens);
	if (cJSON_GetObjectItemCaseSensitive(c, "thinking_budget") != NULL &&
	    whole(c, "thinking_budget", 0, 1L << 30, &a->thinking_budget, err) < 0)
		return -1;
	const char *ttl = json_str(c, "cache_ttl");
	if (ttl != NULL && prompt_cache_ttl_parse(ttl, &a->cache_ttl, err) < 0)
		return ad_err_prefix(err, "hello: config.cache_ttl");
	const cJSON *deny = cJSON_GetObjectItemCaseSensitive(c, "deny_commands"), *p;
	if (!cJSON_IsArray(deny) || cJSON_GetArraySize(deny) > DENY_MAX_PATTERNS)
		return ad_err_set(err, 0, "hello: config.deny_commands must be an array of at most %d patterns",
				  DENY_MAX_PATTERNS);
	const char *patterns[DENY_MAX_PATTERNS + 1];
	size_t n = 0;
	cJSON_ArrayForEach(p, deny) {
		if (!cJSON_IsString(p))
			return ad_err_set(err, 0, "hello: config.deny_commands holds strings");
		patterns[n++] = p->valuestring;
	}
	patterns[n] = NULL;
	if (deny_list_new(patterns, &a->deny, err) < 0)
		return ad_err_prefix(err, "hello");
	a->tools = toolbox_new(a->workspace, (unsigned)a->command_timeout_s, a->deny, a->link.fd);
	a->tooldefs = tooldefs_json();
	a->conv = conv_new();
	if (a->tools == NULL || a->tooldefs == NULL || a->conv == NULL)
		return ad_err_set(err, ENOMEM, "agent");
	a->own_tools = cJSON_GetArraySize(a->tooldefs);
	if (host_tools_set(a, cJSON_GetObjectItemCaseSensitive(c, "host_tools"), err) < 0)
		return ad_err_prefix(err, "hello: config");
	if (start_mcp(a, c, err) < 0)
		return -1;
	cJSON *reply = cJSON_CreateObject();
	cJSON_AddStringToObject(reply, "role", "agent");
	cJSON_AddNumberToObject(reply, "version", PROTO_VERSION);
	if (a->mcp != NULL)
		cJSON_AddItemToObject(reply, "mcp", mcp_stdio_report(a->mcp));
	if (link_send_take(a->link.fd, FRAME_HELLO, reply, err) < 0)
		return -1;
	/* after the reply, which it must not delay: the shell sets itself up while the
	 * session waits for its first turn, and the first bash call finds it ready
	 * (config.shell false: another runtime's session, which never calls it) */
	if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "shell")))
		toolbox_start_shell(a->tools);
	return 0;
}

/* Between runs: TURNs start one; OPs are worked on (agent/ops.h); a CANCEL that crossed
 * the run's end is moot; the rest of an abandoned model call is dropped. 0 when the
 * supervisor hung up. */
static int serve(struct agent *a, struct ad_err *err)
{
	_cleanup_(ops_freep) struct ops *ops = ops_new(a->workspace, a->command_timeout_s, a->link.fd);
	if (ops == NULL)
		return ad_err_set(err, ENOMEM, "agent");
	for (;;) {
		unsigned type;
		_cleanup_cjson_ cJSON *p = NULL;
		bool rest = a->shell_rest_ms > 0 && toolbox_shell_fresh(a->tools);
		int rc = inbox_next(a->link.in, rest ? (int)a->shell_rest_ms : -1, &type, &p, err);
		if (rc == 0 && rest && !inbox_eof(a->link.in)) {
			/* idle for long with a shell never used: its process costs the host
			 * memory (README, density) for nothing; the next TURN starts another */
			toolbox_stop_shell(a->tools);
			a->shell_rested = true;
			continue;
		}
		if (rc <= 0)
			return rc;
		if (type == FRAME_TURN && (a->shell_rested || toolbox_shell_pid(a->tools) > 0)) {
			a->shell_rested = false;
			toolbox_start_shell(a->tools);   /* ready (and warm) while the model answers */
		}
		if (type == FRAME_TURN)
			rc = ops_interrupt(ops, err) < 0 ? -1 : run_turn(a, p, err);
		else if (type == FRAME_OP)
			rc = ops_handle(ops, p, err);
		else if (type != FRAME_CANCEL)
			rc = model_late_frame(&a->link, type, err);
		if (rc < 0)
			return -1;
	}
}

static void agent_free(struct agent *a)
{
	mcp_stdio_free(a->mcp);
	conv_free(a->conv);
	cJSON_Delete(a->tooldefs);
	cJSON_Delete(a->host_tools);
	toolbox_free(a->tools);
	deny_list_free(a->deny);
	cJSON_Delete(a->hello);
	inbox_free(a->link.in);
}

int agent_main(int fd)
{
	struct agent a = { .link = { .fd = fd } };
	struct ad_err err;
	/* the commands the model runs must not inherit the socket */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return 1;
	/* a shell that died leaves a pipe without a reader: EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);
	int rc = -1;
	if ((a.link.in = inbox_new(fd)) != NULL) {
		unsigned type;
		cJSON *hello = NULL;
		rc = inbox_next(a.link.in, -1, &type, &hello, &err);
		if (rc == 0)
			rc = ad_err_set(&err, 0, "the supervisor hung up before its hello");
		if (rc > 0)
			rc = take_hello(&a, type, hello, &err) < 0 ? -1 : serve(&a, &err);
	}
	struct ad_err ignored;
	if (rc < 0 && a.running)
		run_fail(&a, "protocol_error", err.msg, &ignored);
	agent_free(&a);
	return rc < 0 ? 1 : 0;
}

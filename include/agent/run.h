/* A run of the agent: one TURN from the supervisor (a user message), worked on with model
 * calls and tool calls until the model ends its reply, max_model_calls calls were made, a
 * CANCEL came or a call failed. The agent's state that outlives runs is struct agent (agent/agent.h starts it). */
#ifndef AGENTD_AGENT_RUN_H
#define AGENTD_AGENT_RUN_H

#include <cjson/cJSON.h>

#include "agent/context.h"
#include "agent/conversation.h"
#include "agent/deny.h"
#include "agent/inbox.h"
#include "agent/model_call.h"
#include "agent/prompt_cache.h"
#include "agent/tooldefs.h"
#include "core/err.h"

struct agent {
	struct model_link link;     /* the socket to the supervisor, its frames */
	cJSON *hello;               /* the supervisor's HELLO: the strings below point into it */
	const char *model, *system, *workspace;
	const char *claude_code;    /* the Claude Code CLI, for its runtime (agent/runtime.h) */
	const char *session_id;     /* the session's id, or NULL */
	long max_tokens, max_model_calls, command_timeout_s;
	long thinking_budget;       /* extended thinking's tokens, 0: none (a TURN may say otherwise) */
	long shell_rest_ms;         /* a shell started ahead and still fresh is ended after so long
				       without a frame, and started again by the next TURN (0: kept) */
	bool shell_rested;          /* it was: the next TURN starts it */
	enum prompt_cache_ttl cache_ttl;   /* the breakpoints' lifetime, or off */
	struct context ctx;         /* the model's context window, and how full a request makes it */
	struct deny_list *deny;
	struct toolbox *tools;
	cJSON *tooldefs;            /* the request's tools array: the agent's own, the host's,
				       the stdio MCP servers', in that order */
	cJSON *host_tools;          /* those the supervisor runs (hello's, or what a TOOL_RESULT
				       brought since), or NULL */
	struct mcp_stdio *mcp;      /* the stdio MCP servers it runs, or NULL */
	int own_tools;              /* tooldefs that are the agent's own (which come first) */
	int base_tools;             /* tooldefs before the stdio MCP servers' (which come last) */
	struct conv *conv;
	bool running;               /* between a TURN and its done or error event */
};

/* Work on one TURN payload; ends with a done or an error event. -1 only when the
 * supervisor broke the protocol or went away (err). */
int run_turn(struct agent *a, const cJSON *turn, struct ad_err *err);

/* Send one run event (taken). */
int run_event(struct agent *a, cJSON *ev, struct ad_err *err);
/* End the run with an error event {"type": "error", "error": {type, message}}. */
int run_fail(struct agent *a, const char *type, const char *message, struct ad_err *err);

#endif

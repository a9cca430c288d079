/* Inside the runtimes (include/agent/runtime.h): the program's run (runtime.c) and what
 * Claude Code's stream-json lines come to (runtime_cc.c). */
#ifndef AGENTD_AGENT_RUNTIME_INT_H
#define AGENTD_AGENT_RUNTIME_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "agent/run.h"
#include "core/err.h"

/* Claude Code's tool calls in flight: their names, for tool_end. */
#define CC_TOOLS_MAX 64

struct cc_state {
	bool streamed;               /* text came as deltas since the last whole message */
	bool result;                 /* its result line came */
	bool is_error;               /* which said it failed */
	char stop[32];               /* the run's stop_reason */
	char *reply;                 /* the result's text */
	char *why;                   /* an error result's words */
	struct {
		char id[96], name[64];
	} tools[CC_TOOLS_MAX];
	unsigned ntools;
};

/* One line of the CLI's stdout: its run events sent; -1 only when they could not be. */
int cc_line(struct agent *a, struct cc_state *st, const char *line, size_t len, struct ad_err *err);
void cc_state_free(struct cc_state *st);

#endif

/* Tools the supervisor runs for the agent (fetch_url, fetch_html): offered to the model
 * beside the agent's own (HELLO's host_tools), called over the session socket with a
 * TOOL_CALL, answered by a TOOL_RESULT (ipc/protocol.h). */
#ifndef AGENTD_AGENT_HOST_TOOLS_H
#define AGENTD_AGENT_HOST_TOOLS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent/run.h"
#include "agent/tools.h"
#include "core/err.h"

/* Whether name is one of defs' (HELLO's host_tools array; NULL: none). */
bool host_tool_named(const cJSON *defs, const char *name);
/* The host's tools are now defs (an array of tool definitions, or NULL: none), in the
 * request's tools after the agent's own, before the stdio MCP servers'. -1 and err
 * when they are not tool definitions or a name is one of the agent's own. */
int host_tools_set(struct agent *a, const cJSON *defs, struct ad_err *err);
/* The call, and its result into r: 0; 1 when a CANCEL came first (the result, still
 * owed, is dropped when it comes); -1 when the supervisor broke the protocol or went.
 * A TOOL_RESULT may bring the host's tools anew ("host_tools": a remote MCP server's
 * changed): they are the ones of the next model call. */
int host_tool_call(struct agent *a, const char *id, const char *name, const cJSON *input,
		   struct tool_result *r, struct ad_err *err);

#endif

/* Tools the supervisor runs for the agent (fetch_url, fetch_html): offered to the model
 * beside the agent's own (HELLO's host_tools), called over the session socket with a
 * TOOL_CALL, answered by a TOOL_RESULT (ipc/protocol.h). */
#ifndef AGENTD_AGENT_HOST_TOOLS_H
#define AGENTD_AGENT_HOST_TOOLS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent/model_call.h"
#include "agent/tools.h"
#include "core/err.h"

/* Whether name is one of defs' (HELLO's host_tools array; NULL: none). */
bool host_tool_named(const cJSON *defs, const char *name);
/* The call, and its result into r: 0; 1 when a CANCEL came first (the result, still
 * owed, is dropped when it comes); -1 when the supervisor broke the protocol or went. */
int host_tool_call(struct model_link *l, const char *id, const char *name, const cJSON *input,
		   struct tool_result *r, struct ad_err *err);

#endif

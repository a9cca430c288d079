/* MCP servers that speak over stdio, run inside the sandbox as the agent's children
 * (DESIGN.md section 5): started from HELLO's "mcp_servers" ({"NAME": {"command",
 * "args", "env"}}), opened (include/mcp/mcp.h chooses the revision) and listed before
 * the agent says it is ready; their tools are offered as mcp__<server>__<tool>. A server
 * that does not start, open or list within the time given is reported and left out:
 * the session goes on without it. */
#ifndef AGENTD_AGENT_MCP_STDIO_H
#define AGENTD_AGENT_MCP_STDIO_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent/tools.h"
#include "core/err.h"

struct mcp_stdio;

struct mcp_stdio_limits {
	unsigned start_timeout_s;        /* to start, open and list one server */
	unsigned call_timeout_s;
	size_t max_output;               /* bytes of one result given to the model */
};

/* Start every server of servers (may be NULL: none) in dir; never fails but for memory
 * (NULL): a server that fails is reported by mcp_stdio_report(). */
struct mcp_stdio *mcp_stdio_start(const cJSON *servers, const char *dir, const struct mcp_stdio_limits *lim);
/* Their tools' definitions, appended to tools. */
void mcp_stdio_tooldefs(struct mcp_stdio *m, cJSON *tools);
/* {"NAME": {"state": "ready" | "failed", "tools": N, "error"?: "..."}} */
cJSON *mcp_stdio_report(const struct mcp_stdio *m);
bool mcp_stdio_has(struct mcp_stdio *m, const char *name);
/* Before a model call: a server that said its tools changed (list_changed) is listed
 * again; true when any was (the definitions are then to be taken anew). */
bool mcp_stdio_refresh(struct mcp_stdio *m);
/* Call the tool named name (the model's name) into r. cancel_fd readable (a CANCEL from
 * the supervisor, not read here) stops the wait: true then. */
bool mcp_stdio_call(struct mcp_stdio *m, const char *name, const cJSON *input, int cancel_fd, struct tool_result *r);
/* Every server ended (its process group killed), freed. NULL is fine. */
void mcp_stdio_free(struct mcp_stdio *m);

#endif

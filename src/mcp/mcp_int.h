/* Inside src/mcp: the client's state, shared by the files that build, read and open. */
#ifndef AGENTD_MCP_INT_H
#define AGENTD_MCP_INT_H

#include "mcp/mcp.h"

enum mcp_open_state { MCP_OPEN_NONE, MCP_OPEN_PROBING, MCP_OPEN_INITIALIZING, MCP_OPEN_READY };

struct mcp_client {
	enum mcp_era hint, era;
	enum mcp_open_state state;
	int64_t open_id;                        /* the opening request in flight */
	int64_t next_id;
	int64_t pending[MCP_PENDING_MAX];       /* ids sent and not yet answered */
	size_t npending;
	char version[16];                       /* the revision spoken, "" before the open */
	char session[MCP_SESSION_ID_MAX + 1];   /* HTTP, legacy era */
	char *server_name, *server_version, *instructions;
	bool tools_change;
};

/* The meta key names of 2026-07-28 requests and results. */
#define MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"
#define MCP_META_CLIENT "io.modelcontextprotocol/clientInfo"
#define MCP_META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define MCP_META_SERVER "io.modelcontextprotocol/serverInfo"

/* A request with the next id, in flight from now on; params (taken, may be NULL) gets
 * the modern _meta when modern. */
cJSON *mcp_request(struct mcp_client *c, const char *method, cJSON *params, bool modern, struct ad_err *err);
/* The legacy handshake's two messages. */
cJSON *mcp_req_initialize(struct mcp_client *c, struct ad_err *err);
cJSON *mcp_note_initialized(void);
/* Keep what a server says of itself (an initialize or server/discover result). */
void mcp_client_learn(struct mcp_client *c, const cJSON *result);
/* {"name": "agentd", "version": ...}: our clientInfo. */
cJSON *mcp_client_info(void);

#endif

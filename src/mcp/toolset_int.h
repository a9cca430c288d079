/* Inside src/mcp: the tool set's fields, shared by the file that fills it and the one
 * that names its tools. */
#ifndef AGENTD_MCP_TOOLSET_INT_H
#define AGENTD_MCP_TOOLSET_INT_H

#include <stdint.h>

#include "mcp/mcp.h"

#define MCP_CURSOR_MAX 4096   /* a tools/list cursor, bytes */

struct mcp_tool {
	size_t server;                  /* index in the set's servers */
	char *name;                     /* the server's name for it */
	char *description;              /* NULL when it has none */
	cJSON *schema;                  /* its input schema: an object of type object */
	char api[MCP_API_NAME_MAX + 1]; /* the model's name for it; "" when none could be given */
};

struct mcp_server_list {
	char *name;
	size_t count, skipped;          /* tools taken, tools left out */
	char why[192];                  /* why the first one was left out */
	unsigned pages;
	uint64_t seen[MCP_PAGES_MAX];   /* hashes of the cursors followed, to see a loop */
	char *cursor;                   /* the last page's nextCursor */
};

struct mcp_toolset {
	struct mcp_server_list *servers;
	size_t nservers;
	struct mcp_tool *tools;
	size_t ntools, alloc;
	size_t *by_api;                 /* tools with a name, sorted by it */
	size_t nby_api;
	bool named;                     /* api and by_api are up to date */
};

/* Give every tool its model name, and sort them for mcp_toolset_find(); -1 when out
 * of memory. */
int mcp_toolset_name(struct mcp_toolset *ts);
/* Note that one of a server's tools was left out, and the first reason why. */
void mcp_toolset_skip(struct mcp_server_list *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/* Inside the agent's stdio MCP servers: their state, and the I/O with one server
 * (mcp_stdio_io.c) that the open, the listing and the calls (mcp_stdio.c) share. */
#ifndef AGENTD_AGENT_MCP_STDIO_INT_H
#define AGENTD_AGENT_MCP_STDIO_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "agent/mcp_stdio.h"
#include "mcp/mcp.h"

#define TAIL_MAX 512

struct server {
	char name[MCP_SERVER_NAME_MAX + 1];
	const cJSON *spec;
	pid_t pid;
	int to, from, err;              /* its stdin, stdout, stderr */
	struct mcp_client *c;
	char *in;                       /* what came from stdout, not yet a whole line */
	size_t len, alloc;
	char tail[TAIL_MAX + 1];        /* the end of its stderr */
	bool failed;
	char error[AD_ERR_MSG_MAX];
	size_t tools;
	bool changed;                   /* it sent notifications/tools/list_changed */
};

struct mcp_stdio {
	struct server *s;
	size_t n;
	struct mcp_toolset *ts;
	struct mcp_stdio_limits lim;
	const char *dir;
};

enum { GOT = 1, TIMED_OUT = 0, GONE = -1, BROKEN = -2, CANCELLED = -3 };

/* Its process group killed and reaped, its pipes closed. */
void mcp_server_stop(struct server *v);
/* Start it in dir (pipes to its stdin, stdout and stderr): 0, or -1 with errno. */
int mcp_server_spawn(struct server *v, const char *dir);
/* It failed: why, with the last line of its stderr; stopped. */
void mcp_server_fail(struct server *v, const char *why);
/* One message to it, written by deadline: 0, or -1. */
int mcp_server_send(struct server *v, const cJSON *msg, uint64_t deadline);
/* Until the answer to request id: GOT (*m it), or what ended the wait; what the server
 * asks meanwhile is answered. cancel_fd (-1: none) readable ends it (CANCELLED). */
int mcp_server_answer(struct server *v, int64_t id, uint64_t deadline, int cancel_fd, struct mcp_msg *m,
		      struct ad_err *err);
/* What it sent while nobody waited (notifications), taken without waiting. */
void mcp_server_poll(struct server *v);
/* A wait's end as a person reads it. */
const char *mcp_server_ended(int rc, unsigned timeout_s, char *buf, size_t size);

#endif

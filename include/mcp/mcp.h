/* The MCP client's protocol (JSON-RPC 2.0 as MCP uses it), without any I/O.
 *
 * The same code serves both sides of agentd that speak to MCP servers: the agent, for
 * stdio servers that run inside the sandbox as its children (one JSON message a line,
 * no newline inside a message, the server's logs on its stderr), and the supervisor, for
 * Streamable HTTP servers (one POST a message, the answer as JSON or as an SSE stream).
 * The transports move bytes; this module builds the messages, reads what comes back,
 * chooses the protocol revision, and turns tools and their results into what the
 * Messages API takes. Everything read is checked and capped: a server is not trusted.
 *
 * Choosing the revision (spec 2026-07-28, "Versioning", "Backward Compatibility"): two
 * eras are spoken. The legacy one (2025-11-25 and before) opens with an initialize
 * handshake (protocolVersion, capabilities, clientInfo; then notifications/initialized)
 * and, on HTTP, may keep a session (Mcp-Session-Id). The modern one (2026-07-28) has no
 * handshake and no session: every request carries the version, the client's
 * capabilities and its identity in params._meta, and servers must answer
 * server/discover. agentd does as the spec asks of a client that speaks both: it opens
 * with server/discover. A result that lists 2026-07-28, or an
 * UnsupportedProtocolVersion error (-32022) that lists no legacy version, shows a modern
 * server; -32022 that lists a legacy version shows a server of both eras, which is then
 * opened with initialize. HeaderMismatch (-32020) and MissingRequiredClientCapability
 * (-32021) are modern refusals: the open fails. Anything else shows a legacy server and
 * initialize follows: any other JSON-RPC error (legacy servers answer -32601, -32602,
 * -32000 ...; keying on one code is wrong), no answer within MCP_PROBE_TIMEOUT_MS on
 * stdio, a server that exits on the probe (stdio: start it again before initialize),
 * and on HTTP a 202 or an error status whose body is no JSON-RPC error. HTTP 401 and
 * 403 are refusals, not an era. The era found can be kept by the caller and passed to
 * mcp_client_new() next time to skip the probe, as the spec allows.
 *
 * Not done yet: subscriptions/listen, multi round-trip requests (an input_required
 * result becomes an error result: agentd declares no client capabilities) and the
 * x-mcp-header mirroring of 2026-07-28 Streamable HTTP. */
#ifndef AGENTD_MCP_MCP_H
#define AGENTD_MCP_MCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"

#define MCP_REVISION_LEGACY "2025-11-25"
#define MCP_REVISION_MODERN "2026-07-28"

#define MCP_MESSAGE_MAX (8u << 20)     /* one JSON-RPC message from a server, bytes */
#define MCP_PENDING_MAX 64             /* requests in flight to one server */
#define MCP_PROBE_TIMEOUT_MS 10000     /* stdio: no answer to server/discover means legacy */
#define MCP_SERVER_NAME_MAX 64         /* a server's name in agentd's configuration */
#define MCP_TOOL_NAME_MAX 128          /* a server's tool name (the spec's upper bound) */
#define MCP_API_NAME_MAX 64            /* a tool name in the Messages API */
#define MCP_TOOLS_MAX 1000             /* tools taken from one server */
#define MCP_PAGES_MAX 100              /* tools/list pages from one server */
#define MCP_DESCRIPTION_MAX 2048       /* a tool's description, bytes */
#define MCP_SCHEMA_MAX (64u << 10)     /* a tool's input schema, as compact JSON */
#define MCP_SESSION_ID_MAX 256         /* an Mcp-Session-Id */

/* JSON-RPC 2.0 codes, and those the 2026-07-28 revision defines. */
enum {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
	MCP_HEADER_MISMATCH = -32020,
	MCP_MISSING_CLIENT_CAPABILITY = -32021,
	MCP_UNSUPPORTED_VERSION = -32022,
};

/* AUTO: probe and choose; LEGACY: initialize at once (a kept verdict); MODERN:
 * 2026-07-28 or nothing. After the open, mcp_client_era() says which one it is. */
enum mcp_era { MCP_ERA_AUTO, MCP_ERA_LEGACY, MCP_ERA_MODERN };

/* One server's protocol state: request ids, the requests in flight, the revision
 * chosen, what the server said of itself. */
struct mcp_client;

struct mcp_client *mcp_client_new(enum mcp_era era);
void mcp_client_free(struct mcp_client *c);
/* Back to before the open (a restarted stdio server, an HTTP session the server
 * ended with 404): requests in flight are forgotten, the era hint is kept. */
void mcp_client_restart(struct mcp_client *c);

bool mcp_client_ready(const struct mcp_client *c);
/* MCP_ERA_LEGACY or MCP_ERA_MODERN once ready, else the hint given. */
enum mcp_era mcp_client_era(const struct mcp_client *c);
/* The revision spoken, NULL before the open. */
const char *mcp_client_version(const struct mcp_client *c);
/* What the server said of itself (NULL when it did not), owned by the client. */
const char *mcp_client_server_name(const struct mcp_client *c);
const char *mcp_client_server_version(const struct mcp_client *c);
const char *mcp_client_instructions(const struct mcp_client *c);
/* The server's capabilities say that it may send notifications/tools/list_changed
 * (tools.listChanged); whether it sent one is the transport's to note. */
bool mcp_client_tools_change(const struct mcp_client *c);

/* HTTP: the Mcp-Session-Id the server gave with its initialize result (legacy era
 * only; ignored in the modern one). Visible ASCII, at most MCP_SESSION_ID_MAX. */
int mcp_client_set_session(struct mcp_client *c, const char *id, struct ad_err *err);

/* Messages to send, new cJSON objects for the caller to free. A request's id is its
 * "id" member; NULL and err filled on failure (MCP_PENDING_MAX requests in flight:
 * EBUSY; a method the revision spoken lacks: EOPNOTSUPP). In the modern era each
 * request carries params._meta. */
cJSON *mcp_req_tools_list(struct mcp_client *c, const char *cursor, struct ad_err *err);
/* arguments: an object, copied; NULL sends {}. */
cJSON *mcp_req_tools_call(struct mcp_client *c, const char *tool, const cJSON *arguments,
			  struct ad_err *err);
/* Legacy era only: 2026-07-28 has no ping. */
cJSON *mcp_req_ping(struct mcp_client *c, struct ad_err *err);
/* The probe (mcp_open sends it); also a way to ask a modern server about itself. */
cJSON *mcp_req_discover(struct mcp_client *c, struct ad_err *err);
/* A request that will not be answered (timed out): its id is freed. */
void mcp_forget(struct mcp_client *c, int64_t id);
int64_t mcp_id_of(const cJSON *msg);

/* A message as it goes on the wire: compact JSON, then "\n" (which ends a message on
 * stdio and is white space in an HTTP body). NULL when out of memory. */
char *mcp_encode(const cJSON *msg, size_t *len);

/* The HTTP headers of a POST carrying msg, as "Name: value" lines: Accept and
 * Content-Type; MCP-Protocol-Version; in the modern era Mcp-Method and, for tools/call,
 * Mcp-Name (base64 in =?base64?...?= when not plain ASCII); in the legacy era the
 * session id. */
#define MCP_HEADERS_MAX 6
#define MCP_HEADER_LEN 512
struct mcp_headers {
	size_t n;
	char line[MCP_HEADERS_MAX][MCP_HEADER_LEN];
};
int mcp_http_headers(const struct mcp_client *c, const cJSON *msg, struct mcp_headers *h, struct ad_err *err);

/* Opening. mcp_open() gives the first message (server/discover, or initialize for a
 * legacy hint). Each answer to an opening request goes to mcp_open_reply(): reply is
 * the response read (mcp_read), or NULL when none came (stdio: the probe timed out or
 * the server exited; HTTP: the status had no JSON-RPC body); http_status is the HTTP
 * status, 0 on stdio. On success *next is NULL when there is nothing to send yet, or
 * the next message: a request whose answer comes here again, or, once the client is
 * ready, the notifications/initialized notification to send before anything else.
 * Fails, with the server's own words, when the server cannot be spoken to. */
cJSON *mcp_open(struct mcp_client *c, struct ad_err *err);
struct mcp_msg;
int mcp_open_reply(struct mcp_client *c, const struct mcp_msg *reply, int http_status, cJSON **next,
		   struct ad_err *err);

/* One message read from a server. */
enum mcp_msg_kind {
	MCP_MSG_RESULT,         /* the answer to one of our requests */
	MCP_MSG_ERROR,          /* an error answer; id 0 when the server could not name one */
	MCP_MSG_NOTIFICATION,   /* notifications/tools/list_changed and the like */
	MCP_MSG_REQUEST,        /* the server asks: answer with mcp_answer() */
};

struct mcp_msg {
	enum mcp_msg_kind kind;
	cJSON *json;            /* the message; the pointers below point into it */
	int64_t id;             /* RESULT, ERROR: our request's id */
	const cJSON *result;    /* RESULT: an object */
	bool input_required;    /* RESULT: resultType "input_required" (2026-07-28) */
	int code;               /* ERROR */
	const char *message;    /* ERROR: never NULL */
	const cJSON *data;      /* ERROR: may be NULL */
	const char *method;     /* NOTIFICATION, REQUEST */
	const cJSON *params;    /* NOTIFICATION, REQUEST: may be NULL */
};

#define MCP_TOOLS_LIST_CHANGED "notifications/tools/list_changed"

/* Read one message (at most MCP_MESSAGE_MAX bytes). An answer must name a request in
 * flight, which it then ends; anything that is not a JSON-RPC 2.0 message fails with
 * the reason. m is set only on success; mcp_msg_free() releases it. */
int mcp_read(struct mcp_client *c, const char *buf, size_t len, struct mcp_msg *m, struct ad_err *err);
void mcp_msg_free(struct mcp_msg *m);
/* m as the answer to request id: its result (0), or -1 with the server's error, or with
 * what else m was. */
int mcp_result_of(const struct mcp_msg *m, int64_t id, const cJSON **result, struct ad_err *err);
/* The answer to a server's request: an empty result to ping, "method not found" to
 * anything else (agentd offers the server no roots, sampling or elicitation). */
cJSON *mcp_answer(const struct mcp_msg *request);

/* The tools of every server, as the model sees them: named mcp__<server>__<tool>,
 * server and tool names reduced to [A-Za-z0-9_-], at most 64 characters. A name that
 * is too long, or that two tools would share, ends in _ and 8 hex digits of a hash of
 * the server's and tool's names; the names depend only on the set of tools, not on the
 * order they came in. */
struct mcp_toolset;

struct mcp_toolset *mcp_toolset_new(void);
void mcp_toolset_free(struct mcp_toolset *ts);
/* Start (again) listing a server's tools: the ones it had are dropped. */
int mcp_toolset_begin(struct mcp_toolset *ts, const char *server, struct ad_err *err);
/* One tools/list result of that server. *cursor is the next page's cursor (owned by the
 * toolset until the next call), or NULL when the list is complete. Fails on a result
 * that is not a tools/list result, past MCP_PAGES_MAX pages or on a cursor seen twice.
 * A tool that cannot be offered (no name, a name over MCP_TOOL_NAME_MAX, an input
 * schema that is not {"type": "object", ...} or over MCP_SCHEMA_MAX, a duplicate, one
 * past MCP_TOOLS_MAX) is left out and counted. */
int mcp_toolset_page(struct mcp_toolset *ts, const char *server, const cJSON *result, const char **cursor,
		     struct ad_err *err);
/* Tools left out of a server's list, and why the first one was. */
size_t mcp_toolset_skipped(const struct mcp_toolset *ts, const char *server, const char **why);
size_t mcp_toolset_count(const struct mcp_toolset *ts);
/* The definitions for a request's `tools` array: {name, description, input_schema},
 * server by server in the order listed. A new array; NULL when out of memory. */
cJSON *mcp_toolset_defs(struct mcp_toolset *ts);
/* From a tool_use's name back to the server and its tool (owned by the toolset); -1
 * (ENOENT) for a name that is not one of them. */
int mcp_toolset_find(struct mcp_toolset *ts, const char *name, const char **server, const char **tool);

/* A tools/call result as the content of a tool_result block: text as text blocks, an
 * image as an image block when the API takes its media type (png, jpeg, gif, webp) and
 * its data is base64, else a note; audio and binary resources as notes; a resource
 * link as its name and uri; an embedded resource's text; structuredContent as JSON
 * text when no text came; isError as *is_error. Text and image data share max_bytes;
 * what does not fit is left out with a note. *content is a new array. */
int mcp_tool_result(const cJSON *result, size_t max_bytes, cJSON **content, bool *is_error,
		    struct ad_err *err);

#endif

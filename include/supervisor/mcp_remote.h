/* Remote MCP servers, called by the supervisor over Streamable HTTP (DESIGN.md section 5).
 *
 * The operator configures them (mcp.servers: {"name": {"url", "headers"}}); the sandbox
 * never sees their URL or headers: the model asks for a tool, the agent sends the call
 * out, the supervisor makes it here. The protocol is include/mcp/mcp.h's (revision
 * chosen with server/discover, then initialize for a legacy server); this is the
 * transport, with libcurl: every message one POST to the server's URL, the answer
 * either one JSON message or an event stream (SSE) on which the server may first send
 * notifications and requests of its own. A server's requests are answered at once
 * (mcp_answer: pong to ping, "method not found" to the rest), on a second handle while
 * the stream is read; notifications are passed over, but tools/list_changed is kept for
 * the caller (mcp_remote_tools_changed). The Mcp-Session-Id a legacy server gives with
 * its initialize result goes on every later request; a 404 to a request that carried
 * it means the server ended the session, which is then opened again, once, and the
 * request sent again (spec 2025-11-25, "Session Management"); so does a 400 whose words
 * speak of the session, the answer of servers built on the TypeScript SDK 1.x's
 * examples (server-everything among them) to a session they no longer know.
 *
 * Limits: one handle per server (its connection reused), no proxy from the environment,
 * no redirect followed, http and https only, each request within timeout_s, each body
 * within MCP_REMOTE_BODY_MAX (one message within MCP_MESSAGE_MAX). Not done: resuming
 * a stream the server cut (GET with Last-Event-ID), the GET stream for unsolicited
 * messages, the 2024-11-05 HTTP+SSE transport. Blocking, one thread per server. */
#ifndef AGENTD_SUPERVISOR_MCP_REMOTE_H
#define AGENTD_SUPERVISOR_MCP_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "mcp/mcp.h"

#define MCP_REMOTE_HEADERS_MAX 32                     /* configured headers of one server */
#define MCP_REMOTE_HEADER_MAX 8192                    /* one of them, "Name: value", expanded */
#define MCP_REMOTE_BODY_MAX (2 * MCP_MESSAGE_MAX)     /* one response: the answer, events before it */
#define MCP_REMOTE_WORDS_MAX 300                      /* a server's words quoted in an error */
#define MCP_REMOTE_CLOSE_TIMEOUT_MS 2000              /* the DELETE that ends a session */

struct mcp_remote_spec {
	const char *name;          /* the server's name in agentd's config */
	const char *url;           /* http:// or https:// */
	const cJSON *headers;      /* {"Authorization": "Bearer ${TOKEN}", ...} or NULL: "${VAR}"
				      is agentd's environment variable VAR (see
				      mcp_remote_expand); the values go to this server only,
				      never into a log, an error or the sandbox */
	unsigned timeout_s;        /* each request (probe, initialize, each page of the list,
				      a call), connection included */
	unsigned call_timeout_s;   /* a call's instead (0: timeout_s) */
	size_t max_output;         /* bytes of a tool's result given to the model */
	enum mcp_era era;          /* MCP_ERA_AUTO (0): probe; or what an earlier open found */
};

/* One server: its handle, its protocol state, its session. */
struct mcp_remote;

/* Open the server: server/discover, then initialize and notifications/initialized for
 * a legacy server, keeping the Mcp-Session-Id it gives; then list all its tools into ts
 * (mcp_remote_list). abort (may be NULL) is asked during every transfer, at least once a
 * second: true abandons it. NULL and err on failure, a sentence that names the server
 * and says what to do: cannot connect (is it running?), no answer within timeout_s,
 * the HTTP status with the server's own words (credentials for 401 and 403, the URL for
 * 404), an answer that is not MCP, a variable its headers name that is not set. */
struct mcp_remote *mcp_remote_open(const struct mcp_remote_spec *spec, struct mcp_toolset *ts,
				   bool (*abort)(void *), void *ctx, struct ad_err *err);

/* List the server's tools (again) into ts, page by page (mcp_toolset_begin, _page);
 * clears mcp_remote_tools_changed(). Tools the toolset refuses are logged. */
int mcp_remote_list(struct mcp_remote *r, struct mcp_toolset *ts, bool (*abort)(void *), void *ctx,
		    struct ad_err *err);

/* The server sent notifications/tools/list_changed since the last list. */
bool mcp_remote_tools_changed(const struct mcp_remote *r);

/* The era found by the open (MCP_ERA_LEGACY or MCP_ERA_MODERN), for the next one. */
enum mcp_era mcp_remote_era(const struct mcp_remote *r);

/* Call one tool (its name on the server; arguments an object, NULL for {}). 0: *content
 * is a new array of content blocks for a tool_result (mcp_tool_result, within
 * max_output) and *is_error says whether the tool failed, which the model is to see.
 * -1 and err when the call itself failed, saying how: the transport (cannot connect,
 * HTTP status), the time (timeout_s), a JSON-RPC error from the server, a cancel. A
 * call given up on (timeout, abort) is cancelled at a legacy server too
 * (notifications/cancelled, best effort); a modern one sees its stream closed. */
int mcp_remote_call(struct mcp_remote *r, const char *tool, const cJSON *arguments, bool (*abort)(void *),
		    void *ctx, cJSON **content, bool *is_error, struct ad_err *err);

/* End the session with a DELETE when there is one (best effort, within
 * MCP_REMOTE_CLOSE_TIMEOUT_MS), wipe the headers, free. NULL is fine. */
void mcp_remote_close(struct mcp_remote *r);

/* The pieces below do no I/O; the transport uses them, and the unit tests. */

/* value with each "${VAR}" replaced by the environment's VAR: a new string. VAR is a
 * name of letters, digits and '_' that does not start with a digit; a "$" not followed
 * by "{" is itself. What a variable holds is not looked at again (no "${...}" inside
 * it is replaced). NULL and err (naming the variable, never the value) when a variable
 * is not set or is empty, on a "${" without its "}" or with no name in it, or past
 * MCP_REMOTE_HEADER_MAX bytes. */
char *mcp_remote_expand(const char *value, struct ad_err *err);

/* The configured headers as the lines libcurl sends, "Name: value" (or "Name;" for an
 * empty value), values expanded. Refused: more than MCP_REMOTE_HEADERS_MAX, a name that
 * is not an HTTP token, a name agentd sets itself (Accept, Content-Type, Host, the
 * Mcp-* and MCP-Protocol-Version headers, ...), a value that is not a string or that
 * holds a control character once expanded. headers may be NULL (none). */
struct mcp_remote_headers {
	size_t n;
	char *line[MCP_REMOTE_HEADERS_MAX];
};
int mcp_remote_headers_make(const cJSON *headers, struct mcp_remote_headers *h, struct ad_err *err);
/* Zero the lines (they may hold secrets) and free them; h is empty after. */
void mcp_remote_headers_wipe(struct mcp_remote_headers *h);

/* One response body as it arrives, read for the answer to request want (0: a
 * notification's or a response's POST, whose answer is its status alone). By its
 * Content-Type: application/json is one message; text/event-stream is read event by
 * event (claude/sse.h; events of other names than "message" and events without data,
 * such as the priming one, are passed over) until the answer, the server's requests
 * going to on_request and notifications/tools/list_changed being noted; anything else
 * is kept, cut, as the server's words for an error. */
struct mcp_remote_body;
typedef int (*mcp_remote_request_fn)(void *ctx, const struct mcp_msg *request, struct ad_err *err);

/* content_type may be NULL (none given); on_request may be NULL (requests ignored).
 * NULL when out of memory. */
struct mcp_remote_body *mcp_remote_body_new(struct mcp_client *c, int64_t want, const char *content_type,
					    mcp_remote_request_fn on_request, void *ctx);
/* Bytes, cut anywhere. -1 and err (then on every later call) on a body over its cap, a
 * message that is not JSON-RPC, or on_request's failure. */
int mcp_remote_body_feed(struct mcp_remote_body *b, const char *data, size_t len, struct ad_err *err);
/* The answer was read (on a stream, more bytes may follow; they are not read). */
bool mcp_remote_body_answered(const struct mcp_remote_body *b);
bool mcp_remote_body_list_changed(const struct mcp_remote_body *b);
/* The body has ended: 1 with the answer moved to *answer (mcp_msg_free() it), 0 when
 * there is none (a 202, an error status without JSON-RPC, a stream that stopped short),
 * -1 and err when the body could not be read (as for feed, or a JSON body that is no
 * JSON-RPC message). A JSON-RPC error without an id counts as the answer. */
int mcp_remote_body_end(struct mcp_remote_body *b, struct mcp_msg *answer, struct ad_err *err);
/* What the body said, for an error message: one line of text without markup or control
 * characters, at most MCP_REMOTE_WORDS_MAX bytes; "" when nothing. */
void mcp_remote_body_words(const struct mcp_remote_body *b, char *out, size_t size);
void mcp_remote_body_free(struct mcp_remote_body *b);

#endif

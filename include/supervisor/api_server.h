/* The Messages API, served to the sandbox by its supervisor: for programs other than
 * the built-in agent (the Claude Code CLI, Agent SDK programs, anything that speaks
 * the API), on the sandbox's Unix socket (SANDBOX_API_SOCKET, ANTHROPIC_UNIX_SOCKET)
 * and on a port of its 127.0.0.1 (ANTHROPIC_BASE_URL).
 *
 * A client brings any key (a placeholder); the real one is added here and never goes
 * in. POST /v1/messages and POST /v1/messages/count_tokens go on to the API with their
 * query string and every anthropic-* header, and the answer comes back as it comes (an
 * event stream event by event); anything else is a 404 in the API's own error shape.
 * The relay's rules hold: the model must be allowed (or mapped: runtime.model_map),
 * each message request is one of the session's budget (relay_admit), and what the API
 * counted in its answer is spent (relay_spent) and reported, one note a call.
 *
 * Each connection has a thread of its own, as the egress proxy's do; the notes reach
 * the supervisor's loop through event_fd. Connections are accepted by that loop, not by
 * a thread that would wait on the listeners in every idle session: the programs that call
 * run while the loop is free (a runtime's session has no model call of the built-in
 * agent; a tool's program runs between them), and during a model call of the built-in
 * agent (a background process calling) its progress callback accepts, at least once a
 * second. (The egress proxy keeps its accepting thread: a download in the background
 * must not wait for a model call.) */
#ifndef AGENTD_SUPERVISOR_API_SERVER_H
#define AGENTD_SUPERVISOR_API_SERVER_H

#include <cjson/cJSON.h>

#include "core/err.h"
#include "supervisor/relay.h"

struct api_server;

#define API_LISTEN_MAX 2     /* the Unix socket and the port */

/* listeners: n listening sockets (taken: closed at the stop). */
struct api_server *api_server_start(const int *listeners, unsigned n, struct relay *relay, struct ad_err *err);
/* The listening sockets, for the supervisor's poll (no thread of the server's waits on
 * them: an idle session's supervisor is one task); how many. */
unsigned api_server_listeners(const struct api_server *a, int fds[API_LISTEN_MAX]);
/* What the listeners hold, taken: a thread per connection, as before. Never blocks. */
void api_server_accept(struct api_server *a);
/* Readable while notes wait. */
int api_server_event_fd(const struct api_server *a);
/* The next note, or NULL: {"path", "model", "status", "duration_ms", "usage": {4
 * counters}, "error"?: "why it was refused or failed"}. */
cJSON *api_server_take(struct api_server *a);
/* Every connection ended (calls in flight abandoned), the listeners closed, freed. */
void api_server_stop(struct api_server *a);

#endif

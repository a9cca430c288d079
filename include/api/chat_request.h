/* The body of POST /api/chat, checked field by field. Every refusal names the field and
 * what is wrong with it, and becomes a 400. */
#ifndef AGENTD_API_CHAT_REQUEST_H
#define AGENTD_API_CHAT_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/err.h"
#include "core/node_id.h"

#define CHAT_MAX_ALLOW 256

#define CHAT_MAX_HISTORY 1000
#define CHAT_MAX_SYSTEM_CHARS 100000
#define CHAT_MAX_ID_LEN (NODE_SESSION_ID_MAX - 1)   /* a session id (core/node_id.h) */
#define CHAT_MAX_MODEL_LEN 128

struct chat_request {
	const char *message;           /* pointers into the parsed body */
	const cJSON *history;          /* array, possibly NULL */
	const char *session_id;
	const char *system;
	const char *model;
	const cJSON *network;          /* {"allow": [...]}, possibly NULL: see chat_network_check */
	const cJSON *mcp_servers;      /* ["NAME", ...], possibly NULL: see chat_mcp_check */
	int64_t thinking;              /* "thinking": its budget_tokens, 0 when disabled, -1 when not given */
	const char *runtime;           /* "runtime", or NULL: see chat_runtime_check */
	const char *command;           /* "command", for the command runtime */
	bool stream;
};

/* A request's "network" option: {"allow": [names and "*.suffix"]}, each within
 * config_allow (the setting network.allow): a session may narrow it, never widen it. */
int chat_network_check(const cJSON *net, char *const *config_allow, struct ad_err *err);
/* A request's "mcp_servers" option: names of servers of servers_json (the setting
 * mcp.servers), each at most once. */
int chat_mcp_check(const cJSON *names, const char *servers_json, struct ad_err *err);

/* A session's "runtime" (NULL: the built-in agent) and its "command": a runtime of
 * runtime.allow; a command with the command runtime only, and required there; no
 * history with another runtime than agentd (it seeds the built-in agent only). */
int chat_runtime_check(const struct config *cfg, const char *runtime, const char *command, bool history,
		       struct ad_err *err);

/* Text from a user (a message, a title): no ESC nor other control character but tab,
 * newline and carriage return, at most max_chars characters (0: any number). */
int chat_text_check(const char *field, const char *s, int64_t max_chars, struct ad_err *err);

int chat_request_parse(const cJSON *body, int64_t max_message_chars, struct chat_request *out,
		       struct ad_err *err);

#endif

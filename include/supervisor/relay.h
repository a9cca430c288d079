/* The supervisor's relay: the agent in the sandbox asks for a Messages API call with an
 * API_REQUEST frame; the relay checks the request against the config (fields, model,
 * max_tokens, stream) and the session's budget (requests and tokens), adds the key,
 * makes the call, and streams the events back as API_EVENT frames, then one API_END.
 * Usage is counted here, from the API's own stream, never taken from the agent. */
#ifndef AGENTD_SUPERVISOR_RELAY_H
#define AGENTD_SUPERVISOR_RELAY_H

#include <pthread.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "claude/usage.h"
#include "supervisor/claude_client.h"
#include "core/config.h"
#include "core/err.h"

struct relay {
	const struct config *cfg;
	struct claude_client client;
	/* The session's budget, also spent by the API the sandbox is served
	 * (api_server.h), on threads of its own: under lock. */
	pthread_mutex_t lock;
	char api_key[CONFIG_API_KEY_MAX + 1];   /* the key, replaced on a reload (relay_set_key) */
	unsigned requests;            /* calls made in this session */
	struct usage total;           /* this session */
	struct usage last;            /* the agent's last call (the loop's own) */
	/* and how it went, for metrics: its model, an outcome of claude_outcome()'s words
	 * or "refused" / "budget_exceeded" (agentd's), its timing and retries */
	char last_model[128];
	const char *last_outcome;
	struct claude_call last_call;
	/* How a frame (taken) reaches the agent: the supervisor queues it, waiting while
	 * the agent is behind and reading what it sends meanwhile, so that neither waits
	 * on the other with a full socket; fails when the agent is stuck or gone. */
	int (*send)(void *ctx, unsigned type, cJSON *payload, struct ad_err *err);
	/* the same for a payload that is JSON text already (n bytes, not taken) */
	int (*send_raw)(void *ctx, unsigned type, const char *payload, size_t n, struct ad_err *err);
	void *send_ctx;
};

/* abort_fd: readable or hung up when the gateway wants the call abandoned. */
void relay_init(struct relay *r, const struct config *cfg, int abort_fd);

/* The key a call starts with, copied under the lock into out (CONFIG_API_KEY_MAX + 1
 * bytes; wipe it after the call): a reload during the call does not change it. */
void relay_key(struct relay *r, char *out);
/* A new key (a reload): later calls use it, the old one is wiped. Whether it differs. */
bool relay_set_key(struct relay *r, const char *key);

/* Before a call: whether the session's budget allows one more (requests, tokens); it is
 * counted. The call that crosses the token budget is the last one allowed, as the
 * tokens of a call are known only after it. */
int relay_admit(struct relay *r, struct ad_err *why);
/* After a call: what the API counted is spent, whether or not the call ended well. */
void relay_spent(struct relay *r, const struct usage *u);
/* What an API event says of the call's usage, into u: message_start the input side,
 * message_delta the running totals; other events say nothing. */
void relay_usage_event(struct usage *u, const char *event, const char *data, size_t len);

/* Check one Messages request from the agent; on refusal err says why. */
int relay_check_request(const struct config *cfg, const cJSON *req, struct ad_err *err);

/* An API event as the agent's API_EVENT payload, {"event": NAME, "data": {...}}: the
 * data checked to be one JSON object, then spliced in as the bytes that came (not
 * printed again, never carried as a string); a name that is not [a-z_] or data that
 * is not an object fails (the call ends with that reason). *out: free(). */
int relay_event_payload(const char *event, const char *data, size_t len, char **out, size_t *n,
			struct ad_err *err);

/* Serve one API_REQUEST payload. Fails only when the agent can no longer be written to;
 * a refused or failed call is answered with API_END {"ok": false, ...}. */
int relay_serve(struct relay *r, const cJSON *payload, struct ad_err *err);

#endif

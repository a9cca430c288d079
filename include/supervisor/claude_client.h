/* Calling the Messages API (POST /v1/messages, streaming) with libcurl: the key and
 * version headers added here, events passed on as they arrive, retries as the SDKs do
 * (claude/retry.h) while nothing has been passed on yet, every attempt's request-id
 * logged, and every failure turned into a sentence for the user. Blocking. */
#ifndef AGENTD_SUPERVISOR_CLAUDE_CLIENT_H
#define AGENTD_SUPERVISOR_CLAUDE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "claude/retry.h"
#include "claude/sse.h"
#include "core/err.h"

struct claude_client {
	const char *base_url;        /* "https://api.anthropic.com" */
	const char *api_key;
	unsigned timeout_s;          /* one attempt, connection to last byte */
	unsigned max_retries;
	int abort_fd;                /* -1, or a descriptor whose readability or hang-up
					abandons the call (and any wait between attempts) */
	bool (*abort_check)(void *ctx); /* or, when set: called when abort_fd is readable,
					whose true abandons the call (it reads what came) */
	void *abort_ctx;
	void (*tick)(void *ctx);     /* or NULL: called with abort_ctx during a transfer (at
					least once a second): work the caller's loop would do */
	void *handle;                /* libcurl's, kept between calls so that connections
					(and TLS sessions) are reused; NULL at first */
	struct claude_warm *warm;    /* a connection opened ahead of the first call, or NULL */
};

struct claude_call {
	long status;                 /* of the last attempt; 0 when no response came */
	unsigned attempts;
	char request_id[128];        /* of the last attempt, "" when none */
	char error_type[64];         /* the API's error type ("rate_limit_error"), or "" */
	char message[AD_ERR_MSG_MAX];/* when the call failed: what to tell the user */
	uint64_t first_byte_ns;      /* from the call's start to the first event passed on (0: none) */
	uint64_t total_ns;           /* the whole call, retries and their waits included */
	unsigned retries[CLAUDE_RETRY_REASONS];   /* attempts tried again, by why */
};

/* body: a Messages request with "stream": true. fn gets every event (message_start ...
 * message_stop, ping, error). 0 when the stream ended with message_stop. */
/* call->status of a call abandoned through abort_fd */
#define CLAUDE_ABORTED (-1)

int claude_call(struct claude_client *c, const char *body, sse_event_fn fn, void *ctx,
		struct claude_call *call);

/* Before the first call, while nothing waits for it (a sandbox just built, maybe for
 * the warm pool): open a TCP connection to the API's host, sending nothing on it, so
 * that the first call starts with its request rather than a handshake. Best effort and
 * cheap to waste: skipped when the environment names a proxy; the first call uses it
 * only if it is at most 20 s old and the server has neither written nor hung up. */
void claude_client_preconnect(struct claude_client *c);
/* A sandbox that waits (in the warm pool) keeps its connection fresh: the ms until the
 * one opened ahead is due to be replaced (-1: there is none), and its replacement by a
 * new one once due. */
int claude_client_warm_due_ms(const struct claude_client *c);
void claude_client_warm_refresh(struct claude_client *c);

/* Free what the calls kept (the handle and its connections). */
void claude_client_cleanup(struct claude_client *c);

#endif

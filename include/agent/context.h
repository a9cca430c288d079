/* The model's context window, kept by the agent: before each call it estimates the
 * request's tokens from its size in bytes, at the rate the API's own usage numbers gave
 * for the calls before (or, after a 400 "prompt is too long", the number that answer
 * names); a request that would not fit, leaving room for the reply, has the oldest tool
 * results cleared first (conv_clear_results: their content becomes a short note, the
 * tool_use/tool_result pairs stay valid, as the API's clear_tool_uses context edit
 * does), all at once down to the last few, so that the prompt cache is started over
 * seldom rather than at every call. */
#ifndef AGENTD_AGENT_CONTEXT_H
#define AGENTD_AGENT_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Tool results a clearing keeps, the newest. */
#define CONTEXT_KEEP_RESULTS 3
/* Tokens per byte before any call has been measured: more than JSON text ever has in
 * practice (about 1 in 3.5), so that the first estimate errs on the safe side. */
#define CONTEXT_FIRST_RATE 0.34

struct context {
	int64_t window;            /* the model's context window, in tokens */
	int64_t max_tokens;        /* a reply's; of the window, this much is kept for it, but
				      never more than a fifth */
	double rate;               /* tokens per byte of request, as last measured */
};

void context_init(struct context *x, int64_t window, int64_t max_tokens);
/* A reply's usage (the API's: input, cache reads and writes) for a request of bytes. */
void context_learn(struct context *x, size_t bytes, const cJSON *usage);
/* The tokens a 400's message names ("prompt is too long: N tokens > M maximum"), which
 * the rate is then set from; 0 when the message is not that one. */
int64_t context_too_long(struct context *x, size_t bytes, const char *message);
int64_t context_estimate(const struct context *x, size_t bytes);
/* Whether a request of bytes leaves room for the reply. */
bool context_fits(const struct context *x, size_t bytes);

#endif

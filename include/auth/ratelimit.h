/* Request rate limits: a token bucket per key (a token's name, or a client address for
 * anonymous requests), safe to call from every HTTP thread.
 *
 * Each bucket holds up to `burst` requests and refills at `per_minute` per minute; a
 * request takes one or is refused with the whole seconds until one is back. At most
 * `max_keys` buckets are kept: a new key past that takes the place of the one idle the
 * longest, so memory stays bounded whatever the clients send. */
#ifndef AGENTD_AUTH_RATELIMIT_H
#define AGENTD_AUTH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Longest key kept; longer ones are cut (keys are made by agentd, not by clients). */
#define RATELIMIT_KEY_MAX 96

struct ratelimit;

struct ratelimit_opts {
	int64_t per_minute;                 /* average rate; 0: no limit at all */
	int64_t burst;                      /* bucket size, 1 or more */
	size_t max_keys;                    /* buckets kept at once, 1 or more */
	uint64_t (*now_ns)(void *ctx);      /* a monotonic clock; NULL: CLOCK_MONOTONIC */
	void *clock_ctx;
};

int ratelimit_new(struct ratelimit **out, const struct ratelimit_opts *opts, struct ad_err *err);

/* Take one request from key's bucket: 0 when it may go on, else the whole seconds
 * (1 or more) until the bucket holds one again: the Retry-After value. */
unsigned ratelimit_take(struct ratelimit *rl, const char *key);

/* Buckets held now (at most max_keys). */
size_t ratelimit_keys(struct ratelimit *rl);

void ratelimit_free(struct ratelimit *rl);

#endif

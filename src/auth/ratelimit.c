/* Token buckets per key: see include/auth/ratelimit.h.
 *
 * A bucket's level is kept in integer units so that refilling is exact: one request is
 * worth 60e9 units, and every nanosecond adds per_minute units (so per_minute requests
 * a minute). Buckets live in a hash table, chained, and on a list from the most to the
 * least recently used, whose tail is the one evicted when max_keys are held. One mutex
 * guards it all: a take is a hash lookup and a few additions. */
#include "auth/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define UNITS_PER_REQUEST 60000000000ull   /* ns in a minute */
#define MAX_PER_MINUTE 1000000000ll
#define MAX_BURST 1000000ll

struct bucket {
	char key[RATELIMIT_KEY_MAX];
	uint64_t level;                    /* units, up to burst * UNITS_PER_REQUEST */
	uint64_t last_ns;                  /* when level was last brought up to date */
	struct bucket *chain;              /* next in the hash slot */
	struct bucket *newer, *older;      /* the use list */
};

struct ratelimit {
	pthread_mutex_t lock;
	struct ratelimit_opts o;
	uint64_t capacity;                 /* burst * UNITS_PER_REQUEST */
	struct bucket **slots;
	size_t mask;                       /* slots - 1, a power of two less one */
	struct bucket *newest, *oldest;
	size_t count;
};

static uint64_t mono_ns(void *ctx)
{
	(void)ctx;
	return clock_mono_ns();
}

/* FNV-1a: the keys are names and addresses agentd builds, not chosen to collide. */
static size_t hash_key(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return (size_t)h;
}

int ratelimit_new(struct ratelimit **out, const struct ratelimit_opts *opts, struct ad_err *err)
{
	if (opts->per_minute < 0 || opts->per_minute > MAX_PER_MINUTE)
		return ad_err_set(err, 0, "rate limit: %lld per minute is out of range",
				  (long long)opts->per_minute);
	if (opts->burst < 1 || opts->burst > MAX_BURST || opts->max_keys < 1)
		return ad_err_set(err, 0, "rate limit: burst must be 1 to %lld, max_keys 1 or more",
				  (long long)MAX_BURST);
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return ad_err_set(err, ENOMEM, "rate limit");
	rl->o = *opts;
	if (rl->o.now_ns == NULL)
		rl->o.now_ns = mono_ns;
	rl->capacity = (uint64_t)opts->burst * UNITS_PER_REQUEST;
	size_t n = 16;
	while (n < opts->max_keys && n < ((size_t)1 << 24))
		n *= 2;
	rl->slots = calloc(n, sizeof(*rl->slots));
	if (rl->slots == NULL) {
		free(rl);
		return ad_err_set(err, ENOMEM, "rate limit: %zu slots", n);
	}
	rl->mask = n - 1;
	pthread_mutex_init(&rl->lock, NULL);
	*out = rl;
	return 0;
}

static void use_list_unlink(struct ratelimit *rl, struct bucket *b)
{
	if (b->newer != NULL)
		b->newer->older = b->older;
	else
		rl->newest = b->older;
	if (b->older != NULL)
		b->older->newer = b->newer;
	else
		rl->oldest = b->newer;
	b->newer = b->older = NULL;
}

static void use_list_push(struct ratelimit *rl, struct bucket *b)
{
	b->older = rl->newest;
	b->newer = NULL;
	if (rl->newest != NULL)
		rl->newest->newer = b;
	rl->newest = b;
	if (rl->oldest == NULL)
		rl->oldest = b;
}

static void slot_remove(struct ratelimit *rl, struct bucket *b)
{
	struct bucket **pp = &rl->slots[hash_key(b->key) & rl->mask];
	while (*pp != b)
		pp = &(*pp)->chain;
	*pp = b->chain;
}

/* The bucket for key, made full if new; NULL only when out of memory. */
static struct bucket *bucket_get(struct ratelimit *rl, const char *key, uint64_t now)
{
	size_t slot = hash_key(key) & rl->mask;
	for (struct bucket *b = rl->slots[slot]; b != NULL; b = b->chain)
		if (strcmp(b->key, key) == 0) {
			use_list_unlink(rl, b);
			use_list_push(rl, b);
			return b;
		}
	struct bucket *b;
	if (rl->count >= rl->o.max_keys) {       /* the one idle the longest makes room */
		b = rl->oldest;
		use_list_unlink(rl, b);
		slot_remove(rl, b);
	} else {
		b = malloc(sizeof(*b));
		if (b == NULL)
			return NULL;
		rl->count++;
	}
	memset(b, 0, sizeof(*b));
	snprintf(b->key, sizeof(b->key), "%s", key);
	b->level = rl->capacity;
	b->last_ns = now;
	b->chain = rl->slots[slot];
	rl->slots[slot] = b;
	use_list_push(rl, b);
	return b;
}

static void refill(const struct ratelimit *rl, struct bucket *b, uint64_t now)
{
	if (now <= b->last_ns)       /* another thread read the clock later, and came first */
		return;
	uint64_t elapsed = now - b->last_ns, rate = (uint64_t)rl->o.per_minute;
	b->last_ns = now;
	/* compare before multiplying: elapsed * rate may not fit after a long idle time */
	if (elapsed >= (rl->capacity - b->level) / rate + 1)
		b->level = rl->capacity;
	else
		b->level += elapsed * rate;
}

unsigned ratelimit_take(struct ratelimit *rl, const char *key)
{
	if (rl == NULL || rl->o.per_minute == 0)
		return 0;
	char k[RATELIMIT_KEY_MAX];
	snprintf(k, sizeof(k), "%s", key);
	uint64_t now = rl->o.now_ns(rl->o.clock_ctx);
	unsigned wait_s = 0;
	pthread_mutex_lock(&rl->lock);
	struct bucket *b = bucket_get(rl, k, now);
	if (b != NULL) {
		refill(rl, b, now);
		if (b->level >= UNITS_PER_REQUEST) {
			b->level -= UNITS_PER_REQUEST;
		} else {
			uint64_t rate = (uint64_t)rl->o.per_minute;
			uint64_t wait_ns = (UNITS_PER_REQUEST - b->level + rate - 1) / rate;
			uint64_t s = (wait_ns + 999999999u) / 1000000000u;
			wait_s = s < 1 ? 1 : s > 86400 ? 86400 : (unsigned)s;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return wait_s;   /* out of memory: let the request through rather than refuse all */
}

size_t ratelimit_keys(struct ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	size_t n = rl->count;
	pthread_mutex_unlock(&rl->lock);
	return n;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (struct bucket *b = rl->oldest, *next; b != NULL; b = next) {
		next = b->newer;
		free(b);
	}
	pthread_mutex_destroy(&rl->lock);
	free(rl->slots);
	free(rl);
}

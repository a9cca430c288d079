/* The warm pool's filler: a thread that builds the pool's sandboxes, so that no request
 * waits for a build, and that builds them when they do not compete with the request
 * that emptied the pool. On two cores a refill started as soon as a sandbox was taken
 * took the CPU from that very turn (its tool call 15 ms instead of 7), so a sandbox
 * taken is "owed": rebuilt once its taker's turn has answered, or, when turns never
 * stop, session.pool_refill_delay_ms after it was taken (a real model call leaves the
 * host idle for seconds; the builds run at a low CPU priority besides: supervisor.c). */
#include "session_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "core/clock.h"
#include "core/thread.h"

struct owed {
	const struct session *s;          /* compared, never followed */
	uint64_t since_ns;
};

struct pool_filler {
	/* a leaf lock: taken under a session's lock or alone, nothing taken under it */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool stop;
	unsigned kicks;                   /* bumped by each kick: the thread looks again */
	uint64_t delay_ns;
	struct owed owed[POOL_MAX];
	unsigned nowed;
};

/* Under f->lock: the owed ones past the delay are no longer waited for (true: some
 * went); *next: when the next one will be (0: none). */
static bool expire(struct pool_filler *f, uint64_t now, uint64_t *next)
{
	bool went = false;
	*next = 0;
	for (unsigned i = 0; i < f->nowed;) {
		uint64_t due = f->owed[i].since_ns + f->delay_ns;
		if (due <= now) {
			f->owed[i] = f->owed[--f->nowed];
			went = true;
			continue;
		}
		if (*next == 0 || due < *next)
			*next = due;
		i++;
	}
	return went;
}

static void wait_until(struct pool_filler *f, uint64_t at_ns)
{
	if (at_ns == 0) {
		pthread_cond_wait(&f->wake, &f->lock);
		return;
	}
	struct timespec ts = { (time_t)(at_ns / 1000000000u), (long)(at_ns % 1000000000u) };
	pthread_cond_timedwait(&f->wake, &f->lock, &ts);
}

static void *run(void *arg)
{
	struct sessions *reg = arg;
	struct pool_filler *f = reg->filler;
	unsigned seen = 0;
	uint64_t starved_at = 0;          /* when a build starts to starve (0: none is built) */
	prctl(PR_SET_NAME, "agentd-pool");
	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		uint64_t next, now = clock_mono_ns();
		bool went = expire(f, now, &next);
		bool starved = starved_at != 0 && starved_at <= now;
		if (!went && !starved && seen == f->kicks) {
			wait_until(f, next == 0 || (starved_at != 0 && starved_at < next) ? starved_at : next);
			continue;
		}
		seen = f->kicks;
		unsigned owed = f->nowed;
		pthread_mutex_unlock(&f->lock);
		pool_fill(reg, owed);
		starved_at = pool_raise_starved(reg);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int pool_filler_start(struct sessions *reg, struct ad_err *err)
{
	struct pool_filler *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return ad_err_set(err, ENOMEM, "the pool's filler");
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* the deadlines are clock_mono_ns() */
	pthread_cond_init(&f->wake, &ca);
	pthread_condattr_destroy(&ca);
	f->delay_ns = (uint64_t)reg->cfg->session.pool_refill_delay_ms * 1000000u;
	reg->filler = f;
	int rc = thread_start(&f->thread, run, reg);
	if (rc != 0) {
		reg->filler = NULL;
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->lock);
		free(f);
		return ad_err_set(err, rc, "start the pool's thread");
	}
	return 0;
}

/* A build under way finishes first (a spawn request: no sandbox is waited for). The
 * rest stays until pool_filler_free: sessions closed meanwhile may still repay. */
void pool_filler_stop(struct sessions *reg)
{
	struct pool_filler *f = reg->filler;
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	bool joined = f->stop;
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	if (!joined)
		pthread_join(f->thread, NULL);
}

void pool_filler_free(struct sessions *reg)
{
	struct pool_filler *f = reg->filler;
	if (f == NULL)
		return;
	pool_filler_stop(reg);
	reg->filler = NULL;
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void pool_filler_kick(struct sessions *reg)
{
	struct pool_filler *f = reg->filler;
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	f->kicks++;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

void pool_filler_owe(struct session *s)
{
	struct pool_filler *f = s->reg->filler;
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	if (f->nowed < POOL_MAX) {
		f->owed[f->nowed++] = (struct owed){ s, clock_mono_ns() };
		s->pool_owed = true;
		pthread_cond_signal(&f->wake);    /* its deadline: the thread waits for it */
	}
	pthread_mutex_unlock(&f->lock);
}

void pool_filler_repaid(struct session *s)
{
	if (!s->pool_owed)
		return;         /* (before s->reg: agentd's stop clears it before the registry goes) */
	struct pool_filler *f = s->reg->filler;
	s->pool_owed = false;
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < f->nowed; i++)
		if (f->owed[i].s == s) {
			f->owed[i] = f->owed[--f->nowed];
			break;
		}
	f->kicks++;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

unsigned pool_filler_owed(struct sessions *reg)
{
	struct pool_filler *f = reg->filler;
	if (f == NULL)
		return 0;
	pthread_mutex_lock(&f->lock);
	unsigned n = f->nowed;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* The warm pool: session.pool_size sessions whose sandboxes are built before anyone
 * asks, so that a new session gets one at once. A pooled session belongs to nobody and
 * has no idle timeout; taking one makes it the new session (its id included), and the
 * pool is topped up behind it, by its own thread, once the taker's turn has answered
 * (pool_filler.c). Sessions that ask for a policy of their own build theirs. */
#include "session_int.h"

#include <stdlib.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/frame.h"
#include "session/hub.h"
#include "core/sched.h"
#include "sandbox/cgroup.h"

static bool usable(const struct session *s)
{
	return s->state == SESSION_READY || s->state == SESSION_CREATING;
}

/* Under s->lock: its supervisor, built for nobody, learns whose it is (for its log). */
static void tell_owner(struct session *s)
{
	cJSON *j = cJSON_CreateObject();
	struct ad_err e;
	if (s->link != NULL && cJSON_AddStringToObject(j, "owner", s->owner) != NULL &&
	    hub_link_send(s->link, FRAME_OWNER, j, &e) < 0)
		session_log(s, AD_LOG_WARN, "its supervisor cannot be told its owner: %s", e.msg);
	cJSON_Delete(j);
}

/* Its supervisor (pid) and sandbox (its cgroup, once made) at the normal CPU priority
 * now, by the gateway: the supervisor, told by FRAME_OWNER, does the same, but only
 * once it gets the CPU. */
static void raise_priority(struct session *s, cJSON *cgroup, int pid)
{
	struct ad_err e;
	int rc = pid > 0 ? sched_idle_leave_process(pid, &e) : 0;
	if (rc >= 0 && cgroup != NULL)
		rc = sandbox_cgroup_info_cpu_normal(cgroup, &e);
	if (rc < 0)
		session_log(s, AD_LOG_WARN, "its sandbox, taken from the pool, keeps a low CPU priority "
			    "until its supervisor sees to it: %s", e.msg);
	cJSON_Delete(cgroup);
}

/* Under reg->lock: the pool's slot of the one to take, a ready one first (-1: none). */
static int pick(struct sessions *reg)
{
	int building = -1;
	for (unsigned i = 0; i < reg->pool_n; i++) {
		struct session *s = reg->pool[i];
		pthread_mutex_lock(&s->lock);
		bool ready = s->state == SESSION_READY;
		if (building < 0 && usable(s) && s->builder_pid > 0)
			building = (int)i;
		pthread_mutex_unlock(&s->lock);
		if (ready)
			return (int)i;
	}
	return building;
}

/* A ready one first. One still being built is faster than a new one, once raised: its
 * supervisor (it said its pid first), and its sandbox's cgroup if it said that yet (else
 * the gateway raises it when it does: pool_raise_taken). */
struct session *pool_take(struct sessions *reg, const struct session_opts *o)
{
	struct session *got = NULL;
	cJSON *cgroup = NULL;
	int pid = 0;
	bool owed = false;
	pthread_mutex_lock(&reg->lock);
	int i = pick(reg);
	if (i >= 0) {
		got = reg->pool[i];
		reg->pool[i] = reg->pool[--reg->pool_n];
		pthread_mutex_lock(&got->lock);
		bool ready = got->state == SESSION_READY;
		got->pooled = false;
		session_adopt(got, o);
		tell_owner(got);
		/* none ready: the pool is behind (requests back to back): no quiet moment
		 * comes to wait for, and its rebuild starts at once (at the low priority) */
		if ((owed = ready))
			pool_filler_owe(got);
		cgroup = cJSON_Duplicate(ready ? got->cgroup : got->builder_cgroup, true);
		got->builder_taken = !ready && got->builder_cgroup == NULL;
		pid = got->builder_pid;
		pthread_mutex_unlock(&got->lock);
	}
	if (reg->cfg->session.pool_size > 0)
		got ? reg->pool_hits++ : reg->pool_misses++;
	pthread_mutex_unlock(&reg->lock);
	if (got != NULL) {
		session_log(got, AD_LOG_DEBUG, "pool: taken %s", owed ? "ready" : cgroup == NULL
			    ? "while its sandbox is built, before its cgroup was said" : "while its sandbox is built");
		raise_priority(got, cgroup, pid);
	}
	/* none taken: some may have failed, they are replaced; or one not ready taken */
	if (!owed)
		pool_filler_kick(reg);
	return got;
}

void pool_raise_taken(struct session *s, cJSON *cgroup)
{
	session_log(s, AD_LOG_DEBUG, "pool: taken while built; its sandbox's cgroup raised as it is said");
	raise_priority(s, cgroup, 0);
}

/* One sandbox for the pool; NULL when it cannot be built, or agentd is stopping. */
static struct session *build_one(struct sessions *reg)
{
	if (registry_shutting_down(reg))
		return NULL;
	struct ad_err e;
	struct session_opts o = { .pattern = PATTERN_LONG_RUNNING, .owner = "" };
	struct session *s = session_alloc(reg, &o, &e);
	if (s != NULL)
		s->pooled = true;         /* its supervisor builds it at a low CPU priority */
	if (s != NULL && session_spawn(reg, s, NULL, &e) < 0) {
		session_unref(s);
		s = NULL;
	}
	if (s == NULL)
		log_warn("pool: cannot build a sandbox ahead of time: %s", e.msg);
	return s;
}

/* Drop what failed, then build what is missing, outside the registry's lock. */
void pool_fill(struct sessions *reg, unsigned owed)
{
	unsigned want = (unsigned)reg->cfg->session.pool_size, need;
	struct session *dead[POOL_MAX];
	unsigned ndead = 0;
	if (registry_shutting_down(reg))
		return;         /* agentd is stopping: nothing new is built */
	pthread_mutex_lock(&reg->lock);
	for (unsigned i = 0; i < reg->pool_n;) {
		struct session *s = reg->pool[i];
		pthread_mutex_lock(&s->lock);
		bool ok = usable(s);
		pthread_mutex_unlock(&s->lock);
		if (ok) {
			i++;
		} else {
			dead[ndead++] = s;
			reg->pool[i] = reg->pool[--reg->pool_n];
		}
	}
	unsigned have = reg->pool_n + reg->pool_filling + owed;
	need = want > have ? want - have : 0;
	reg->pool_filling += need;
	pthread_mutex_unlock(&reg->lock);
	for (unsigned i = 0; i < ndead; i++)
		session_unref(dead[i]);
	for (unsigned i = 0; i < need; i++) {
		struct session *s = build_one(reg);
		pthread_mutex_lock(&reg->lock);
		reg->pool_filling--;
		/* shutdown began while it was built: pool_drain may have run already */
		bool keep = s != NULL && !registry_shutting_down(reg);
		if (keep)
			reg->pool[reg->pool_n++] = s;
		pthread_mutex_unlock(&reg->lock);
		if (s != NULL && !keep) {
			session_destroy(s, "agentd is shutting down");
			session_unref(s);
		}
	}
}

/* A pooled build gets session.pool_refill_delay_ms at SCHED_IDLE: a host too busy to
 * finish it by then (others' work, not ours) would otherwise never have its pool. */
#define RAISE_MAX 8                       /* per pass; the rest at the next */

uint64_t pool_raise_starved(struct sessions *reg)
{
	struct late { struct session *s; cJSON *cgroup; int pid; } late[RAISE_MAX];
	unsigned n = 0;
	uint64_t now = clock_mono_ns(), next = 0;
	uint64_t starve_ns = (uint64_t)reg->cfg->session.pool_refill_delay_ms * 1000000u;
	pthread_mutex_lock(&reg->lock);
	for (unsigned i = 0; i < reg->pool_n; i++) {
		struct session *s = reg->pool[i];
		pthread_mutex_lock(&s->lock);
		if (s->state == SESSION_CREATING && !s->builder_raised && s->spawn_ns != 0) {
			uint64_t due = s->spawn_ns + starve_ns;
			if (due <= now && n < RAISE_MAX && s->builder_pid > 0) {
				session_ref(s);
				late[n++] = (struct late){ s, cJSON_Duplicate(s->builder_cgroup, true), s->builder_pid };
				/* raised for good once its cgroup is known; until then, again */
				s->builder_raised = s->builder_cgroup != NULL;
				due = now + starve_ns / 4 + 1000000u;
			}
			if (due <= now)
				due = now + starve_ns / 4 + 1000000u;
			if (next == 0 || due < next)
				next = due;
		}
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&reg->lock);
	for (unsigned i = 0; i < n; i++) {
		session_log(late[i].s, AD_LOG_DEBUG, "pool: its build starved at SCHED_IDLE; it goes on at the normal priority");
		raise_priority(late[i].s, late[i].cgroup, late[i].pid);
		session_unref(late[i].s);
	}
	return next;
}

void pool_drain(struct sessions *reg)
{
	pthread_mutex_lock(&reg->lock);
	unsigned n = reg->pool_n;
	struct session *all[POOL_MAX];
	for (unsigned i = 0; i < n; i++)
		all[i] = reg->pool[i];
	reg->pool_n = 0;
	pthread_mutex_unlock(&reg->lock);
	for (unsigned i = 0; i < n; i++) {
		session_destroy(all[i], "agentd is shutting down");
		session_unref(all[i]);
	}
}

void pool_stats(struct sessions *reg, struct pool_stats *out)
{
	unsigned deferred = pool_filler_owed(reg);
	pthread_mutex_lock(&reg->lock);
	unsigned ready = 0;
	for (unsigned i = 0; i < reg->pool_n; i++) {
		pthread_mutex_lock(&reg->pool[i]->lock);
		ready += reg->pool[i]->state == SESSION_READY;
		pthread_mutex_unlock(&reg->pool[i]->lock);
	}
	*out = (struct pool_stats){ .size = (unsigned)reg->cfg->session.pool_size, .ready = ready,
				    .building = reg->pool_n - ready + reg->pool_filling,
				    .deferred = deferred, .hits = reg->pool_hits, .misses = reg->pool_misses };
	pthread_mutex_unlock(&reg->lock);
}

cJSON *sessions_pool_json(struct sessions *reg)
{
	struct pool_stats p;
	pool_stats(reg, &p);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "size", p.size);
	cJSON_AddNumberToObject(j, "ready", p.ready);
	cJSON_AddNumberToObject(j, "building", p.building);
	cJSON_AddNumberToObject(j, "deferred", p.deferred);
	cJSON_AddNumberToObject(j, "hits", (double)p.hits);
	cJSON_AddNumberToObject(j, "misses", (double)p.misses);
	return j;
}

void sessions_pool_fill(struct sessions *reg)
{
	pool_filler_kick(reg);
}

void session_pool_settle(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	pool_filler_repaid(s);
	pthread_mutex_unlock(&s->lock);
}

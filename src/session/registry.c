/* The session registry: id -> session, the capacity limits, and making sessions. */
#include "session_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/workq.h"
#include "session/hub.h"
#include "session/persist.h"
#include "sandbox/cgroup_host.h"
#include "supervisor/spawner.h"

extern const struct hub_link_ops session_link_ops;

bool registry_shutting_down(const struct sessions *reg)
{
	return atomic_load(&reg->shutting_down);
}

void sessions_shutdown(struct sessions *reg)
{
	atomic_store(&reg->shutting_down, true);
	pool_filler_stop(reg);            /* a build under way is handed in, no other starts */
	size_t n;
	struct session **all = registry_all(reg, &n);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&all[i]->lock);
		session_listeners_wake(all[i]);
		pthread_mutex_unlock(&all[i]->lock);
		session_unref(all[i]);
	}
	free(all);
}

static unsigned bucket(const char *id)
{
	unsigned h = 2166136261u;         /* FNV-1a */
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % BUCKETS;
}

int sessions_new(struct sessions **out, const struct config *cfg, struct spawner *spawner, struct hub *hub,
		 const struct cgroup_host *cgroups, struct ad_err *err)
{
	struct sessions *reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return ad_err_set(err, ENOMEM, "sessions");
	if (workq_start(&reg->saver, "agentd-saver", err) < 0) {
		free(reg);
		return -1;
	}
	if (workq_start(&reg->files, "agentd-files", err) < 0) {
		workq_stop(reg->saver);
		free(reg);
		return -1;
	}
	pthread_mutex_init(&reg->lock, NULL);
	pthread_mutex_init(&reg->disk.lock, NULL);
	pthread_rwlock_init(&reg->key_lock, NULL);
	reg->cfg = cfg;
	reg->spawner = spawner;
	reg->hub = hub;
	if (cgroups != NULL && cgroups->ctl[CG_PIDS].available)
		reg->pids_cgroup = cgroups->ctl[CG_PIDS].dir;
	if (cfg->session.pool_size > 0 && pool_filler_start(reg, err) < 0) {
		workq_stop(reg->files);
		workq_stop(reg->saver);
		pthread_rwlock_destroy(&reg->key_lock);
		pthread_mutex_destroy(&reg->disk.lock);
		pthread_mutex_destroy(&reg->lock);
		free(reg);
		return -1;
	}
	*out = reg;
	return 0;
}

const struct config *registry_config(const struct sessions *reg)
{
	return reg->cfg;
}

/* Every session, referenced, for work outside the registry's lock. */
struct session **registry_all(struct sessions *reg, size_t *n)
{
	pthread_mutex_lock(&reg->lock);
	struct session **all = calloc(reg->count + 1, sizeof(*all));
	*n = 0;
	for (unsigned b = 0; all != NULL && b < BUCKETS; b++)
		for (struct session *s = reg->buckets[b]; s != NULL; s = s->hash_next) {
			session_ref(s);
			all[(*n)++] = s;
		}
	pthread_mutex_unlock(&reg->lock);
	return all;
}

void sessions_free(struct sessions *reg)
{
	if (reg == NULL)
		return;
	/* what a hybrid session's workspace holds now is what comes back */
	hybrid_suspend_all(reg, (unsigned)reg->cfg->http.shutdown_timeout_s * 1000u);
	workq_stop(reg->saver);   /* the saves under way are written first */
	reg->saver = NULL;
	pthread_mutex_lock(&reg->disk.lock);
	reg->disk.closed = true;  /* a request still in flight queues no pass on it now */
	pthread_mutex_unlock(&reg->disk.lock);
	workq_stop(reg->files);   /* and the file ops queued: their waiters hear how they ended */
	reg->files = NULL;
	size_t n;
	pool_filler_stop(reg);    /* nothing new is built (one under way is handed in) */
	struct session **all = registry_all(reg, &n);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&all[i]->lock);
		all[i]->pool_owed = false;    /* their links close after the filler is gone */
		pthread_mutex_unlock(&all[i]->lock);
		session_destroy(all[i], "agentd is shutting down");
		session_unref(all[i]);
	}
	free(all);
	pool_drain(reg);
	pool_filler_free(reg);
	pthread_mutex_destroy(&reg->lock);
	pthread_mutex_destroy(&reg->disk.lock);
	pthread_rwlock_destroy(&reg->key_lock);
	free(reg);
}

static unsigned count_owned(struct sessions *reg, const char *owner)
{
	unsigned n = 0;
	for (unsigned b = 0; b < BUCKETS; b++)
		for (struct session *s = reg->buckets[b]; s != NULL; s = s->hash_next)
			n += strcmp(s->owner, owner) == 0;
	return n;
}

unsigned sessions_count(struct sessions *reg, const char *owner)
{
	pthread_mutex_lock(&reg->lock);
	unsigned n = owner ? count_owned(reg, owner) : reg->count;
	pthread_mutex_unlock(&reg->lock);
	return n;
}

/* owner's session id, or anyone's when owner is NULL. (The warm pool's sandboxes and
 * shared sandboxes' hosts are never in the table: they are nobody's sessions.) */
static struct session *lookup(struct sessions *reg, const char *id, const char *owner)
{
	pthread_mutex_lock(&reg->lock);
	struct session *s = reg->buckets[bucket(id)];
	while (s != NULL && strcmp(s->id, id) != 0)
		s = s->hash_next;
	if (s != NULL && owner != NULL && strcmp(s->owner, owner) != 0)
		s = NULL;                 /* another's: as if it did not exist */
	if (s != NULL)
		session_ref(s);
	pthread_mutex_unlock(&reg->lock);
	return s;
}

struct session *session_find(struct sessions *reg, const char *id, const char *owner)
{
	return owner != NULL ? lookup(reg, id, owner) : NULL;
}

struct session *session_find_any(struct sessions *reg, const char *id)
{
	return lookup(reg, id, NULL);
}

void session_end_sentence(char *out, size_t n, const char *id, enum session_pattern pattern, const char *why)
{
	if (pattern == PATTERN_EPHEMERAL)
		snprintf(out, n, "session \"%s\" was ephemeral: it ended with its turn. To keep talking, "
			 "create a long-running session (POST /api/sessions) and send your messages to it", id);
	else
		snprintf(out, n, "session \"%s\" has ended: %s", id, why);
}

bool sessions_ended(struct sessions *reg, const char *id, const char *owner, char *out, size_t n)
{
	bool found = false;
	pthread_mutex_lock(&reg->lock);
	for (unsigned i = 0; i < ENDED_MAX && !found; i++) {
		const struct ended_session *e = &reg->ended[i];
		if ((found = strcmp(e->id, id) == 0 && (owner == NULL || strcmp(e->owner, owner) == 0)))
			session_end_sentence(out, n, e->id, e->pattern, e->why);
	}
	pthread_mutex_unlock(&reg->lock);
	return found;
}

void registry_remove(struct sessions *reg, struct session *s, const char *why)
{
	bool found = false;
	pthread_mutex_lock(&reg->lock);
	if (!s->pooled && !s->hidden) {
		struct ended_session *e = &reg->ended[reg->ended_next++ % ENDED_MAX];
		snprintf(e->id, sizeof(e->id), "%s", s->id);
		snprintf(e->owner, sizeof(e->owner), "%s", s->owner);
		snprintf(e->why, sizeof(e->why), "%s", why ? why : "destroyed");
		e->pattern = s->pattern;
	}
	for (struct session **p = &reg->buckets[bucket(s->id)]; *p != NULL; p = &(*p)->hash_next)
		if (*p == s) {
			*p = s->hash_next;
			reg->count--;
			found = true;
			break;
		}
	pthread_mutex_unlock(&reg->lock);
	if (found && s->group != NULL)
		shared_member_gone(s);
	if (found)
		session_unref(s);         /* the registry's */
}

/* A slot under the limits, or EAGAIN. */
void registry_insert(struct sessions *reg, struct session *s, bool count)
{
	pthread_mutex_lock(&reg->lock);
	unsigned b = bucket(s->id);
	s->hash_next = reg->buckets[b];
	reg->buckets[b] = s;
	reg->count += count;
	pthread_mutex_unlock(&reg->lock);
}

static int reserve(struct sessions *reg, const char *owner, struct ad_err *err)
{
	const struct config *cfg = reg->cfg;
	int rc = 0;
	/* the host's limits first, outside the lock: a few small files read */
	if (limits_check(reg->pids_cgroup, err) < 0)
		return -1;
	pthread_mutex_lock(&reg->lock);
	if (reg->count >= (unsigned)cfg->session.max_sessions)
		rc = ad_err_code(err, EAGAIN, "agentd is at capacity: %u sessions (session.max_sessions)", reg->count);
	else if (count_owned(reg, owner) >= (unsigned)cfg->session.max_per_token)
		rc = ad_err_code(err, EAGAIN, "you have %lld sessions, the most one token may have "
				"(session.max_per_token); delete one first", (long long)cfg->session.max_per_token);
	else
		reg->count++;
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

struct session *session_alloc(struct sessions *reg, const struct session_opts *o, struct ad_err *err)
{
	struct session *s = calloc(1, sizeof(*s));
	unsigned char rnd[12];
	if (s == NULL || (s->transcript = cJSON_CreateArray()) == NULL || (s->history = cJSON_CreateArray()) == NULL ||
	    getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		if (s != NULL) {
			cJSON_Delete(s->transcript);
			cJSON_Delete(s->history);
		}
		free(s);
		ad_err_set(err, ENOMEM, "session");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	atomic_init(&s->refs, 1);         /* the registry's (or the pool's) */
	s->reg = reg;
	node_id_make(s->id, rnd, reg->cfg->node.name);   /* a balancer routes by its end */
	s->state = SESSION_CREATING;
	session_adopt(s, o);
	if (o->policy != NULL || o->network != NULL || o->mcp_servers != NULL) {
		s->spawn_opts = cJSON_CreateObject();
		if (o->mcp_servers != NULL)
			cJSON_AddItemToObject(s->spawn_opts, "mcp_servers", cJSON_Duplicate(o->mcp_servers, true));
		if (o->policy != NULL)
			cJSON_AddItemToObject(s->spawn_opts, "policy", cJSON_Duplicate(o->policy, true));
		if (o->network != NULL)
			cJSON_AddItemToObject(s->spawn_opts, "network", cJSON_Duplicate(o->network, true));
	}
	return s;
}

int session_spawn_locked(struct sessions *reg, struct session *s, const cJSON *join, struct ad_err *err)
{
	cJSON *spec = s->spawn_opts ? cJSON_Duplicate(s->spawn_opts, true) : cJSON_CreateObject();
	if (join != NULL)
		cJSON_AddItemToObject(spec, "join", cJSON_Duplicate(join, true));
	if (s->owner[0])                  /* for its log lines (a pooled one hears it later) */
		cJSON_AddStringToObject(spec, "owner", s->owner);
	if (s->pooled)                    /* built at a low CPU priority until it is taken */
		cJSON_AddBoolToObject(spec, "pooled", true);
	if (s->runtime != NULL)           /* its agent starts no shell of its own */
		cJSON_AddStringToObject(spec, "runtime", s->runtime);
	char *spec_text = json_print(spec);
	cJSON_Delete(spec);
	uint64_t t0 = clock_mono_ns();
	pthread_rwlock_rdlock(&reg->key_lock);   /* a new key reaches it by the spawner or its link */
	unsigned long peer = 0;
	int fd = spec_text ? spawner_spawn(reg->spawner, s->id, spec_text, &peer, err) : ad_err_set(err, ENOMEM, "spec");
	cJSON_free(spec_text);
	pthread_mutex_lock(&s->lock);
	s->spawn_ns = join == NULL ? t0 : 0;       /* a member of a shared sandbox builds none */
	s->build_failed = false;
	if (fd >= 0) {
		s->sup_peer = peer;
		session_ref(s);           /* the hub's, until on_closed */
		s->link = hub_attach(reg->hub, fd, &session_link_ops, s, err);
	}
	pthread_rwlock_unlock(&reg->key_lock);
	if (fd < 0)
		return -1;
	bool ok = s->link != NULL;
	if (!ok) {
		session_unref(s);       /* not the last: the caller holds one */
	} else if (s->state == SESSION_DESTROYED) {
		/* destroyed while its sandbox was being made: that sandbox goes at once (on_closed
		 * gives the hub's reference back), and the session stays destroyed */
		hub_link_close(s->link);
		ok = false;
		ad_err_code(err, ENOENT, "session %s was deleted while its sandbox was being made", s->id);
	}
	return ok ? 0 : -1;
}

int session_spawn(struct sessions *reg, struct session *s, const cJSON *join, struct ad_err *err)
{
	int rc = session_spawn_locked(reg, s, join, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

struct session *session_create(struct sessions *reg, const struct session_opts *o, struct ad_err *err)
{
	if (reserve(reg, o->owner, err) < 0)
		return NULL;
	/* a sandbox built ahead of time fits any session that does not change the policy */
	struct session *s = o->pattern == PATTERN_SHARED ? shared_create(reg, o, err)
			    : o->policy == NULL && o->network == NULL && o->mcp_servers == NULL ? pool_take(reg, o)
											       : NULL;
	if (s == NULL && o->pattern == PATTERN_SHARED)
		goto unreserve;
	if (s == NULL) {
		if ((s = session_alloc(reg, o, err)) == NULL)
			goto unreserve;
		if (session_spawn(reg, s, NULL, err) < 0) {
			session_unref(s);
			goto unreserve;
		}
	}
	session_ref(s);                   /* the caller's */
	registry_insert(reg, s, false);
	session_log(s, AD_LOG_INFO, "created (%s) for %s", session_pattern_names[s->pattern], s->owner);
	metric_add(METRIC_SESSIONS_CREATED, METRIC_L(session_pattern_names[s->pattern]), 1);
	session_title_created(s);
	return s;
unreserve:
	/* EAGAIN here is agentd's own refusal (the spawner's queue full), said already */
	if (err->errnum != EAGAIN)
		limits_explain(err, reg->pids_cgroup);
	pthread_mutex_lock(&reg->lock);
	reg->count--;
	pthread_mutex_unlock(&reg->lock);
	return NULL;
}

/* Shared sessions ("pattern": "shared", DESIGN.md section 6, "single container"): the
 * sessions of one owner that name the same "sandbox" share one sandbox, its workspace
 * and its processes, each with an agent (and a conversation, a shell) of its own. A
 * hidden host session builds and holds the sandbox; each member's supervisor joins it
 * (sandbox_join). The sandbox goes when its last member does. */
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "session/hub.h"

/* Under the registry's lock. */
static struct shared_group *find_group(struct sessions *reg, const char *owner, const char *name)
{
	for (struct shared_group *g = reg->groups; g != NULL; g = g->next)
		if (strcmp(g->owner, owner) == 0 && strcmp(g->name, name) == 0)
			return g;
	return NULL;
}

static cJSON *join_spec(struct session *host)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&host->lock);
	cJSON_AddNumberToObject(j, "pid", host->init_pid);
	cJSON_AddItemToObject(j, "cgroup", cJSON_Duplicate(host->cgroup, true));
	pthread_mutex_unlock(&host->lock);
	return j;
}

static bool host_ready(struct session *host)
{
	pthread_mutex_lock(&host->lock);
	bool ready = host->init_pid > 0 && host->link != NULL && host->state != SESSION_FAILED;
	pthread_mutex_unlock(&host->lock);
	return ready;
}

static void start_member(struct session *host, struct session *m)
{
	struct ad_err e;
	cJSON *join = join_spec(host);
	if (session_spawn(m->reg, m, join, &e) < 0) {
		pthread_mutex_lock(&m->lock);
		if (m->state != SESSION_DESTROYED)          /* deleted meanwhile: it stays destroyed */
			session_enter(m, SESSION_FAILED, e.msg);
		pthread_mutex_unlock(&m->lock);
		session_send_pending(m, e.msg);
	} else {
		session_send_pending(m, NULL);
	}
	cJSON_Delete(join);
}

/* Under the registry's lock: g no longer found by its name (a new create of it makes
 * another sandbox); it lives on until its last member goes. */
static void unlink_group(struct sessions *reg, struct shared_group *g)
{
	for (struct shared_group **p = &reg->groups; *p != NULL; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
}

/* Under the registry's lock: g's sandbox will not be: unlink g and take its waiting
 * members (referenced, but skip), for fail_members outside the lock. */
/* Under the registry's lock: the members waiting in g but skip, referenced, into out. */
static unsigned waiting_taken(struct shared_group *g, struct session **out, const struct session *skip)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->nwaiting; i++)
		if (g->waiting[i] != skip) {
			session_ref(g->waiting[i]);
			out[n++] = g->waiting[i];
		}
	g->nwaiting = 0;
	return n;
}

static unsigned take_waiting(struct sessions *reg, struct shared_group *g, struct session **out,
			     const struct session *skip)
{
	unlink_group(reg, g);
	return waiting_taken(g, out, skip);
}

static void fail_members(struct session **fail, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_lock(&fail[i]->lock);
		if (fail[i]->state != SESSION_DESTROYED)
			session_enter(fail[i], SESSION_FAILED, "the shared sandbox could not be built");
		pthread_mutex_unlock(&fail[i]->lock);
		session_send_pending(fail[i], "the shared sandbox could not be built");
		session_unref(fail[i]);
	}
}

struct session *shared_create(struct sessions *reg, const struct session_opts *o, struct ad_err *err)
{
	const char *name = o->sandbox ? o->sandbox : "shared";
	struct session *m = session_alloc(reg, o, err), *host = NULL;
	if (m == NULL)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	struct shared_group *g = find_group(reg, o->owner, name);
	bool made = g == NULL, now = false;
	if (made && (g = calloc(1, sizeof(*g))) != NULL) {
		snprintf(g->owner, sizeof(g->owner), "%s", o->owner);
		snprintf(g->name, sizeof(g->name), "%s", name);
		g->next = reg->groups;
		reg->groups = g;
	}
	/* a host still being built (g->host NULL) is not ready either: the member waits */
	if (g != NULL && !made)
		now = g->host != NULL && host_ready(g->host);
	if (g != NULL && !now && g->nwaiting == ARRAY_SIZE(g->waiting))
		g = NULL;                     /* too many waiting for one sandbox being built */
	if (g != NULL) {
		g->members++;
		m->group = g;
		if (now) {
			host = g->host;
			session_ref(host);    /* for start_member, outside the lock */
		} else {
			g->waiting[g->nwaiting++] = m;  /* started by shared_host_ready */
		}
	}
	pthread_mutex_unlock(&reg->lock);
	if (g == NULL) {
		session_unref(m);
		ad_err_code(err, EAGAIN, "the shared sandbox \"%s\" is still being built for many sessions", name);
		return NULL;
	}
	if (made) {                       /* the host: builds and holds the sandbox */
		struct session_opts ho = { .pattern = PATTERN_SHARED, .owner = o->owner };
		host = session_alloc(reg, &ho, err);
		if (host != NULL) {
			host->hidden = true;
			host->group = g;
			if (session_spawn(reg, host, NULL, err) < 0) {
				session_unref(host);
				host = NULL;
			}
		}
		if (host == NULL) {
			/* those that joined meanwhile fail with it; the name is free again */
			struct session *fail[ARRAY_SIZE(g->waiting)];
			pthread_mutex_lock(&reg->lock);
			unsigned n = take_waiting(reg, g, fail, m);
			pthread_mutex_unlock(&reg->lock);
			fail_members(fail, n);
			shared_member_gone(m);
			session_unref(m);
			return NULL;
		}
		pthread_mutex_lock(&reg->lock);
		g->host = host;
		pthread_mutex_unlock(&reg->lock);
		session_log(host, AD_LOG_INFO, "holds the shared sandbox \"%s\" of %s", name, o->owner);
	} else if (now) {
		start_member(host, m);
		session_unref(host);
	}
	return m;
}

/* The members that wait for host's sandbox, referenced, into out (64); when it failed,
 * its group goes too. */
static unsigned host_waiting(struct session *host, struct session **out, bool failed)
{
	struct sessions *reg = host->reg;
	unsigned n = 0;
	pthread_mutex_lock(&reg->lock);
	struct shared_group *g = host->group;
	if (g != NULL)
		n = failed ? take_waiting(reg, g, out, NULL) : waiting_taken(g, out, NULL);
	pthread_mutex_unlock(&reg->lock);
	return n;
}

void shared_host_ready(struct session *host)
{
	struct session *start[64];
	unsigned n = host_waiting(host, start, false);
	for (unsigned i = 0; i < n; i++) {
		start_member(host, start[i]);
		session_unref(start[i]);
	}
}

void shared_host_failed(struct session *host)
{
	struct session *fail[64];
	fail_members(fail, host_waiting(host, fail, true));
}

void shared_member_gone(struct session *m)
{
	struct sessions *reg = m->reg;
	struct session *host = NULL;
	pthread_mutex_lock(&reg->lock);
	struct shared_group *g = m->group;
	for (unsigned i = 0; g != NULL && i < g->nwaiting; i++)
		if (g->waiting[i] == m)
			g->waiting[i] = g->waiting[--g->nwaiting];
	if (g != NULL && --g->members == 0) {      /* the last one: the sandbox goes */
		unlink_group(reg, g);
		host = g->host;
		if (host != NULL)
			host->group = NULL;   /* under the registry's lock, as it is read */
		free(g);
	}
	m->group = NULL;
	pthread_mutex_unlock(&reg->lock);
	if (host != NULL) {
		session_destroy(host, "its last member is gone");
		session_unref(host);          /* the group's */
	}
}

/* Inside the session module: the fields of a session, shared by session.c (state,
 * turns), session_events.c (the event log and its readers) and registry.c. */
#ifndef AGENTD_SESSION_SESSION_INT_H
#define AGENTD_SESSION_SESSION_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "http/sse_out.h"
#include "session/relay.h"
#include "session/session.h"

#define EVENT_LOG_MAX 2048            /* events kept for readers that come back */
#define EVENT_LOG_BYTES (8u << 20)
#define SESSION_ID_LEN 40

struct logged_event {
	unsigned id;
	char *frame;                      /* "id: ...\nevent: ...\ndata: ...\n\n" */
	size_t len;
};

struct event_reader {
	struct session *s;                /* referenced */
	struct sse_out out;
	struct event_reader *next;
};

#define BUCKETS 1024
#define POOL_MAX 1000

struct sessions {
	pthread_mutex_t lock;
	struct app *app;
	struct session *buckets[BUCKETS];
	unsigned count;                   /* registered, with those being made */
	atomic_bool shutting_down;        /* event streams end */
	struct session *pool[POOL_MAX];   /* built ahead of time (pool.c) */
	unsigned pool_n, pool_filling;
	uint64_t pool_hits, pool_misses;
};

struct session {
	pthread_mutex_t lock;
	int refs;
	struct sessions *reg;
	char id[SESSION_ID_LEN];
	char owner[80];
	enum session_pattern pattern;
	enum session_state state;
	time_t created, last_active;       /* wall clock, for people */
	uint64_t idle_since_ns;            /* monotonic */
	unsigned idle_timeout_s;
	char *system, *model;              /* defaults for turns, or NULL */
	struct hub_link *link;             /* NULL once closed */
	bool closing;                      /* destroy asked: the link's end is expected */
	bool pooled;                       /* in the warm pool, nobody's yet */
	struct chat_run *run;              /* the turn in flight, referenced */
	unsigned turns, next_event_id;
	struct usage usage;
	cJSON *transcript;                 /* messages, as the agent appended them */
	cJSON *cgroup;                     /* where the sandbox's cgroup is, from "ready" */
	char *reason;                      /* why it failed (the last error event), or NULL */
	struct logged_event log[EVENT_LOG_MAX];
	unsigned log_first, log_count;     /* a ring */
	size_t log_bytes;
	struct event_reader *readers;
	struct session *hash_next;         /* registry.c */
};

/* Under s->lock. */
void session_enter(struct session *s, enum session_state to, const char *why);
void session_log_event(struct session *s, unsigned id, const char *type, const cJSON *ev);
void session_log_free(struct session *s);
/* Wake every reader (the session ended: they drain and finish). */
void session_readers_wake(struct session *s);

/* registry.c */
struct session *session_alloc(struct sessions *reg, const struct session_opts *o, struct ad_err *err);
/* Under s->lock or before anyone else sees s: take on o's owner, pattern, defaults. */
void session_adopt(struct session *s, const struct session_opts *o);
int session_spawn(struct sessions *reg, struct session *s, const cJSON *policy, struct ad_err *err);
/* pool.c */
struct session *pool_take(struct sessions *reg, const struct session_opts *o);
void pool_fill(struct sessions *reg);
void pool_drain(struct sessions *reg);
void registry_remove(struct sessions *reg, struct session *s);
const struct config *registry_config(const struct sessions *reg);
bool registry_shutting_down(const struct sessions *reg);

#endif

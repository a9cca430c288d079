/* Inside the session module: the fields of a session, shared by session.c (state,
 * turns), session_events.c (the event log and its listeners) and registry.c. */
#ifndef AGENTD_SESSION_SESSION_INT_H
#define AGENTD_SESSION_SESSION_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "core/log.h"
#include "core/node_id.h"
#include "session/waiters.h"
#include "claude/usage.h"
#include "session/session.h"

#define EVENT_LOG_MAX 2048            /* events kept for readers that come back */
#define EVENT_LOG_BYTES (8u << 20)
#define SESSION_ID_LEN NODE_SESSION_ID_MAX   /* core/node_id.h */

struct logged_event {
	unsigned id;
	char *frame;                      /* "id: ...\nevent: ...\ndata: ...\n\n" */
	size_t len;
};

#define BUCKETS 1024
#define ENDED_MAX 256                 /* sessions remembered after their end, for a 404 that says why */

struct ended_session {
	char id[SESSION_ID_LEN];
	char owner[80];
	char why[160];
	enum session_pattern pattern;
};
#define POOL_MAX 1000

/* A shared sandbox (shared.c): a hidden host session holds it; members join it. */
struct shared_group {
	char owner[80], name[64];
	struct session *host;             /* referenced */
	unsigned members;
	struct session *waiting[64];      /* members to start once the host is ready */
	unsigned nwaiting;
	struct shared_group *next;
};

#define DISK_TOTALS_MAX_MS 1000ull

struct sessions {
	pthread_mutex_t lock;
	/* held for reading from a spawn request to its link, for writing while a new API key
	 * goes to the spawner and the links (session_key.c): no sandbox misses it */
	pthread_rwlock_t key_lock;
	const struct config *cfg;
	struct spawner *spawner;          /* forks a supervisor per session */
	struct hub *hub;                  /* the sessions' sockets */
	const char *pids_cgroup;          /* the daemon's, for limits_check; NULL: none */
	struct session *buckets[BUCKETS];
	unsigned count;                   /* registered, with those being made */
	atomic_bool shutting_down;        /* event streams end */
	atomic_bool draining;             /* no new sessions; hybrids suspended once idle (node.c) */
	struct session *pool[POOL_MAX];   /* built ahead of time (pool.c) */
	unsigned pool_n, pool_filling;
	uint64_t pool_hits, pool_misses;
	struct pool_filler *filler;       /* builds them, off the requests' path (pool_filler.c) */
	struct shared_group *groups;
	struct workq *saver;              /* hybrid saves' fsyncs, off the hub's thread */
	struct workq *files;              /* suspended sessions' file ops (host_files.c) */
	struct {                          /* /api/health's workspace totals (session_disk.c) */
		pthread_mutex_t lock;
		uint64_t bytes, files, at_ns;
		bool queued;              /* a pass is on the files thread's queue */
		bool closed;              /* the files thread is stopping: no more passes */
	} disk;
	struct ended_session ended[ENDED_MAX];   /* a ring: the last sessions destroyed */
	unsigned ended_next;
};

/* A list or read of the workspace that the supervisor answers (session_view.c). */
struct session_view {
	struct op_run *w;                  /* its waiter, referenced; NULL: a free slot */
	unsigned id;                       /* the op's */
	cJSON *op;                         /* the op, for the agent if it must answer */
};
#define SESSION_VIEWS_MAX 8

struct session {
	pthread_mutex_t lock;
	atomic_int refs;                   /* session_ref() and session_unref() only */
	struct sessions *reg;
	char id[SESSION_ID_LEN];
	char owner[80];
	enum session_pattern pattern;
	enum session_state state;
	time_t created, last_active;       /* wall clock, for people */
	uint64_t idle_since_ns;            /* monotonic */
	unsigned idle_timeout_s;
	char *system, *model;              /* defaults for turns, or NULL */
	char *runtime, *command;           /* another runtime's (agent/runtime.h), or NULL */
	char *title;                       /* its owner's name for it, or NULL */
	struct hub_link *link;             /* NULL once closed */
	unsigned long sup_peer;            /* its supervisor, as spawner_end names it */
	bool pooled;                       /* in the warm pool, nobody's yet */
	bool pool_owed;                    /* taken from it: its rebuild waits for this turn */
	int builder_pid;                   /* pooled: its supervisor, and its sandbox's cgroup */
	cJSON *builder_cgroup;             /* while built (raised when taken: pool.c) */
	bool builder_raised;               /* both raised already (pool_raise_starved) */
	bool builder_taken;                /* taken before its cgroup was said: raised when it is */
	bool hidden;                       /* a shared sandbox's host: nobody's session */
	struct shared_group *group;        /* shared: the sandbox it is in (or holds) */
	int init_pid;                      /* from "ready": the sandbox's init on the host */
	uint64_t netns;                    /* and its network namespace's inode (0: unknown) */
	struct chat_run *run;              /* the turn in flight, referenced */
	struct op_run *op;                 /* the op in flight, referenced */
	char op_kind[16];                  /* its "op" */
	bool op_held;                      /* its waiter holds the link back (session_op_hold) */
	cJSON *op_input;                   /* exec: its command, for the history */
	bool views;                        /* from "ready": the supervisor reads files itself */
	struct session_view view[SESSION_VIEWS_MAX];   /* session_view.c */
	unsigned next_op_id;
	cJSON *history;                    /* tool calls and execs (session_history.c) */
	int committed;                     /* transcript messages of completed turns */
	cJSON *turn_log;                   /* a completed turn each: where it starts in the
					    * transcript, its end and what it cost (or NULL) */
	/* hybrid.c */
	unsigned saves_pending;            /* session.json writes with the saver (hybrid.c) */
	bool drop_saved;                   /* deleted meanwhile: the save removes it all */
	cJSON *held_end;                   /* the done event, given to the turn once saved */
	unsigned held_id;
	cJSON *pending_turn;               /* resuming: sent once the workspace is back */
	struct op_run *suspend_reply;      /* who waits for that suspend (referenced), or NULL;
					    * kept until the sandbox is gone */
	bool stop_saved;                   /* agentd stops: its suspend was started */
	uint64_t saved_gen;                /* the snapshot session.json names (persist.h) */
	uint64_t save_gen;                 /* the last save's generation */
	unsigned turns, next_event_id;
	unsigned transcript_event;         /* the id of the transcript's last message's event */
	struct usage usage;
	cJSON *transcript;                 /* messages, as the agent appended them */
	cJSON *cgroup;                     /* where the sandbox's cgroup is, from "ready" */
	cJSON *network;                    /* its sandbox's way out, from "ready": {allow, proxy?} */
	cJSON *mcp;                        /* its MCP servers, from "ready": {NAME: {state, tools, error?}} */
	bool turns_over;                   /* ephemeral: its turn has ended, it takes no other */
	cJSON *spawn_opts;                 /* {"policy"?, "network"?}: what each of its sandboxes is
					      built with (a resumed one too), or NULL */
	char *reason;                      /* why it failed (the last error event), or NULL */
	struct logged_event *log;          /* a ring, grown up to EVENT_LOG_MAX */
	unsigned log_cap, log_first, log_count;
	size_t log_bytes;
	struct session_listener *listeners;
	/* session_metrics.c: when its sandbox was asked for (0: none is being built, or it
	 * joins another's), whether its build's failure was counted, the OOM kills seen */
	uint64_t spawn_ns;
	bool build_failed;
	bool resume_building;              /* hybrid_resume.c: its resume's sandbox is not up yet */
	double oom_seen;
	struct session *hash_next;         /* registry.c */
};

/* A log record about s: its id and its token's name go with it (core/log.h). */
#define session_log(s, level, ...) log_about(level, (s)->id, (s)->owner, __VA_ARGS__)

/* session_disk.c: whether workspaces are on disk here (hybrid sessions then keep them
 * in place instead of saving snapshots); the session's folder; under s->lock, its
 * workspace's disk_bytes and disk_files into resources, when they can be told. */
bool session_workspace_on_disk(const struct session *s);
void session_workspace_dir(const struct session *s, char *out, size_t size);
void session_disk_json(struct session *s, cJSON *resources);
/* Under s->lock: what its workspace holds now; -1 when that cannot be told. */
int session_disk_usage_locked(struct session *s, uint64_t *bytes, uint64_t *files);
/* Its folder removed, workspace included, on the saver's thread (not under s->lock):
 * for a session whose supervisor ended without removing it. */
void session_workspace_drop(struct session *s);

/* session_state.c. Under s->lock: the state changes to to (why: for the log, or NULL),
 * if the table allows it; false (logged as an error, the state kept) if it does not. */
bool session_enter(struct session *s, enum session_state to, const char *why);
bool session_transition_ok(enum session_state from, enum session_state to);
/* Under s->lock: the state as a client sees it (README), and whether it has ended. */
const char *session_state_shown(const struct session *s);
bool session_is_over(const struct session *s);
/* An event as the SSE frame it is logged and streamed as ("id: ...\nevent: TYPE\ndata:
 * JSON\n\n", the data without "type"): a new string (free()) and *len, or NULL. The
 * event is printed once, for the log and the turn's client alike. */
char *session_event_frame(unsigned id, const char *type, cJSON *ev, size_t *len);
/* Under s->lock: keep a copy of the frame in the log, and send it to the listeners. */
void session_log_frame(struct session *s, unsigned id, const char *frame, size_t len);
/* Under s->lock: both of the above. */
void session_log_event(struct session *s, unsigned id, const char *type, cJSON *ev);
void session_log_free(struct session *s);
/* Under the lock: send an OP and make w its waiter. */
int session_send_op(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err);
/* session_view.c. Whether op is a list, a read or procs; under the lock, send it as a view
 * (the supervisor answers it, whatever the agent does) with w its waiter. */
bool session_is_view(const cJSON *op);
int session_send_view(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err);
/* Under the lock, which it lets go of unless it returns false: ev (taken, then) ends the
 * view it names; one the supervisor left to the agent is sent on to it, if it is free. */
bool session_view_end(struct session *s, cJSON *ev);
/* Under the lock: every view's waiter, taken out (the link is gone), into out. */
size_t session_views_take(struct session *s, struct op_run **out);

/* host_files.c. Under the lock: whether op is a file op (list, read, write, delete) that
 * the gateway does itself on the host, the session being suspended with its workspace
 * on disk; queue it for the registry's file thread, w hearing its op_end from there. */
bool host_files_serves(const struct session *s, const cJSON *op);
int host_files_queue(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err);

/* hybrid.c. Under the lock: take over a hybrid turn's done (saved first, answered
 * after); a warning into the session's event log. */
bool hybrid_hold_done(struct session *s, unsigned id, const cJSON *ev);
void hybrid_warn(struct session *s, const char *text);
/* Who asked for a suspend (reply, its reference taken) hears that it is done. */
void hybrid_reply_suspended(struct op_run *reply);
/* An op's sink that keeps nothing: a save's or a restore's bytes go between the
 * supervisor and the disk, none of them here. */
void hybrid_ignore_piece(void *ctx, const cJSON *ev);
/* hybrid_resume.c. Without the lock: resume a suspended session with turn. agentd
 * stops: every hybrid session that is up suspends (its workspace saved as it is). */
int hybrid_resume(struct session *s, cJSON *turn, struct chat_run *run, struct ad_err *err);
void hybrid_suspend_all(struct sessions *reg, unsigned timeout_ms);

/* session_exec.c. Under the lock: an exec was sent (op, with its "id"): its tool_start.
 * An OP's event from the agent: into the history, and an exec's as its tool event into
 * the log; to the op's waiter; lets go of the lock, takes ev. An exec's event id. */
void session_exec_start(struct session *s, const cJSON *op, struct op_run *w);
void session_op_event(struct session *s, const char *type, cJSON *ev);
void session_exec_id(char *out, size_t n, const cJSON *op_id);
/* Whether an exec's op_end is an error: a failed op, a command that did not exit 0 (a
 * background command's: one that did not start). */
bool session_exec_failed(const cJSON *end);
/* session.c. Under the lock: a turn begins; its first event ("session") goes to its
 * stream and into the log, with the next id. */
void session_turn_hello(struct session *s, struct chat_run *run);

/* session_history.c: a tool or exec event into the history. */
void session_history_event(struct session *s, const char *type, const cJSON *ev);
#define HISTORY_MAX 1000

/* Under the lock: when the session's events are over (it ended or failed, or agentd
 * stops), every listener hears so (they drain and finish); else nothing. */
void session_listeners_wake(struct session *s);

/* registry.c */
struct session *session_alloc(struct sessions *reg, const struct session_opts *o, struct ad_err *err);
/* Under s->lock or before anyone else sees s: take on o's owner, pattern, defaults. */
void session_adopt(struct session *s, const struct session_opts *o);
/* A new session's title, if it has one, goes to disk (hybrid; session_title.c). */
void session_title_created(struct session *s);
/* s's sandbox, built with s->spawn_opts (and into join's sandbox, for a shared one).
 * session_spawn_locked returns with s->lock held, whatever the outcome: its caller goes
 * on with the link it made before a delete can close it and take it away. */
int session_spawn(struct sessions *reg, struct session *s, const cJSON *join, struct ad_err *err);
int session_spawn_locked(struct sessions *reg, struct session *s, const cJSON *join, struct ad_err *err);
void session_send_pending(struct session *s, const char *failure);
/* shared.c */
struct session *shared_create(struct sessions *reg, const struct session_opts *o, struct ad_err *err);
void shared_host_ready(struct session *host);
void shared_host_failed(struct session *host);
void shared_member_gone(struct session *s);
/* pool.c */
struct session *pool_take(struct sessions *reg, const struct session_opts *o);
void pool_drain(struct sessions *reg);
struct pool_stats {
	unsigned size, ready, building, deferred;
	uint64_t hits, misses;
};
void pool_stats(struct sessions *reg, struct pool_stats *out);
/* Build what the pool lacks, but for the owed sandboxes whose takers' turns go on. */
void pool_fill(struct sessions *reg, unsigned owed);
/* The pool's builds that the host's load starved (not up session.pool_refill_delay_ms
 * after they began) go on at the normal priority; when the next one will be due (0: none is built). */
uint64_t pool_raise_starved(struct sessions *reg);
/* A sandbox taken while built, whose cgroup its supervisor said only after: raised now,
 * by the gateway (cgroup is taken), not once its supervisor reads FRAME_OWNER. */
void pool_raise_taken(struct session *s, cJSON *cgroup);
/* pool_filler.c: the thread that calls pool_fill. Started with the registry when the
 * pool has a size, stopped (joined) before the pool is drained, freed with the
 * registry; a kick makes it look again. A sandbox taken (s, under its lock) is owed: it
 * is rebuilt once the request that took it is complete (pool_filler_repaid, under
 * s->lock: session_pool_settle) or session.pool_refill_delay_ms after it was taken.
 * How many are owed now. */
int pool_filler_start(struct sessions *reg, struct ad_err *err);
void pool_filler_stop(struct sessions *reg);
void pool_filler_free(struct sessions *reg);
void pool_filler_kick(struct sessions *reg);
void pool_filler_owe(struct session *s);
void pool_filler_repaid(struct session *s);
unsigned pool_filler_owed(struct sessions *reg);
/* session_metrics.c: an event of s's, under its lock, before its state changes; its
 * link closed (under the lock, before the state changes). */
void session_metrics_event(struct session *s, const char *type, const cJSON *ev);
void session_metrics_closed(struct session *s);
/* s was destroyed (why): out of the registry, remembered among the ended. */
void registry_remove(struct sessions *reg, struct session *s, const char *why);
/* A sentence on how session id (pattern, why) ended. */
void session_end_sentence(char *out, size_t n, const char *id, enum session_pattern pattern, const char *why);
/* Every session, referenced (the caller unrefs each and frees the array). */
struct session **registry_all(struct sessions *reg, size_t *n);
/* s in the registry's table (count: and counted; a new session was counted when its
 * place was reserved). */
void registry_insert(struct sessions *reg, struct session *s, bool count);
const struct config *registry_config(const struct sessions *reg);
bool registry_shutting_down(const struct sessions *reg);

#endif

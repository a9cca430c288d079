/* Sessions on the gateway's side: an opaque session per conversation with its own
 * supervisor and sandbox, kept in a registry by id; explicit states, changed only by
 * session_enter() (session.c), which logs every transition:
 *
 *     creating -> ready -> running <-> idle -> destroyed
 *                   \          \        \-> suspended (hybrid) -> creating ...
 *                    `-> failed  `-> failed
 *
 * Lifecycle patterns (DESIGN.md section 6): ephemeral (destroyed after its one turn),
 * long-running (kept; destroyed after session.idle_timeout_s idle), hybrid, shared.
 * Every event of the session gets a session-wide id and goes to the turn in flight (the
 * HTTP client waiting for it) and to the session's event log, which GET .../events
 * streams and resumes from Last-Event-ID. */
#ifndef AGENTD_SESSION_SESSION_H
#define AGENTD_SESSION_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct chat_run;
struct config;
struct hub;
struct session;
struct sessions;
struct spawner;

/* The state machine: src/session/session_state.c. */
enum session_state {
	SESSION_CREATING, SESSION_READY, SESSION_RUNNING, SESSION_IDLE, SESSION_SAVING, SESSION_SUSPENDING,
	SESSION_SUSPENDED, SESSION_FAILED, SESSION_DESTROYED,
};

enum session_pattern { PATTERN_EPHEMERAL, PATTERN_LONG_RUNNING, PATTERN_HYBRID, PATTERN_SHARED };

extern const char *const session_state_names[];
extern const char *const session_pattern_names[];

struct session_opts {
	enum session_pattern pattern;
	const char *owner;              /* the principal that creates it */
	const char *system, *model;     /* defaults for its turns; NULL: the config's */
	unsigned idle_timeout_s;        /* 0: the config's */
	const cJSON *policy;            /* sandbox tightenings ({"memory_max": "256M", ...}), or NULL */
	const cJSON *network;           /* {"allow": [...]}: narrower than network.allow, or NULL */
	const cJSON *mcp_servers;       /* ["NAME", ...]: some of mcp.servers, or NULL for all */
	const char *sandbox;            /* shared: the shared sandbox's name (default "shared") */
	const char *title;              /* its owner's name for it, or NULL */
	const char *runtime, *command;  /* what works on its turns (agent/runtime.h), or NULL:
					   the built-in agent */
};

struct cgroup_host;
/* The registry, with the config, and the spawner and hub it makes sessions with, and
 * the daemon's cgroups (whose pids.max a new session must fit under): all outlive it. */
int sessions_new(struct sessions **out, const struct config *cfg, struct spawner *spawner, struct hub *hub,
		 const struct cgroup_host *cgroups, struct ad_err *err);
/* agentd is stopping: event streams end (turns in flight go on). */
void sessions_shutdown(struct sessions *reg);
/* Destroy every session, free. */
void sessions_free(struct sessions *reg);
/* Alive (not destroyed), in all and for owner. */
unsigned sessions_count(struct sessions *reg, const char *owner);
/* The warm pool: {"size", "ready", "building", "hits", "misses"}. */
cJSON *sessions_pool_json(struct sessions *reg);
/* Set the gauges of core/metrics.h that count sessions, the pool and workspaces, as
 * they are now: before a scrape (session_metrics.c). */
void sessions_metrics(struct sessions *reg);
/* What every session's workspace holds, added up (session_disk.c): as a pass on the
 * files thread counted it, at most about DISK_TOTALS_MAX_MS (1 s) before the call that
 * asked for a new one; never waits for that pass. */
void sessions_disk_usage(struct sessions *reg, uint64_t *bytes, uint64_t *files);
/* A new API key (agentd reloaded it): the spawner takes it for the sandboxes made from
 * now on, and every session whose supervisor is up or being made gets it over its link
 * (an API_KEY frame); a suspended one gets it when it resumes. *sent: how many sessions
 * it was sent to. Fails (nothing sent) when the spawner cannot take it. */
int sessions_rekey(struct sessions *reg, const char *key, unsigned *sent, struct ad_err *err);
/* Have the pool's thread build what it lacks (at start-up, after a new API key). */
void sessions_pool_fill(struct sessions *reg);
/* The request that made s (session_create) is complete, its response sent (a turn's
 * run let go of by the HTTP side): a sandbox it took from the pool is rebuilt now, not
 * while that request still needed the CPU (else session.pool_refill_delay_ms after it
 * was taken, whichever comes first). */
void session_pool_settle(struct session *s);
/* {"sessions": [...]} of owner's, as session_json(.., false) (session_list.c). */
cJSON *sessions_list(struct sessions *reg, const char *owner);
/* The operator's view: {"sessions": [...], "totals": {"sessions", "by_state", "cost_usd"}}
 * of every session on the host, whoever owns it (ephemeral ones in flight, suspended
 * and shared ones too; not the warm pool's sandboxes nor a shared sandbox's host, which
 * are nobody's), each as session_admin_json. */
cJSON *sessions_admin_list(struct sessions *reg);

/* This node among others behind a load balancer (node.c; README, "More than one host").
 * Where the session named id lives: here (an id of this node's, one that names no node,
 * or one this node has under another name), or on another node, whose name goes to node
 * (size n). The one place that
 * decides it: a request that names a session asks here before looking it up. */
enum session_home { SESSION_HOME_HERE, SESSION_HOME_NODE };
enum session_home sessions_home(struct sessions *reg, const char *id, char *node, size_t n);
/* This node's name (node.name). */
const char *sessions_node(const struct sessions *reg);
/* Drain (on) or take new sessions again. Draining, each hybrid session is suspended as
 * soon as it is idle (at once when it is); the others go on and stay reachable. Whether
 * new sessions may start is the API's to refuse (sessions_draining). */
void sessions_drain(struct sessions *reg, bool on);
bool sessions_draining(struct sessions *reg);
/* session_json(s, true) with "owner" and "age_s". */
cJSON *session_admin_json(struct session *s);

/* A new session, registered; the caller holds a reference (session_unref). It takes a
 * sandbox from the warm pool when one fits; the caller settles it afterwards
 * (session_pool_settle). Fails when the spawner cannot be reached; at capacity,
 * err->errnum is EAGAIN. */
struct session *session_create(struct sessions *reg, const struct session_opts *o, struct ad_err *err);
/* Whether owner's session id (anyone's when owner is NULL) has ended lately (the last
 * 256 destroyed): out gets a sentence that says how (an ephemeral session: with its turn). */
bool sessions_ended(struct sessions *reg, const char *id, const char *owner, char *out, size_t n);
/* owner's session id, referenced; NULL when there is none (or it is another's, or owner
 * is NULL). */
struct session *session_find(struct sessions *reg, const char *id, const char *owner);
/* The session id whoever owns it, referenced, or NULL: for the operator's routes only
 * (api/admin.c), which check the admin role first. */
struct session *session_find_any(struct sessions *reg, const char *id);
/* The principal it belongs to. */
const char *session_owner(const struct session *s);
void session_ref(struct session *s);
void session_unref(struct session *s);       /* NULL is fine */
static inline void session_unrefp(struct session **s)
{
	session_unref(*s);
}
/* A reference dropped when the variable goes out of scope. */
#define _cleanup_session_ __attribute__((cleanup(session_unrefp)))
const char *session_id(const struct session *s);
/* The session's sandbox, while it runs: its init's host pid and the inode of its
 * network namespace (to check that the pid is still that sandbox's); -1 when it has
 * none (being made, suspended, ended). */
int session_sandbox_net(struct session *s, int *pid, uint64_t *netns);
enum session_pattern session_pattern(struct session *s);

/* Start a turn ({"message", "history"?, "model"?, "system"?}); run gets its events.
 * err->errnum EBUSY: a turn is in flight; ENOENT: the session is gone. */
int session_turn(struct session *s, cJSON *turn, struct chat_run *run, struct ad_err *err);
/* Send an OP (include/ipc/protocol.h; its "id" is set here); w gets its events. A file
 * op (list, read, write, delete) of a suspended session whose workspace is on disk is
 * done by the gateway instead, off the caller's thread; w gets its op_end all the same.
 * err->errnum EBUSY: a turn or another op is in flight; ENOENT: the session is gone. */
struct op_run;
int session_op(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err);
/* The op in flight, w's, holds the session's supervisor back (its events are not read)
 * while w's client cannot take more of them, or lets it go on (also when w's op has
 * ended meanwhile). Held for more than a few seconds, the supervisor gives up on the
 * gateway (include/session/hub.h): a waiter lets go before. The op's end lets go. */
void session_op_hold(struct session *s, struct op_run *w, bool hold);
/* The sandbox policy its sandboxes are built with: p, the config's, tightened as the
 * session asked when it was made. */
struct sandbox_policy;
int session_sandbox_policy(struct session *s, struct sandbox_policy *p, struct ad_err *err);
/* {"history": [...]}: tool calls and execs. */
cJSON *session_history(struct session *s);
/* Stop the turn in flight (the tool's process group, the model call); 0, or -1 when
 * none is running. */
int session_interrupt(struct session *s, struct ad_err *err);
/* Hybrid: save the workspace as it is now and session.json, then let the sandbox go
 * (it comes back with the next turn). reply, when not NULL, hears how it ended: an
 * op_end {"ok": true} once suspended (at once if it was), or a failure that says why
 * the session is not suspended (the save failed: it goes on as it was). EBUSY when
 * not idle, EINVAL for another pattern; then reply hears nothing. */
int session_suspend(struct session *s, struct op_run *reply, struct ad_err *err);
/* At start-up: the hybrid sessions saved in the state directory, suspended. */
void sessions_restore(struct sessions *reg);
/* Destroy: the supervisor tears the sandbox down; the session leaves the registry. */
void session_destroy(struct session *s, const char *why);

/* {id, state, pattern, created, last_active, turns, usage, cost_usd, ...}; detail adds
 * the live resource usage of the sandbox's cgroup. */
cJSON *session_json(struct session *s, bool detail);
/* Give s the title title ("" for none); a hybrid session keeps it on disk. err->errnum
 * ENOENT: the session has ended. */
int session_set_title(struct session *s, const char *title, struct ad_err *err);
/* {"messages": [...], "event_id"}: the transcript, and the id of the last event it
 * reflects (reading the events after that id continues it exactly). */
cJSON *session_transcript(struct session *s);

/* Who follows a session's event log (GET .../events, api/events.c). Each is called
 * under the session's lock and must not block: frame() with every event as its SSE
 * frame, in order; note() with a comment ("some events are no longer kept"); ended()
 * once its events are over (the session ended or failed, or agentd stops; at once for
 * a session already over), after which no frame comes; tick() now and then, for
 * keep-alives. */
struct session_listener {
	void (*frame)(struct session_listener *l, const char *frame, size_t len);
	void (*note)(struct session_listener *l, const char *comment);
	void (*ended)(struct session_listener *l);
	void (*tick)(struct session_listener *l);
	struct session_listener *next;            /* the session's */
};
/* l follows s from the event after last_id (0: all that are kept), first getting those
 * that are kept; s is referenced until session_unlisten(). */
void session_listen(struct session *s, struct session_listener *l, unsigned last_id);
void session_unlisten(struct session *s, struct session_listener *l);

#endif

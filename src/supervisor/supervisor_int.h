/* Inside a supervisor: its state, shared by supervisor.c (the sandbox and the loop)
 * and supervisor_frames.c (what passes between gateway and agent). */
#ifndef AGENTD_SESSION_SUPERVISOR_INT_H
#define AGENTD_SESSION_SUPERVISOR_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "ipc/frame.h"
#include "ipc/link_out.h"
#include "supervisor/api_server.h"
#include "supervisor/egress_proxy.h"
#include "supervisor/relay.h"
#include "supervisor/snapshot_io.h"
#include "supervisor/supervisor.h"

struct supervisor {
	const struct supervisor_env *env;
	const char *id;
	int gw, agent;
	struct frame_decoder *gw_dec, *agent_dec;
	struct link_out to_gw, to_agent;  /* frames the peers have not taken yet */
	struct sandbox *sb;
	int ws;                       /* the sandbox's /workspace as the host reaches it, or -1 */
	int ws_tree;                  /* the workspace on the host's disk, a detached mount
					 tree for the sandbox; 0: none (a tmpfs) */
	int ws_ids_lock;              /* its owner held as a live sandbox's host id, or -1 */
	struct relay relay;
	struct usage run_usage;       /* the run in flight */
	unsigned run_api_calls;       /* its model calls through the sandbox's API */
	bool running;                 /* a TURN went to the agent; its done or error has not come */
	bool op_active;               /* an OP went to the agent; its op_end has not come */
	double op_id;                 /* then: its id */
	uint64_t op_by_ns;            /* then: when the agent must have ended it (0: no limit) */
	uint64_t cancel_by_ns;        /* a CANCEL went to the agent: when the run must be over */
	struct snapio snap;           /* a hybrid session's saves and resumes */
	struct egress_rules egress;   /* the session's way out (supervisor_egress.c) */
	struct egress_proxy *proxy;   /* NULL: the session has no network */
	struct api_server *api;       /* the Messages API served to the sandbox, or NULL */
	bool trimmed;                 /* memory given back since the loop last had work */
	cJSON *mcp_stdio;             /* {"NAME": spec}: the agent runs these */
	cJSON *mcp_remote_specs;      /* {"NAME": spec}: Streamable HTTP, ours to call */
	cJSON *mcp_remote_state;      /* {"NAME": {state, tools, error?}} */
	struct mcp_toolset *mcp_tools;    /* the remote servers' tools */
	struct mcp_remote **mcp_remote;   /* open ones, NULL-terminated, or NULL */
	bool joined;                  /* the agent joined a shared sandbox (not ours to end) */
	bool other_runtime;           /* the session's turns go to another runtime than agentd's,
					 whose agent starts no shell ahead (it would never be used) */
	const cJSON *join_cgroup;     /* then: that sandbox's cgroup */
	bool in_call;                 /* a model call is streaming */
	bool abort_call;              /* then: a CANCEL came, the call is abandoned */
	bool in_tool;                 /* a host tool (fetch_url, ...) runs: a CANCEL abandons it too */
	int gw_end;                   /* what the gateway sent during a call ended its link:
					 link_recv's 1 (hang-up) or -1 (gw_err), for the loop */
	struct ad_err gw_err;
	bool usage_pending;           /* the last call's usage event waits for the agent's text */
	bool pooled;                  /* built for the warm pool, not taken yet */
	bool quit;
	struct ad_err fault;          /* why the session ends, when it is a failure */
};

/* A peer that takes nothing it was sent for this long is given up on. */
#define SUP_STALL_MS 30000u
/* An agent that has not ended its run this long after a CANCEL is stuck. */
#define CANCEL_GRACE_MS 5000u
/* An op may take its time limit (at least OP_MIN_S) and OP_GRACE_S more. */
#define OP_MIN_S 60.0
#define OP_GRACE_S 15.0

/* supervisor_io.c: a run event to the gateway (taken), queued; a gateway gone or not
 * reading ends the session (quit). */
int sup_to_gateway(struct supervisor *s, cJSON *ev);
/* A frame to the agent, queued (not waiting); fails when the agent is gone or its
 * queue is full (ENOBUFS). */
int sup_to_agent(struct supervisor *s, unsigned type, const cJSON *payload, struct ad_err *err);
/* The same for a producer of many frames (payload taken): first waits, reading the
 * agent meanwhile, until the agent has room; fails when it is stuck (see SUP_STALL_MS),
 * gone, the session's time is up or the gateway hangs up. */
/* A run event from the agent passed on as the bytes that came (checked, unchanged). */
int sup_to_gateway_raw(struct supervisor *s, const char *payload, size_t n);
int sup_to_agent_paced(struct supervisor *s, unsigned type, cJSON *payload, struct ad_err *err);
/* The same with a payload that is JSON text already (not taken). */
int sup_to_agent_paced_raw(struct supervisor *s, unsigned type, const char *payload, size_t n,
			   struct ad_err *err);
/* Whatever the agent has sent, without waiting: 0, or -1 (broken, or hung up). */
int sup_read_agent(struct supervisor *s, struct ad_err *err);
/* err says the agent is stuck; -1. */
int sup_agent_stuck(struct supervisor *s, struct ad_err *err);
/* End the session now, whatever the agent does: the sandbox killed through its cgroup,
 * the op and the run in flight failed with why, quit. */
void sup_end(struct supervisor *s, const char *type, const char *why);
/* The run ends on an error event of type (the gateway's run and session hear why). */
void sup_send_error(struct supervisor *s, const char *type, const char *message);
/* The same with the step that failed, before the sandbox was up ("step" in the event:
 * a word of sandbox_failed_step()'s, or "workspace"), or NULL. */
void sup_send_error_step(struct supervisor *s, const char *type, const char *message, const char *step);
/* The sandbox could not be built at step: e (prefixed with what, when not NULL) logged
 * and sent as a sandbox_error with its step. */
void sup_build_failed(struct supervisor *s, const char *step, const char *what, struct ad_err *e);
/* The op in flight ends with ok: false and why. */
void sup_op_failed(struct supervisor *s, double id, const char *why);
/* supervisor_pool.c: built for the warm pool (opts' "pooled"): a low CPU priority,
 * the sandbox's too (policy->cpu_low); taken (FRAME_OWNER): the normal one. While it
 * waits, before each poll(): its connection opened ahead replaced when due, and how
 * long poll() may sleep (at most timeout_ms) for the next one to be in time. */
void sup_pool_enter(struct supervisor *s, struct sandbox_policy *policy, const cJSON *opts);
void sup_pool_adopted(struct supervisor *s);
/* Its sandbox started (rc of sandbox_start): the gateway hears where its cgroup is, so
 * that it can raise the sandbox too if it takes it before it is up. */
void sup_pool_sandbox_made(struct supervisor *s, int rc);
int sup_pool_wait_ms(struct supervisor *s, int timeout_ms);
/* supervisor_files.c: the workspace opened from the host (s->ws), once the agent is up;
 * whether op is one the supervisor answers itself (a "view": list or read, at any
 * time), and that answer. */
void sup_open_workspace(struct supervisor *s);
bool sup_serves_files(const cJSON *op);
void sup_file_op(struct supervisor *s, const cJSON *op);
/* supervisor_workspace.c: whether workspaces are on disk here; the session's made or
 * found, its owner put in p (host_uid), its tree in ws_tree (in memory: p's memory
 * raised by its size); at the end, removed unless a saved hybrid session's. */
bool sup_workspace_on_disk(const struct supervisor *s);
int sup_workspace_open(struct supervisor *s, struct sandbox_policy *p, struct ad_err *err);
void sup_workspace_end(struct supervisor *s);
/* supervisor_procs.c: a procs view (the session's background processes) into end. */
int sup_procs_view(struct supervisor *s, const cJSON *op, cJSON *end, struct ad_err *why);
/* supervisor_egress.c: the session's network. Its rules from the config and the
 * session's "network" option (fails on a list that is not within the config's); whether
 * its sandbox gets a proxy; the proxy variables for the sandbox's environment; the
 * proxy started on the sandbox's listener; its description for "ready"; its events to
 * the gateway; its end. */
#define EGRESS_ENV_MAX 7
#define EGRESS_ENV_LEN 64
int sup_egress_rules(struct supervisor *s, const cJSON *opts, struct ad_err *err);
bool sup_egress_wanted(const struct supervisor *s, const cJSON *join);
void sup_egress_env(const struct supervisor *s, char *out[EGRESS_ENV_MAX]);
int sup_egress_start(struct supervisor *s, int listener, struct ad_err *err);
cJSON *sup_egress_json(const struct supervisor *s);
void sup_egress_events(struct supervisor *s);
void sup_egress_end(struct supervisor *s);
/* supervisor_api.c: the sandbox's listeners taken from it and served (the egress
 * proxy's and the Messages API's: fails only when their servers cannot start; a sandbox
 * that failed before it made them is the loop's to report); the API's variables for the
 * sandbox's environment; its notes to the gateway as usage events; its end. */
#define API_ENV_MAX 4
#define API_ENV_LEN 96
int sup_listeners_start(struct supervisor *s, bool egress, bool api, struct ad_err *err);
void sup_api_env(const struct supervisor *s, char *out[API_ENV_MAX]);
void sup_api_notes(struct supervisor *s);
void sup_api_end(struct supervisor *s);
/* supervisor_mcp.c: the session's MCP servers. Chosen from mcp.servers by the session's
 * "mcp_servers" (all when it names none); the stdio ones into HELLO's config; the
 * state of each for "ready" (agent_report: the agent's HELLO's "mcp"), with a warning
 * event for each that failed; freed. */
int sup_mcp_select(struct supervisor *s, const cJSON *opts, struct ad_err *err);
/* The Streamable HTTP servers opened and listed (each failure noted in its state). */
void sup_mcp_open_remote(struct supervisor *s);
/* A tool of theirs: the call's TOOL_RESULT payload content into r (a new object with
 * content and is_error); false when name is not one of theirs. */
bool sup_mcp_call(struct supervisor *s, const char *name, const cJSON *input, cJSON *r);
/* After a call: the servers that said their tools changed (tools/list_changed) are
 * listed again; true when there were any (the agent is to get the host's tools anew). */
bool sup_mcp_relist(struct supervisor *s);
/* Their tools' definitions, appended to tools. */
void sup_mcp_tooldefs(struct supervisor *s, cJSON *tools);
void sup_mcp_hello(const struct supervisor *s, cJSON *config);
cJSON *sup_mcp_report(struct supervisor *s, const cJSON *agent_report);
void sup_mcp_end(struct supervisor *s);
/* supervisor_tools.c: the tools the supervisor runs for the agent (HELLO's host_tools:
 * fetch_url and fetch_html when the session may reach any name), and one call of them,
 * answered with a TOOL_RESULT. */
cJSON *sup_host_tools(struct supervisor *s);
int sup_tool_call(struct supervisor *s, const cJSON *call, struct ad_err *err);
/* The last call's usage event, if it waits (see supervisor_frames.c). */
void sup_flush_usage(struct supervisor *s);
/* supervisor_key.c: an API_KEY frame from the gateway: the relay takes the key (a bad
 * one fails: the session ends). */
int sup_api_key(struct supervisor *s, cJSON *payload, struct ad_err *err);
/* link_recv callbacks, ctx the supervisor: a frame from the agent, from the gateway. */
int sup_agent_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err);
int sup_gateway_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err);
/* The relay's check while a model call holds the loop (claude_client.abort_check): reads
 * what the gateway sent; a view is answered, a CANCEL or the link's end abandons the
 * call (the loop sees the end once the call is over). */
bool sup_during_call(void *ctx);
/* And its tick (claude_client.tick): connections to the sandbox's API are accepted. */
void sup_call_tick(void *ctx);
/* The loop's idle moments (supervisor_idle.c): the poll's timeout, shortened while
 * memory waits to be given back; then what the poll returned (0: it timed out), which
 * it returns. */
int sup_idle_wait(const struct supervisor *s, int wait_ms);
int sup_idle_after(struct supervisor *s, int polled);
/* The sandbox API's listeners in the loop's poll (supervisor_api.c): filled in p, how
 * many. Then p[0] (its notes' event fd) and those n: notes taken, connections accepted. */
unsigned sup_api_pollfds(const struct supervisor *s, struct pollfd *p);
void sup_api_events(struct supervisor *s, const struct pollfd *p, unsigned n);

#endif

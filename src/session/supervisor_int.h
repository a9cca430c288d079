/* Inside a supervisor: its state, shared by supervisor.c (the sandbox and the loop)
 * and supervisor_frames.c (what passes between gateway and agent). */
#ifndef AGENTD_SESSION_SUPERVISOR_INT_H
#define AGENTD_SESSION_SUPERVISOR_INT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "ipc/frame.h"
#include "session/relay.h"
#include "session/snapshot_io.h"
#include "session/supervisor.h"

struct supervisor {
	const struct supervisor_env *env;
	const char *id;
	int gw, agent;
	struct frame_decoder *gw_dec, *agent_dec;
	struct sandbox *sb;
	struct relay relay;
	struct usage run_usage;       /* the run in flight */
	bool running;                 /* a TURN went to the agent; its done or error has not come */
	bool op_active;               /* an OP went to the agent; its op_end has not come */
	struct snapio snap;           /* a hybrid session's saves and resumes */
	bool joined;                  /* the agent joined a shared sandbox (not ours to end) */
	const cJSON *join_cgroup;     /* then: that sandbox's cgroup */
	bool in_call;                 /* a model call is streaming */
	bool usage_pending;           /* the last call's usage event waits for the agent's text */
	bool quit;
	struct ad_err fault;          /* why the session ends, when it is a failure */
};

/* A run event to the gateway (taken); a gateway gone ends the session (quit). */
int sup_to_gateway(struct supervisor *s, cJSON *ev);
/* The last call's usage event, if it waits (see supervisor_frames.c). */
void sup_flush_usage(struct supervisor *s);
/* link_recv callbacks, ctx the supervisor: a frame from the agent, from the gateway. */
int sup_agent_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err);
int sup_gateway_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err);

#endif

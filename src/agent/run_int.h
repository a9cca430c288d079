/* Inside a run (run.c): the request of each model call, made to fit the model's
 * context window (run_request.c, include/agent/context.h). */
#ifndef AGENTD_AGENT_RUN_INT_H
#define AGENTD_AGENT_RUN_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/run.h"
#include "core/err.h"

/* The request for the next call into *out (marked for the prompt cache; with extended
 * thinking when thinking, its budget, is not 0), *bytes its size. When it would not leave room for the reply, the old tool results are cleared
 * first, which a compact event says. 0; 1 when it does not fit even so (*bytes says how
 * large it is); -1 on a failure (err). */
int run_request(struct agent *a, const char *model, const char *system, long thinking, cJSON **out,
		size_t *bytes, struct ad_err *err);
/* Frames from the supervisor within timeout_ms (-1: no limit): 1 when a CANCEL came, 0
 * when none did, -1 (err). Late frames of an abandoned call are dropped. */
int run_cancel_came(struct agent *a, int timeout_ms, struct ad_err *err);
/* A request's size, printed. */
size_t run_printed_size(const cJSON *req);
/* The compact event: a summary's (summary), or a clearing of cleared tool results
 * (summary NULL); before and after, the estimated tokens of a request. */
int run_compact_event(struct agent *a, const char *summary, int cleared, int64_t before, int64_t after,
		      struct ad_err *err);
/* Clear the old tool results now (a reply that filled the window): how many, or -1. */
int run_make_room(struct agent *a, const char *model, const char *system, struct ad_err *err);

#endif

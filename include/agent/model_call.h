/* One model call from inside the sandbox: the request goes to the supervisor as an
 * API_REQUEST, the reply comes back as API_EVENT frames (rebuilt with claude/stream.h,
 * its text passed on at once as "text" run events) until one API_END.
 *
 * A CANCEL may come instead of the events. The run then stops at once, and the API_END
 * still owed for the abandoned call (every request gets one) is waited for, its events
 * dropped, before the next request or in the idle loop (end_owed). */
#ifndef AGENTD_AGENT_MODEL_CALL_H
#define AGENTD_AGENT_MODEL_CALL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent/inbox.h"
#include "claude/stream.h"
#include "core/err.h"

/* The most a streamed reply may hold (text, thinking and tool input), in bytes. */
#define AGENT_REPLY_MAX (4u << 20)

struct model_link {
	int fd;
	struct inbox *in;
	bool end_owed;         /* a request was sent whose API_END has not come yet */
	bool result_owed;      /* a TOOL_CALL was sent whose TOOL_RESULT has not come yet */
};

enum model_outcome {
	MODEL_REPLY,           /* *reply holds the whole message */
	MODEL_FAILED,          /* the call failed: *fail says how */
	MODEL_CANCELLED,
};

struct model_failure {
	char type[64];
	char message[AD_ERR_MSG_MAX];
};

/* Make one call: an outcome, or -1 when the supervisor broke the protocol, hung up or
 * cannot be written to (err). *reply is the caller's to free with MODEL_REPLY. */
int model_call(struct model_link *l, cJSON *request, struct claude_stream **reply,
	       struct model_failure *fail, struct ad_err *err);

/* The next frame from the supervisor within timeout_ms (-1: no limit): 1 with *type and
 * *payload (the caller's), 0 when none came in time, -1 on a broken stream or when the
 * supervisor hung up (err says which). */
int model_link_next(struct model_link *l, int timeout_ms, unsigned *type, cJSON **payload, struct ad_err *err);

/* An API_EVENT, API_END or TOOL_RESULT that arrived while no call waits for it: dropped
 * when it belongs to an abandoned call, else a protocol error (-1). */
int model_late_frame(struct model_link *l, unsigned type, struct ad_err *err);

#endif

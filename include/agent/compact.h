/* Compaction: when a conversation does not fit the model's context window even with
 * its old tool results cleared (agent/context.h), one model call summarises it and the
 * run goes on from the summary, as Claude Code and the Agent SDK do.
 *
 * The summary call sees the conversation with every tool result cleared and, if that is
 * still too long, without its oldest exchanges (a tool result whose call went with them
 * becomes a note), then an instruction to summarise; tools stay defined but may not be
 * used (tool_choice none). Its text replaces the conversation: one user message that
 * says the work continues from a summary. A compact event {"kind": "summary", "summary",
 * "tokens_before", "tokens_after"} tells the client; the session's transcript keeps the
 * messages before it. */
#ifndef AGENTD_AGENT_COMPACT_H
#define AGENTD_AGENT_COMPACT_H

#include "agent/model_call.h"
#include "agent/run.h"
#include "core/err.h"

enum compact_outcome {
	COMPACT_DONE,            /* the conversation is the summary now */
	COMPACT_FAILED,          /* the summary call failed or said nothing: *fail says why */
	COMPACT_CANCELLED,       /* a CANCEL came during the call */
};

/* Compact a's conversation with a call to model (system: the run's system prompt): an
 * outcome, or -1 when the supervisor broke the protocol or went away (err). */
int compact_conversation(struct agent *a, const char *model, const char *system, struct model_failure *fail,
			 struct ad_err *err);

#endif

/* Turns of another runtime than the built-in agent's loop: a program in the sandbox
 * does the work, with the Messages API the supervisor serves in the sandbox
 * (ANTHROPIC_BASE_URL, ANTHROPIC_UNIX_SOCKET, a placeholder key in its environment),
 * and its output becomes the turn's run events, so that a client sees the same stream
 * whatever runs. A CANCEL kills the program's process group; the run ends interrupted.
 *
 *   claude-code  the Claude Code CLI in print mode (stream-json) in the workspace, with
 *                the turn's model and system prompt appended, permission prompts off
 *                (the sandbox is the boundary), and the conversation continued from
 *                turn to turn: one per session, named by a UUID made from the
 *                session's id (its files live in the workspace: $HOME is /workspace);
 *                its messages mapped to text, thinking, tool_start, tool_output, tool_end
 *   command      the session's command (bash -c) in the workspace, the user's message on
 *                its stdin and in $AGENTD_MESSAGE; its stdout is the reply, streamed as
 *                text; a non-zero exit ends the run on an error with its stderr's end */
#ifndef AGENTD_AGENT_RUNTIME_H
#define AGENTD_AGENT_RUNTIME_H

#include <cjson/cJSON.h>

#include "agent/run.h"
#include "core/err.h"

/* Whether a TURN names a runtime of this module. */
bool runtime_other(const cJSON *turn);
/* Work on such a TURN; ends with a done or error event; -1 as run_turn. */
int runtime_turn(struct agent *a, const cJSON *turn, struct ad_err *err);

#endif

/* The agent's tools in one place: their names and definitions as the Messages API
 * takes them (the `tools` array of a request), and the dispatch from a tool_use's name
 * to the implementation (agent/tools.h, agent/bash.h), with the bash deny-list
 * (agent/deny.h) checked before a command runs. */
#ifndef AGENTD_AGENT_TOOLDEFS_H
#define AGENTD_AGENT_TOOLDEFS_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "agent/deny.h"
#include "agent/tools.h"

/* The `tools` array of a request (a new array), NULL when out of memory. */
cJSON *tooldefs_json(void);

struct toolbox;

/* workspace: where tools start and relative paths lead; timeout_s: per bash command;
 * deny: borrowed, may be NULL; cancel_fd: readable means stop a running command (-1:
 * none). The shell starts with toolbox_start_shell, else with the first bash call. */
struct toolbox *toolbox_new(const char *workspace, unsigned timeout_s, const struct deny_list *deny,
			    int cancel_fd);
/* Start the bash tool's shell ahead of its first call, which then finds it ready; one
 * running is warmed again (a command that prints nothing). */
void toolbox_start_shell(struct toolbox *t);
/* End the shell (a session of another runtime has no use for it, an idle one none yet). */
void toolbox_stop_shell(struct toolbox *t);
/* Whether the shell runs and has run no command yet (bash_session_fresh). */
bool toolbox_shell_fresh(const struct toolbox *t);
/* The shell's pid, 0 when none runs. */
pid_t toolbox_shell_pid(const struct toolbox *t);
/* Whether name is one of the agent's own tools. */
bool toolbox_has(const char *name);
/* Run one tool_use into r (tool_result_init'ed by the caller). True when the call was
 * stopped through cancel_fd. An unknown name is an error result, not a failure. */
bool toolbox_run(struct toolbox *t, const char *name, const cJSON *input, struct tool_result *r);
void toolbox_free(struct toolbox *t);

#endif

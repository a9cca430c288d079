/* The bash tool (bash_20250124): one shell per session, so that the working directory
 * and exported variables survive from call to call, as in a terminal. Each command runs
 * in that shell with stdin from /dev/null, stdout and stderr together, the output
 * capped; its end and exit status are marked by a line with a random nonce that the
 * command's own output cannot forge. Past its timeout the shell's whole process group
 * (the command and all it started) is killed and a fresh shell takes its place at once,
 * as after an interrupt or the shell's own exit: the next command finds it ready. */
#ifndef AGENTD_AGENT_BASH_H
#define AGENTD_AGENT_BASH_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "agent/tools.h"

struct bash_session;

/* shell: the program ("/bin/bash"); dir: where it starts. */
struct bash_session *bash_session_new(const char *shell, const char *dir);
/* Start the shell now, when none runs (the first command would otherwise): it sets
 * itself up while the caller goes on, and a command sent meanwhile waits in its pipe;
 * one that runs is warmed again (a command that prints nothing). -1 with errno when it
 * cannot be started (the next command tries again). */
int bash_session_start(struct bash_session *s);
/* Whether the shell runs and no command was sent to it since it started: ending it
 * loses nothing (no cwd, variables or jobs of the model's). */
bool bash_session_fresh(const struct bash_session *s);
/* The shell's pid (in the caller's pid namespace), 0 when none runs. */
pid_t bash_session_pid(const struct bash_session *s);
/* {"command": "...", "restart": bool}; timeout_s per command. */
void tool_bash(struct bash_session *s, const cJSON *input, unsigned timeout_s, struct tool_result *r);
/* While a command runs, fd (-1: none) readable or hung up means stop: the command's
 * process group is killed as on a timeout and the result says "interrupted". */
void bash_session_set_cancel_fd(struct bash_session *s, int fd);
/* The last tool_bash was stopped that way. */
bool bash_session_interrupted(const struct bash_session *s);
void bash_session_free(struct bash_session *s);

#endif

/* The supervisor's OPs on the sandbox, between turns (include/ipc/protocol.h): exec a
 * command, read/write/delete/list a file, snapshot the workspace as a tar stream and
 * restore one. Each OP is answered on the socket with op_output run events and then
 * one op_end with its id; a failed OP is an op_end with "ok": false and a sentence, and
 * the session goes on.
 *
 * Paths are taken below the workspace and resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) from a descriptor of it, so that neither "..", an absolute
 * path, nor a symlink (absolute, or leading out) can reach anything outside it.
 *
 * exec ends when bash has exited and its output is closed (background jobs that keep
 * the output open are waited for); at timeout_s (at most the session's command
 * timeout) its whole process group is killed. If
 * the supervisor hangs up meanwhile, exec and snapshot are stopped and nothing is sent.
 *
 * exec with "background": true starts a command that outlives the op (agent/background.h);
 * procs and kill read and end such commands.
 *
 * A restore comes as several OPs with one id, the tar started at the first and waited
 * for at the one with "last": true; a piece that cannot be used (bad base64, tar gone)
 * fails the restore, which still ends at its last piece. Another OP or a TURN before
 * the last piece ends the restore with an error. */
#ifndef AGENTD_AGENT_OPS_H
#define AGENTD_AGENT_OPS_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct ops;

/* fd: the socket to the supervisor; workspace: a full path (kept, not copied);
 * command_timeout_s: the session's limit on a command, which caps an exec's timeout_s. */
struct ops *ops_new(const char *workspace, long command_timeout_s, int fd);
/* Work on one OP payload. -1 only when the supervisor cannot be written to (err). */
int ops_handle(struct ops *o, const cJSON *op, struct ad_err *err);
/* A TURN is next: a restore still waiting for its last piece fails. */
int ops_interrupt(struct ops *o, struct ad_err *err);
/* Kills a restore's tar still running. */
void ops_free(struct ops *o);

static inline void ops_freep(struct ops **o)
{
	ops_free(*o);
}

/* -- between the ops' own files (src/agent/ops*.c) */

/* One OP being worked on. */
struct bg;
struct op {
	int fd;                   /* the supervisor's socket */
	const char *workspace;
	long command_timeout_s;   /* the session's: an exec's timeout_s is cut to it */
	double id;
	struct bg *bg;            /* the background processes (agent/background.h) */
};

/* What an op function returns. */
enum op_outcome {
	OP_BROKEN = -2,           /* a piece could not be sent to the supervisor (err) */
	OP_FAILED = -1,           /* the op failed: why says why, for its op_end */
	OP_DONE = 0,              /* the op_end's own fields were added to end */
	OP_GONE = 1,              /* the supervisor hung up: nothing more is sent */
};

typedef int op_fn(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why,
		  struct ad_err *err);
op_fn op_exec, op_file;   /* op_file: read, write, delete, list */

/* An op_output event {"id", key: value}. */
int op_output(const struct op *o, const char *key, const char *value, struct ad_err *err);

/* Start argv (execvp) in dir, in a new session (its own process group), with fds
 * (stdin, stdout, stderr) as its first three; 0 and *pid, or -1 (why). */
int op_spawn(const char *dir, const char *const argv[], const int fds[3], pid_t *pid, struct ad_err *why);
/* Kill pid's whole process group and reap pid: its wait status. */
int op_kill(pid_t pid);
/* Reap pid: its wait status. */
int op_reap(pid_t pid);

#endif

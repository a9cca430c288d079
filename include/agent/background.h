/* Background processes: exec with "background": true (include/ipc/protocol.h), a command
 * that outlives its op, and turns, until it ends, is killed, or the agent goes.
 *
 * Each runs below a keeper: a process forked from the agent (no exec) in a session of
 * its own, which starts the command as exec's are started (op_spawn: bash -c in the
 * workspace, its own process group, stdin /dev/null), reads its stdout and stderr
 * without ever making it wait, keeps the last BGPROC_OUTPUT_MAX bytes of them in a ring
 * file, reaps it and writes its end (ipc/bgproc.h). The keeper is a child subreaper, so
 * what the command leaves behind stays below it; a SIGTERM makes it kill all of that
 * (agent/proctree.h) and record the process as killed. It gets one when the agent
 * dies, too (PR_SET_PDEATHSIG).
 *
 * The agent keeps which processes are its own: it starts them (at most the op's "max"
 * at once), kills them, and forgets the oldest ended ones beyond "max", record and all.
 * Their records can be read by anyone who reaches the folder: the agent between turns,
 * the supervisor at any time. */
#ifndef AGENTD_AGENT_BACKGROUND_H
#define AGENTD_AGENT_BACKGROUND_H

#include <sys/types.h>

#include "agent/ops.h"

struct bg;

struct bg *bg_new(const char *workspace);
/* Every keeper still running told to kill its process and waited for, the session's
 * folder removed. */
void bg_free(struct bg *b);

/* The ops (agent/ops.h): exec with "background": true ({"command", "procs": TAG, "max"}:
 * op_end "process"); procs ({"procs", "proc"?}: op_end "process" with its output, or
 * "processes"); kill ({"procs", "proc"}: op_end "process", as it ended). */
op_fn op_bg_exec, op_bg_procs, op_bg_kill;

/* -- between background.c and keeper.c */

struct keeper {
	pid_t agent;              /* the keeper's parent, to notice that it is gone already */
	int dir;                  /* the process's folder */
	int report;               /* the pipe to the agent: a keeper_report, once */
	const char *id, *command, *workspace;
};

struct keeper_report {
	int pid;                  /* the command's, in the sandbox; 0: it did not start */
	char why[240];
};

/* The keeper's life, in the forked child; it never returns. */
_Noreturn void keeper_main(const struct keeper *k);

#endif

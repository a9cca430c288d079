/* What the sandbox's init and agentd agree on: the descriptors init finds and the
 * records it writes on the report pipe. Plain C types only: the init includes this
 * without a libc (tiny_init/init.c), agentd's child.h checks that its struct child_report has
 * the same layout. */
#ifndef AGENTD_SANDBOX_INIT_WIRE_H
#define AGENTD_SANDBOX_INIT_WIRE_H

#define INIT_REPORT_FD 3      /* the report pipe */
#define INIT_PASS_FD 4        /* the command's passed descriptor (the agent's socket) */
#define INIT_EXE_FD 5         /* agentd's binary, for the agent only (O_PATH) */

/* argv[2] of init that starts the built-in agent: a fresh exec of agentd (INIT_EXE_FD)
 * with argv[1] INIT_AGENT_ARGV1, instead of a program looked up in PATH. */
#define INIT_AGENT_ARG "--agent"
#define INIT_AGENT_ARGV1 "sandbox-agent"

#define INIT_REPORT_ERROR 1    /* a setup step failed: step, errnum, msg (agentd's) */
#define INIT_REPORT_STATUS 2   /* the command ended: wstatus as from waitpid */
#define INIT_REPORT_ERRNO 3    /* init's own failure: step ("exec": the command could not
				  be run, else "init"), errnum, msg without the errno's text */

#define INIT_STEP_MAX 32
#define INIT_MSG_MAX 512

struct init_report {
	unsigned int kind;
	int wstatus;
	char step[INIT_STEP_MAX];
	int errnum;
	char msg[INIT_MSG_MAX];
};

#endif

/* The sandbox's PID 1, a fresh exec of agentd ("agentd sandbox-init COMMAND..."): it
 * runs the command (or the built-in agent, forked from this fresh image) as its child, reaps every orphan, and when the command ends reports
 * its status on the report pipe and exits, upon which the kernel kills whatever else is
 * left in the pid namespace. Its environment is the command's; it holds nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "sandbox/sandbox.h"

int sandbox_init_main(int argc, char **argv, int (*agent)(int fd))
{
	struct ad_err e;
	/* Only ever started by the sandbox, with the report pipe on its descriptor. */
	if (argc < 2 || fcntl(CHILD_REPORT_FD, F_GETFD) < 0 || getpid() != 1) {
		fprintf(stderr, "agentd: sandbox-init is started by agentd inside a sandbox\n");
		return 2;
	}
	/* exec made us dumpable again: no one in the sandbox may read our memory; and
	 * the report pipe is ours alone, not the command's */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || fcntl(CHILD_REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) {
		ad_err_sys(&e, "prctl PR_SET_DUMPABLE");
		child_report_fail(CHILD_REPORT_FD, "init", &e, 125);
	}
	pid_t cmd;
	if (strcmp(argv[1], SANDBOX_AGENT_ARGV0) == 0) {
		/* the agent: a child of this image, which holds nothing but the report pipe */
		cmd = fork();
		if (cmd == 0) {
			close(CHILD_REPORT_FD);
			_exit(agent(SANDBOX_PASS_FD));
		}
	} else {
		/* vfork: no copy of page tables for a child that only execs, or reports and exits */
		cmd = vfork();
		if (cmd == 0) {
			execvp(argv[1], argv + 1);
			int saved = errno;
			ad_err_set(&e, saved, "%s", argv[1]);
			child_report_fail(CHILD_REPORT_FD, "exec", &e, saved == ENOENT ? 127 : 126);
		}
	}
	if (cmd < 0) {
		ad_err_sys(&e, "fork the command");
		child_report_fail(CHILD_REPORT_FD, "init", &e, 125);
	}
	/* the passed descriptor is the command's: its peer must see EOF when the command ends */
	close(SANDBOX_PASS_FD);
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		if (w == cmd) {
			struct child_report r = { .kind = REPORT_STATUS, .wstatus = st };
			child_report_write(CHILD_REPORT_FD, &r);
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		if (w < 0 && errno != EINTR)
			_exit(125);
	}
}

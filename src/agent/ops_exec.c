/* The exec OP, and the child processes of all OPs: see include/agent/ops.h. */
#include "agent/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/background.h"
#include "agent/proctree.h"
#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/utf8.h"
#include "ipc/protocol.h"

#define EXEC_TIMEOUT_MAX (7 * 24 * 3600)
/* How often an exit is looked for when the kernel has no pidfd_open (before 5.3). */
#define EXEC_TICK_MS 100

int op_spawn(const char *dir, const char *const argv[], const int fds[3], pid_t *pid, struct ad_err *why)
{
	/* execvp's prototype predates const; the strings are not written to */
	char *const *args;
	memcpy(&args, &argv, sizeof(args));
	/* vfork, as the shell (bash.c): a fork would leave every page the agent or the
	 * keeper writes afterwards to fault once more; the child makes only system calls
	 * (and, when they fail, writes why) before its exec, and no handler of ours can run
	 * in it (the agent catches no signal; a keeper reads its own from a signalfd) */
	pid_t p = vfork();
	if (p < 0)
		return ad_err_sys(why, "fork");
	if (p > 0) {
		*pid = p;
		return 0;
	}
	setsid();                   /* its own process group, to be killed whole */
	proctree_adopt_orphans();   /* and what leaves it stays below it */
	signal(SIGPIPE, SIG_DFL);   /* the agent ignores it; the commands must not */
	sigset_t none;              /* nor block what a keeper blocks (agent/background.h) */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* out of the way of 0-2 first, so that no dup2 closes a descriptor still needed */
	int high[3];
	for (int i = 0; i < 3; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
			_exit(126);
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], i) < 0)
			_exit(126);
	if (chdir(dir) < 0) {
		dprintf(2, "cannot enter %s: %s\n", dir, strerror(errno));
		_exit(126);
	}
	execvp(args[0], args);
	dprintf(2, "cannot run %s: %s\n", args[0], strerror(errno));
	_exit(127);
}

int op_reap(pid_t pid)
{
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

int op_kill(pid_t pid)
{
	proctree_kill(pid);
	return op_reap(pid);
}

/* A UTF-8 sequence cut short at the end of a read, kept for the next one. */
#define CARRY_MAX 4
struct carry {
	char b[CARRY_MAX];
	size_t n;
};

/* What exec reads: the command's output, turned into op_output pieces. */
struct pump {
	const struct op *o;
	int fd;                     /* the read end, -1 once closed */
	struct carry carry;
	char raw[CARRY_MAX + PROTO_CHUNK];
	char text[3 * (CARRY_MAX + PROTO_CHUNK) + 1];
	uint64_t bytes;
};

/* One read: 1 when it brought bytes, 0 when none were there, -1 when a piece could not
 * be sent (err). At the end of file (or a failure, or when told to stop) the read end
 * is closed and what was kept of a sequence goes out. */
static int pump_read(struct pump *p, bool stop, struct ad_err *err)
{
	char *at = p->raw + CARRY_MAX;
	ssize_t n = stop ? 0 : read(p->fd, at, PROTO_CHUNK);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		close(steal_fd(&p->fd));
		n = 0;
	}
	p->bytes += (uint64_t)n;
	at -= p->carry.n;
	memcpy(at, p->carry.b, p->carry.n);
	size_t all = p->carry.n + (size_t)n, kept;
	size_t len = utf8_to_text(at, all, p->fd < 0, p->text, &kept);
	memcpy(p->carry.b, at + all - kept, kept);
	p->carry.n = kept;
	if (len > 0 && op_output(p->o, "data", p->text, err) < 0)
		return -1;
	return n > 0;
}

/* The request's "timeout_s", a whole number from 1 to EXEC_TIMEOUT_MAX, cut to limit (the
 * session's command timeout): a request for more gets the session's limit. */
static int exec_timeout(const cJSON *req, long limit, long *out, struct ad_err *why)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "timeout_s");
	if (!cJSON_IsNumber(t) || t->valuedouble < 1 || t->valuedouble > EXEC_TIMEOUT_MAX ||
	    t->valuedouble != (double)(long)t->valuedouble)
		return ad_err_set(why, 0, "exec needs \"timeout_s\": a whole number of seconds from 1 to %d",
				  EXEC_TIMEOUT_MAX);
	*out = (long)t->valuedouble;
	if (limit > 0 && *out > limit)
		*out = limit;
	return 0;
}

enum exec_end { EXEC_ENDED, EXEC_TIMED_OUT, EXEC_HUNG_UP };

/* Pump the output until it is closed and the leader has exited, or the deadline, or the
 * supervisor hangs up: an exec_end, or -1 when a piece could not be sent. */
static int exec_wait(struct pump *p, pid_t pid, uint64_t deadline, struct ad_err *err)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool exited = false;
	while (p->fd >= 0 || !exited) {
		uint64_t now = clock_mono_ms();
		if (now >= deadline)
			return EXEC_TIMED_OUT;
		uint64_t left = deadline - now, most = pidfd >= 0 ? INT_MAX : EXEC_TICK_MS;
		struct pollfd f[3] = { { p->o->fd, 0, 0 }, { p->fd, POLLIN, 0 }, { exited ? -1 : pidfd, POLLIN, 0 } };
		if (poll(f, 3, (int)(left < most ? left : most)) < 0 && errno != EINTR)
			return ad_err_sys(err, "poll");
		if (f[0].revents & (POLLHUP | POLLERR))
			return EXEC_HUNG_UP;
		if (f[1].revents != 0 && pump_read(p, false, err) < 0)
			return -1;
		siginfo_t si = { 0 };
		if (!exited && waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
			exited = si.si_pid == pid;
	}
	return EXEC_ENDED;
}

/* After a timeout: the command killed with everything it started, what it wrote before,
 * as far as it is there now. */
static int exec_stop(struct pump *p, pid_t pid, struct ad_err *err)
{
	proctree_kill(pid);
	if (p->fd < 0)
		return 0;
	fcntl(p->fd, F_SETFL, O_NONBLOCK);
	int rc;
	while ((rc = pump_read(p, false, err)) > 0)
		;
	return rc < 0 || p->fd < 0 ? rc : pump_read(p, true, err);
}

int op_exec(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "background")))
		return op_bg_exec(o, req, end, why, err);
	const char *cmd = json_op_string(req, "command", why);
	long timeout_s = 0;
	if (cmd == NULL || exec_timeout(req, o->command_timeout_s, &timeout_s, why) < 0)
		return OP_FAILED;
	_cleanup_free_ struct pump *p = calloc(1, sizeof(*p));
	_cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pipefd[2];
	if (p == NULL || devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		return ad_err_sys(why, "exec: %s", p == NULL ? "out of memory" : devnull < 0 ? "/dev/null" : "pipe");
	_cleanup_close_ int wr = pipefd[1];
	_cleanup_close_ int rd = pipefd[0];
	const char *argv[] = { "/bin/bash", "-c", cmd, NULL };
	const int fds[3] = { devnull, wr, wr };
	uint64_t t0 = clock_mono_ns();
	pid_t pid;
	if (op_spawn(o->workspace, argv, fds, &pid, why) < 0)
		return OP_FAILED;
	close(steal_fd(&wr));
	p->o = o;
	p->fd = steal_fd(&rd);
	int rc = exec_wait(p, pid, t0 / 1000000u + (uint64_t)timeout_s * 1000, err);
	if (rc == EXEC_TIMED_OUT && exec_stop(p, pid, err) < 0)
		rc = -1;
	/* a normal end leaves alone what it started in the background and let go of the output */
	int status = rc == EXEC_ENDED ? op_reap(pid) : op_kill(pid);
	if (p->fd >= 0)
		close(p->fd);
	if (rc < 0 || rc == EXEC_HUNG_UP)
		return rc < 0 ? OP_BROKEN : OP_GONE;
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	cJSON_AddNumberToObject(end, "exit_status", sig ? 128 + sig : WEXITSTATUS(status));
	if (sig)
		cJSON_AddNumberToObject(end, "signal", sig);
	cJSON_AddBoolToObject(end, "timed_out", rc == EXEC_TIMED_OUT);
	cJSON_AddNumberToObject(end, "duration_ms", clock_ms_since(t0));
	cJSON_AddNumberToObject(end, "output_bytes", (double)p->bytes);
	return OP_DONE;
}

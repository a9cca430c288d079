/* A background process's keeper: see include/agent/background.h. It is a copy of the
 * agent that never execs; what it does is small and bounded: a poll loop over the
 * command's output and a signalfd, writes to two files, and the kill. */
#include "agent/background.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/proctree.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "ipc/bgproc.h"
#include "ipc/protocol.h"

#define RECORD_NEW BGPROC_RECORD ".new"

static char chunk[PROTO_CHUNK];

/* Wall-clock seconds, to the millisecond. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

static _Noreturn void fail(const struct keeper *k, const struct ad_err *why)
{
	struct keeper_report r = { 0 };
	snprintf(r.why, sizeof(r.why), "%s", why->msg);
	_exit(write(k->report, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 1 : 2);
}

/* Every descriptor from 3 up closed but keep's (ascending): the agent's socket above
 * all, whose peer must see the end of the agent when it ends. */
static void close_others(const int *keep, size_t n)
{
	unsigned lo = 3;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)keep[i] > lo)
			close_range(lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	close_range(lo, ~0u, 0);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The record, written whole and renamed over the last. */
static int write_record(int dir, const cJSON *rec, struct ad_err *why)
{
	_cleanup_free_ char *text = cJSON_PrintUnformatted(rec);
	_cleanup_close_ int fd = openat(dir, RECORD_NEW, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (text == NULL || fd < 0 || fs_write_all(fd, text, strlen(text)) < 0 ||
	    renameat(dir, RECORD_NEW, dir, BGPROC_RECORD) < 0)
		return ad_err_sys(why, "the record of %s", BGPROC_RECORD);
	return 0;
}

/* Until the command has exited and its output is closed: the output into the ring; a
 * signal other than SIGCHLD kills everything below the keeper. The command's wait
 * status. */
static int keep(int rd, int sfd, int ring, pid_t leader, bool *killed)
{
	uint64_t total = 0;
	int status = 0;
	bool done = false;
	while (rd >= 0 || !done) {
		struct pollfd f[2] = { { rd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(f, 2, -1) < 0 && errno != EINTR)
			_exit(1);
		ssize_t n = f[0].revents ? read(rd, chunk, sizeof(chunk)) : -1;
		if (n > 0)
			bgproc_output_append(ring, &total, chunk, (size_t)n);
		else if (f[0].revents && (n == 0 || (errno != EINTR && errno != EAGAIN)))
			close(steal_fd(&rd));
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			if (si.ssi_signo != SIGCHLD && !*killed) {
				*killed = true;
				proctree_kill_children(getpid());
			}
		int st;
		pid_t w;
		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			if (w == leader) {
				status = st;
				done = true;
			}
		if (w < 0 && errno == ECHILD)
			done = true;
	}
	return status;
}

_Noreturn void keeper_main(const struct keeper *k)
{
	struct ad_err why;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* out of the agent's process group and session; killed with it, in its own way */
	setsid();
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 || getppid() != k->agent)
		_exit(1);
	proctree_adopt_orphans();
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	int keep_fds[] = { k->dir, k->report, sfd };
	qsort(keep_fds, ARRAY_SIZE(keep_fds), sizeof(int), cmp_int);
	close_others(keep_fds, ARRAY_SIZE(keep_fds));
	uint64_t zero = 0;
	int ring = openat(k->dir, BGPROC_OUTPUT, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pipefd[2];
	if (sfd < 0 || ring < 0 || devnull < 0 || pwrite(ring, &zero, sizeof(zero), 0) != (ssize_t)sizeof(zero) ||
	    pipe2(pipefd, O_CLOEXEC) < 0) {
		ad_err_sys(&why, "background: the keeper cannot start");
		fail(k, &why);
	}
	const char *argv[] = { "/bin/bash", "-c", k->command, NULL };
	const int fds[3] = { devnull, pipefd[1], pipefd[1] };
	double started = now_s();
	pid_t pid;
	if (op_spawn(k->workspace, argv, fds, &pid, &why) < 0)
		fail(k, &why);
	close(pipefd[1]);
	close(devnull);
	cJSON *rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "id", k->id);
	cJSON_AddNumberToObject(rec, "pid", pid);
	cJSON_AddStringToObject(rec, "command", k->command);
	cJSON_AddNumberToObject(rec, "started", started);
	cJSON_AddStringToObject(rec, "state", "running");
	if (write_record(k->dir, rec, &why) < 0) {
		proctree_kill(pid);
		fail(k, &why);
	}
	struct keeper_report r = { .pid = pid };
	if (write(k->report, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	close(k->report);
	bool killed = false;
	int status = keep(pipefd[0], sfd, ring, pid, &killed);
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	cJSON_ReplaceItemInObjectCaseSensitive(rec, "state", cJSON_CreateString(killed ? "killed" : "exited"));
	cJSON_AddNumberToObject(rec, "exit_status", sig ? 128 + sig : WEXITSTATUS(status));
	if (sig)
		cJSON_AddNumberToObject(rec, "signal", sig);
	cJSON_AddNumberToObject(rec, "ended", now_s());
	_exit(write_record(k->dir, rec, &why) < 0 ? 1 : 0);
}

/* The persistent shell: see include/agent/bash.h. */
#include "agent/bash.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/proctree.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/clock.h"

#define MARK "__agentd_done_"
#define WARMUP "{\n:\n} </dev/null 2>&1\nprintf '' \"$?\"\n"

struct bash_session {
	char shell[256], dir[256];
	pid_t pid;                  /* the shell, leader of its own process group */
	int in, out;                /* its stdin (ours to write), stdout+stderr */
	int cancel_fd;              /* readable: stop the command now; -1 when none */
	bool interrupted;           /* the last command was stopped through cancel_fd */
	bool fresh;                 /* no command was sent to this shell yet: it holds no state */
};

/* Ends the shell with all it started; returns its wait status (-1: there was none). */
static int stop_shell(struct bash_session *s)
{
	int status = -1;
	if (s->pid > 0) {
		proctree_kill(s->pid);   /* the shell and everything it started */
		while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (s->in >= 0)
		close(s->in);
	if (s->out >= 0)
		close(s->out);
	s->pid = 0;
	s->in = s->out = -1;
	return status;
}

/* The shell ended by itself (it is a zombie now, not reaped: its group can still be
 * killed whole by stop_shell). */
static bool shell_exited(const struct bash_session *s)
{
	siginfo_t si = { 0 };
	return s->pid > 0 && waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       si.si_pid == s->pid;
}

static int start_shell(struct bash_session *s)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]), close(in[1]);
		return -1;
	}
	/* vfork: the child borrows the agent's memory until its exec, instead of a copy.
	 * After a fork, every page the agent writes again faults (its page table entries
	 * were made read-only for the copy): about 40 us a page on a host whose page tables
	 * are virtualised, where a 4 MiB heap took 40 ms to touch again. The child only
	 * makes system calls before its exec (and the agent catches no signal whose handler
	 * could run in it); the agent waits for that exec. */
	pid_t pid = vfork();
	if (pid == 0) {
		setsid();   /* its own process group, to be killed whole */
		proctree_adopt_orphans();   /* and what leaves it stays below it */
		signal(SIGPIPE, SIG_DFL);   /* the agent ignores it; the commands must not */
		dup2(in[0], 0), dup2(out[1], 1), dup2(out[1], 2);
		if (chdir(s->dir) < 0)
			_exit(126);
		execl(s->shell, s->shell, "--noprofile", "--norc", (char *)NULL);
		_exit(127);
	}
	close(in[0]), close(out[1]);
	if (pid < 0) {
		close(in[1]), close(out[0]);
		return -1;
	}
	s->pid = pid;
	s->in = in[1];
	s->out = out[0];
	s->fresh = true;
	/* a new bash's first command costs it more than the later ones (code and data paged
	 * in, first allocations): one of their shape that prints nothing runs now, while
	 * nobody waits (a shell gone by then is found by the next command) */
	fs_write_all(s->in, WARMUP, strlen(WARMUP));
	return 0;
}

struct bash_session *bash_session_new(const char *shell, const char *dir)
{
	struct bash_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	snprintf(s->shell, sizeof(s->shell), "%s", shell);
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->in = s->out = s->cancel_fd = -1;
	return s;
}

void bash_session_set_cancel_fd(struct bash_session *s, int fd)
{
	s->cancel_fd = fd;
}

bool bash_session_interrupted(const struct bash_session *s)
{
	return s->interrupted;
}

void bash_session_free(struct bash_session *s)
{
	if (s == NULL)
		return;
	stop_shell(s);
	free(s);
}

/* Read the shell's output until the marker line; the output before it goes to r.
 * Returns the exit status, -1 on timeout, -2 when the shell died, -3 when cancel_fd
 * became readable (or hung up). */
static int collect(struct bash_session *s, const char *marker, long deadline, struct tool_result *r)
{
	struct buf seen;          /* a window that can hold the marker line whole */
	buf_init(&seen, 1 << 20);
	size_t mlen = strlen(marker);
	int status = -2;
	for (;;) {
		long left = deadline - (long)clock_mono_ms();
		if (left <= 0) {
			status = -1;
			break;
		}
		struct pollfd pfd[2] = { { s->out, POLLIN, 0 }, { s->cancel_fd, POLLIN, 0 } };
		if (poll(pfd, s->cancel_fd >= 0 ? 2 : 1, left > 1000 ? 1000 : (int)left) <= 0)
			continue;
		if (s->cancel_fd >= 0 && pfd[1].revents != 0) {
			status = -3;
			break;
		}
		char chunk[8192];
		ssize_t n = read(s->out, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;        /* the shell is gone */
		buf_append(&seen, chunk, (size_t)n);
		/* the output may hold NULs: searched by its length, not as a string */
		char *m = memmem(seen.data, seen.len, marker, mlen);
		if (m != NULL && memchr(m + mlen, '\n', seen.len - (size_t)(m - seen.data) - mlen) != NULL) {
			status = atoi(m + mlen);
			/* the marker follows a newline of ours, and the output's own last
			 * newline is not shown either */
			size_t keep = (size_t)(m - seen.data);
			for (int i = 0; i < 2 && keep > 0 && seen.data[keep - 1] == '\n'; i++)
				keep--;
			buf_append(&r->out, seen.data, keep);
			break;
		}
		/* pass on all but a tail that may be the start of the marker */
		size_t safe = seen.len > mlen + 16 ? seen.len - mlen - 16 : 0;
		if (safe > 0) {
			buf_append(&r->out, seen.data, safe);
			memmove(seen.data, seen.data + safe, seen.len - safe + 1);
			seen.len -= safe;
		}
	}
	if (status < 0 && seen.len > 0) {
		/* no marker came: what is left is output too (its last newline not shown) */
		buf_append(&r->out, seen.data, seen.len - (seen.data[seen.len - 1] == '\n'));
	}
	buf_free(&seen);
	return status;
}

/* What ended the shell, from its wait status. */
static void shell_end(int status, char *out, size_t size)
{
	if (status >= 0 && WIFEXITED(status))
		snprintf(out, size, "the shell exited with status %d", WEXITSTATUS(status));
	else if (status >= 0 && WIFSIGNALED(status))
		snprintf(out, size, "the shell was ended by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "the shell ended");
}

/* The shell was stopped: a new one now, not at the next command, so that it is ready
 * by then; r says why (what) and that the old shell's state is gone. */
static void restart(struct bash_session *s, const char *what, struct tool_result *r)
{
	r->is_error = true;
	if (r->out.len > 0)
		buf_puts(&r->out, "\n");
	if (start_shell(s) == 0)
		buf_printf(&r->out, "[%s; a new shell was started: cwd and variables reset]", what);
	else
		buf_printf(&r->out, "[%s; no new shell could start (%s): the next command tries again]", what,
			   strerror(errno));
}

/* The shell ended between commands (killed, or by a background job of its own): the
 * command is not run in a fresh shell whose cwd and variables it does not expect. */
static void gone_before(struct bash_session *s, struct tool_result *r)
{
	char why[96], what[192];
	shell_end(stop_shell(s), why, sizeof(why));
	snprintf(what, sizeof(what), "%s after the last command, and this command was not run", why);
	restart(s, what, r);
}

int bash_session_start(struct bash_session *s)
{
	if (s->pid <= 0)
		return start_shell(s);
	/* one that has waited (a pooled sandbox, an idle session) has had its pages and
	 * caches go cold: warmed again, while the model answers; not one that has not yet
	 * read what it was sent (a shell still starting, as in an ephemeral chat, whose
	 * turn follows its start): a second warm-up would only delay the first command */
	int unread = 0;
	if (ioctl(s->in, FIONREAD, &unread) == 0 && unread == 0)
		fs_write_all(s->in, WARMUP, strlen(WARMUP));
	return 0;
}

bool bash_session_fresh(const struct bash_session *s)
{
	return s->pid > 0 && s->fresh;
}

pid_t bash_session_pid(const struct bash_session *s)
{
	return s->pid;
}

void tool_bash(struct bash_session *s, const cJSON *input, unsigned timeout_s, struct tool_result *r)
{
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(input, "command");
	s->interrupted = false;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(input, "restart"))) {
		stop_shell(s);
		if (start_shell(s) < 0)
			return tool_result_error(r, "cannot start %s: %s", s->shell, strerror(errno));
		buf_puts(&r->out, "The shell was restarted.");
		return;
	}
	if (!cJSON_IsString(cmd) || cmd->valuestring[0] == '\0')
		return tool_result_error(r, "bash needs a command");
	if (shell_exited(s))
		return gone_before(s, r);
	/* started with the agent (bash_session_start); here only when that failed */
	if (s->pid <= 0 && start_shell(s) < 0)
		return tool_result_error(r, "cannot start %s: %s", s->shell, strerror(errno));
	uint64_t nonce[2];
	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce))
		return tool_result_error(r, "no randomness for the command marker");
	char marker[96];
	snprintf(marker, sizeof(marker), MARK "%016llx%016llx_", (unsigned long long)nonce[0],
		 (unsigned long long)nonce[1]);
	/* the command as a group, its stdin from /dev/null; then the marker and $? */
	_cleanup_free_ char *script = NULL;
	if (asprintf(&script, "{\n%s\n} </dev/null 2>&1\nprintf '\\n%s%%d\\n' \"$?\"\n", cmd->valuestring,
		     marker) < 0)
		return tool_result_error(r, "out of memory");
	s->fresh = false;
	if (fs_write_all(s->in, script, strlen(script)) < 0)
		return gone_before(s, r);
	int status = collect(s, marker, (long)clock_mono_ms() + (long)timeout_s * 1000, r);
	if (status == -1 || status == -3) {
		stop_shell(s);
		s->interrupted = status == -3;
		char why[48] = "interrupted", what[192];
		if (status == -1)
			snprintf(why, sizeof(why), "timed out after %u s", timeout_s);
		snprintf(what, sizeof(what), "%s: the shell was killed with every process started in it, "
			 "also those that left its process group", why);
		restart(s, what, r);
	} else if (status == -2) {
		char why[96];
		shell_end(stop_shell(s), why, sizeof(why));
		restart(s, why, r);
	} else if ((r->exit_status = status) != 0) {
		r->is_error = true;
		buf_printf(&r->out, "\n[exit status %d]", status);
	}
}

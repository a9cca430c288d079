/* Turns of another runtime: see include/agent/runtime.h. The program runs as an exec
 * OP's command does (agent/ops.h: its own process group, in the workspace); its stdout
 * is read as it comes (lines of stream-json, or text), its stderr's end kept for the
 * error a failure ends on, and the supervisor's socket watched for a CANCEL. */
#include "agent/runtime.h"
#include "runtime_int.h"
#include "run_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/ops.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/sha256.h"
#include "core/utf8.h"

/* The longest stream-json line taken (a whole message with a large tool result); the
 * stdout a command's reply keeps; the end of stderr kept for the error. */
#define LINE_MAX_BYTES (16u << 20)
#define REPLY_MAX (1u << 20)
#define STDERR_TAIL 2048

struct prog {
	struct agent *a;
	bool cc;                     /* claude-code: stdout is stream-json */
	struct cc_state st;
	char *out;                   /* stdout not yet taken: a partial line, or a cut UTF-8 sequence */
	size_t out_len;
	char *reply;                 /* command: what it printed, up to REPLY_MAX */
	size_t reply_len;
	char tail[STDERR_TAIL];      /* the end of stderr, a ring */
	size_t tail_len;
};

bool runtime_other(const cJSON *turn)
{
	const char *r = json_str(turn, "runtime");
	return r != NULL && strcmp(r, "agentd") != 0;
}

/* Stdout's new bytes: each whole line (claude-code), or the text so far (command). */
static int take_out(struct prog *p, bool final, struct ad_err *err)
{
	if (p->cc) {
		size_t start = 0;
		for (char *nl; (nl = memchr(p->out + start, '\n', p->out_len - start)) != NULL;) {
			size_t len = (size_t)(nl - (p->out + start));
			if (cc_line(p->a, &p->st, p->out + start, len, err) < 0)
				return -1;
			start += len + 1;
		}
		if (final && start < p->out_len && cc_line(p->a, &p->st, p->out + start, p->out_len - start, err) < 0)
			return -1;
		p->out_len = final ? 0 : p->out_len - start;
		memmove(p->out, p->out + start, p->out_len);
		return 0;
	}
	_cleanup_free_ char *text = malloc(3 * p->out_len + 1);
	size_t kept = 0;
	if (text == NULL)
		return ad_err_set(err, ENOMEM, "the command's output");
	size_t n = utf8_to_text(p->out, p->out_len, final, text, &kept);
	memmove(p->out, p->out + p->out_len - kept, kept);
	p->out_len = kept;
	if (n == 0)
		return 0;
	size_t room = REPLY_MAX - p->reply_len, add = n < room ? n : room;
	memcpy(p->reply + p->reply_len, text, add);
	p->reply_len += add;
	p->reply[p->reply_len] = '\0';
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "text");
	cJSON_AddStringToObject(ev, "text", text);
	return run_event(p->a, ev, err);
}

/* One read of stdout (0) or stderr (1): 1 with bytes, 0 at its end, -1 (err). */
static int pump(struct prog *p, int *fd, bool is_err, struct ad_err *err)
{
	char buf[65536];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return is_err ? 0 : take_out(p, true, err);
	}
	if (is_err) {
		for (ssize_t i = 0; i < n; i++)
			p->tail[p->tail_len++ % STDERR_TAIL] = buf[i];
		return 1;
	}
	if (p->out_len + (size_t)n > LINE_MAX_BYTES)
		return take_out(p, true, err) < 0 ? -1 : 1;     /* a line that long: as it is */
	char *more = realloc(p->out, p->out_len + (size_t)n);
	if (more == NULL)
		return ad_err_set(err, ENOMEM, "the program's output");
	p->out = more;
	memcpy(p->out + p->out_len, buf, (size_t)n);
	p->out_len += (size_t)n;
	return take_out(p, false, err) < 0 ? -1 : 1;
}

/* Stderr's end, in order, as text. */
static void tail_text(const struct prog *p, char *out, size_t size)
{
	char raw[STDERR_TAIL];
	size_t n = p->tail_len < STDERR_TAIL ? p->tail_len : STDERR_TAIL;
	size_t start = p->tail_len < STDERR_TAIL ? 0 : p->tail_len % STDERR_TAIL;
	for (size_t i = 0; i < n; i++)
		raw[i] = p->tail[(start + i) % STDERR_TAIL];
	while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == ' '))
		n--;
	char text[3 * STDERR_TAIL + 1];
	utf8_to_text(raw, n, true, text, NULL);
	snprintf(out, size, "%s", text);
}

static int end_run(struct prog *p, int status, bool cancelled, struct ad_err *err)
{
	struct agent *a = p->a;
	char msg[AD_ERR_MSG_MAX], why[STDERR_TAIL + 1];
	const char *name = p->cc ? "Claude Code" : "the command";
	tail_text(p, why, sizeof(why));
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (!cancelled && p->cc && p->st.result && p->st.is_error) {
		snprintf(msg, sizeof(msg), "Claude Code ended on an error: %s", p->st.why ? p->st.why : "");
		return run_fail(a, "runtime_error", msg, err);
	}
	if (!cancelled && (code != 0 || (p->cc && !p->st.result))) {
		snprintf(msg, sizeof(msg), "%s %s %d%s%s", name, WIFEXITED(status) ? "exited with status" : "was killed by signal",
			 WIFEXITED(status) ? code : WTERMSIG(status), why[0] ? ": " : "", why);
		return run_fail(a, "runtime_error", msg, err);
	}
	const char *reply = p->cc ? (p->st.reply ? p->st.reply : "") : (p->reply ? p->reply : "");
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "type", "message");
	cJSON *msgj = cJSON_AddObjectToObject(m, "message");
	cJSON_AddStringToObject(msgj, "role", "assistant");
	cJSON *content = cJSON_AddArrayToObject(msgj, "content");
	cJSON *block = cJSON_CreateObject();
	cJSON_AddStringToObject(block, "type", "text");
	cJSON_AddStringToObject(block, "text", reply[0] ? reply : "(no reply)");
	cJSON_AddItemToArray(content, block);
	if (run_event(a, m, err) < 0)
		return -1;
	a->running = false;
	cJSON *done = cJSON_CreateObject();
	cJSON_AddStringToObject(done, "type", "done");
	cJSON_AddStringToObject(done, "reply", reply);
	cJSON_AddStringToObject(done, "stop_reason", cancelled ? "interrupted" : p->cc ? p->st.stop : "end_turn");
	return run_event(a, done, err);
}

/* The user's message into the transcript, as the built-in agent's run does. */
static int user_message(struct agent *a, const char *text, struct ad_err *err)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "message");
	cJSON *m = cJSON_AddObjectToObject(ev, "message");
	cJSON_AddStringToObject(m, "role", "user");
	cJSON *block = cJSON_CreateObject();
	cJSON_AddStringToObject(block, "type", "text");
	cJSON_AddStringToObject(block, "text", text);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(m, "content"), block);
	return run_event(a, ev, err);
}

/* The CLI's conversation for this session: a UUID of its own, from the session's id,
 * so that sessions sharing a workspace (a shared sandbox) each go on with their own, and
 * a hybrid session's comes back with it. */
static void conversation_id(const struct agent *a, char out[37])
{
	uint8_t h[SHA256_LEN];
	struct sha256 s;
	const char *id = a->session_id ? a->session_id : "agentd";
	sha256_init(&s);
	sha256_update(&s, id, strlen(id));
	sha256_final(&s, h);
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x40);      /* version 4 */
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);      /* the RFC 4122 variant */
	char *p = out;
	for (int i = 0; i < 16; i++)
		p += sprintf(p, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", h[i]);
}

/* Where the workspace says the conversation was started (the CLI's own files say so
 * only in a layout of its own): the next turn resumes it. */
static void started_path(const struct agent *a, const char *uuid, char *out, size_t n)
{
	snprintf(out, n, "%s/.claude/agentd-conversation-%s", a->workspace, uuid);
}

static void mark_started(const struct agent *a, const char *uuid)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/.claude", a->workspace);
	mkdir(path, 0700);
	started_path(a, uuid, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
}

/* The program's command line: the CLI's, or bash -c the session's command. */
static int program(struct agent *a, const cJSON *turn, const char *uuid, const char *argv[16], struct ad_err *why)
{
	bool cc = uuid != NULL;
	const char *model = json_str(turn, "model"), *system = json_str(turn, "system");
	unsigned n = 0;
	if (!cc) {
		const char *command = json_str(turn, "command");
		if (command == NULL || command[0] == '\0')
			return ad_err_set(why, 0, "the command runtime needs the session's \"command\"");
		argv[n++] = "/bin/bash", argv[n++] = "-c", argv[n++] = command;
	} else {
		char marker[PATH_MAX];
		started_path(a, uuid, marker, sizeof(marker));
		argv[n++] = a->claude_code;
		argv[n++] = "-p";
		argv[n++] = access(marker, F_OK) == 0 ? "--resume" : "--session-id", argv[n++] = uuid;
		argv[n++] = "--output-format", argv[n++] = "stream-json", argv[n++] = "--verbose";
		argv[n++] = "--include-partial-messages";
		argv[n++] = "--dangerously-skip-permissions";
		argv[n++] = "--model", argv[n++] = model ? model : a->model;
		if ((system = system ? system : a->system) != NULL && system[0] != '\0')
			argv[n++] = "--append-system-prompt", argv[n++] = system;
	}
	argv[n] = NULL;
	return 0;
}

/* Until the program has ended and closed its output, or a CANCEL came (*cancelled):
 * 0, or -1 (err). */
static int follow(struct prog *p, pid_t pid, int fds[3], const char *input, bool *cancelled, struct ad_err *err)
{
	size_t in_left = strlen(input);
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool exited = false;
	while (fds[1] >= 0 || fds[2] >= 0 || !exited) {
		struct pollfd f[5] = {
			{ p->a->link.fd, POLLIN, 0 }, { fds[1], POLLIN, 0 }, { fds[2], POLLIN, 0 },
			{ exited ? -1 : pidfd, POLLIN, 0 }, { fds[0], POLLOUT, 0 },
		};
		/* once it has exited, what it left running may hold its output: not for long */
		if (poll(f, 5, exited ? 2000 : pidfd >= 0 ? -1 : 100) == 0 && exited)
			break;
		if (f[0].revents) {
			int rc = run_cancel_came(p->a, 0, err);
			if (rc != 0)
				return rc < 0 ? -1 : (*cancelled = true, 0);
		}
		if (f[4].revents) {
			ssize_t w = write(fds[0], input, in_left);
			if (w > 0)
				input += w, in_left -= (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_left == 0)
				fds[0] = (close(fds[0]), -1);
		}
		for (int i = 1; i <= 2; i++)
			if (f[i].revents && pump(p, &fds[i], i == 2, err) < 0)
				return -1;
		siginfo_t si = { 0 };
		if (!exited && waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
			exited = si.si_pid == pid;
	}
	return 0;
}

int runtime_turn(struct agent *a, const cJSON *turn, struct ad_err *err)
{
	const char *runtime = json_str(turn, "runtime"), *message = json_str(turn, "message");
	a->running = true;
	if (message == NULL)
		return ad_err_set(err, 0, "a turn frame needs \"message\"");
	bool cc = strcmp(runtime, "claude-code") == 0;
	const char *argv[16];
	struct ad_err why;
	if (!cc && strcmp(runtime, "command") != 0) {
		snprintf(why.msg, sizeof(why.msg), "there is no runtime \"%.64s\"", runtime);
		return run_fail(a, "invalid_request_error", why.msg, err);
	}
	if (user_message(a, message, err) < 0)
		return -1;
	char uuid[37];
	conversation_id(a, uuid);
	if (program(a, turn, cc ? uuid : NULL, argv, &why) < 0)
		return run_fail(a, "invalid_request_error", why.msg, err);
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++)
			close(in[i]), close(out[i]), close(errp[i]);
		snprintf(why.msg, sizeof(why.msg), "cannot start %s: pipe: %s", runtime, strerror(e));
		return run_fail(a, "runtime_error", why.msg, err);
	}
	/* what the programs need to run unattended in the sandbox (runtime.h) */
	setenv("IS_SANDBOX", "1", 1);
	setenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", 1);
	setenv("DISABLE_AUTOUPDATER", "1", 1);
	setenv("AGENTD_MESSAGE", message, 1);
	const int child[3] = { in[0], out[1], errp[1] };
	pid_t pid;
	int rc = op_spawn(a->workspace, argv, child, &pid, &why);
	unsetenv("AGENTD_MESSAGE");
	close(in[0]), close(out[1]), close(errp[1]);
	int fds[3] = { in[1], out[0], errp[0] };
	struct prog p = { .a = a, .cc = cc };
	bool cancelled = false;
	if (rc == 0) {
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		p.reply = cc ? NULL : malloc(REPLY_MAX + 1);
		if (!cc && p.reply != NULL)
			p.reply[0] = '\0';
		rc = !cc && p.reply == NULL ? ad_err_set(err, ENOMEM, "the reply") : follow(&p, pid, fds, message, &cancelled, err);
	} else {
		pid = -1;
		rc = run_fail(a, "runtime_error", why.msg, err) < 0 ? -1 : 1;
	}
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	int status = pid > 0 ? (cancelled || rc < 0 ? op_kill(pid) : op_reap(pid)) : 0;
	if (rc == 0 && cc && p.st.result && !p.st.is_error)
		mark_started(a, uuid);
	if (rc == 0)
		rc = end_run(&p, status, cancelled, err);
	else if (rc > 0)
		rc = 0;
	cc_state_free(&p.st);
	free(p.out);
	free(p.reply);
	return rc;
}

/* The agent's I/O with one stdio MCP server: see mcp_stdio_int.h. Each is a child of
 * the agent in a process group of its own, one JSON message a line each way; its stderr
 * is drained into a short tail that says why it failed, when it does. */
#include "mcp_stdio_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"

void mcp_server_stop(struct server *v)
{
	if (v->pid > 0) {
		kill(-v->pid, SIGKILL);
		while (waitpid(v->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (int *fd = &v->to; fd <= &v->err; fd++)
		if (*fd >= 0)
			*fd = (close(*fd), -1);
	v->pid = 0;
	v->len = 0;
}

int mcp_server_spawn(struct server *v, const char *dir)
{
	int in[2], out[2], er[2];
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(v->spec, "args"), *a;
	size_t argc = 1 + (size_t)cJSON_GetArraySize(args), i = 0;
	char **argv = calloc(argc + 1, sizeof(*argv));
	if (argv == NULL || pipe2(in, O_CLOEXEC) < 0)
		return free(argv), -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC | O_NONBLOCK) < 0)
		return close(in[0]), close(in[1]), free(argv), -1;
	argv[i++] = cJSON_GetObjectItemCaseSensitive(v->spec, "command")->valuestring;
	cJSON_ArrayForEach(a, args)
		argv[i++] = a->valuestring;
	pid_t pid = fork();
	if (pid == 0) {
		setsid();                       /* a group of its own, killed whole */
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], 0), dup2(out[1], 1), dup2(er[1], 2);
		cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(v->spec, "env"))
			setenv(a->string, a->valuestring, 1);
		if (chdir(dir) < 0)
			_exit(126);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(argv);
	close(in[0]), close(out[1]), close(er[1]);
	if (pid < 0)
		return close(in[1]), close(out[0]), close(er[0]), -1;
	v->pid = pid;
	v->to = in[1];
	v->from = out[0];
	v->err = er[0];
	return 0;
}

static void mcp_server_drain_stderr(struct server *v)
{
	char chunk[1024];
	ssize_t n;
	while (v->err >= 0 && (n = read(v->err, chunk, sizeof(chunk))) > 0) {
		size_t keep = strlen(v->tail), add = (size_t)n > TAIL_MAX ? TAIL_MAX : (size_t)n;
		if (keep + add > TAIL_MAX) {
			memmove(v->tail, v->tail + keep + add - TAIL_MAX, TAIL_MAX - add);
			keep = TAIL_MAX - add;
		}
		memcpy(v->tail + keep, chunk + n - add, add);
		v->tail[keep + add] = '\0';
	}
}

/* The line of its stderr that says most: the first that speaks of an error, else the
 * last; control characters blanked. */
static const char *telling_line(char *tail)
{
	char *best = NULL, *last = NULL;
	for (char *line = strtok(tail, "\r\n"); line != NULL; line = strtok(NULL, "\r\n")) {
		last = line;
		if (best == NULL && (strstr(line, "rror") != NULL || strstr(line, "cannot") != NULL))
			best = line;
	}
	best = best ? best : last ? last : tail;
	for (char *p = best; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return best;
}

void mcp_server_fail(struct server *v, const char *why)
{
	mcp_server_drain_stderr(v);
	const char *said = telling_line(v->tail);
	snprintf(v->error, sizeof(v->error), "%s%s%.300s", why, said[0] ? "; it said: " : "", said);
	v->failed = true;
	mcp_server_stop(v);
}

int mcp_server_send(struct server *v, const cJSON *msg, uint64_t deadline)
{
	size_t len, off = 0;
	char *text = mcp_encode(msg, &len);
	while (text != NULL && off < len) {
		uint64_t now = clock_mono_ns();
		struct pollfd p = { v->to, POLLOUT, 0 };
		if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			break;
		ssize_t n = write(v->to, text + off, len - off);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			break;
		off += n > 0 ? (size_t)n : 0;
	}
	free(text);
	return off == len ? 0 : -1;
}

/* The next message from the server within deadline: GOT (m filled) or what ended the wait. */
static int next_msg(struct server *v, uint64_t deadline, int cancel_fd, struct mcp_msg *m, struct ad_err *err)
{
	for (;;) {
		char *nl = v->len ? memchr(v->in, '\n', v->len) : NULL;
		if (nl != NULL) {
			size_t line = (size_t)(nl - v->in) + 1;
			int rc = mcp_read(v->c, v->in, line - 1, m, err);
			memmove(v->in, v->in + line, v->len - line);
			v->len -= line;
			if (rc == 0)
				return GOT;
			if (line > 1)          /* blank lines are nothing; anything else breaks it */
				return BROKEN;
			continue;
		}
		if (v->len >= MCP_MESSAGE_MAX)
			return ad_err_set(err, 0, "a message of more than %u bytes", MCP_MESSAGE_MAX), BROKEN;
		uint64_t now = clock_mono_ns();
		struct pollfd p[3] = { { v->from, POLLIN, 0 }, { v->err, POLLIN, 0 }, { cancel_fd, POLLIN, 0 } };
		int n = poll(p, 3, now >= deadline ? 0 : (int)((deadline - now) / 1000000u) + 1);
		if (n < 0 && errno != EINTR)
			return GONE;
		if (n == 0 && clock_mono_ns() >= deadline)
			return TIMED_OUT;
		if (p[2].revents)
			return CANCELLED;
		if (p[1].revents)
			mcp_server_drain_stderr(v);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (v->alloc - v->len < 65536) {
			size_t alloc = v->alloc ? v->alloc * 2 : 65536;
			char *more = realloc(v->in, alloc);
			if (more == NULL)
				return ad_err_set(err, ENOMEM, "read"), BROKEN;
			v->in = more;
			v->alloc = alloc;
		}
		ssize_t got = read(v->from, v->in + v->len, v->alloc - v->len);
		if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
			return GONE;
		v->len += got > 0 ? (size_t)got : 0;
	}
}

int mcp_server_answer(struct server *v, int64_t id, uint64_t deadline, int cancel_fd, struct mcp_msg *m,
		      struct ad_err *err)
{
	for (;;) {
		int rc = next_msg(v, deadline, cancel_fd, m, err);
		if (rc != GOT)
			return rc;
		if ((m->kind == MCP_MSG_RESULT || m->kind == MCP_MSG_ERROR) && (m->id == id || m->id == 0))
			return GOT;
		if (m->kind == MCP_MSG_NOTIFICATION && strcmp(m->method, MCP_TOOLS_LIST_CHANGED) == 0)
			v->changed = true;
		if (m->kind == MCP_MSG_REQUEST) {
			cJSON *a = mcp_answer(m);
			if (a != NULL && mcp_server_send(v, a, deadline) < 0)
				rc = GONE;
			cJSON_Delete(a);
		}
		mcp_msg_free(m);
		if (rc != GOT)
			return rc;
	}
}

const char *mcp_server_ended(int rc, unsigned timeout_s, char *buf, size_t size)
{
	if (rc == TIMED_OUT)
		snprintf(buf, size, "no answer within %u s", timeout_s);
	else
		snprintf(buf, size, "%s", rc == GONE ? "the server exited" : "the server broke the protocol");
	return buf;
}


void mcp_server_poll(struct server *v)
{
	struct mcp_msg m;
	struct ad_err e;
	/* no request has id -1: only what comes unasked is read, until nothing is there */
	int rc = v->failed ? TIMED_OUT : mcp_server_answer(v, -1, clock_mono_ns(), -1, &m, &e);
	if (rc == GOT)
		mcp_msg_free(&m);
	else if (rc == GONE || rc == BROKEN)
		mcp_server_fail(v, rc == GONE ? "the server exited" : e.msg);
}

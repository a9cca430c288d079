/* The OPs: their dispatch and replies, and the tar stream of snapshot and restore. See
 * include/agent/ops.h; exec is in ops_exec.c, the file OPs in ops_files.c, the
 * background processes' in background.c. */
#include "agent/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/background.h"
#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/utf8.h"
#include "ipc/frame.h"
#include "ipc/link.h"
#include "ipc/op_end.h"
#include "ipc/protocol.h"

/* The largest op id: one a double holds exactly. */
#define OP_ID_MAX 9007199254740991.0
/* How much of tar's complaints an error shows. */
#define TAR_ERROR_MAX 400

/* A restore between its first piece and its last. */
struct restore {
	bool open;
	double id;
	pid_t pid;                  /* tar, 0 when it is not running */
	int in;                     /* its stdin, -1 once closed */
	int out;                    /* its stdout and stderr: a memfd, read at the end */
	struct ad_err why;          /* a failed piece: the restore fails at its end */
	bool failed;
};

struct ops {
	int fd;
	const char *workspace;
	long command_timeout_s;
	struct restore r;
	struct bg *bg;
};

struct ops *ops_new(const char *workspace, long command_timeout_s, int fd)
{
	struct ops *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	o->fd = fd;
	o->workspace = workspace;
	o->command_timeout_s = command_timeout_s;
	o->r.in = o->r.out = -1;
	if ((o->bg = bg_new(workspace)) == NULL) {
		free(o);
		return NULL;
	}
	return o;
}

static void restore_close(struct restore *r)
{
	if (r->pid > 0)
		op_kill(r->pid);
	cleanup_closep(&r->in);
	cleanup_closep(&r->out);
	*r = (struct restore){ .in = -1, .out = -1 };
}

void ops_free(struct ops *o)
{
	if (o == NULL)
		return;
	restore_close(&o->r);
	bg_free(o->bg);
	free(o);
}

static cJSON *event(const char *type, const struct op *op)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", type);
	if (op->id >= 0)
		cJSON_AddNumberToObject(ev, "id", op->id);
	return ev;
}

int op_output(const struct op *o, const char *key, const char *value, struct ad_err *err)
{
	cJSON *ev = event("op_output", o);
	cJSON_AddStringToObject(ev, key, value);
	return link_send_take(o->fd, FRAME_RUN_EVENT, ev, err);
}

/* A failed op's op_end, with why's sentence and code (ipc/op_end.h). */
static int send_failed(const struct op *o, const struct ad_err *why, struct ad_err *err)
{
	return link_send_take(o->fd, FRAME_RUN_EVENT, op_end_failed(o->id, why), err);
}

/* The same for a failure that is a sentence only. */
static int send_refused(const struct op *o, const char *message, struct ad_err *err)
{
	struct ad_err why;
	ad_err_set(&why, 0, "%s", message);
	return send_failed(o, &why, err);
}

/* A memfd for what a child says, read back when it is done. */
static int child_output(struct ad_err *why)
{
	int fd = memfd_create("agentd-op", MFD_CLOEXEC);
	return fd >= 0 ? fd : ad_err_sys(why, "memfd_create");
}

/* tar's exit: 0, or -1 with why saying what it said (from out). */
static int tar_status(int status, int out, const char *what, struct ad_err *why)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char said[TAR_ERROR_MAX + 1];
	ssize_t n = pread(out, said, TAR_ERROR_MAX, 0);
	size_t len = n > 0 ? (size_t)n : 0;
	while (len > 0 && strchr("\n\r\t ", said[len - 1]) != NULL)
		len--;
	said[len] = '\0';
	for (char *p = said; (p = strchr(p, '\n')) != NULL;)
		*p = ' ';
	if (WIFSIGNALED(status))
		return ad_err_set(why, 0, "%s: tar was killed by signal %d%s%s", what, WTERMSIG(status),
				  said[0] ? ": " : "", said);
	return ad_err_set(why, 0, "%s: tar failed (exit status %d)%s%s", what, WEXITSTATUS(status),
			  said[0] ? ": " : "", said);
}

/* A piece of the tar stream, as base64. */
static int send_piece(const struct op *o, const char *data, size_t len, struct ad_err *err)
{
	_cleanup_free_ char *text = malloc(base64_encoded_len(len) + 1);
	if (text == NULL)
		return ad_err_set(err, ENOMEM, "snapshot");
	base64_encode(data, len, text);
	return op_output(o, "data_b64", text, err);
}

/* tar's stdout in pieces of PROTO_CHUNK bytes (the last one shorter): the bytes sent,
 * or OP_GONE, or -1 (err). */
static int pass_tar_stream(const struct op *o, int rd, char *chunk, double *bytes, struct ad_err *err)
{
	size_t fill = 0;
	for (;;) {
		struct pollfd f[2] = { { o->fd, 0, 0 }, { rd, POLLIN, 0 } };
		if (poll(f, 2, -1) < 0 && errno != EINTR)
			return ad_err_sys(err, "poll");
		if (f[0].revents & (POLLHUP | POLLERR))
			return OP_GONE;
		ssize_t n = f[1].revents ? read(rd, chunk + fill, PROTO_CHUNK - fill) : -1;
		if (n < 0 && (errno == EINTR || f[1].revents == 0))
			continue;
		if (n <= 0)
			break;        /* the end, or a failed read: tar's exit says the rest */
		fill += (size_t)n;
		*bytes += (double)n;
		if (fill == PROTO_CHUNK && send_piece(o, chunk, fill, err) < 0)
			return -1;
		fill %= PROTO_CHUNK;
	}
	return fill > 0 ? send_piece(o, chunk, fill, err) : 0;
}

static int op_snapshot(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why,
		       struct ad_err *err)
{
	_cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = child_output(why);
	_cleanup_free_ char *chunk = malloc(PROTO_CHUNK);
	int pipefd[2];
	if (out < 0)
		return OP_FAILED;
	if (devnull < 0 || chunk == NULL || pipe2(pipefd, O_CLOEXEC) < 0)
		return ad_err_sys(why, "snapshot");
	_cleanup_close_ int rd = pipefd[0];
	_cleanup_close_ int wr = pipefd[1];
	const char *argv[] = { "tar", "-C", o->workspace, "-cf", "-", ".", NULL };
	const int fds[3] = { devnull, wr, out };
	pid_t pid;
	if (op_spawn(o->workspace, argv, fds, &pid, why) < 0)
		return OP_FAILED;
	close(steal_fd(&wr));
	double bytes = 0;
	int rc = pass_tar_stream(o, rd, chunk, &bytes, err);
	close(steal_fd(&rd));       /* a tar still writing stops */
	if (rc != 0) {
		op_kill(pid);
		return rc < 0 ? OP_BROKEN : OP_GONE;
	}
	if (tar_status(op_reap(pid), out, "snapshot", why) < 0)
		return OP_FAILED;
	cJSON_AddNumberToObject(end, "bytes", bytes);
	return OP_DONE;
}

/* The first piece of a restore: tar started, reading the pieces from a pipe. */
static int restore_start(struct ops *s, struct ad_err *why)
{
	struct restore *r = &s->r;
	int pipefd[2];
	if ((r->out = child_output(why)) < 0)
		return -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return ad_err_sys(why, "restore: pipe");
	_cleanup_close_ int rd = pipefd[0];
	r->in = pipefd[1];
	/* the modes as archived, the owner the agent */
	const char *argv[] = { "tar", "-C", s->workspace, "--no-same-owner", "-xpf", "-", NULL };
	const int fds[3] = { rd, r->out, r->out };
	return op_spawn(s->workspace, argv, fds, &r->pid, why);
}

/* One piece to tar's stdin. A tar that stopped reading closes the pipe: its exit
 * status says whether that is an error. */
static int restore_feed(struct restore *r, const char *text, struct ad_err *why)
{
	size_t tlen = strlen(text), len = 0;
	_cleanup_free_ char *data = malloc(base64_decoded_max(tlen) + 1);
	if (data == NULL)
		return ad_err_set(why, ENOMEM, "restore");
	if (base64_decode(text, tlen, data, &len, why) < 0)
		return ad_err_prefix(why, "restore: data_b64");
	if (r->in >= 0 && fs_write_all(r->in, data, len) < 0)
		close(steal_fd(&r->in));
	return 0;
}

static int send_ok(const struct op *o, struct ad_err *err)
{
	return link_send_take(o->fd, FRAME_RUN_EVENT, op_end_ok(o->id), err);
}

static int restore_piece(struct ops *s, const struct op *op, const cJSON *req, struct ad_err *err)
{
	struct restore *r = &s->r;
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(req, "last");
	if (!cJSON_IsBool(last)) {
		/* which piece ends it is unknown: this one does */
		restore_close(r);
		return send_refused(op, "restore needs \"last\": true or false", err);
	}
	if (!r->open) {
		r->open = true;
		r->id = op->id;
		r->failed = restore_start(s, &r->why) < 0;
	}
	if (!r->failed) {
		const char *data = json_op_string(req, "data_b64", &r->why);
		r->failed = data == NULL || restore_feed(r, data, &r->why) < 0;
	}
	if (r->failed && r->pid > 0) {
		op_kill(r->pid);
		r->pid = 0;
	}
	if (cJSON_IsFalse(last))
		return 0;
	cleanup_closep(&r->in);
	r->in = -1;
	if (r->pid > 0) {
		r->failed = tar_status(op_reap(r->pid), r->out, "restore", &r->why) < 0;
		r->pid = 0;
	}
	struct ad_err why = r->why;
	bool failed = r->failed;
	restore_close(r);
	return failed ? send_failed(op, &why, err) : send_ok(op, err);
}

/* An open restore ends, failed. */
static int restore_abort(struct ops *s, const char *why, struct ad_err *err)
{
	struct op op = { .fd = s->fd, .workspace = s->workspace, .id = s->r.id };
	restore_close(&s->r);
	return send_refused(&op, why, err);
}

int ops_interrupt(struct ops *s, struct ad_err *err)
{
	return s->r.open ? restore_abort(s, "restore: a turn came before its last piece", err) : 0;
}

static const struct {
	const char *name;
	op_fn *run;
} op_table[] = {
	{ "exec", op_exec }, { "read", op_file }, { "write", op_file }, { "delete", op_file },
	{ "list", op_file }, { "snapshot", op_snapshot }, { "procs", op_bg_procs }, { "kill", op_bg_kill },
};

int ops_handle(struct ops *s, const cJSON *req, struct ad_err *err)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(req, "op");
	struct op op = { .fd = s->fd, .workspace = s->workspace,
			 .command_timeout_s = s->command_timeout_s, .id = -1, .bg = s->bg };
	if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble <= OP_ID_MAX &&
	    id->valuedouble == (double)(long long)id->valuedouble)
		op.id = id->valuedouble;
	bool restore = cJSON_IsString(kind) && strcmp(kind->valuestring, "restore") == 0;
	if (s->r.open && !(restore && op.id == s->r.id) &&
	    restore_abort(s, "restore: another op came before its last piece", err) < 0)
		return -1;
	if (op.id < 0)
		return send_refused(&op, "an op needs \"id\": a whole number from 0 to 2^53", err);
	if (!cJSON_IsString(kind))
		return send_refused(&op, "an op needs \"op\": a string", err);
	if (restore)
		return restore_piece(s, &op, req, err);
	size_t i = 0;
	while (i < ARRAY_SIZE(op_table) && strcmp(op_table[i].name, kind->valuestring) != 0)
		i++;
	struct ad_err why;
	if (i == ARRAY_SIZE(op_table)) {
		ad_err_set(&why, 0, "unknown op \"%s\" (there are exec, read, write, delete, list, snapshot, "
			   "restore, procs, kill)", kind->valuestring);
		return send_failed(&op, &why, err);
	}
	cJSON *end = op_end_ok(op.id);
	int rc = op_table[i].run(&op, req, end, &why, err);
	/* a reply past the frame's cap (a huge listing) fails the op, not the session: the
	 * frame is refused before a byte of it is sent */
	if (rc == OP_DONE && link_send_take(s->fd, FRAME_RUN_EVENT, end, err) < 0) {
		if (err->errnum != EMSGSIZE && err->errnum != ENOMEM)
			return -1;
		ad_err_set(&why, 0, "the %s reply is larger than agentd's frames can carry%s", kind->valuestring,
			   err->errnum == ENOMEM ? " (out of memory)" : "");
		return send_failed(&op, &why, err);
	}
	if (rc == OP_DONE)
		return 0;
	cJSON_Delete(end);
	if (rc == OP_FAILED)
		return send_failed(&op, &why, err);
	return rc == OP_GONE ? 0 : -1;
}

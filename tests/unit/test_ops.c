/* Unit tests for the OPs (include/agent/ops.h) through the agent's socket: the test plays
 * the supervisor (tests/unit/agent_harness.h), sends OP frames between turns and checks
 * the op_output and op_end events that answer them, and the workspace on disk. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "agent_harness.h"
#include "core/base64.h"
#include "core/utf8.h"
#include "ipc/protocol.h"
#include "wait_until.h"

/* What came back for one op. */
struct reply {
	cJSON *end;             /* the op_end */
	char *out;              /* the op_output "data" pieces, joined */
	size_t out_len;
	cJSON *pieces;          /* the op_output events, in order */
};

static cJSON *new_op(int id, const char *kind)
{
	cJSON *op = cJSON_CreateObject();
	cJSON_AddNumberToObject(op, "id", id);
	cJSON_AddStringToObject(op, "op", kind);
	return op;
}

static void send_op(cJSON *op)
{
	struct ad_err e;
	if (link_send_take(S.fd, FRAME_OP, op, &e) < 0)
		fail_msg("send: %s", e.msg);
}

/* A command can wait for the test: "wait_gate" (exec_gated) blocks until the test has
 * had the output before it (the gate, a fifo in the workspace, is opened once per piece
 * that comes, gate_left times). So pieces come apart because the command waits for the
 * test, not because it sleeps between them. */
static int gate_left;

static void open_gate(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/gate", S.dir);
	for (long end = wait_until_now_ms() + WAIT_UNTIL_MS;; usleep(5000)) {
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);   /* ENXIO: no reader yet */
		if (fd >= 0) {
			assert_int_equal(write(fd, "\n", 1), 1);
			close(fd);
			return;
		}
		if (wait_until_now_ms() > end)
			fail_msg("nothing read the gate %s in %d ms", path, WAIT_UNTIL_MS);
	}
}

/* The events that answer op id, up to its op_end. */
static struct reply wait_op(int id)
{
	struct reply r = { .pieces = cJSON_CreateArray() };
	for (;;) {
		unsigned type;
		cJSON *ev = next(&type);
		assert_int_equal(type, FRAME_RUN_EVENT);
		const char *t = jstr(ev, "type");
		assert_non_null(t);
		if (id >= 0)
			assert_int_equal(jget(ev, "id")->valueint, id);
		if (strcmp(t, "op_end") == 0) {
			r.end = ev;
			return r;
		}
		assert_string_equal(t, "op_output");
		const char *data = jstr(ev, "data");
		if (data != NULL) {
			size_t n = strlen(data);
			r.out = realloc(r.out, r.out_len + n + 1);
			memcpy(r.out + r.out_len, data, n + 1);
			r.out_len += n;
		}
		cJSON_AddItemToArray(r.pieces, ev);
		if (gate_left > 0) {
			gate_left--;
			open_gate();
		}
	}
}

static void reply_free(struct reply *r)
{
	cJSON_Delete(r->end);
	cJSON_Delete(r->pieces);
	free(r->out);
}

static struct reply do_op(cJSON *op)
{
	int id = jget(op, "id")->valueint;
	send_op(op);
	return wait_op(id);
}

static int next_id = 1;

static struct reply exec(const char *command, int timeout_s)
{
	cJSON *op = new_op(next_id++, "exec");
	cJSON_AddStringToObject(op, "command", command);
	cJSON_AddNumberToObject(op, "timeout_s", timeout_s);
	return do_op(op);
}

/* An op with a "path" (and for write, data and a mode, -1: none). */
static struct reply path_op(const char *kind, const char *path)
{
	cJSON *op = new_op(next_id++, kind);
	cJSON_AddStringToObject(op, "path", path);
	return do_op(op);
}

static struct reply write_op(const char *path, const void *data, size_t len, int mode)
{
	cJSON *op = new_op(next_id++, "write");
	char *text = malloc(base64_encoded_len(len) + 1);
	base64_encode(data, len, text);
	cJSON_AddStringToObject(op, "path", path);
	cJSON_AddStringToObject(op, "data_b64", text);
	if (mode >= 0)
		cJSON_AddNumberToObject(op, "mode", mode);
	free(text);
	return do_op(op);
}

static bool ok(const struct reply *r)
{
	return cJSON_IsTrue(jget(r->end, "ok"));
}

/* The op failed, and its error says want. */
static void check_failed(struct reply r, const char *want)
{
	const char *error = jstr(r.end, "error");
	if (ok(&r) || error == NULL || strstr(error, want) == NULL)
		fail_msg("wanted a failure saying \"%s\", got %s", want, cJSON_PrintUnformatted(r.end));
	reply_free(&r);
}

/* The same, and its code is code (the errno's name), or it has none (NULL). */
static void check_failed_code(struct reply r, const char *want, const char *code)
{
	const char *got = jstr(r.end, "code");
	if ((code == NULL) != (got == NULL) || (code != NULL && strcmp(code, got) != 0))
		fail_msg("wanted code %s, got %s", code ? code : "none", cJSON_PrintUnformatted(r.end));
	check_failed(r, want);
}

static void check_ok(struct reply r)
{
	if (!ok(&r))
		fail_msg("the op failed: %s", jstr(r.end, "error"));
	reply_free(&r);
}

static char *in_ws(const char *rel)
{
	static char path[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", S.dir, rel);
	return path[i];
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

/* The whole of a file (the caller's), NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *data = NULL;
	size_t n = 0;
	for (;;) {
		data = realloc(data, n + 65536);
		size_t got = fread(data + n, 1, 65536, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*len = n;
	return data;
}

/* "sleep N.<this process>": a command line no other test run has, for pgrep. */
static const char *sleeper(int seconds)
{
	static char text[4][32];
	static int i;
	i = (i + 1) % 4;
	snprintf(text[i], sizeof(text[i]), "sleep %d.%d", seconds, (int)getpid() % 1000000);
	return text[i];
}


/* exec(command) where the command waits at "wait_gate" (see open_gate) gates times. A
 * read that meets the end of the test's previous write (its writer closing after the
 * next read opened) waits on: each wait takes one line. */
static struct reply exec_gated(const char *command, int gates, int timeout_s)
{
	char full[1024];
	snprintf(full, sizeof(full), "wait_gate() { until read x < gate; do :; done; }; %s", command);
	sh("mkfifo '%s/gate'", S.dir);
	gate_left = gates;
	struct reply r = exec(full, timeout_s);
	assert_int_equal(gate_left, 0);
	sh("rm '%s/gate'", S.dir);
	return r;
}

static double num(const struct reply *r, const char *key)
{
	const cJSON *v = jget(r->end, key);
	if (!cJSON_IsNumber(v))
		fail_msg("op_end has no number \"%s\": %s", key, cJSON_PrintUnformatted(r->end));
	return v->valuedouble;
}

/* -- exec */

static void exec_streams_output_as_it_comes(void **state)
{
	(void)state;
	start(10);
	long t0 = wait_until_now_ms();
	struct reply r = exec_gated("sleep 0.3; for i in 1 2 3; do echo line$i; [ $i = 3 ] || wait_gate; done; "
				    "echo err >&2", 2, 10);
	long took = wait_until_now_ms() - t0;
	assert_true(ok(&r));
	assert_string_equal(r.out, "line1\nline2\nline3\nerr\n");
	assert_true(cJSON_GetArraySize(r.pieces) >= 3);   /* not all at the end */
	assert_string_equal(jstr(cJSON_GetArrayItem(r.pieces, 0), "data"), "line1\n");
	assert_string_equal(jstr(cJSON_GetArrayItem(r.pieces, 1), "data"), "line2\n");
	assert_int_equal(num(&r, "exit_status"), 0);
	assert_null(jget(r.end, "signal"));
	assert_true(cJSON_IsFalse(jget(r.end, "timed_out")));
	assert_int_equal(num(&r, "output_bytes"), 22);
	/* the command's own time: its sleep at least, the test's wait at most */
	assert_true(num(&r, "duration_ms") >= 300 && num(&r, "duration_ms") <= took);
	reply_free(&r);
	/* in the workspace, stdin empty, nothing left for a piece when there is no output */
	r = exec("pwd; cat; true", 10);
	char want[128];
	snprintf(want, sizeof(want), "%s\n", S.dir);
	assert_string_equal(r.out, want);
	assert_true(cJSON_IsFalse(jget(r.end, "timed_out")));
	reply_free(&r);
	r = exec("true", 10);
	assert_int_equal(cJSON_GetArraySize(r.pieces), 0);
	assert_int_equal(num(&r, "output_bytes"), 0);
	reply_free(&r);
	finish(0);
}

static void exec_reports_exit_status_and_signal(void **state)
{
	(void)state;
	start(10);
	struct reply r = exec("echo bye; exit 3", 10);
	assert_true(ok(&r));
	assert_int_equal(num(&r, "exit_status"), 3);
	assert_null(jget(r.end, "signal"));
	reply_free(&r);
	r = exec("kill -TERM $$", 10);
	assert_true(ok(&r));
	assert_int_equal(num(&r, "signal"), SIGTERM);
	assert_int_equal(num(&r, "exit_status"), 128 + SIGTERM);
	assert_true(cJSON_IsFalse(jget(r.end, "timed_out")));
	reply_free(&r);
	finish(0);
}

static void exec_timeout_kills_the_whole_group(void **state)
{
	(void)state;
	start(10);
	char cmd[128];
	/* the sleeps would run 300 s: killed at the 1 s timeout, the op ends long before
	 * (and before WAIT_MS, or the harness fails it) */
	snprintf(cmd, sizeof(cmd), "echo before; %s & %s", sleeper(300), sleeper(300));
	struct reply r = exec(cmd, 1);
	assert_true(ok(&r));
	assert_true(cJSON_IsTrue(jget(r.end, "timed_out")));
	assert_int_equal(num(&r, "signal"), SIGKILL);
	assert_string_equal(r.out, "before\n");
	assert_true(num(&r, "duration_ms") >= 1000 && num(&r, "duration_ms") < WAIT_MS);
	reply_free(&r);
	assert_true(wait_process(sleeper(300), false));
	/* a background job that lets go of the output does not hold the op */
	snprintf(cmd, sizeof(cmd), "(%s >/dev/null 2>&1 &); echo started", sleeper(102));
	r = exec(cmd, 10);
	assert_true(cJSON_IsFalse(jget(r.end, "timed_out")));
	assert_string_equal(r.out, "started\n");
	reply_free(&r);
	assert_true(wait_process(sleeper(102), true));
	snprintf(cmd, sizeof(cmd), "pkill -f '^%s$'", sleeper(102));
	assert_int_equal(system(cmd), 0);
	finish(0);
}

static void exec_is_held_to_the_sessions_command_timeout(void **state)
{
	(void)state;
	S.command_timeout_s = 1;
	start(10);
	S.command_timeout_s = 0;
	/* asked for more than the session allows: the session's limit */
	struct reply r = exec(sleeper(300), 60);
	assert_true(ok(&r));
	assert_true(cJSON_IsTrue(jget(r.end, "timed_out")));
	assert_true(num(&r, "duration_ms") >= 1000 && num(&r, "duration_ms") < WAIT_MS);
	reply_free(&r);
	assert_true(wait_process(sleeper(300), false));
	finish(0);
}

static void exec_output_is_utf8_even_when_split(void **state)
{
	(void)state;
	start(10);
	/* é cut in two (the command waits for the test to have the first piece), a bad
	 * byte, a NUL, and a sequence cut by the end */
	struct reply r = exec_gated("printf 'a\\xc3'; wait_gate; printf '\\xa9b\\xff\\x00c'; wait_gate; "
				    "printf '\\xe2\\x82'", 2, 10);
	assert_true(ok(&r));
	assert_int_equal(cJSON_GetArraySize(r.pieces), 3);
	assert_string_equal(jstr(cJSON_GetArrayItem(r.pieces, 0), "data"), "a");
	assert_string_equal(jstr(cJSON_GetArrayItem(r.pieces, 1), "data"), "\xc3\xa9" "b\xef\xbf\xbd\xef\xbf\xbd" "c");
	assert_string_equal(jstr(cJSON_GetArrayItem(r.pieces, 2), "data"), "\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(num(&r, "output_bytes"), 9);
	reply_free(&r);
	/* a 4-byte character cut after each of its bytes (the pauses give the agent the
	 * chance to read the bytes apart; the check holds however they come) */
	r = exec("for b in '\\xf0' '\\x9f' '\\x98' '\\x80!'; do printf \"$b\"; sleep 0.2; done", 10);
	assert_string_equal(r.out, "\xf0\x9f\x98\x80!");
	reply_free(&r);
	finish(0);
}

static void exec_a_megabyte_arrives_whole(void **state)
{
	(void)state;
	start(10);
	struct reply r = exec("seq 1 160000", 30);
	assert_true(ok(&r));
	size_t len = 0;
	for (int i = 1; i <= 160000; i++)
		len += (size_t)snprintf(NULL, 0, "%d\n", i);
	char *want = malloc(len + 1), *p = want;
	for (int i = 1; i <= 160000; i++)
		p += sprintf(p, "%d\n", i);
	assert_true(len > 1000000);
	assert_int_equal(r.out_len, len);
	assert_memory_equal(r.out, want, len);
	assert_int_equal(num(&r, "output_bytes"), len);
	assert_true(cJSON_GetArraySize(r.pieces) >= (int)(len / PROTO_CHUNK));
	free(want);
	reply_free(&r);
	finish(0);
}

static void hanging_up_during_exec_stops_it(void **state)
{
	(void)state;
	start(10);
	cJSON *op = new_op(1, "exec");
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "echo go; %s", sleeper(600));
	cJSON_AddStringToObject(op, "command", cmd);
	cJSON_AddNumberToObject(op, "timeout_s", 60);
	send_op(op);
	unsigned type;
	cJSON *ev = next(&type);
	assert_string_equal(jstr(ev, "data"), "go\n");
	cJSON_Delete(ev);
	long t0 = wait_until_now_ms();
	finish(0);
	assert_in_range(wait_until_now_ms() - t0, 0, WAIT_MS);   /* not at the end of its 600 s */
	assert_true(wait_process(sleeper(600), false));
}

/* -- files */

static void write_then_read_round_trips_bytes(void **state)
{
	(void)state;
	start(10);
	unsigned char bytes[1000];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 13 + 7);
	struct reply r = write_op("deep/er/bin.dat", bytes, sizeof(bytes), 0600);
	assert_true(ok(&r));
	assert_int_equal(num(&r, "size"), sizeof(bytes));
	reply_free(&r);
	struct stat st;
	assert_int_equal(stat(in_ws("deep/er/bin.dat"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(in_ws("deep/er"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* by its full path too */
	r = path_op("read", in_ws("deep/er/bin.dat"));
	assert_true(ok(&r));
	assert_int_equal(num(&r, "size"), sizeof(bytes));
	unsigned char back[sizeof(bytes)];
	size_t n;
	struct ad_err e;
	const char *text = jstr(r.end, "data_b64");
	assert_int_equal(base64_decode(text, strlen(text), back, &n, &e), 0);
	assert_int_equal(n, sizeof(bytes));
	assert_memory_equal(back, bytes, n);
	reply_free(&r);
	/* written over whole, the default mode, an octal string; no temporary file left */
	check_ok(write_op("deep/er/bin.dat", "new", 3, -1));
	size_t len;
	char *data = slurp(in_ws("deep/er/bin.dat"), &len);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "new", 3);
	free(data);
	assert_int_equal(stat(in_ws("deep/er/bin.dat"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	send_op(cJSON_Parse("{\"id\":900,\"op\":\"write\",\"path\":\"run.sh\",\"data_b64\":\"\",\"mode\":\"0755\"}"));
	r = wait_op(900);
	assert_true(ok(&r));
	assert_int_equal(num(&r, "size"), 0);
	reply_free(&r);
	assert_int_equal(stat(in_ws("run.sh"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	r = path_op("list", "deep/er");
	assert_int_equal(cJSON_GetArraySize(jget(r.end, "entries")), 1);
	reply_free(&r);
	/* not a directory, not a file */
	check_failed(write_op("deep", "x", 1, -1), "\"deep\"");
	check_failed_code(path_op("read", "deep"), "\"deep\" is not a regular file", NULL);
	check_failed_code(path_op("read", "nothing/here"), "\"nothing/here\": No such file or directory", "ENOENT");
	finish(0);
}

static void list_says_names_types_and_sizes_in_order(void **state)
{
	(void)state;
	start(10);
	sh("cd %s && mkdir -p sub/inner && printf 12345 > b.txt && printf 1 > a.txt && ln -s b.txt c.link && "
	   "ln -s /etc d.link && mkfifo e.fifo && printf xy > sub/inner/f", S.dir);
	struct reply r = path_op("list", ".");
	assert_true(ok(&r));
	static const struct {
		const char *name, *type;
		int size;
	} want[] = {
		{ "a.txt", "file", 1 }, { "b.txt", "file", 5 }, { "c.link", "link", 5 },
		{ "d.link", "link", 4 }, { "e.fifo", "other", 0 }, { "sub", "dir", -1 },
	};
	const cJSON *entries = jget(r.end, "entries");
	assert_int_equal(cJSON_GetArraySize(entries), N(want));
	for (size_t i = 0; i < N(want); i++) {
		const cJSON *e = cJSON_GetArrayItem(entries, (int)i);
		assert_string_equal(jstr(e, "name"), want[i].name);
		assert_string_equal(jstr(e, "type"), want[i].type);
		assert_true(cJSON_IsNumber(jget(e, "size")));
		if (want[i].size >= 0)
			assert_int_equal(jget(e, "size")->valueint, want[i].size);
	}
	reply_free(&r);
	/* the workspace by its full path; an empty directory; a file */
	r = path_op("list", S.dir);
	assert_int_equal(cJSON_GetArraySize(jget(r.end, "entries")), N(want));
	reply_free(&r);
	r = path_op("list", in_ws("sub/inner/"));
	assert_int_equal(cJSON_GetArraySize(jget(r.end, "entries")), 1);
	reply_free(&r);
	check_failed(path_op("list", "a.txt"), "\"a.txt\": Not a directory");
	finish(0);
}

static void a_listing_past_the_frame_cap_fails_the_op_only(void **state)
{
	(void)state;
	start(10);
	/* 34000 names of 240 bytes: more than a frame carries */
	sh("mkdir %s/big && cd %s/big && seq -f '%%0240g' 1 34000 | xargs touch", S.dir, S.dir);
	check_failed(path_op("list", "big"), "the list reply is larger than agentd's frames can carry");
	struct reply r = exec("echo still here", 5);
	assert_string_equal(r.out, "still here\n");
	reply_free(&r);
	finish(0);
}

static void delete_removes_a_tree_without_following_links(void **state)
{
	(void)state;
	start(10);
	char outside[64] = "/tmp/agentd-outside-XXXXXX";
	assert_non_null(mkdtemp(outside));
	sh("touch %s/keep && cd %s && mkdir -p tree/a/b/c tree/d && touch tree/a/b/c/f tree/d/g tree/h && "
	   "ln -s %s tree/a/out && ln -s %s dirlink && touch file", outside, S.dir, outside, outside);
	check_ok(path_op("delete", "tree"));
	assert_int_not_equal(access(in_ws("tree"), F_OK), 0);
	char keep[128];
	snprintf(keep, sizeof(keep), "%s/keep", outside);
	assert_int_equal(access(keep, F_OK), 0);
	/* a link to a directory: the link goes */
	check_ok(path_op("delete", "dirlink/"));
	assert_int_not_equal(access(in_ws("dirlink"), F_OK), 0);
	assert_int_equal(access(keep, F_OK), 0);
	check_ok(path_op("delete", in_ws("file")));
	check_failed_code(path_op("delete", "file"), "\"file\": No such file or directory", "ENOENT");
	check_failed(path_op("delete", "."), "does not end in a name");
	check_failed(path_op("delete", S.dir), "does not end in a name");
	assert_int_equal(access(S.dir, F_OK), 0);
	sh("rm -rf %s", outside);
	finish(0);
}

static void paths_that_leave_the_workspace_are_refused(void **state)
{
	(void)state;
	start(10);
	sh("cd %s && ln -s /etc etc && ln -s ../.. up && mkdir d", S.dir);
	char dotdot[128];
	snprintf(dotdot, sizeof(dotdot), "%s/../etc", S.dir);
	const char *bad[] = { "../x", "/etc/passwd", "/workspace/../etc", dotdot, "etc/passwd", "up/etc/passwd",
			      "d/../../x" };
	static const char *const kinds[] = { "read", "list", "delete", "write" };
	for (size_t i = 0; i < N(bad); i++) {
		for (size_t k = 0; k < N(kinds); k++) {
			struct reply r = strcmp(kinds[k], "write") == 0 ? write_op(bad[i], "x", 1, -1)
								       : path_op(kinds[k], bad[i]);
			char want[160];
			snprintf(want, sizeof(want), "\"%s\"", bad[i]);
			const char *error = jstr(r.end, "error");
			if (ok(&r) || error == NULL || strstr(error, want) == NULL ||
			    (strstr(error, "out of the workspace") == NULL && strstr(error, "outside the workspace") == NULL &&
			     strstr(error, "does not end in a name") == NULL))
				fail_msg("%s %s: %s", kinds[k], bad[i], cJSON_PrintUnformatted(r.end));
			reply_free(&r);
		}
	}
	assert_int_not_equal(access("/etc/x", F_OK), 0);
	/* the links themselves are in the workspace: listed and deleted, not followed */
	struct reply r = path_op("list", ".");
	assert_int_equal(cJSON_GetArraySize(jget(r.end, "entries")), 3);
	reply_free(&r);
	check_ok(path_op("delete", "etc"));
	assert_int_equal(access("/etc/passwd", F_OK), 0);
	finish(0);
}

static void files_past_the_cap_are_refused(void **state)
{
	(void)state;
	start(10);
	char *big = calloc(1, PROTO_FILE_MAX + 1);
	struct reply r = write_op("big", big, PROTO_FILE_MAX, -1);
	assert_true(ok(&r));
	assert_int_equal(num(&r, "size"), PROTO_FILE_MAX);
	reply_free(&r);
	r = path_op("read", "big");
	assert_true(ok(&r));
	assert_int_equal(num(&r, "size"), PROTO_FILE_MAX);
	reply_free(&r);
	check_failed(write_op("bigger", big, PROTO_FILE_MAX + 1, -1), "more than the 4194304 bytes");
	assert_int_not_equal(access(in_ws("bigger"), F_OK), 0);
	assert_int_equal(truncate(in_ws("big"), PROTO_FILE_MAX + 1), 0);
	check_failed(path_op("read", "big"), "\"big\" is 4194305 bytes, more than the 4194304");
	free(big);
	finish(0);
}

/* -- snapshot and restore */

/* The frames of a run up to its model request. */
static void until_model_request(void)
{
	unsigned type;
	cJSON *p = next(&type);
	while (type != FRAME_API_REQUEST) {
		assert_int_equal(type, FRAME_RUN_EVENT);
		cJSON_Delete(p);
		p = next(&type);
	}
	cJSON_Delete(S.request);
	S.request = cJSON_DetachItemFromObject(p, "request");
	cJSON_Delete(p);
}

/* The model's reply is text: the run is done with it. */
static void model_says(const char *text)
{
	ANSWER("end_turn", TEXT(text));
	const cJSON *done = until_end();
	assert_string_equal(jstr(done, "type"), "done");
	assert_string_equal(jstr(done, "reply"), text);
}


static void snapshot_then_restore_gives_the_same_files(void **state)
{
	(void)state;
	start(10);
	unsigned char *blob = malloc(200000);
	for (size_t i = 0; i < 200000; i++)
		blob[i] = (unsigned char)(i * 2654435761u >> 13);
	check_ok(write_op("nested/deeper/blob.bin", blob, 200000, 0640));
	check_ok(write_op("a.txt", "alpha\n", 6, 0644));
	check_ok(write_op("bin/run.sh", "#!/bin/sh\necho hi\n", 18, 0755));
	check_ok(write_op("secret", "s", 1, 0600));
	check_ok(exec("ln -s a.txt link && chmod 0750 nested", 10));
	struct reply snap = do_op(new_op(77, "snapshot"));
	assert_true(ok(&snap));
	/* pieces of PROTO_CHUNK bytes, the last one shorter */
	double total = 0;
	int n = cJSON_GetArraySize(snap.pieces);
	assert_true(n >= 4);
	for (int i = 0; i < n; i++) {
		const char *text = jstr(cJSON_GetArrayItem(snap.pieces, i), "data_b64");
		assert_non_null(text);
		size_t len = strlen(text) / 4 * 3 - (text[strlen(text) - 1] == '=') - (text[strlen(text) - 2] == '=');
		if (i < n - 1)
			assert_int_equal(len, PROTO_CHUNK);
		total += (double)len;
	}
	assert_true(total == num(&snap, "bytes"));
	finish(0);
	/* a fresh agent, another empty workspace */
	start(10);
	for (int i = 0; i < n; i++) {
		cJSON *op = new_op(5, "restore");
		cJSON_AddStringToObject(op, "data_b64", jstr(cJSON_GetArrayItem(snap.pieces, i), "data_b64"));
		cJSON_AddBoolToObject(op, "last", i == n - 1);
		send_op(op);
	}
	struct reply r = wait_op(5);
	assert_int_equal(cJSON_GetArraySize(r.pieces), 0);
	if (!ok(&r))
		fail_msg("restore: %s", jstr(r.end, "error"));
	reply_free(&r);
	reply_free(&snap);
	static const struct {
		const char *name, *data;
		size_t len;
		mode_t mode;
	} files[] = {
		{ "a.txt", "alpha\n", 6, 0644 }, { "bin/run.sh", "#!/bin/sh\necho hi\n", 18, 0755 },
		{ "secret", "s", 1, 0600 }, { "nested/deeper/blob.bin", NULL, 200000, 0640 },
	};
	for (size_t i = 0; i < N(files); i++) {
		size_t len;
		char *data = slurp(in_ws(files[i].name), &len);
		struct stat st;
		assert_non_null(data);
		assert_int_equal(len, files[i].len);
		assert_memory_equal(data, files[i].data ? files[i].data : (const char *)blob, len);
		assert_int_equal(lstat(in_ws(files[i].name), &st), 0);
		assert_int_equal(st.st_mode & 07777, files[i].mode);
		free(data);
	}
	struct stat st;
	assert_int_equal(lstat(in_ws("nested"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	char target[64] = "";
	assert_int_equal(readlink(in_ws("link"), target, sizeof(target) - 1), 5);
	assert_string_equal(target, "a.txt");
	free(blob);
	finish(0);
}

static void a_restore_that_fails_says_why(void **state)
{
	(void)state;
	start(10);
	/* not a tar stream */
	send_op(cJSON_Parse("{\"id\":1,\"op\":\"restore\",\"data_b64\":\"bm90IGEgdGFyIGF0IGFsbA==\",\"last\":true}"));
	check_failed(wait_op(1), "restore: tar failed");
	/* a bad piece in the middle: the error at the last */
	send_op(cJSON_Parse("{\"id\":2,\"op\":\"restore\",\"data_b64\":\"\",\"last\":false}"));
	send_op(cJSON_Parse("{\"id\":2,\"op\":\"restore\",\"data_b64\":\"%%%%\",\"last\":false}"));
	send_op(cJSON_Parse("{\"id\":2,\"op\":\"restore\",\"data_b64\":\"\",\"last\":true}"));
	check_failed(wait_op(2), "restore: data_b64: base64: not a base64 character at offset 0");
	/* another op before the last piece ends the restore, then is done */
	send_op(cJSON_Parse("{\"id\":3,\"op\":\"restore\",\"data_b64\":\"\",\"last\":false}"));
	send_op(cJSON_Parse("{\"id\":4,\"op\":\"exec\",\"command\":\"echo hi\",\"timeout_s\":5}"));
	check_failed(wait_op(3), "restore: another op came before its last piece");
	struct reply r = wait_op(4);
	assert_string_equal(r.out, "hi\n");
	reply_free(&r);
	/* and a TURN */
	send_op(cJSON_Parse("{\"id\":5,\"op\":\"restore\",\"data_b64\":\"\",\"last\":false}"));
	turn("{\"message\":\"hello\"}");
	check_failed(wait_op(5), "restore: a turn came before its last piece");
	until_model_request();
	model_says("Hi.");
	finish(0);
}

/* -- what goes wrong */

static void bad_ops_fail_and_the_session_goes_on(void **state)
{
	(void)state;
	start(10);
	static const struct {
		const char *op, *error;
	} bad[] = {
		{ "{\"id\":1,\"op\":\"dance\"}", "unknown op \"dance\"" },
		{ "{\"id\":1}", "an op needs \"op\": a string" },
		{ "{\"id\":1,\"op\":7}", "an op needs \"op\": a string" },
		{ "{\"id\":1,\"op\":\"exec\",\"timeout_s\":5}", "exec needs \"command\": a string" },
		{ "{\"id\":1,\"op\":\"exec\",\"command\":\"true\"}", "exec needs \"timeout_s\"" },
		{ "{\"id\":1,\"op\":\"exec\",\"command\":\"true\",\"timeout_s\":\"5\"}", "exec needs \"timeout_s\"" },
		{ "{\"id\":1,\"op\":\"exec\",\"command\":\"true\",\"timeout_s\":0.5}", "exec needs \"timeout_s\"" },
		{ "{\"id\":1,\"op\":\"read\"}", "read needs \"path\": a string" },
		{ "{\"id\":1,\"op\":\"list\",\"path\":5}", "list needs \"path\": a string" },
		{ "{\"id\":1,\"op\":\"read\",\"path\":\"\"}", "the path is empty" },
		{ "{\"id\":1,\"op\":\"write\",\"path\":\"f\"}", "write needs \"data_b64\": a string" },
		{ "{\"id\":1,\"op\":\"write\",\"path\":\"f\",\"data_b64\":\"abc\"}", "\"f\": data_b64: base64:" },
		{ "{\"id\":1,\"op\":\"write\",\"path\":\"f\",\"data_b64\":\"\",\"mode\":\"rwx\"}", "\"mode\" is a number" },
		{ "{\"id\":1,\"op\":\"write\",\"path\":\"f\",\"data_b64\":\"\",\"mode\":70000}", "\"mode\" is a number" },
		{ "{\"id\":1,\"op\":\"restore\",\"data_b64\":\"\"}", "restore needs \"last\"" },
	};
	for (size_t i = 0; i < N(bad); i++) {
		send_op(cJSON_Parse(bad[i].op));
		check_failed(wait_op(1), bad[i].error);
	}
	assert_int_not_equal(access(in_ws("f"), F_OK), 0);
	/* no id to answer with: the op_end has none */
	send_op(cJSON_Parse("{\"op\":\"exec\",\"command\":\"true\",\"timeout_s\":5}"));
	struct reply r = wait_op(-1);
	assert_null(jget(r.end, "id"));
	check_failed(r, "an op needs \"id\"");
	send_op(cJSON_Parse("{\"id\":-3,\"op\":\"list\",\"path\":\".\"}"));
	check_failed(wait_op(-1), "an op needs \"id\"");
	r = exec("echo still here", 5);
	assert_string_equal(r.out, "still here\n");
	reply_free(&r);
	finish(0);
}

static void turns_after_ops_go_on_with_the_conversation(void **state)
{
	(void)state;
	start(10);
	check_ok(exec("echo x > made-by-op", 5));
	turn("{\"message\":\"First\"}");
	until_model_request();
	ANSWER("tool_use", TOOL("toolu_1", "bash", "{\"command\":\"cat made-by-op\"}"));
	until_model_request();
	model_says("It says x.");
	struct reply r = path_op("list", ".");
	assert_int_equal(cJSON_GetArraySize(jget(r.end, "entries")), 1);
	reply_free(&r);
	check_ok(write_op("second", "2", 1, -1));
	turn("{\"message\":\"Second\"}");
	until_model_request();
	/* user, assistant (tool_use), results, assistant, user */
	assert_int_equal(cJSON_GetArraySize(jget(S.request, "messages")), 5);
	model_says("Ok.");
	finish(0);
}

static void an_op_during_a_turn_is_a_protocol_error(void **state)
{
	(void)state;
	start(10);
	turn("{\"message\":\"m\"}");
	until_model_request();
	send_op(new_op(1, "list"));
	const cJSON *end = until_end();
	assert_string_equal(jstr(end, "type"), "error");
	assert_string_equal(jstr(jget(end, "error"), "type"), "protocol_error");
	assert_non_null(strstr(jstr(jget(end, "error"), "message"), "op"));
	finish(1);
}

/* A background op on the processes tagged tag (kind: exec with command, procs, kill). */
static struct reply bg_op(const char *kind, const char *tag, const char *command, const char *proc)
{
	cJSON *op = new_op(next_id++, kind);
	cJSON_AddStringToObject(op, "procs", tag);
	if (command != NULL) {
		cJSON_AddStringToObject(op, "command", command);
		cJSON_AddTrueToObject(op, "background");
		cJSON_AddNumberToObject(op, "max", 2);
	}
	if (proc != NULL)
		cJSON_AddStringToObject(op, "proc", proc);
	return do_op(op);
}

/* Background processes as the agent keeps them (it answers procs itself when the
 * supervisor cannot read their records): they outlive their op, at most "max" run, a
 * kill takes all they started, and the hang-up ends them and removes their records. */
static void background_processes_outlive_their_op_and_go_with_the_agent(void **state)
{
	(void)state;
	char tag[17], folder[64], cmd[2][96], id[2][32];
	snprintf(tag, sizeof(tag), "%08x%08x", (unsigned)getpid(), (unsigned)time(NULL));
	snprintf(folder, sizeof(folder), "/tmp/.agentd/procs-%s", tag);
	snprintf(cmd[0], sizeof(cmd[0]), "echo one; exec %s", sleeper(301));
	snprintf(cmd[1], sizeof(cmd[1]), "%s & setsid %s; :", sleeper(302), sleeper(303));
	start(4);
	for (int i = 0; i < 2; i++) {
		struct reply r = bg_op("exec", tag, cmd[i], NULL);
		assert_true(ok(&r));
		const cJSON *p = jget(r.end, "process");
		assert_string_equal(jstr(p, "state"), "running");
		assert_true(jget(p, "pid")->valueint > 0);
		snprintf(id[i], sizeof(id[i]), "%s", jstr(p, "id"));
		reply_free(&r);
	}
	assert_true(wait_process(sleeper(301), true) && wait_process(sleeper(303), true));
	struct reply r = bg_op("exec", tag, "true", NULL);
	assert_false(ok(&r));
	assert_string_equal(jstr(r.end, "code"), "EAGAIN");
	reply_free(&r);
	r = bg_op("procs", tag, NULL, NULL);
	assert_int_equal(cJSON_GetArraySize(jget(r.end, "processes")), 2);
	reply_free(&r);
	/* its output once the keeper has it */
	bool seen = false;
	for (long end = wait_until_now_ms() + WAIT_UNTIL_MS; !seen && wait_until_now_ms() < end; usleep(20000)) {
		r = bg_op("procs", tag, NULL, id[0]);
		seen = strcmp(jstr(jget(r.end, "process"), "output"), "one\n") == 0;
		reply_free(&r);
	}
	assert_true(seen);
	r = bg_op("kill", tag, NULL, id[1]);
	assert_string_equal(jstr(jget(r.end, "process"), "state"), "killed");
	reply_free(&r);
	assert_true(wait_process(sleeper(302), false) && wait_process(sleeper(303), false));
	r = bg_op("kill", tag, NULL, "proc_0000000000000000");
	assert_string_equal(jstr(r.end, "code"), "ENOENT");
	reply_free(&r);
	finish(0);
	assert_true(wait_process(sleeper(301), false));
	assert_int_equal(access(folder, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(exec_streams_output_as_it_comes, reap),
		cmocka_unit_test_teardown(exec_reports_exit_status_and_signal, reap),
		cmocka_unit_test_teardown(exec_timeout_kills_the_whole_group, reap),
		cmocka_unit_test_teardown(exec_is_held_to_the_sessions_command_timeout, reap),
		cmocka_unit_test_teardown(exec_output_is_utf8_even_when_split, reap),
		cmocka_unit_test_teardown(exec_a_megabyte_arrives_whole, reap),
		cmocka_unit_test_teardown(hanging_up_during_exec_stops_it, reap),
		cmocka_unit_test_teardown(write_then_read_round_trips_bytes, reap),
		cmocka_unit_test_teardown(list_says_names_types_and_sizes_in_order, reap),
		cmocka_unit_test_teardown(a_listing_past_the_frame_cap_fails_the_op_only, reap),
		cmocka_unit_test_teardown(delete_removes_a_tree_without_following_links, reap),
		cmocka_unit_test_teardown(paths_that_leave_the_workspace_are_refused, reap),
		cmocka_unit_test_teardown(files_past_the_cap_are_refused, reap),
		cmocka_unit_test_teardown(snapshot_then_restore_gives_the_same_files, reap),
		cmocka_unit_test_teardown(a_restore_that_fails_says_why, reap),
		cmocka_unit_test_teardown(bad_ops_fail_and_the_session_goes_on, reap),
		cmocka_unit_test_teardown(turns_after_ops_go_on_with_the_conversation, reap),
		cmocka_unit_test_teardown(an_op_during_a_turn_is_a_protocol_error, reap),
		cmocka_unit_test_teardown(background_processes_outlive_their_op_and_go_with_the_agent, reap),
	};
	return cmocka_run_group_tests_name("ops", tests, NULL, NULL);
}

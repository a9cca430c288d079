/* Unit tests for the supervisor's side of hybrid saves and resumes
 * (include/supervisor/snapshot_io.h): what reaches the agent, what reaches the disk, and
 * an agent that sends more than a workspace's tar can be. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/json.h"
#include "ipc/link.h"
#include "ipc/protocol.h"
#include "session/persist.h"
#include "ipc/session_files.h"
#include "supervisor/snapshot_io.h"

#define SID "sess_00112233445566778899aabb"

struct fixture {
	char dir[64], tar[256];
	int sv[2];                        /* [0]: the supervisor's end, [1]: the "agent" */
	struct frame_decoder *dec;
	char got[1 << 16];                /* what the agent received, decoded */
	size_t got_len;
	int frames, last_seen;
	cJSON *first;                     /* the first frame's payload */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/agentd-snapio-XXXXXX");
	if (mkdtemp(f->dir) == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv) < 0)
		return -1;
	snprintf(f->tar, sizeof(f->tar), "%s/sessions/%s/workspace.tar", f->dir, SID);
	f->dec = frame_decoder_new(1 << 20);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	close(f->sv[0]);
	close(f->sv[1]);
	frame_decoder_free(f->dec);
	cJSON_Delete(f->first);
	free(f);
	return 0;
}

static int on_frame(void *ctx, unsigned type, cJSON *p, struct ad_err *err)
{
	struct fixture *f = ctx;
	const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(p, "data_b64");
	size_t n = 0;
	if (cJSON_IsString(b64) && base64_decode(b64->valuestring, strlen(b64->valuestring), f->got + f->got_len, &n,
						 err) == 0)
		f->got_len += n;
	f->last_seen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "last"));
	if (f->frames++ == 0)
		f->first = p;
	else
		cJSON_Delete(p);
	return 0;
}

/* The supervisor's way to the agent, here straight to the socket. */
static int send_to(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct fixture *f = ctx;
	return link_send_take(f->sv[0], type, payload, err);
}

static void io_init(struct snapio *io, struct fixture *f, uint64_t max)
{
	snapio_init(io, f->dir, SID, max);
	io->send = send_to;
	io->send_ctx = f;
}

/* Every frame the supervisor's end has sent so far. */
static void drain(struct fixture *f)
{
	struct ad_err e;
	fcntl(f->sv[1], F_SETFL, O_NONBLOCK);
	assert_int_equal(link_recv(f->sv[1], f->dec, on_frame, f, &e), 0);
}

static cJSON *piece(double id, const char *raw, size_t len)
{
	char *b64 = malloc(base64_encoded_len(len) + 1);
	base64_encode(raw, len, b64);
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "op_output");
	cJSON_AddNumberToObject(ev, "id", id);
	cJSON_AddStringToObject(ev, "data_b64", b64);
	free(b64);
	return ev;
}

/* A save of the pieces given; the op_end as the supervisor passes it on. */
static cJSON *save(struct fixture *f, struct snapio *io, const char *const *pieces, size_t n)
{
	char why[256];
	struct ad_err e;
	cJSON *op = cJSON_Parse("{\"id\": 7, \"op\": \"snapshot\", \"save\": true}");
	assert_int_equal(snapio_gateway_op(io, op, why, sizeof(why), &e), SNAPIO_SENT);
	cJSON_Delete(op);
	drain(f);                             /* the agent is asked for a plain snapshot */
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(f->first, "op")->valuestring, "snapshot");
	assert_null(cJSON_GetObjectItemCaseSensitive(f->first, "save"));
	for (size_t i = 0; i < n; i++) {
		cJSON *ev = piece(7, pieces[i], strlen(pieces[i]));
		assert_int_equal(snapio_agent_event(io, ev), 1);   /* kept here, not passed on */
		cJSON_Delete(ev);
	}
	cJSON *end = cJSON_Parse("{\"type\": \"op_end\", \"id\": 7, \"ok\": true, \"bytes\": 1}");
	assert_int_equal(snapio_agent_event(io, end), 0);
	return end;
}

static void a_save_lands_on_disk_and_a_restore_sends_it_back(void **state)
{
	struct fixture *f = *state;
	struct snapio io;
	io_init(&io, f, 1 << 20);
	const char *pieces[] = { "hello ", "workspace" };
	cJSON *end = save(f, &io, pieces, 2);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(end, "ok")));
	cJSON_Delete(end);
	char buf[64] = "";
	FILE *fp = fopen(f->tar, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "hello workspace");

	/* and back, as restore pieces ending with last: true */
	f->frames = 0, f->got_len = 0;
	cJSON_Delete(f->first);
	f->first = NULL;
	char why[256];
	struct ad_err e;
	cJSON *op = cJSON_Parse("{\"id\": 8, \"op\": \"restore\", \"saved\": true}");
	assert_int_equal(snapio_gateway_op(&io, op, why, sizeof(why), &e), SNAPIO_SENT);
	cJSON_Delete(op);
	drain(f);
	assert_int_equal(f->got_len, strlen("hello workspace"));
	assert_memory_equal(f->got, "hello workspace", f->got_len);
	assert_true(f->last_seen);
	snapio_abort(&io);
}

static void an_agent_that_sends_too_much_fails_its_save(void **state)
{
	struct fixture *f = *state;
	struct snapio io;
	io_init(&io, f, 1000);
	char big[801];
	memset(big, 'x', 800);
	big[800] = '\0';
	const char *pieces[] = { big, big };              /* 1600 bytes: more than 1000 */
	cJSON *end = save(f, &io, pieces, 2);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(end, "ok")));
	assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(end, "error")->valuestring, "larger than"));
	cJSON_Delete(end);
	struct stat st;
	assert_int_equal(stat(f->tar, &st), -1);          /* nothing kept */
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->tar);
	assert_int_equal(stat(tmp, &st), -1);
}

static void an_unreadable_saved_workspace_is_refused_before_the_agent_hears(void **state)
{
	struct fixture *f = *state;
	char dir[200];
	snprintf(dir, sizeof(dir), "%s/sessions", f->dir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/sessions/%s", f->dir, SID);
	mkdir(dir, 0700);
	assert_int_equal(symlink("/etc/passwd", f->tar), 0);
	struct snapio io;
	io_init(&io, f, 1 << 20);
	char why[256] = "";
	struct ad_err e;
	cJSON *op = cJSON_Parse("{\"id\": 9, \"op\": \"restore\", \"saved\": true}");
	assert_int_equal(snapio_gateway_op(&io, op, why, sizeof(why), &e), SNAPIO_FAILED);
	cJSON_Delete(op);
	assert_non_null(strstr(why, "cannot read the saved workspace"));
	struct ad_err re;
	fcntl(f->sv[1], F_SETFL, O_NONBLOCK);
	assert_int_equal(link_recv(f->sv[1], f->dec, on_frame, f, &re), 0);
	assert_int_equal(f->frames, 0);
}

/* A save names its generation; a restore asks for one, and gets that one or a refusal. */
static void generations_are_kept_apart(void **state)
{
	struct fixture *f = *state;
	struct snapio io;
	char why[256], path[300];
	struct ad_err e;
	struct stat st;
	io_init(&io, f, 1 << 20);
	cJSON *op = cJSON_Parse("{\"id\": 7, \"op\": \"snapshot\", \"save\": true, \"generation\": 3}");
	assert_int_equal(snapio_gateway_op(&io, op, why, sizeof(why), &e), SNAPIO_SENT);
	cJSON_Delete(op);
	cJSON *ev = piece(7, "three", 5);
	assert_int_equal(snapio_agent_event(&io, ev), 1);
	cJSON_Delete(ev);
	cJSON *end = cJSON_Parse("{\"type\": \"op_end\", \"id\": 7, \"ok\": true}");
	assert_int_equal(snapio_agent_event(&io, end), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(end, "ok")));
	cJSON_Delete(end);
	snprintf(path, sizeof(path), "%s/sessions/%s/workspace.3.tar", f->dir, SID);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(stat(f->tar, &st), -1);          /* not generation 0's name */

	const char *refused[] = { "{\"id\": 8, \"op\": \"restore\", \"saved\": true, \"generation\": 2}",
				  "{\"id\": 9, \"op\": \"restore\", \"saved\": true, \"generation\": -1}",
				  "{\"id\": 9, \"op\": \"snapshot\", \"save\": true, \"generation\": 1.5}" };
	const char *said[] = { "is missing", "whole number", "whole number" };
	for (size_t i = 0; i < 3; i++) {
		op = cJSON_Parse(refused[i]);
		assert_int_equal(snapio_gateway_op(&io, op, why, sizeof(why), &e), SNAPIO_FAILED);
		cJSON_Delete(op);
		assert_non_null(strstr(why, said[i]));
	}
	/* session.json names 4 now: 3 goes, 4 stays */
	char four[300];
	snprintf(four, sizeof(four), "%s/sessions/%s/workspace.4.tar", f->dir, SID);
	fclose(fopen(four, "w"));
	persist_prune(f->dir, SID, 4);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(stat(four, &st), 0);
	snapio_abort(&io);
}

static void other_ops_are_not_its_business(void **state)
{
	struct fixture *f = *state;
	struct snapio io;
	io_init(&io, f, 1 << 20);
	char why[256];
	struct ad_err e;
	const char *ops[] = { "{\"id\": 1, \"op\": \"exec\", \"command\": \"ls\"}",
			      "{\"id\": 2, \"op\": \"snapshot\"}", "{\"id\": 3, \"op\": \"restore\", \"data_b64\": \"\"}" };
	for (size_t i = 0; i < 3; i++) {
		cJSON *op = cJSON_Parse(ops[i]);
		assert_int_equal(snapio_gateway_op(&io, op, why, sizeof(why), &e), SNAPIO_NOT_OURS);
		cJSON_Delete(op);
	}
	cJSON *ev = piece(2, "x", 1);                     /* no save under way: passed on */
	assert_int_equal(snapio_agent_event(&io, ev), 0);
	cJSON_Delete(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_save_lands_on_disk_and_a_restore_sends_it_back, setup, teardown),
		cmocka_unit_test_setup_teardown(an_agent_that_sends_too_much_fails_its_save, setup, teardown),
		cmocka_unit_test_setup_teardown(an_unreadable_saved_workspace_is_refused_before_the_agent_hears, setup,
						teardown),
		cmocka_unit_test_setup_teardown(generations_are_kept_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(other_ops_are_not_its_business, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for frames out without waiting (include/ipc/link_out.h): a peer that does
 * not read never blocks the writer, the queue is capped, nothing is lost or reordered
 * when the peer reads again, and the time without progress is measured. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "ipc/frame.h"
#include "ipc/link.h"
#include "ipc/link_out.h"

struct pair {
	int w, r;                        /* the writer's end (non-blocking), the reader's */
	struct frame_decoder *dec;
	int got, next;                   /* frames decoded; the sequence number expected */
};

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	int sv[2];
	if (p == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	p->w = sv[0];
	p->r = sv[1];
	fcntl(p->w, F_SETFL, O_NONBLOCK);
	fcntl(p->r, F_SETFL, O_NONBLOCK);
	p->dec = frame_decoder_new(FRAME_MAX_PAYLOAD);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	close(p->w);
	if (p->r >= 0)
		close(p->r);
	frame_decoder_free(p->dec);
	free(p);
	return 0;
}

static cJSON *numbered(int n, size_t pad)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "n", n);
	char *text = malloc(pad + 1);
	memset(text, 'x', pad);
	text[pad] = '\0';
	cJSON_AddStringToObject(j, "pad", text);
	free(text);
	return j;
}

static int on_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct pair *p = ctx;
	assert_int_equal(type, FRAME_RUN_EVENT);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(payload, "n")->valueint, p->next);
	p->next++;
	p->got++;
	cJSON_Delete(payload);
	return 0;
}

/* Read everything the writer can get out, flushing as the reader makes room. */
static void drain(struct pair *p, struct link_out *o)
{
	struct ad_err e;
	for (int rounds = 0; rounds < 100000; rounds++) {
		assert_int_equal(link_out_flush(o, p->w, &e), 0);
		int rc = link_recv(p->r, p->dec, on_frame, p, &e);
		assert_true(rc == 0);
		if (!link_out_pending(o)) {
			while (link_recv(p->r, p->dec, on_frame, p, &e) == 0 && frame_decoder_pending(p->dec))
				;
			return;
		}
	}
	fail_msg("the queue never drained");
}

static void a_peer_that_does_not_read_never_blocks_the_writer(void **state)
{
	struct pair *p = *state;
	struct link_out o;
	struct ad_err e;
	link_out_init(&o, 8u << 20);
	int sent = 0;
	/* 4 MiB into a socket that holds a few hundred KiB, nobody reading */
	for (; sent < 64; sent++)
		assert_int_equal(link_out_send_take(&o, p->w, FRAME_RUN_EVENT, numbered(sent, 64 << 10), &e), 0);
	assert_true(link_out_pending(&o));
	assert_true(link_out_queued(&o) > (1u << 20));
	/* (a writer that waited for room would never have come here) */
	drain(p, &o);
	assert_int_equal(p->got, sent);
	assert_false(link_out_pending(&o));
	link_out_free(&o);
}

static void the_queue_is_capped(void **state)
{
	struct pair *p = *state;
	struct link_out o;
	struct ad_err e;
	link_out_init(&o, 1u << 20);
	int sent = 0, rc = 0;
	while ((rc = link_out_send_take(&o, p->w, FRAME_RUN_EVENT, numbered(sent, 32 << 10), &e)) == 0 && sent < 1000)
		sent++;
	assert_int_equal(rc, -1);
	assert_int_equal(e.errnum, ENOBUFS);
	assert_true(link_out_queued(&o) <= (1u << 20));
	/* what was taken before the refusal all arrives, in order */
	drain(p, &o);
	assert_int_equal(p->got, sent);
	link_out_free(&o);
}

static void the_stall_is_measured_from_the_last_progress(void **state)
{
	struct pair *p = *state;
	struct link_out o;
	struct ad_err e;
	link_out_init(&o, 8u << 20);
	assert_int_equal(link_out_stalled_ms(&o, clock_mono_ns()), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(link_out_send_take(&o, p->w, FRAME_RUN_EVENT, numbered(i, 64 << 10), &e), 0);
	assert_true(link_out_pending(&o));
	uint64_t later = clock_mono_ns() + 3000000000ull;
	assert_true(link_out_stalled_ms(&o, later) >= 2900);
	drain(p, &o);
	assert_int_equal(link_out_stalled_ms(&o, later), 0);
	link_out_free(&o);
}

static void a_peer_that_is_gone_fails_the_send(void **state)
{
	struct pair *p = *state;
	struct link_out o;
	struct ad_err e;
	link_out_init(&o, 8u << 20);
	close(p->r);
	p->r = -1;
	assert_int_equal(link_out_send_take(&o, p->w, FRAME_RUN_EVENT, numbered(0, 16), &e), -1);
	assert_int_equal(e.errnum, EPIPE);
	assert_int_equal(link_out_send_take(&o, p->w, FRAME_RUN_EVENT, NULL, &e), -1);
	assert_int_equal(e.errnum, ENOMEM);
	link_out_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_peer_that_does_not_read_never_blocks_the_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(the_queue_is_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(the_stall_is_measured_from_the_last_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(a_peer_that_is_gone_fails_the_send, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* A tar streamed to its client as its source makes it: see include/api/tar_export.h. */
#include "api/tar_export.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/byte_out.h"

struct tar_export {
	pthread_mutex_t lock;
	atomic_int refs;
	struct tar_source src;
	struct byte_out q;
	bool ended;              /* the source's end has come: it is not called any more */
	bool held;               /* the source is held back */
	bool dropped;            /* no client takes the bytes: they are dropped */
	char error[512];         /* why the source failed, or "" */
};

struct tar_export *tar_export_new(const struct tar_source *src)
{
	struct tar_export *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	pthread_mutex_init(&x->lock, NULL);
	atomic_init(&x->refs, 1);
	x->src = *src;
	byte_out_init(&x->q);
	return x;
}

void tar_export_ref(struct tar_export *x)
{
	atomic_fetch_add(&x->refs, 1);
}

void tar_export_unref(void *p)
{
	struct tar_export *x = p;
	if (atomic_fetch_sub(&x->refs, 1) != 1)
		return;
	byte_out_free(&x->q);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

/* Under the lock: the source held back or let go, once each way. */
static void hold(struct tar_export *x, bool on)
{
	if (x->held == on || x->ended)
		return;
	x->held = on;
	x->src.hold(x->src.src, on);
}

/* Under the lock: no client takes the rest (gone, or given up: cut). The source is
 * let go and stopped; what it still sends is dropped. */
static void drop(struct tar_export *x)
{
	if (x->dropped)
		return;
	x->dropped = true;
	byte_out_finish(&x->q, false);
	byte_out_free(&x->q);
	hold(x, false);
	if (!x->ended)
		x->src.stop(x->src.src);
}

void tar_export_bytes(struct tar_export *x, const void *data, size_t n)
{
	pthread_mutex_lock(&x->lock);
	if (!x->dropped && byte_out_put(&x->q, data, n))
		hold(x, true);
	if (x->q.end == BYTE_OUT_CUT)    /* out of memory */
		drop(x);
	pthread_mutex_unlock(&x->lock);
}

void tar_export_end(struct tar_export *x, bool ok, const char *why)
{
	pthread_mutex_lock(&x->lock);
	if (!ok)
		snprintf(x->error, sizeof(x->error), "%s", why ? why : "the tar could not be made");
	if (!ok && x->q.out > 0)
		log_warn("workspace.tar: cut after %llu bytes: %s", (unsigned long long)x->q.out, x->error);
	byte_out_finish(&x->q, ok);
	x->ended = true;
	x->held = false;
	pthread_mutex_unlock(&x->lock);
}

void tar_export_tick(struct tar_export *x)
{
	pthread_mutex_lock(&x->lock);
	uint64_t idle_ms = (clock_mono_ns() - x->q.read_ns) / 1000000u;
	if (x->held && !x->dropped && idle_ms > TAR_EXPORT_STALL_MS) {
		log_warn("workspace.tar: the client took nothing for %llu s; cutting its download",
			 (unsigned long long)idle_ms / 1000);
		drop(x);
	}
	pthread_mutex_unlock(&x->lock);
}

bool tar_export_wait(struct tar_export *x, struct MHD_Connection *conn)
{
	pthread_mutex_lock(&x->lock);
	bool wait = byte_out_park(&x->q, conn);
	pthread_mutex_unlock(&x->lock);
	return wait;
}

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct tar_export *x = cls;
	pthread_mutex_lock(&x->lock);
	ssize_t n = byte_out_read(&x->q, buf, max);
	if (x->held && byte_out_queued(&x->q) <= BYTE_OUT_LOW)
		hold(x, false);
	pthread_mutex_unlock(&x->lock);
	return n;
}

/* The request is over: a client that had not had the whole tar went away. */
static void export_release(void *cls)
{
	struct tar_export *x = cls;
	pthread_mutex_lock(&x->lock);
	byte_out_release(&x->q);
	if (x->q.end != BYTE_OUT_WHOLE || byte_out_queued(&x->q) > 0)
		drop(x);
	pthread_mutex_unlock(&x->lock);
	tar_export_unref(x);
}

enum MHD_Result tar_export_reply(struct tar_export *x, struct http_req *req, const char *name)
{
	char why[sizeof(x->error)];
	pthread_mutex_lock(&x->lock);
	bool failed = x->q.end == BYTE_OUT_CUT;
	snprintf(why, sizeof(why), "%s", x->error[0] ? x->error : "out of memory");
	byte_out_set_conn(&x->q, req->conn);
	pthread_mutex_unlock(&x->lock);
	if (failed)     /* nothing went out yet: the client hears why, as for any error */
		return http_reply_error(req, 502, "sandbox_error", "%s", why);
	tar_export_ref(x);
	struct MHD_Response *r = http_stream_response(req, export_read, x, export_release);
	if (r == NULL)
		return MHD_NO;
	char disp[160];
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return http_reply_queue(req, 200, r);
}

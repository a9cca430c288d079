/* One OP as its asker waits for it: see include/api/op_run.h. */
#include "api/op_run.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"

struct op_run {
	struct waiter w;                 /* first: lock, references, ended, the client */
	cJSON *end;                      /* the op_end event */
	char error[512];                 /* when it failed without one */
	struct buf output;
	void (*sink)(void *ctx, const cJSON *ev);
	void (*done)(void *ctx, bool ok, const char *error);
	void (*tick)(void *ctx);
	void *sink_ctx;
};

struct op_run *op_run_new(bool stream)
{
	struct op_run *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	waiter_init(&o->w, stream);
	buf_init(&o->output, OP_OUTPUT_MAX);
	return o;
}

void op_run_ref(struct op_run *o)
{
	waiter_ref(&o->w);
}

void op_run_unref(struct op_run *o)
{
	if (!waiter_unref(&o->w))
		return;
	cJSON_Delete(o->end);
	buf_free(&o->output);
	waiter_destroy(&o->w);
	free(o);
}

void op_run_set_sink(struct op_run *o, void (*sink)(void *ctx, const cJSON *ev),
		     void (*done)(void *ctx, bool ok, const char *error), void *ctx)
{
	o->sink = sink;
	o->done = done;
	o->sink_ctx = ctx;
}

void op_run_set_tick(struct op_run *o, void (*tick)(void *ctx))
{
	o->tick = tick;
}

void op_run_event(struct op_run *o, const cJSON *ev)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	bool end = cJSON_IsString(t) && strcmp(t->valuestring, "op_end") == 0;
	if (o->sink != NULL) {              /* the sink's own thread rules: no lock needed */
		o->sink(o->sink_ctx, ev);
		if (end) {
			const cJSON *ok = cJSON_GetObjectItemCaseSensitive(ev, "ok");
			const cJSON *err = cJSON_GetObjectItemCaseSensitive(ev, "error");
			o->done(o->sink_ctx, cJSON_IsTrue(ok), cJSON_IsString(err) ? err->valuestring : "the op failed");
		}
	}
	pthread_mutex_lock(&o->w.lock);
	if (!o->w.ended && end) {
		o->end = cJSON_Duplicate(ev, true);
		cJSON_DeleteItemFromObjectCaseSensitive(o->end, "type");
		o->w.ended = true;
	} else if (!o->w.ended && o->sink == NULL && !o->w.sse.stream) {
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
		if (cJSON_IsString(data))
			buf_puts(&o->output, data->valuestring);
	}
	sse_out_notify(&o->w.sse, o->w.ended);
	pthread_mutex_unlock(&o->w.lock);
}

void op_run_stream(struct op_run *o, unsigned id, const char *type, const cJSON *data)
{
	pthread_mutex_lock(&o->w.lock);
	if (!o->w.ended && o->w.sse.stream) {
		sse_out_event(&o->w.sse, id, type, data);
		sse_out_notify(&o->w.sse, false);
	}
	pthread_mutex_unlock(&o->w.lock);
}

void op_run_fail(struct op_run *o, const char *message)
{
	if (o->sink != NULL && !o->w.ended)
		o->done(o->sink_ctx, false, message);
	pthread_mutex_lock(&o->w.lock);
	if (!o->w.ended) {
		snprintf(o->error, sizeof(o->error), "%s", message);
		o->w.ended = true;
		if (o->w.sse.stream) {
			cJSON *e = json_error("sandbox_error", message);
			sse_out_event(&o->w.sse, 0, "error", e);
			cJSON_Delete(e);
		}
	}
	sse_out_notify(&o->w.sse, o->w.ended);
	pthread_mutex_unlock(&o->w.lock);
}

void op_run_tick(struct op_run *o)
{
	if (o->tick != NULL)
		o->tick(o->sink_ctx);
	waiter_tick(&o->w);
}

bool op_run_wait(struct op_run *o, struct MHD_Connection *conn)
{
	return waiter_wait(&o->w, conn);
}

cJSON *op_run_end(struct op_run *o, char **output, bool *cut, const char **error)
{
	pthread_mutex_lock(&o->w.lock);
	cJSON *end = cJSON_Duplicate(o->end, true);
	*error = o->end ? NULL : o->error;
	if (output != NULL) {
		*output = strdup(buf_str(&o->output));
		*cut = o->output.dropped > 0;
	}
	pthread_mutex_unlock(&o->w.lock);
	return end;
}

void op_run_set_conn(struct op_run *o, struct MHD_Connection *conn)
{
	waiter_set_conn(&o->w, conn);
}

ssize_t op_run_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	return waiter_read(&((struct op_run *)cls)->w, buf, max);
}

void op_run_release(void *cls)
{
	waiter_release(&((struct op_run *)cls)->w);
	op_run_unref(cls);
}

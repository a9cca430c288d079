/* One turn as an HTTP client waits for it: see include/api/chat_run.h. */
#include "api/chat_run.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/node_id.h"
#include "http/hangup.h"

struct chat_run {
	struct waiter w;                /* first: lock, references, ended, the client */
	char id[NODE_SESSION_ID_MAX];   /* the session's */
	char owner[80];                 /* its token's name, for the log */
	uint64_t start_ns;
	cJSON *tool_calls;
	cJSON *result;                  /* the reply, or {"error": ...}, once ended */
	unsigned status;
	void (*released)(void *ctx, bool left_early);
	void *ctx;
	struct http_conn *watch;        /* the client, watched for leaving (or NULL) */
};

struct chat_run *chat_run_new(const char *session_id, const char *owner, bool stream,
			      void (*released)(void *ctx, bool left_early), void *ctx)
{
	struct chat_run *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->tool_calls = cJSON_CreateArray()) == NULL) {
		free(r);
		return NULL;
	}
	waiter_init(&r->w, stream);
	snprintf(r->id, sizeof(r->id), "%s", session_id);
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	r->start_ns = clock_mono_ns();
	r->released = released;
	r->ctx = ctx;
	return r;
}

void chat_run_ref(struct chat_run *r)
{
	waiter_ref(&r->w);
}

void chat_run_unref(struct chat_run *r)
{
	if (!waiter_unref(&r->w))
		return;
	cJSON_Delete(r->tool_calls);
	cJSON_Delete(r->result);
	waiter_destroy(&r->w);
	free(r);
}

static unsigned chat_error_status(const char *type)
{
	static const struct { const char *type; unsigned status; } map[] = {
		{ "rate_limit_error", 429 }, { "budget_exceeded_error", 429 }, { "overloaded_error", 503 },
		{ "timeout_error", 504 }, { "sandbox_error", 500 }, { "agent_error", 500 },
		{ "interrupted", 409 },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i].type) == 0)
			return map[i].status;
	return 502;   /* the API failed or refused: agentd is the gateway to it */
}

/* A tool call, gathered from its start, output and end events. */
static void record_tool(struct chat_run *r, const char *type, const cJSON *ev)
{
	cJSON *c = json_find_by_id(r->tool_calls, ev);
	if (strcmp(type, "tool_start") == 0 && c == NULL) {
		c = cJSON_CreateObject();
		cJSON_AddItemToObject(c, "id", cJSON_CreateNull());
		cJSON_AddItemToObject(c, "name", cJSON_CreateNull());
		cJSON_AddItemToObject(c, "input", cJSON_CreateObject());
		cJSON_AddStringToObject(c, "output", "");
		cJSON_AddFalseToObject(c, "is_error");
		cJSON_AddNumberToObject(c, "duration_ms", 0);
		cJSON_AddItemToArray(r->tool_calls, c);
		json_copy_item(c, "id", ev, "id");
		json_copy_item(c, "name", ev, "name");
		json_copy_item(c, "input", ev, "input");
	} else if (c != NULL && strcmp(type, "tool_output") == 0) {
		json_copy_item(c, "output", ev, "output");
	} else if (c != NULL && strcmp(type, "tool_end") == 0) {
		json_copy_item(c, "is_error", ev, "is_error");
		json_copy_item(c, "duration_ms", ev, "duration_ms");
	}
}

/* The turn's reply, from the done event (once: it ends the run). */
static cJSON *build_reply(struct chat_run *r, const cJSON *done)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "session_id", r->id);
	static const char *const fields[] = { "reply", "stop_reason", "model_calls" };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		cJSON_AddItemToObject(j, fields[i], cJSON_CreateNull());
		json_copy_item(j, fields[i], done, fields[i]);
	}
	/* the calls move into the reply (the run is over): their outputs are not copied */
	cJSON_AddItemToObject(j, "tool_calls", r->tool_calls);
	r->tool_calls = NULL;
	cJSON_AddItemToObject(j, "usage", cJSON_CreateNull());
	json_copy_item(j, "usage", done, "usage");
	cJSON_AddNumberToObject(j, "cost_usd", 0);
	json_copy_item(j, "cost_usd", done, "cost_usd");
	cJSON_AddNumberToObject(j, "duration_ms", clock_ms_since(r->start_ns));
	const cJSON *warning = cJSON_GetObjectItemCaseSensitive(done, "warning");
	if (cJSON_IsString(warning))       /* a hybrid turn that could not be saved */
		cJSON_AddStringToObject(j, "warning", warning->valuestring);
	return j;
}

/* Under the lock: the turn is over, with result. */
static void end_run(struct chat_run *r, unsigned id, cJSON *result, unsigned status, const char *event)
{
	r->result = result;
	r->status = status;
	r->w.ended = true;
	if (r->w.sse.stream)
		sse_out_event(&r->w.sse, id, event, result);
}

void chat_run_event(struct chat_run *r, unsigned id, const cJSON *ev, const char *frame, size_t frame_len)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const char *type = cJSON_IsString(t) ? t->valuestring : "";
	pthread_mutex_lock(&r->w.lock);
	if (r->w.ended || strcmp(type, "message") == 0 || strcmp(type, "ready") == 0) {
		/* the transcript is the session's; nothing after the end counts */
	} else if (strcmp(type, "done") == 0) {
		end_run(r, id, build_reply(r, ev), 200, "done");
	} else if (strcmp(type, "error") == 0) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
		const cJSON *et = cJSON_GetObjectItemCaseSensitive(e, "type");
		const cJSON *em = cJSON_GetObjectItemCaseSensitive(e, "message");
		const char *etype = cJSON_IsString(et) ? et->valuestring : "api_error";
		log_about(AD_LOG_INFO, r->id, r->owner, "the turn failed: %s: %s", etype,
			  cJSON_IsString(em) ? em->valuestring : "");
		cJSON *result = json_error(etype, cJSON_IsString(em) ? em->valuestring : "the run failed");
		if (id > 0)       /* the session's log has it too: a page that shows both, once */
			cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(result, "error"), "event_id", id);
		end_run(r, id, result, chat_error_status(etype), "error");
	} else {
		if (strncmp(type, "tool_", 5) == 0)
			record_tool(r, type, ev);
		if (r->w.sse.stream && frame != NULL) {
			sse_out_raw(&r->w.sse, frame, frame_len);
		} else if (r->w.sse.stream) {
			cJSON *data = cJSON_Duplicate(ev, true);
			cJSON_DeleteItemFromObjectCaseSensitive(data, "type");
			sse_out_event(&r->w.sse, id, type, data);
			cJSON_Delete(data);
		}
	}
	sse_out_notify(&r->w.sse, r->w.ended);
	pthread_mutex_unlock(&r->w.lock);
}

void chat_run_fail(struct chat_run *r, const char *type, const char *message)
{
	pthread_mutex_lock(&r->w.lock);
	if (!r->w.ended) {
		log_about(AD_LOG_WARN, r->id, r->owner, "%s", message);
		end_run(r, 0, json_error(type, message), chat_error_status(type), "error");
	}
	sse_out_notify(&r->w.sse, r->w.ended);
	pthread_mutex_unlock(&r->w.lock);
}

void chat_run_hello(struct chat_run *r, unsigned id)
{
	cJSON *hello = cJSON_CreateObject();
	cJSON_AddStringToObject(hello, "session_id", r->id);
	pthread_mutex_lock(&r->w.lock);
	if (r->w.sse.stream)
		sse_out_event(&r->w.sse, id, "session", hello);
	pthread_mutex_unlock(&r->w.lock);
	cJSON_Delete(hello);
}

/* Keep-alives while a long tool call runs: a client that went away is found out (and
 * chat_run_release tells the session). */
void chat_run_tick(struct chat_run *r)
{
	waiter_tick(&r->w);
}

bool chat_run_wait(struct chat_run *r, struct MHD_Connection *conn)
{
	return waiter_wait(&r->w, conn);
}

unsigned chat_run_result(struct chat_run *r, cJSON **body)
{
	pthread_mutex_lock(&r->w.lock);
	*body = cJSON_Duplicate(r->result, true);
	unsigned status = r->status;
	pthread_mutex_unlock(&r->w.lock);
	return status;
}

void chat_run_set_conn(struct chat_run *r, struct MHD_Connection *conn)
{
	waiter_set_conn(&r->w, conn);
}

ssize_t chat_run_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	return waiter_read(&((struct chat_run *)cls)->w, buf, max);
}

void chat_run_watch_client(struct chat_run *r, struct MHD_Connection *conn, void (*gone)(void *ctx))
{
	struct ad_err e;
	struct http_conn *w = http_hangup_watch(conn, gone, r->ctx, &e);
	if (w == NULL)
		log_about(AD_LOG_WARN, r->id, r->owner, "%s; a client that leaves is noticed only when a write fails",
			  e.msg);
	pthread_mutex_lock(&r->w.lock);
	r->watch = w;
	pthread_mutex_unlock(&r->w.lock);
}

void chat_run_release(void *cls)
{
	struct chat_run *r = cls;
	bool left_early = !waiter_release(&r->w);
	pthread_mutex_lock(&r->w.lock);
	struct http_conn *w = r->watch;
	r->watch = NULL;
	pthread_mutex_unlock(&r->w.lock);
	http_hangup_unwatch(w);        /* outside the lock: gone() may be waiting for it */
	if (left_early)
		log_about(AD_LOG_INFO, r->id, r->owner, "the client went away before the end of the turn");
	if (r->released != NULL)
		r->released(r->ctx, left_early);
	chat_run_unref(r);
}

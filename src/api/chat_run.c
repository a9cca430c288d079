/* One /api/chat run on the gateway's side: see include/api/chat_run.h. */
#include "api/chat_run.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/app.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "ipc/frame.h"
#include "session/hub.h"
#include "session/spawner.h"

/* A streaming client that reads slower than the run writes may fall this far behind. */
#define SSE_BACKLOG_MAX (32u << 20)

struct chat_run {
	pthread_mutex_t lock;
	int refs;
	char id[40];
	bool stream;
	uint64_t start_ns;
	struct hub_link *link;          /* NULL once closed */
	cJSON *tool_calls;
	cJSON *result;                  /* the reply, or {"error": ...}, once ended */
	unsigned status;
	bool ended;
	char *out;                      /* SSE bytes not yet read */
	size_t out_len, out_off;
	bool overflow;
	unsigned next_id;
	struct MHD_Connection *conn;
	bool suspended;
};

static void unref(struct chat_run *r)
{
	pthread_mutex_lock(&r->lock);
	int left = --r->refs;
	pthread_mutex_unlock(&r->lock);
	if (left > 0)
		return;
	pthread_mutex_destroy(&r->lock);
	cJSON_Delete(r->tool_calls);
	cJSON_Delete(r->result);
	free(r->out);
	free(r);
}

/* Under the lock: whoever waits for this run gets to look again (a JSON client only
 * once the run has ended). */
static void wake(struct chat_run *r)
{
	if (r->suspended && (r->stream || r->ended)) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
	}
}

unsigned chat_error_status(const char *type)
{
	static const struct { const char *type; unsigned status; } map[] = {
		{ "rate_limit_error", 429 }, { "budget_exceeded_error", 429 }, { "overloaded_error", 503 },
		{ "timeout_error", 504 }, { "sandbox_error", 500 }, { "agent_error", 500 },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i].type) == 0)
			return map[i].status;
	return 502;   /* the API failed or refused: agentd is the gateway to it */
}

/* Under the lock: one SSE event, "id", "event" and "data" lines. */
static void sse_emit(struct chat_run *r, const char *event, const cJSON *data)
{
	if (!r->stream || r->overflow)
		return;
	char *json = json_print(data);
	char head[96];
	int hn = snprintf(head, sizeof(head), "id: %u\nevent: %s\ndata: ", ++r->next_id, event);
	size_t jn = json ? strlen(json) : 0, need = (size_t)hn + jn + 2;
	if (json == NULL || r->out_len - r->out_off + need > SSE_BACKLOG_MAX) {
		log_warn("chat %s: the client fell %zu bytes behind the run; dropping its stream", r->id,
			 r->out_len - r->out_off);
		r->overflow = true;
		cJSON_free(json);
		return;
	}
	if (r->out_off > 0) {              /* keep what is unread at the front */
		memmove(r->out, r->out + r->out_off, r->out_len - r->out_off);
		r->out_len -= r->out_off;
		r->out_off = 0;
	}
	char *nb = realloc(r->out, r->out_len + need);
	if (nb == NULL) {
		r->overflow = true;
		cJSON_free(json);
		return;
	}
	r->out = nb;
	memcpy(r->out + r->out_len, head, (size_t)hn);
	memcpy(r->out + r->out_len + hn, json, jn);
	memcpy(r->out + r->out_len + hn + jn, "\n\n", 2);
	r->out_len += need;
	cJSON_free(json);
}

static cJSON *tool_call(struct chat_run *r, const cJSON *ev)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	cJSON *c;
	cJSON_ArrayForEach(c, r->tool_calls) {
		const cJSON *cid = cJSON_GetObjectItemCaseSensitive(c, "id");
		if (cJSON_IsString(id) && cJSON_IsString(cid) && strcmp(id->valuestring, cid->valuestring) == 0)
			return c;
	}
	return NULL;
}

static void set_item(cJSON *obj, const char *name, const cJSON *from, const char *from_name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, from_name);
	if (v != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, cJSON_Duplicate(v, true));
}

/* A tool call, gathered from its start, output and end events. */
static void record_tool(struct chat_run *r, const char *type, const cJSON *ev)
{
	cJSON *c = tool_call(r, ev);
	if (strcmp(type, "tool_start") == 0 && c == NULL) {
		c = cJSON_CreateObject();
		cJSON_AddItemToObject(c, "id", cJSON_CreateNull());
		cJSON_AddItemToObject(c, "name", cJSON_CreateNull());
		cJSON_AddItemToObject(c, "input", cJSON_CreateObject());
		cJSON_AddStringToObject(c, "output", "");
		cJSON_AddFalseToObject(c, "is_error");
		cJSON_AddNumberToObject(c, "duration_ms", 0);
		cJSON_AddItemToArray(r->tool_calls, c);
		set_item(c, "id", ev, "id");
		set_item(c, "name", ev, "name");
		set_item(c, "input", ev, "input");
	} else if (c != NULL && strcmp(type, "tool_output") == 0) {
		set_item(c, "output", ev, "output");
	} else if (c != NULL && strcmp(type, "tool_end") == 0) {
		set_item(c, "is_error", ev, "is_error");
		set_item(c, "duration_ms", ev, "duration_ms");
	}
}

/* The run's reply, from the done event. */
static cJSON *build_reply(struct chat_run *r, const cJSON *done)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "session_id", r->id);
	static const char *const fields[] = { "reply", "stop_reason", "turns" };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		cJSON_AddItemToObject(j, fields[i], cJSON_CreateNull());
		set_item(j, fields[i], done, fields[i]);
	}
	cJSON_AddItemToObject(j, "tool_calls", cJSON_Duplicate(r->tool_calls, true));
	cJSON_AddItemToObject(j, "usage", cJSON_CreateNull());
	set_item(j, "usage", done, "usage");
	cJSON_AddNumberToObject(j, "cost_usd", 0);
	set_item(j, "cost_usd", done, "cost_usd");
	cJSON_AddNumberToObject(j, "duration_ms", (double)(clock_mono_ns() - r->start_ns) / 1e6);
	return j;
}

/* Under the lock: the run is over, with result. */
static void end_run(struct chat_run *r, cJSON *result, unsigned status, const char *event)
{
	r->result = result;
	r->status = status;
	r->ended = true;
	sse_emit(r, event, result);
	if (r->link != NULL)
		hub_link_close(r->link);   /* ephemeral: the supervisor tears the sandbox down */
}

static cJSON *error_body(const char *type, const char *message)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(j, "error");
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddStringToObject(e, "message", message);
	return j;
}

static void on_event(void *owner, cJSON *ev)
{
	struct chat_run *r = owner;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	char type[32];
	snprintf(type, sizeof(type), "%s", cJSON_IsString(t) ? t->valuestring : "");
	pthread_mutex_lock(&r->lock);
	if (r->ended || strcmp(type, "message") == 0) {
		/* the transcript is the session API's (later); nothing after the end counts */
	} else if (strcmp(type, "done") == 0) {
		end_run(r, build_reply(r, ev), 200, "done");
	} else if (strcmp(type, "error") == 0) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
		const cJSON *et = cJSON_GetObjectItemCaseSensitive(e, "type");
		const cJSON *em = cJSON_GetObjectItemCaseSensitive(e, "message");
		const char *etype = cJSON_IsString(et) ? et->valuestring : "api_error";
		log_info("chat %s: the run failed: %s: %s", r->id, etype, cJSON_IsString(em) ? em->valuestring : "");
		end_run(r, error_body(etype, cJSON_IsString(em) ? em->valuestring : "the run failed"),
			chat_error_status(etype), "error");
	} else {
		if (strncmp(type, "tool_", 5) == 0)
			record_tool(r, type, ev);
		cJSON_DeleteItemFromObjectCaseSensitive(ev, "type");
		sse_emit(r, type, ev);
	}
	wake(r);
	pthread_mutex_unlock(&r->lock);
	cJSON_Delete(ev);
}

static void on_closed(void *owner, const char *why)
{
	struct chat_run *r = owner;
	pthread_mutex_lock(&r->lock);
	r->link = NULL;
	if (!r->ended) {
		char msg[600];
		snprintf(msg, sizeof(msg), "the session ended before the run finished%s%s", why ? ": " : "",
			 why ? why : "");
		log_warn("chat %s: %s", r->id, msg);
		end_run(r, error_body("api_error", msg), 500, "error");
	}
	wake(r);
	pthread_mutex_unlock(&r->lock);
	unref(r);
}

/* A streaming client waiting through a long tool call gets an SSE comment now and
 * then: proxies keep the connection, and a client that went away is found out (the
 * write fails, the request ends, chat_run_release hangs up on the session). */
static void on_tick(void *owner)
{
	struct chat_run *r = owner;
	static const char ping[] = ": keep-alive\n\n";
	/* the hub holds its list's lock here, and chat_run_start() takes ours before the
	 * hub's: never wait for ours, a busy run is skipped until the next tick */
	if (pthread_mutex_trylock(&r->lock) != 0)
		return;
	if (r->stream && r->suspended && !r->ended && !r->overflow) {
		char *nb = realloc(r->out, r->out_len + sizeof(ping) - 1);
		if (nb != NULL) {
			r->out = nb;
			memcpy(r->out + r->out_len, ping, sizeof(ping) - 1);
			r->out_len += sizeof(ping) - 1;
			wake(r);
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct hub_link_ops run_ops = { on_event, on_closed, on_tick };

static cJSON *turn_payload(const struct chat_request *cr)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "message", cr->message);
	if (cr->history != NULL)
		cJSON_AddItemToObject(t, "history", cJSON_Duplicate(cr->history, true));
	if (cr->model != NULL)
		cJSON_AddStringToObject(t, "model", cr->model);
	if (cr->system != NULL)
		cJSON_AddStringToObject(t, "system", cr->system);
	return t;
}

struct chat_run *chat_run_start(struct app *app, const struct chat_request *cr, bool stream,
				struct ad_err *err)
{
	struct chat_run *r = calloc(1, sizeof(*r));
	unsigned char rnd[12];
	if (r == NULL || (r->tool_calls = cJSON_CreateArray()) == NULL) {
		free(r);
		ad_err_set(err, ENOMEM, "chat run");
		return NULL;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		cJSON_Delete(r->tool_calls);
		free(r);
		ad_err_sys(err, "getrandom");
		return NULL;
	}
	int n = snprintf(r->id, sizeof(r->id), "sess_");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += snprintf(r->id + n, sizeof(r->id) - (size_t)n, "%02x", rnd[i]);
	pthread_mutex_init(&r->lock, NULL);
	r->refs = 1;
	r->stream = stream;
	r->start_ns = clock_mono_ns();
	int fd = spawner_spawn(app->spawner, r->id, err);
	if (fd < 0) {
		unref(r);
		return NULL;
	}
	r->refs++;                      /* the hub's, until on_closed */
	pthread_mutex_lock(&r->lock);
	r->link = hub_attach(app->hub, fd, &run_ops, r, err);
	if (r->link == NULL) {
		r->refs--;
		pthread_mutex_unlock(&r->lock);
		unref(r);
		return NULL;
	}
	cJSON *turn = turn_payload(cr);
	int rc = turn ? hub_link_send(r->link, FRAME_TURN, turn, err) : ad_err_set(err, ENOMEM, "turn");
	cJSON_Delete(turn);
	if (rc < 0)
		hub_link_close(r->link);   /* on_closed ends the run with the reason */
	cJSON *hello = cJSON_CreateObject();
	cJSON_AddStringToObject(hello, "session_id", r->id);
	sse_emit(r, "session", hello);
	cJSON_Delete(hello);
	pthread_mutex_unlock(&r->lock);
	log_info("chat %s: started%s", r->id, stream ? " (streaming)" : "");
	return r;
}

bool chat_run_wait(struct chat_run *r, struct MHD_Connection *conn)
{
	pthread_mutex_lock(&r->lock);
	bool wait = !r->ended;
	if (wait) {
		r->conn = conn;
		r->suspended = true;
		MHD_suspend_connection(conn);
	}
	pthread_mutex_unlock(&r->lock);
	return wait;
}

unsigned chat_run_result(struct chat_run *r, cJSON **body)
{
	pthread_mutex_lock(&r->lock);
	*body = cJSON_Duplicate(r->result, true);
	unsigned status = r->status;
	pthread_mutex_unlock(&r->lock);
	return status;
}

void chat_run_set_conn(struct chat_run *r, struct MHD_Connection *conn)
{
	pthread_mutex_lock(&r->lock);
	r->conn = conn;
	pthread_mutex_unlock(&r->lock);
}

ssize_t chat_run_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct chat_run *r = cls;
	ssize_t n;
	pthread_mutex_lock(&r->lock);
	if (r->overflow) {
		n = MHD_CONTENT_READER_END_WITH_ERROR;
	} else if (r->out_len > r->out_off) {
		size_t avail = r->out_len - r->out_off;
		n = (ssize_t)(avail < max ? avail : max);
		memcpy(buf, r->out + r->out_off, (size_t)n);
		r->out_off += (size_t)n;
	} else if (r->ended) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* nothing yet: park the connection until the hub has something (wake) */
		r->suspended = true;
		MHD_suspend_connection(r->conn);
		n = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

void chat_run_release(void *cls)
{
	struct chat_run *r = cls;
	pthread_mutex_lock(&r->lock);
	if (!r->ended && r->link != NULL) {
		log_info("chat %s: the client went away; ending the session", r->id);
		hub_link_close(r->link);
	}
	r->suspended = false;
	pthread_mutex_unlock(&r->lock);
	unref(r);
}

/* The OP events of a session (include/ipc/protocol.h), and an exec as the session's
 * events: it is told in the words of a turn's tool call, so that a client reads both
 * the same way (README, "Sessions"):
 *
 *   tool_start   {"id": "exec_N", "name": "exec", "input": {"command", "timeout_s" |
 *                 "background"}}
 *   tool_output  {"id", "output"}    a piece of what it printed, as it comes
 *   tool_end     {"id", "name", "is_error", "duration_ms", "exit_status", "signal"?,
 *                 "timed_out", "output_bytes", "error"?}; a background command's:
 *                {"id", "name", "is_error", "process": {"id": "proc_...", ...}}
 *
 * each with the next session-wide id, into the session's log and to the exec's
 * streaming client. The other OPs (files, snapshots) are no events of the session. */
#include "session_int.h"

#include <stdio.h>
#include <string.h>

#include "session/hub.h"

void session_exec_id(char *out, size_t n, const cJSON *op_id)
{
	snprintf(out, n, "exec_%u", cJSON_IsNumber(op_id) ? (unsigned)op_id->valuedouble : 0u);
}

void session_exec_start(struct session *s, const cJSON *op, struct op_run *w)
{
	char xid[32];
	session_exec_id(xid, sizeof(xid), cJSON_GetObjectItemCaseSensitive(op, "id"));
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "id", xid);
	cJSON_AddStringToObject(ev, "name", "exec");
	cJSON *input = cJSON_AddObjectToObject(ev, "input");
	static const char *const keys[] = { "command", "timeout_s", "background" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(op, keys[i]);
		if (v != NULL)
			cJSON_AddItemToObject(input, keys[i], cJSON_Duplicate(v, true));
	}
	unsigned id = ++s->next_event_id;
	session_log_event(s, id, "tool_start", ev);
	op_run_stream(w, id, "tool_start", ev);
	cJSON_Delete(ev);
}

bool session_exec_failed(const cJSON *end)
{
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(end, "ok");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(end, "exit_status");
	/* a background command's exec is over once it has started */
	bool started = cJSON_HasObjectItem(end, "process");
	return !cJSON_IsTrue(ok) || (!started && (!cJSON_IsNumber(st) || st->valueint != 0));
}

/* An exec's op_output or op_end as its tool event (NULL when ev is neither). */
static cJSON *exec_event(const cJSON *ev, bool end)
{
	char xid[32];
	session_exec_id(xid, sizeof(xid), cJSON_GetObjectItemCaseSensitive(ev, "id"));
	if (!end) {
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
		if (!cJSON_IsString(data))
			return NULL;
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "id", xid);
		cJSON_AddStringToObject(out, "output", data->valuestring);
		return out;
	}
	cJSON *out = cJSON_Duplicate(ev, true);
	bool failed = session_exec_failed(ev);
	static const char *const drop[] = { "type", "ok", "id" };
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(out, drop[i]);
	cJSON_AddStringToObject(out, "id", xid);
	cJSON_AddStringToObject(out, "name", "exec");
	cJSON_AddBoolToObject(out, "is_error", failed);
	return out;
}

void session_op_hold(struct session *s, struct op_run *w, bool hold)
{
	pthread_mutex_lock(&s->lock);
	if (s->link != NULL && (s->op == w || !hold) && s->op_held != hold) {
		hub_link_hold(s->link, hold);
		s->op_held = hold;
	}
	pthread_mutex_unlock(&s->lock);
}

void session_op_event(struct session *s, const char *type, cJSON *ev)
{
	struct op_run *op = s->op;
	bool end = strcmp(type, "op_end") == 0;
	session_history_event(s, type, ev);
	cJSON *tev = strcmp(s->op_kind, "exec") == 0 ? exec_event(ev, end) : NULL;
	const char *ttype = end ? "tool_end" : "tool_output";
	unsigned id = 0;
	if (tev != NULL) {
		id = ++s->next_event_id;
		session_log_event(s, id, ttype, tev);
	}
	if (end)
		s->op = NULL;            /* its reference is ours now */
	if (end && s->op_held && s->link != NULL)   /* what comes next is not its waiter's */
		hub_link_hold(s->link, false);
	s->op_held &= !end;
	if (op != NULL && !end)
		op_run_ref(op);
	pthread_mutex_unlock(&s->lock);
	if (op != NULL) {
		if (tev != NULL)
			op_run_stream(op, id, ttype, tev);
		op_run_event(op, ev);
		op_run_unref(op);
	}
	cJSON_Delete(tev);
	cJSON_Delete(ev);
}

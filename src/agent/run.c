/* One run: see include/agent/run.h.
 *
 * A turn is one user message and the model calls it takes. The reply's stop_reason decides
 * what follows:
 *   tool_use      its tool_use blocks run in order, their results go back in one user
 *                 message, and the model is called again;
 *   pause_turn    the reply is kept and the model called again without a new user
 *                 message: it continues the same assistant message;
 *   others        (end_turn, stop_sequence, refusal, max_tokens, newer ones) end the run.
 * A max_tokens reply's tool_use blocks are not run (their input may be cut) and are
 * dropped from the message kept, as a tool_use without a result would make the next
 * request invalid; a reply left with nothing is not kept at all, and the next user text
 * joins the user message before it (agent/conversation.h). */
#include "agent/run.h"
#include "run_int.h"
#include "agent/compact.h"
#include "agent/host_tools.h"
#include "agent/mcp_stdio.h"
#include "agent/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "ipc/frame.h"
#include "ipc/link.h"

struct run {
	struct agent *a;
	const char *model, *system;
	long thinking;              /* extended thinking's budget, 0: none */
	long model_calls;
	bool marked;
	struct conv_mark mark;      /* the conversation before the run's user message */
	int last_assistant;         /* this run's last assistant message, or -1 */
	bool held;                  /* it is a paused reply: its message event waits */
	bool too_long_seen;         /* the API said "prompt is too long" once in this run */
	bool compacted;             /* the conversation was summarised since the last call */
	char stop[64];              /* the last stop_reason, then how the run ended */
};

int run_event(struct agent *a, cJSON *ev, struct ad_err *err)
{
	return link_send_take(a->link.fd, FRAME_RUN_EVENT, ev, err);
}

int run_fail(struct agent *a, const char *type, const char *message, struct ad_err *err)
{
	a->running = false;
	cJSON *ev = json_error(type, message);
	cJSON_AddStringToObject(ev, "type", "error");
	return run_event(a, ev, err);
}

static int emit_message(struct agent *a, const cJSON *message, struct ad_err *err)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "message");
	cJSON_AddItemToObject(ev, "message", cJSON_Duplicate(message, true));
	return run_event(a, ev, err);
}

/* The run ends on a failure: back to where it started, so that the next TURN sends a
 * valid conversation; the client is told the supervisor's (or the API's) words. */
static int end_error(struct run *r, const char *type, const char *message, struct ad_err *err)
{
	if (r->marked)
		conv_rollback(r->a->conv, r->mark);
	return run_fail(r->a, type, message, err);
}

static int end_done(struct run *r, struct ad_err *err)
{
	const cJSON *last = cJSON_GetArrayItem(conv_messages(r->a->conv), r->last_assistant);
	if (r->held && emit_message(r->a, last, err) < 0)
		return -1;
	_cleanup_free_ char *reply = last ? conv_text(last) : strdup("");
	r->a->running = false;
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "done");
	cJSON_AddStringToObject(ev, "reply", reply ? reply : "");
	cJSON_AddStringToObject(ev, "stop_reason", r->stop);
	cJSON_AddNumberToObject(ev, "model_calls", (double)r->model_calls);
	return run_event(r->a, ev, err);
}

/* A frame that came during the run, waiting up to timeout_ms for one: 1 for a CANCEL,
 * 0 when none came; anything else but the rest of an abandoned call breaks the protocol. */
int run_cancel_came(struct agent *a, int timeout_ms, struct ad_err *err)
{
	for (;;) {
		unsigned type;
		_cleanup_cjson_ cJSON *p = NULL;
		int rc = model_link_next(&a->link, timeout_ms, &type, &p, err);
		if (rc <= 0)
			return rc;
		if (type == FRAME_CANCEL)
			return 1;
		if (model_late_frame(&a->link, type, err) < 0)
			return -1;
	}
}

/* One tool call with its events; *cancelled when a CANCEL stopped it. */
static int call_tool(struct agent *a, const cJSON *use, struct tool_result *tr, bool *cancelled,
		     struct ad_err *err)
{
	const char *id = json_str(use, "id"), *name = json_str(use, "name");
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(use, "input");
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "tool_start");
	cJSON_AddStringToObject(ev, "id", id);
	cJSON_AddStringToObject(ev, "name", name);
	cJSON_AddItemToObject(ev, "input", cJSON_Duplicate(input, true));
	if (run_event(a, ev, err) < 0)
		return -1;
	uint64_t t0 = clock_mono_ns();
	bool stopped, cancel_read = false;
	if (mcp_stdio_has(a->mcp, name)) {
		stopped = mcp_stdio_call(a->mcp, name, input, a->link.fd, tr);
	} else if (host_tool_named(a->host_tools, name)) {
		int rc = host_tool_call(a, id, name, input, tr, err);
		if (rc < 0)
			return -1;
		stopped = cancel_read = rc == 1;
	} else {
		stopped = toolbox_run(a->tools, name, input, tr);
	}
	double ms = clock_ms_since(t0);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "tool_output");
	cJSON_AddStringToObject(ev, "id", id);
	cJSON_AddStringToObject(ev, "output", tool_result_text(tr));
	if (run_event(a, ev, err) < 0)
		return -1;
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "tool_end");
	cJSON_AddStringToObject(ev, "id", id);
	cJSON_AddStringToObject(ev, "name", name);
	cJSON_AddBoolToObject(ev, "is_error", tr->is_error);
	cJSON_AddNumberToObject(ev, "duration_ms", ms);
	if (tr->exit_status >= 0)
		cJSON_AddNumberToObject(ev, "exit_status", tr->exit_status);
	if (run_event(a, ev, err) < 0)
		return -1;
	/* what made the socket readable is a CANCEL; anything else breaks the protocol */
	int rc = cancel_read ? 1 : stopped ? run_cancel_came(a, -1, err) : 0;
	if (rc < 0 || (stopped && rc == 0))
		return rc < 0 ? -1 : ad_err_set(err, 0, "a tool was stopped, but no cancel came");
	*cancelled = stopped;
	return 0;
}

/* Run the tool_use blocks of message in order and add their results as one user message;
 * after a CANCEL, the ones not run are answered "interrupted". */
static int run_tools(struct run *r, const cJSON *message, bool *cancelled, struct ad_err *err)
{
	struct agent *a = r->a;
	_cleanup_cjson_ cJSON *results = cJSON_CreateArray();
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(message, "content")) {
		if (strcmp(json_str(b, "type"), "tool_use") != 0)
			continue;
		struct tool_result tr;
		tool_result_init(&tr);
		int rc = *cancelled ? 1 : run_cancel_came(a, 0, err);
		if (rc == 0) {
			rc = call_tool(a, b, &tr, cancelled, err);
		} else if (rc == 1) {
			*cancelled = true;
			tool_result_error(&tr, "interrupted");
		}
		if (rc < 0) {
			tool_result_free(&tr);
			return -1;
		}
		cJSON *res = cJSON_CreateObject();
		cJSON_AddStringToObject(res, "type", "tool_result");
		cJSON_AddStringToObject(res, "tool_use_id", json_str(b, "id"));
		/* content is optional, and an empty one is refused next to is_error */
		if (tr.blocks != NULL && cJSON_GetArraySize(tr.blocks) > 0)
			cJSON_AddItemToObject(res, "content", cJSON_Duplicate(tr.blocks, true));
		else if (tool_result_text(&tr)[0] != '\0')
			cJSON_AddStringToObject(res, "content", tool_result_text(&tr));
		if (tr.is_error)
			cJSON_AddTrueToObject(res, "is_error");
		tool_result_free(&tr);
		cJSON_AddItemToArray(results, res);
	}
	const cJSON *m = conv_add(a->conv, "user", steal_pointer(&results));
	if (m == NULL)
		return ad_err_set(err, ENOMEM, "tool results");
	return emit_message(a, m, err);
}

/* Keep a reply and act on its stop_reason: 1 to call the model again, 0 when the run
 * ends (r->stop), -1 on a failure. */
static int take_reply(struct run *r, const cJSON *reply, struct ad_err *err)
{
	struct agent *a = r->a;
	const char *reason = json_str(reply, "stop_reason") ? json_str(reply, "stop_reason") : "end_turn";
	bool tool_use = strcmp(reason, "tool_use") == 0, paused = strcmp(reason, "pause_turn") == 0;
	/* the reply filled the context window: with old tool results cleared it goes on, as
	 * after a pause; with nothing left to clear the run ends there */
	if (strcmp(reason, "model_context_window_exceeded") == 0) {
		int n = run_make_room(a, r->model, r->system, err);
		if (n < 0)
			return -1;
		paused = n > 0;
	}
	cJSON *content = conv_reply_content(reply, tool_use);
	if (content == NULL)
		return ad_err_set(err, ENOMEM, "reply");
	const cJSON *m = NULL;
	if (cJSON_GetArraySize(content) == 0) {
		cJSON_Delete(content);     /* nothing to keep (see the top of the file) */
	} else {
		if ((m = conv_add(a->conv, "assistant", content)) == NULL)
			return ad_err_set(err, ENOMEM, "reply");
		r->last_assistant = conv_size(a->conv) - 1;
		r->held = paused;
		if (!paused && emit_message(a, m, err) < 0)
			return -1;
	}
	snprintf(r->stop, sizeof(r->stop), "%s", reason);
	if (paused)
		return 1;
	bool any = false;
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(m, "content"))
		any |= strcmp(json_str(b, "type"), "tool_use") == 0;
	if (!tool_use || !any)
		return 0;
	bool cancelled = false;
	if (run_tools(r, m, &cancelled, err) < 0)
		return -1;
	if (cancelled)
		snprintf(r->stop, sizeof(r->stop), "interrupted");
	return !cancelled;
}

/* The conversation summarised (agent/compact.h): 1 to go on, 2 when a CANCEL came
 * (r->stop), 0 when the run ended with an error event (the summary failed), -1 on a
 * failure. */
static int compact(struct run *r, struct ad_err *err)
{
	struct model_failure fail;
	r->model_calls++;
	int rc = compact_conversation(r->a, r->model, r->system, &fail, err);
	if (rc < 0)
		return -1;
	if (rc == COMPACT_CANCELLED) {
		snprintf(r->stop, sizeof(r->stop), "interrupted");
		return 2;
	}
	if (rc == COMPACT_FAILED)
		return end_error(r, fail.type, fail.message, err);
	/* the conversation the run began with is gone: nothing to roll back to, and this
	 * run's messages are in the summary */
	r->marked = false;
	r->last_assistant = -1;
	r->held = false;
	r->compacted = true;
	return 1;
}

/* Model calls until the run ends: 1 when it ends with a done event (r->stop), 0 when
 * it ended with an error event, -1 on a failure. */
static int model_calls(struct run *r, struct ad_err *err)
{
	struct agent *a = r->a;
	for (;;) {
		if (r->model_calls >= a->max_model_calls) {
			/* protocol.h: pause_turn when the model kept pausing until max_model_calls */
			if (strcmp(r->stop, "pause_turn") != 0)
				snprintf(r->stop, sizeof(r->stop), "max_model_calls");
			return 1;
		}
		int rc = run_cancel_came(a, 0, err);
		if (rc != 0) {
			snprintf(r->stop, sizeof(r->stop), "interrupted");
			return rc;
		}
		/* the conversation keeps the API's rules by construction; a slip is our bug,
		 * and ends the run rather than sending what the API would refuse */
		struct ad_err why;
		if (conv_check(conv_messages(a->conv), &why) < 0)
			return end_error(r, "agent_error", why.msg, err);
		if (mcp_stdio_refresh(a->mcp)) {       /* a server's tools changed */
			while (cJSON_GetArraySize(a->tooldefs) > a->base_tools)
				cJSON_DeleteItemFromArray(a->tooldefs, a->base_tools);
			mcp_stdio_tooldefs(a->mcp, a->tooldefs);
		}
		size_t bytes = 0;
		cJSON *req = NULL;
		rc = run_request(a, r->model, r->system, r->thinking, &req, &bytes, err);
		if (rc < 0)
			return -1;
		if (rc > 0 && !r->compacted) {
			rc = compact(r, err);
			if (rc != 1)
				return rc == 2 ? 1 : rc;
			continue;
		}
		if (rc > 0) {
			char msg[AD_ERR_MSG_MAX];
			snprintf(msg, sizeof(msg), "the conversation (about %lld tokens) no longer fits the model's "
				 "context window of %lld tokens, even summarised; start a new session",
				 (long long)context_estimate(&a->ctx, bytes), (long long)a->ctx.window);
			return end_error(r, "invalid_request_error", msg, err);
		}
		r->compacted = false;
		struct claude_stream *reply = NULL;
		struct model_failure fail;
		r->model_calls++;
		rc = model_call(&a->link, req, &reply, &fail, err);
		cJSON_Delete(req);
		if (rc < 0)
			return -1;
		if (rc == MODEL_CANCELLED) {
			snprintf(r->stop, sizeof(r->stop), "interrupted");
			return 1;
		}
		/* a prompt the API found too long: measured by its own count, the next request
		 * is made to fit; once a run, never in a loop */
		if (rc == MODEL_FAILED && !r->too_long_seen && context_too_long(&a->ctx, bytes, fail.message) > 0) {
			r->too_long_seen = true;
			continue;
		}
		if (rc == MODEL_FAILED)
			return end_error(r, fail.type, fail.message, err);
		context_learn(&a->ctx, bytes, cJSON_GetObjectItemCaseSensitive(claude_stream_message(reply), "usage"));
		rc = take_reply(r, claude_stream_message(reply), err);
		claude_stream_free(reply);
		if (rc <= 0)
			return rc < 0 ? -1 : 1;
	}
}

int run_turn(struct agent *a, const cJSON *turn, struct ad_err *err)
{
	if (runtime_other(turn)) {
		toolbox_stop_shell(a->tools);   /* a pooled sandbox's, which this session never uses */
		return runtime_turn(a, turn, err);
	}
	const cJSON *message = cJSON_GetObjectItemCaseSensitive(turn, "message");
	const cJSON *history = cJSON_GetObjectItemCaseSensitive(turn, "history");
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(turn, "model");
	const cJSON *system = cJSON_GetObjectItemCaseSensitive(turn, "system");
	const cJSON *thinking = cJSON_GetObjectItemCaseSensitive(turn, "thinking");
	a->running = true;          /* for the supervisor, the TURN started a run */
	if (!cJSON_IsString(message) || (history && !cJSON_IsArray(history)) ||
	    (model && !cJSON_IsString(model)) || (system && !cJSON_IsString(system)) ||
	    (thinking && (!cJSON_IsNumber(thinking) || thinking->valuedouble < 0 || thinking->valuedouble > 1e9)))
		return ad_err_set(err, 0, "a turn frame is {\"message\": string, \"history\"?: array, "
				  "\"model\"?: string, \"system\"?: string, \"thinking\"?: tokens}");
	struct run r = {
		.a = a, .model = model ? model->valuestring : a->model,
		.system = system ? system->valuestring : a->system, .last_assistant = -1,
		.thinking = thinking ? (long)thinking->valuedouble : a->thinking_budget,
	};
	struct ad_err why;
	if (message->valuestring[strspn(message->valuestring, " \t\n\r")] == '\0')
		return end_error(&r, "invalid_request_error", "the message is empty", err);
	if (history && conv_size(a->conv) == 0 && conv_seed(a->conv, history, &why) < 0)
		return end_error(&r, "invalid_request_error", why.msg, err);
	r.mark = conv_mark(a->conv);
	r.marked = true;
	cJSON *added = conv_add_user_text(a->conv, message->valuestring);
	if (added == NULL)
		return ad_err_set(err, ENOMEM, "user message");
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "message");
	cJSON_AddItemToObject(ev, "message", added);
	if (run_event(a, ev, err) < 0)
		return -1;
	int rc = model_calls(&r, err);
	return rc > 0 ? end_done(&r, err) : rc;
}

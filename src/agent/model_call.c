/* One model call through the supervisor: see include/agent/model_call.h. */
#include "agent/model_call.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "ipc/frame.h"
#include "ipc/link.h"

static int fail_with(struct model_failure *fail, const char *type, const char *message)
{
	snprintf(fail->type, sizeof(fail->type), "%s", type);
	snprintf(fail->message, sizeof(fail->message), "%s", message);
	return MODEL_FAILED;
}

int model_link_next(struct model_link *l, int timeout_ms, unsigned *type, cJSON **payload, struct ad_err *err)
{
	int rc = inbox_next(l->in, timeout_ms, type, payload, err);
	if (rc == 0 && inbox_eof(l->in))
		return ad_err_set(err, 0, "the supervisor hung up%s",
				  l->end_owed ? " during a model call" : "");
	return rc;
}

int model_late_frame(struct model_link *l, unsigned type, struct ad_err *err)
{
	if (type == FRAME_TOOL_RESULT && l->result_owed) {
		l->result_owed = false;
		return 0;
	}
	if (!l->end_owed || (type != FRAME_API_EVENT && type != FRAME_API_END))
		return ad_err_set(err, 0, "unexpected %s frame", frame_type_name(type));
	if (type == FRAME_API_END)
		l->end_owed = false;
	return 0;
}

/* The rest of an abandoned call, before a new one: 1 when a CANCEL came meanwhile. */
static int settle(struct model_link *l, struct ad_err *err)
{
	while (l->end_owed) {
		unsigned type;
		_cleanup_cjson_ cJSON *p = NULL;
		if (model_link_next(l, -1, &type, &p, err) < 0)
			return -1;
		if (type == FRAME_CANCEL)
			return 1;
		if (model_late_frame(l, type, err) < 0)
			return -1;
	}
	return 0;
}

/* A text or thinking delta goes to the client at once, as the stream parsed it. */
static int pass_text(struct model_link *l, const struct claude_stream *s, struct ad_err *err)
{
	size_t len = 0;
	const char *kind = "text", *text = claude_stream_text_delta(s, &len);
	if (text == NULL)
		kind = "thinking", text = claude_stream_thinking_delta(s, &len);
	if (text == NULL || len == 0)
		return 0;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "type", kind);
	cJSON_AddStringToObject(out, kind, text);
	return link_send_take(l->fd, FRAME_RUN_EVENT, out, err);
}

/* The API_END: how the call ended. */
static int on_end(const cJSON *end, struct claude_stream *s, const struct model_failure *stream_fail,
		  struct model_failure *fail, struct ad_err *err)
{
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(end, "ok");
	if (!cJSON_IsBool(ok))
		return ad_err_set(err, 0, "an api_end frame without \"ok\"");
	if (cJSON_IsTrue(ok)) {
		if (stream_fail->type[0])
			return fail_with(fail, stream_fail->type, stream_fail->message);
		if (!claude_stream_done(s))
			return fail_with(fail, "api_error", "the reply ended before its message_stop event");
		return MODEL_REPLY;
	}
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(end, "error");
	const char *type = json_str(e, "type"), *message = json_str(e, "message");
	/* the supervisor abandons the call when the client cancels, and says so here */
	if (type != NULL && strcmp(type, "cancelled") == 0)
		return MODEL_CANCELLED;
	return fail_with(fail, type ? type : "api_error", message ? message : "the model call failed");
}

/* Read the call's frames until its API_END or a CANCEL. */
static int receive(struct model_link *l, struct claude_stream *s, struct model_failure *fail,
		   struct ad_err *err)
{
	struct model_failure stream_fail = { "", "" };
	for (;;) {
		unsigned type;
		_cleanup_cjson_ cJSON *p = NULL;
		if (model_link_next(l, -1, &type, &p, err) < 0)
			return -1;
		if (type == FRAME_CANCEL)
			return MODEL_CANCELLED;
		if (type == FRAME_API_END) {
			l->end_owed = false;
			return on_end(p, s, &stream_fail, fail, err);
		}
		const char *event = json_str(p, "event");
		cJSON *data = cJSON_GetObjectItemCaseSensitive(p, "data");
		if (type != FRAME_API_EVENT)
			return ad_err_set(err, 0, "a %s frame during a model call", frame_type_name(type));
		if (event == NULL || !cJSON_IsObject(data))
			return ad_err_set(err, 0, "an api_event frame without \"event\" (a string) and \"data\" (an object)");
		if (stream_fail.type[0])
			continue;   /* the stream failed: wait for the end */
		struct ad_err why;
		if (claude_stream_event_json(s, event, data, &why) < 0) {
			const char *api = claude_stream_api_error(s);
			fail_with(&stream_fail, api ? api : "api_error", why.msg);
		} else if (pass_text(l, s, err) < 0) {
			return -1;
		}
	}
}

int model_call(struct model_link *l, cJSON *request, struct claude_stream **reply,
	       struct model_failure *fail, struct ad_err *err)
{
	int rc = settle(l, err);
	if (rc != 0)
		return rc < 0 ? -1 : MODEL_CANCELLED;
	cJSON *payload = cJSON_CreateObject();
	if (payload == NULL || !cJSON_AddItemReferenceToObject(payload, "request", request)) {
		cJSON_Delete(payload);
		return ad_err_set(err, ENOMEM, "model request");
	}
	/* a conversation past the frame's cap fails this run, not the session: the frame is
	 * refused before a byte of it is sent */
	if (link_send_take(l->fd, FRAME_API_REQUEST, payload, err) < 0)
		return err->errnum == EMSGSIZE || err->errnum == ENOMEM
			       ? fail_with(fail, "request_too_large", err->errnum == ENOMEM ? "out of memory"
					   : "the conversation is larger than agentd's frames can carry; start a new session")
			       : -1;
	l->end_owed = true;
	struct claude_stream *s = claude_stream_new(AGENT_REPLY_MAX);
	if (s == NULL)
		return ad_err_set(err, ENOMEM, "reply stream");
	rc = receive(l, s, fail, err);
	if (rc == MODEL_REPLY)
		*reply = s;
	else
		claude_stream_free(s);
	return rc;
}

/* Compaction: see include/agent/compact.h. */
#include "agent/compact.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_int.h"
#include "agent/context.h"
#include "agent/conversation.h"
#include "core/cleanup.h"
#include "core/json.h"

#define SUMMARY_ASK                                                                                  \
	"The conversation no longer fits your context window. Write a summary of it that lets you go " \
	"on with the work without it: what the user asked for and why, what has been done (commands, "  \
	"files created or changed, with their paths), what was found, the errors met and how they "   \
	"were solved, and what remains to be done next. Answer with the summary only."
#define SUMMARY_INTRO                                                                              \
	"This session continues a conversation that outgrew the context window; this is its "        \
	"summary. Go on with the work from where it stopped, without asking the user again.\n\n"
#define ORPHAN_NOTE "[the result of a tool call that is no longer shown]"

/* The summary call's conversation and request (which refers to it). */
struct summary {
	struct conv *conv;
	cJSON *req;
	size_t bytes;
};

static void summary_free(struct summary *s)
{
	cJSON_Delete(s->req);
	conv_free(s->conv);
	*s = (struct summary){ 0 };
}

/* The first message lost the replies its tool results answered: notes instead. */
static void orphan_results(cJSON *m)
{
	cJSON *b, *content = cJSON_GetObjectItemCaseSensitive(m, "content");
	cJSON_ArrayForEach(b, content) {
		const char *type = json_str(b, "type");
		if (type == NULL || strcmp(type, "tool_result") != 0)
			continue;
		cJSON *note = cJSON_CreateObject();
		cJSON_AddStringToObject(note, "type", "text");
		cJSON_AddStringToObject(note, "text", ORPHAN_NOTE);
		cJSON_ReplaceItemViaPointer(content, b, note);
		b = note;
	}
}

/* msgs (taken) with every tool result cleared and the request to summarise them. */
static int summary_of(struct agent *a, const char *model, const char *system, cJSON *msgs, struct summary *s,
		      struct ad_err *err)
{
	struct ad_err why;
	*s = (struct summary){ .conv = conv_new() };
	int rc = s->conv == NULL ? ad_err_set(err, ENOMEM, "compaction") : 0;
	if (rc == 0 && conv_seed(s->conv, msgs, &why) < 0)
		rc = ad_err_set(err, 0, "compaction: the conversation is not valid: %s", why.msg);
	cJSON_Delete(msgs);
	if (rc == 0) {
		conv_clear_results(s->conv, 0);
		cJSON_Delete(conv_add_user_text(s->conv, SUMMARY_ASK));
		s->req = conv_request(s->conv, model, a->max_tokens, system, a->tooldefs);
		cJSON *choice = s->req != NULL ? cJSON_AddObjectToObject(s->req, "tool_choice") : NULL;
		if (choice == NULL || cJSON_AddStringToObject(choice, "type", "none") == NULL)
			rc = ad_err_set(err, ENOMEM, "compaction");
	}
	if (rc < 0)
		summary_free(s);
	else
		s->bytes = run_printed_size(s->req);
	return rc;
}

int compact_conversation(struct agent *a, const char *model, const char *system, struct model_failure *fail,
			 struct ad_err *err)
{
	cJSON *msgs = cJSON_Duplicate(conv_messages(a->conv), true);
	if (msgs == NULL)
		return ad_err_set(err, ENOMEM, "compaction");
	cJSON *before_req = conv_request(a->conv, model, a->max_tokens, system, a->tooldefs);
	int64_t before = context_estimate(&a->ctx, before_req != NULL ? run_printed_size(before_req) : 0);
	cJSON_Delete(before_req);
	struct summary s = { 0 };
	/* the oldest exchange goes (a user message and the reply to it) while it does not fit */
	for (;;) {
		cJSON *copy = cJSON_Duplicate(msgs, true);
		if (copy == NULL || summary_of(a, model, system, copy, &s, err) < 0) {
			cJSON_Delete(msgs);
			return copy == NULL ? ad_err_set(err, ENOMEM, "compaction") : -1;
		}
		if (context_fits(&a->ctx, s.bytes) || cJSON_GetArraySize(msgs) <= 2)
			break;
		summary_free(&s);
		cJSON_DeleteItemFromArray(msgs, 0);
		cJSON_DeleteItemFromArray(msgs, 0);
		orphan_results(cJSON_GetArrayItem(msgs, 0));
	}
	cJSON_Delete(msgs);
	struct claude_stream *reply = NULL;
	int rc = model_call(&a->link, s.req, &reply, fail, err);
	size_t bytes = s.bytes;
	summary_free(&s);
	if (rc < 0 || rc == MODEL_CANCELLED || rc == MODEL_FAILED)
		return rc < 0 ? -1 : rc == MODEL_CANCELLED ? COMPACT_CANCELLED : COMPACT_FAILED;
	const cJSON *message = claude_stream_message(reply);
	context_learn(&a->ctx, bytes, cJSON_GetObjectItemCaseSensitive(message, "usage"));
	_cleanup_free_ char *summary = conv_text(message);
	claude_stream_free(reply);
	if (summary == NULL || summary[strspn(summary, " \t\n\r")] == '\0') {
		snprintf(fail->type, sizeof(fail->type), "api_error");
		snprintf(fail->message, sizeof(fail->message), "the model's summary of the conversation was empty");
		return COMPACT_FAILED;
	}
	_cleanup_free_ char *text = malloc(strlen(SUMMARY_INTRO) + strlen(summary) + 1);
	struct conv *fresh = text != NULL ? conv_new() : NULL;
	if (fresh == NULL)
		return ad_err_set(err, ENOMEM, "compaction");
	strcpy(text, SUMMARY_INTRO);
	strcat(text, summary);
	cJSON_Delete(conv_add_user_text(fresh, text));
	conv_free(a->conv);
	a->conv = fresh;
	cJSON *after_req = conv_request(a->conv, model, a->max_tokens, system, a->tooldefs);
	int64_t after = context_estimate(&a->ctx, after_req != NULL ? run_printed_size(after_req) : 0);
	cJSON_Delete(after_req);
	return run_compact_event(a, summary, 0, before, after, err) < 0 ? -1 : COMPACT_DONE;
}

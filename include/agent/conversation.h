/* The conversation an agent keeps across its runs: Messages API messages
 * ({role, content: [blocks]}), always in a shape the API takes once the run that is
 * adding to it ends: roles alternate starting with user, no empty content, every
 * tool_use answered by one tool_result at the start of the next user message.
 *
 * It may end with a user message between runs (the tool results of a run stopped by
 * max_model_calls or a cancel, or a message whose reply was cut away): the next user text
 * then joins that message as one more block, so two user messages never follow each
 * other. A run that fails is rolled back to its mark. */
#ifndef AGENTD_AGENT_CONVERSATION_H
#define AGENTD_AGENT_CONVERSATION_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct conv;

struct conv *conv_new(void);
void conv_free(struct conv *c);
/* The messages array (owned by c). */
const cJSON *conv_messages(const struct conv *c);
/* A Messages API request for the conversation as it is: stream on, system left out
 * when empty; the messages and tools are referenced, not copied (keep both alive). */
cJSON *conv_request(const struct conv *c, const char *model, long max_tokens, const char *system, cJSON *tools);
int conv_size(const struct conv *c);

/* Seed an empty conversation with a client's history [{role, content}...]: content as a
 * string or blocks; consecutive messages of one role merged, as the API itself does (a
 * transcript rebuilt from message events can hold two user messages in a row); then
 * checked with conv_check(). On failure the conversation stays empty. */
int conv_seed(struct conv *c, const cJSON *history, struct ad_err *err);

/* Where a run started, to roll back to. */
struct conv_mark {
	int messages;         /* how many messages */
	int blocks;           /* blocks of the last one (-1: none) */
};
struct conv_mark conv_mark(const struct conv *c);
void conv_rollback(struct conv *c, struct conv_mark m);

/* Add a user's text. Returns what was added, as a new {role, content} (the event's). */
cJSON *conv_add_user_text(struct conv *c, const char *text);
/* Add the blocks of content (taken) to a message of role: a new message, or the last
 * one when it has that role already (a reply continuing after pause_turn, a user text
 * after tool results). Returns the message as it is now (owned by c), or NULL. */
const cJSON *conv_add(struct conv *c, const char *role, cJSON *content);

/* The blocks of a streamed reply worth keeping: text that is not blank (as {type,
 * text}), tool_use when keep_tool_use (as {type, id, name, input}), others as they are.
 * A new array, NULL when out of memory. */
cJSON *conv_reply_content(const cJSON *reply, bool keep_tool_use);
/* The text blocks of a message joined (a new string). */
char *conv_text(const cJSON *message);

/* Clear the content of every tool result but the newest keep: it becomes CONV_CLEARED
 * (is_error and the pairing with its tool_use stay). How many were cleared now. */
#define CONV_CLEARED "[cleared to save context: this tool result is no longer shown; run the tool again if it is needed]"
int conv_clear_results(struct conv *c, int keep);

/* The Messages API's rules for a conversation about to be sent (see above); a trailing
 * assistant message is allowed (a paused reply), pending tool_use ids are not. */
int conv_check(const cJSON *messages, struct ad_err *err);

#endif

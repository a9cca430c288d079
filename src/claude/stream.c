/* Putting a streamed message back together: see include/claude/stream.h. */
#include "claude/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cleanup.h"
#include "core/json.h"

/* What the deltas of the open block add up to, kept in growing buffers and placed in
 * the block once it stops: one copy of each piece, however long the block grows. */
enum piece { PIECE_TEXT, PIECE_THINKING, PIECE_SIGNATURE, PIECE_JSON, PIECES };
static const char *const piece_key[PIECES] = { "text", "thinking", "signature", NULL };

struct claude_stream {
	size_t max, used;          /* bytes of text, thinking and JSON taken so far */
	cJSON *message;            /* from message_start on */
	cJSON *content;            /* message's content array */
	int open;                  /* index of the block being streamed, or -1 */
	struct buf piece[PIECES];  /* of the open block; the JSON is its tool input */
	bool started[PIECES];      /* the buffer holds the block's own start value too */
	size_t delta_off, delta_len; /* the last event's text or thinking delta in piece[delta_piece] */
	int delta_piece;
	bool delta;
	bool done;
	char api_error[64];
};

struct claude_stream *claude_stream_new(size_t max_bytes)
{
	struct claude_stream *s = calloc(1, sizeof(*s));
	if (s != NULL) {
		s->max = max_bytes;
		s->open = -1;
		for (int i = 0; i < PIECES; i++)
			buf_init(&s->piece[i], max_bytes);
	}
	return s;
}

void claude_stream_free(struct claude_stream *s)
{
	if (s == NULL)
		return;
	cJSON_Delete(s->message);
	for (int i = 0; i < PIECES; i++)
		buf_free(&s->piece[i]);
	free(s);
}

bool claude_stream_done(const struct claude_stream *s)
{
	return s->done;
}

const cJSON *claude_stream_message(const struct claude_stream *s)
{
	return s->message;
}

static const char *delta_of(const struct claude_stream *s, enum piece i, size_t *len)
{
	if (!s->delta || s->delta_piece != (int)i)
		return NULL;
	*len = s->delta_len;
	return s->piece[i].data + s->delta_off;
}

const char *claude_stream_text_delta(const struct claude_stream *s, size_t *len)
{
	return delta_of(s, PIECE_TEXT, len);
}

const char *claude_stream_thinking_delta(const struct claude_stream *s, size_t *len)
{
	return delta_of(s, PIECE_THINKING, len);
}

const char *claude_stream_api_error(const struct claude_stream *s)
{
	return s->api_error[0] ? s->api_error : NULL;
}

/* obj[key] = item, replacing or adding (case-sensitively: JSON keys are); the item is
 * freed when it cannot be placed. */
static int set_item(cJSON *obj, const char *key, cJSON *item, struct ad_err *err)
{
	bool ok = item != NULL &&
		  (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL
			   ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)
			   : cJSON_AddItemToObject(obj, key, item));
	if (!ok) {
		cJSON_Delete(item);
		return ad_err_set(err, ENOMEM, "stream");
	}
	return 0;
}

static int charge(struct claude_stream *s, size_t n, struct ad_err *err)
{
	if (n > s->max - s->used)
		return ad_err_set(err, 0, "streamed message larger than %zu bytes", s->max);
	s->used += n;
	return 0;
}

/* Empty a piece's buffer, keeping its memory. */
static void piece_clear(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Append a delta's text to piece i of the open block, after the value the block
 * started with (content_block_start's "text": "" and the like). */
static int append(struct claude_stream *s, const cJSON *block, enum piece i, const char *text, struct ad_err *err)
{
	size_t add = strlen(text);
	if (charge(s, add, err) < 0)
		return -1;
	struct buf *b = &s->piece[i];
	if (!s->started[i] && piece_key[i] != NULL && json_str(block, piece_key[i]) != NULL)
		buf_puts(b, json_str(block, piece_key[i]));
	s->started[i] = true;
	size_t off = b->len;
	buf_append(b, text, add);
	if (b->dropped > 0)
		return ad_err_set(err, b->oom ? ENOMEM : 0, "streamed message larger than %zu bytes", s->max);
	if (i == PIECE_TEXT || i == PIECE_THINKING) {
		s->delta = true;
		s->delta_piece = i;
		s->delta_off = off;
		s->delta_len = add;
	}
	return 0;
}

/* The open block stops: its text, thinking and signature go in, the buffers are
 * emptied for the next block (keeping their memory). */
static int place_pieces(struct claude_stream *s, cJSON *block, struct ad_err *err)
{
	for (int i = 0; i < PIECES; i++) {
		bool had = s->started[i];
		s->started[i] = false;
		if (had && piece_key[i] != NULL &&
		    set_item(block, piece_key[i], cJSON_CreateString(buf_str(&s->piece[i])), err) < 0)
			return -1;
		if (i != PIECE_JSON)
			piece_clear(&s->piece[i]);
	}
	return 0;
}

/* Merge the numbers of a usage object into the message's usage. */
static int take_usage(cJSON *message, const cJSON *usage, struct ad_err *err)
{
	cJSON *have = cJSON_GetObjectItemCaseSensitive(message, "usage");
	if (!cJSON_IsObject(usage) || !cJSON_IsObject(have))
		return 0;
	const cJSON *u;
	cJSON_ArrayForEach(u, usage)
		if (cJSON_IsNumber(u) && set_item(have, u->string, cJSON_CreateNumber(u->valuedouble), err) < 0)
			return -1;
	return 0;
}

static int on_message_start(struct claude_stream *s, const cJSON *ev, struct ad_err *err)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "message");
	if (s->message != NULL)
		return ad_err_set(err, 0, "a second message_start");
	if (!cJSON_IsObject(m) || json_str(m, "id") == NULL)
		return ad_err_set(err, 0, "message_start without a message");
	s->message = cJSON_Duplicate(m, true);
	if (s->message == NULL)
		return ad_err_set(err, ENOMEM, "stream");
	cJSON_DeleteItemFromObjectCaseSensitive(s->message, "content");
	s->content = cJSON_AddArrayToObject(s->message, "content");
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(s->message, "usage")))
		cJSON_AddObjectToObject(s->message, "usage");
	return s->content ? 0 : ad_err_set(err, ENOMEM, "stream");
}

static int on_block_start(struct claude_stream *s, const cJSON *ev, struct ad_err *err)
{
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(ev, "index");
	const cJSON *block = cJSON_GetObjectItemCaseSensitive(ev, "content_block");
	if (s->open >= 0)
		return ad_err_set(err, 0, "content_block_start while block %d is open", s->open);
	if (!cJSON_IsNumber(index) || index->valueint != cJSON_GetArraySize(s->content))
		return ad_err_set(err, 0, "content_block_start out of order");
	if (!cJSON_IsObject(block) || json_str(block, "type") == NULL)
		return ad_err_set(err, 0, "content_block_start without a typed block");
	cJSON *copy = cJSON_Duplicate(block, true);
	if (copy == NULL || !cJSON_AddItemToArray(s->content, copy))
		return ad_err_set(err, ENOMEM, "stream");
	s->open = index->valueint;
	for (int i = 0; i < PIECES; i++)
		piece_clear(&s->piece[i]);
	return 0;
}

static int on_block_delta(struct claude_stream *s, const cJSON *ev, struct ad_err *err)
{
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(ev, "index");
	const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
	if (!cJSON_IsNumber(index) || index->valueint != s->open || s->open < 0)
		return ad_err_set(err, 0, "content_block_delta for a block that is not open");
	cJSON *block = cJSON_GetArrayItem(s->content, s->open);
	const char *type = json_str(delta, "type"), *btype = json_str(block, "type");
	if (type == NULL)
		return ad_err_set(err, 0, "content_block_delta without a delta type");
	if (strcmp(type, "text_delta") == 0 && strcmp(btype, "text") == 0 && json_str(delta, "text"))
		return append(s, block, PIECE_TEXT, json_str(delta, "text"), err);
	if (strcmp(type, "thinking_delta") == 0 && strcmp(btype, "thinking") == 0 && json_str(delta, "thinking"))
		return append(s, block, PIECE_THINKING, json_str(delta, "thinking"), err);
	if (strcmp(type, "signature_delta") == 0 && strcmp(btype, "thinking") == 0 && json_str(delta, "signature"))
		return append(s, block, PIECE_SIGNATURE, json_str(delta, "signature"), err);
	if (strcmp(type, "input_json_delta") == 0 && json_str(delta, "partial_json") &&
	    (strcmp(btype, "tool_use") == 0 || strcmp(btype, "server_tool_use") == 0))
		return append(s, block, PIECE_JSON, json_str(delta, "partial_json"), err);
	if (strcmp(type, "citations_delta") == 0)
		return 0;   /* citations: not kept */
	return ad_err_set(err, 0, "a %s for a %s block", type, btype);
}

static int on_block_stop(struct claude_stream *s, const cJSON *ev, struct ad_err *err)
{
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(ev, "index");
	if (!cJSON_IsNumber(index) || index->valueint != s->open || s->open < 0)
		return ad_err_set(err, 0, "content_block_stop for a block that is not open");
	cJSON *block = cJSON_GetArrayItem(s->content, s->open);
	const char *btype = json_str(block, "type");
	s->open = -1;
	if (place_pieces(s, block, err) < 0)
		return -1;
	if (strcmp(btype, "tool_use") != 0 && strcmp(btype, "server_tool_use") != 0)
		return 0;
	/* the input pieces make one JSON object; none at all means {} */
	struct buf *json = &s->piece[PIECE_JSON];
	cJSON *input = NULL;
	if (json->len == 0)
		input = cJSON_CreateObject();
	else if (json_parse_strict(json->data, json->len, &input, err) < 0)
		return ad_err_prefix(err, "tool_use input");
	if (!cJSON_IsObject(input)) {
		cJSON_Delete(input);
		return ad_err_set(err, 0, "tool_use input is not a JSON object");
	}
	piece_clear(json);
	return set_item(block, "input", input, err);
}

static int on_message_delta(struct claude_stream *s, const cJSON *ev, struct ad_err *err)
{
	const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
	static const char *const keys[] = { "stop_reason", "stop_sequence" };
	for (size_t i = 0; cJSON_IsObject(delta) && i < ARRAY_SIZE(keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(delta, keys[i]);
		if (v != NULL && set_item(s->message, keys[i], cJSON_Duplicate(v, true), err) < 0)
			return -1;
	}
	return take_usage(s->message, cJSON_GetObjectItemCaseSensitive(ev, "usage"), err);
}

int claude_stream_event(struct claude_stream *s, const char *event, const char *data, size_t len,
			struct ad_err *err)
{
	s->delta = false;
	_cleanup_cjson_ cJSON *ev = NULL;
	if (json_parse_strict(data, len, &ev, err) < 0)
		return ad_err_prefix(err, "%s event", event);
	return claude_stream_event_json(s, event, ev, err);
}

int claude_stream_event_json(struct claude_stream *s, const char *event, cJSON *ev, struct ad_err *err)
{
	s->delta = false;
	if (strcmp(event, "ping") == 0)
		return 0;
	if (strcmp(event, "error") == 0) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
		const char *type = json_str(e, "type"), *msg = json_str(e, "message");
		snprintf(s->api_error, sizeof(s->api_error), "%s", type ? type : "api_error");
		return ad_err_set(err, 0, "the API reported %s: %s", s->api_error, msg ? msg : "(no message)");
	}
	if (s->done)
		return ad_err_set(err, 0, "%s event after message_stop", event);
	if (strcmp(event, "message_start") == 0)
		return on_message_start(s, ev, err);
	if (s->message == NULL)
		return strncmp(event, "message", 7) == 0 || strncmp(event, "content_block", 13) == 0
			       ? ad_err_set(err, 0, "%s before message_start", event) : 0;
	if (strcmp(event, "content_block_start") == 0)
		return on_block_start(s, ev, err);
	if (strcmp(event, "content_block_delta") == 0)
		return on_block_delta(s, ev, err);
	if (strcmp(event, "content_block_stop") == 0)
		return on_block_stop(s, ev, err);
	if (strcmp(event, "message_delta") == 0)
		return on_message_delta(s, ev, err);
	if (strcmp(event, "message_stop") == 0) {
		if (s->open >= 0)
			return ad_err_set(err, 0, "message_stop while block %d is open", s->open);
		s->done = true;
		return 0;
	}
	return 0;   /* an event type newer than this code: skipped, as the API asks */
}

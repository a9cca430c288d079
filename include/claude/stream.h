/* A streamed Messages API response, put back together from its events.
 *
 * Events come in as the SSE parser hands them out (name and JSON data); the result is
 * the message the non-streaming API would have returned: {id, type, role, model,
 * content: [...], stop_reason, stop_sequence, usage}. Text, thinking and signatures
 * are appended delta by delta, in buffers that grow by doubling and go into the block
 * when it stops, so that a reply costs time linear in its length, however small its
 * deltas; a tool_use block's input arrives as pieces of JSON
 * (input_json_delta) that are joined and parsed when the block stops, an empty input
 * being {}. ping and unknown events are skipped. An `error` event (which can come
 * after HTTP 200) fails the stream with the API's error type and message. Every event
 * is checked against the ones before it; the total size is capped. */
#ifndef AGENTD_CLAUDE_STREAM_H
#define AGENTD_CLAUDE_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct claude_stream;

struct claude_stream *claude_stream_new(size_t max_bytes);
void claude_stream_free(struct claude_stream *s);

/* One event, its data as the API sent it (JSON text). Fails on an event that does
 * not fit the stream so far, on an error event (claude_stream_api_error() then names
 * its type), or past max_bytes. */
int claude_stream_event(struct claude_stream *s, const char *event, const char *data, size_t len,
			struct ad_err *err);
/* The same with the data parsed already (the agent gets it so, in its frame); parts of
 * data may be taken (detached) from it. */
int claude_stream_event_json(struct claude_stream *s, const char *event, cJSON *data, struct ad_err *err);

/* message_stop was seen. */
bool claude_stream_done(const struct claude_stream *s);
/* The message so far: the blocks started, an open block's text, thinking, signature
 * and input put in once it stops (complete once done); owned by the stream. */
const cJSON *claude_stream_message(const struct claude_stream *s);
/* When the last event was a text_delta: its text (len bytes, NUL-terminated), valid
 * until the next event; else NULL. Saves parsing the event a second time. */
const char *claude_stream_text_delta(const struct claude_stream *s, size_t *len);
/* The same for a thinking_delta: its thinking. */
const char *claude_stream_thinking_delta(const struct claude_stream *s, size_t *len);
/* The type of the API's error event ("overloaded_error", ...), or NULL. */
const char *claude_stream_api_error(const struct claude_stream *s);

#endif

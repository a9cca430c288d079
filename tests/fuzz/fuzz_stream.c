/* Fuzz target for rebuilding a streamed message: bytes through the event-stream parser
 * into claude_stream, as the client does. Beyond "no crash", whatever message comes out
 * must print as JSON that parses back strictly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claude/sse.h"
#include "claude/stream.h"
#include "core/json.h"

static int to_stream(void *ctx, const char *event, const char *data, size_t len, struct ad_err *err)
{
	return claude_stream_event(ctx, event, data, len, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sse_parser *p = sse_parser_new(1 << 14);
	struct claude_stream *s = claude_stream_new(1 << 16);
	struct ad_err e;
	if (p == NULL || s == NULL)
		abort();
	sse_parser_feed(p, (const char *)data, size, to_stream, s, &e);
	const cJSON *m = claude_stream_message(s);
	if (m != NULL) {
		char *text = cJSON_PrintUnformatted(m);
		cJSON *back = NULL;
		if (text == NULL || json_parse_strict(text, strlen(text), &back, &e) < 0) {
			fprintf(stderr, "fuzz_stream: the message does not print as valid JSON: %s\n", e.msg);
			abort();
		}
		cJSON_Delete(back);
		cJSON_free(text);
	}
	claude_stream_free(s);
	sse_parser_free(p);
	return 0;
}

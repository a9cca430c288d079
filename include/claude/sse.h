/* Server-sent events (text/event-stream), as the Messages API streams them.
 *
 * Bytes go in as they arrive, split anywhere (inside a line, between CR and LF); whole
 * events come out through a callback: the event name ("message" when none was given)
 * and its data (the data lines joined with '\n'). Comments (":...") and fields other
 * than event and data are skipped; lines end in LF, CRLF or CR. Every buffer is capped:
 * an event larger than max_event_bytes is an error, not an allocation. */
#ifndef AGENTD_CLAUDE_SSE_H
#define AGENTD_CLAUDE_SSE_H

#include <stddef.h>

#include "core/err.h"

struct sse_parser;

/* Return 0 to go on, < 0 to stop (the error is the callback's to fill). */
typedef int (*sse_event_fn)(void *ctx, const char *event, const char *data, size_t data_len,
			    struct ad_err *err);

struct sse_parser *sse_parser_new(size_t max_event_bytes);
/* Feed bytes; calls fn for each complete event. Fails on an oversized event or when fn
 * fails; the parser is then unusable. */
int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *ctx,
		    struct ad_err *err);
/* True when bytes of an unfinished event are pending (a stream cut short). */
int sse_parser_pending(const struct sse_parser *p);
void sse_parser_free(struct sse_parser *p);

#endif

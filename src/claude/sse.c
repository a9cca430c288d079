/* The event-stream parser: see include/claude/sse.h. Follows the WHATWG HTML
 * "server-sent events" parsing rules for the fields it keeps. */
#include "claude/sse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SSE_EVENT_NAME_MAX 64

struct sse_parser {
	size_t max;
	char *line;             /* the line being read */
	size_t line_len;
	char *data;             /* data lines of the event being read, '\n'-joined */
	size_t data_len;
	bool have_data;
	char event[SSE_EVENT_NAME_MAX + 1];
	bool after_cr;          /* the last byte was CR: an LF now ends nothing */
	bool failed;
};

struct sse_parser *sse_parser_new(size_t max_event_bytes)
{
	struct sse_parser *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->max = max_event_bytes;
	p->line = malloc(max_event_bytes + 1);
	p->data = malloc(max_event_bytes + 1);
	if (p->line == NULL || p->data == NULL) {
		sse_parser_free(p);
		return NULL;
	}
	return p;
}

void sse_parser_free(struct sse_parser *p)
{
	if (p == NULL)
		return;
	free(p->line);
	free(p->data);
	free(p);
}

int sse_parser_pending(const struct sse_parser *p)
{
	return p->line_len > 0 || p->have_data;
}

static int dispatch(struct sse_parser *p, sse_event_fn fn, void *ctx, struct ad_err *err)
{
	int rc = 0;
	if (p->have_data) {
		p->data[p->data_len] = '\0';
		rc = fn(ctx, p->event[0] ? p->event : "message", p->data, p->data_len, err);
	}
	p->data_len = 0;
	p->have_data = false;
	p->event[0] = '\0';
	return rc;
}

/* One complete line (without its end). */
static int take_line(struct sse_parser *p, sse_event_fn fn, void *ctx, struct ad_err *err)
{
	char *line = p->line;
	size_t len = p->line_len;
	p->line_len = 0;
	if (len == 0)
		return dispatch(p, fn, ctx, err);
	if (line[0] == ':')
		return 0;                               /* a comment */
	char *colon = memchr(line, ':', len);
	size_t name_len = colon ? (size_t)(colon - line) : len;
	const char *value = colon ? colon + 1 : line + len;
	size_t value_len = colon ? len - name_len - 1 : 0;
	if (value_len > 0 && value[0] == ' ')
		value++, value_len--;
	if (name_len == 4 && memcmp(line, "data", 4) == 0) {
		size_t need = p->data_len + (p->have_data ? 1 : 0) + value_len;
		if (need > p->max)
			return ad_err_set(err, 0, "server-sent event larger than %zu bytes", p->max);
		if (p->have_data)
			p->data[p->data_len++] = '\n';
		memcpy(p->data + p->data_len, value, value_len);
		p->data_len += value_len;
		p->have_data = true;
	} else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
		if (value_len > SSE_EVENT_NAME_MAX)
			return ad_err_set(err, 0, "server-sent event name longer than %d bytes", SSE_EVENT_NAME_MAX);
		memcpy(p->event, value, value_len);
		p->event[value_len] = '\0';
	}
	/* id, retry and unknown fields: nothing the Messages API needs */
	return 0;
}

int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *ctx,
		    struct ad_err *err)
{
	if (p->failed)
		return ad_err_set(err, 0, "server-sent event stream already failed");
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '\n' && p->after_cr) {
			p->after_cr = false;            /* the LF of a CRLF */
			continue;
		}
		p->after_cr = c == '\r';
		if (c == '\r' || c == '\n') {
			if (take_line(p, fn, ctx, err) < 0) {
				p->failed = true;
				return -1;
			}
			continue;
		}
		if (p->line_len == p->max) {
			p->failed = true;
			return ad_err_set(err, 0, "server-sent event line longer than %zu bytes", p->max);
		}
		p->line[p->line_len++] = c;
	}
	return 0;
}

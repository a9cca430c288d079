/* What the tools share: their results, and reading a file whole. See
 * include/agent/tools.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/tools.h"
#include "core/json.h"
#include "core/utf8.h"

void tool_result_init(struct tool_result *r)
{
	buf_init(&r->out, TOOL_OUTPUT_MAX);
	r->is_error = false;
	r->exit_status = -1;
	r->blocks = NULL;
}

void tool_result_blocks(struct tool_result *r, cJSON *blocks)
{
	const cJSON *b;
	cJSON_Delete(r->blocks);
	r->blocks = blocks;
	buf_free(&r->out);
	buf_init(&r->out, TOOL_OUTPUT_MAX);
	cJSON_ArrayForEach(b, blocks) {
		const char *type = json_str(b, "type");
		if (r->out.len > 0)
			buf_puts(&r->out, "\n");
		if (type != NULL && strcmp(type, "text") == 0 && json_str(b, "text") != NULL)
			buf_puts(&r->out, json_str(b, "text"));
		else if (type != NULL && strcmp(type, "image") == 0)
			buf_printf(&r->out, "[image: %s]",
				   json_str(cJSON_GetObjectItemCaseSensitive(b, "source"), "media_type") ?: "?");
		else
			buf_printf(&r->out, "[%s]", type ? type : "?");
	}
}

void tool_result_error(struct tool_result *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_free(&r->out);
	buf_init(&r->out, TOOL_OUTPUT_MAX);
	buf_puts(&r->out, msg);
	cJSON_Delete(r->blocks);
	r->blocks = NULL;
	r->is_error = true;
}

/* The output as JSON-ready text: what a command or a file gave need not be UTF-8, may
 * hold NULs, and the cap may have cut a sequence in two (core/utf8.h). */
static void to_text(struct buf *b)
{
	if (b->len == 0 || (utf8_valid(b->data, b->len, NULL) && memchr(b->data, '\0', b->len) == NULL))
		return;
	size_t size = 3 * b->len + 1;
	char *text = malloc(size);
	if (text == NULL) {
		/* no room to mend it: the valid part before the first bad byte */
		size_t bad = 0;
		utf8_valid(b->data, b->len, &bad);
		char *nul = memchr(b->data, '\0', b->len);
		b->len = nul != NULL && (size_t)(nul - b->data) < bad ? (size_t)(nul - b->data) : bad;
		b->data[b->len] = '\0';
		return;
	}
	b->len = utf8_to_text(b->data, b->len, true, text, NULL);
	free(b->data);
	b->data = text;
	b->alloc = size;
	if (b->cap < b->len)
		b->cap = b->len;    /* the U+FFFDs grew it: nothing more is added */
}

const char *tool_result_text(struct tool_result *r)
{
	if (r->out.dropped > 0) {
		size_t cut = r->out.dropped;
		r->out.dropped = 0;
		r->out.cap += 128;   /* room for the note itself */
		buf_printf(&r->out, "\n[output cut: %zu more bytes not shown]", cut);
	}
	to_text(&r->out);
	return buf_str(&r->out);
}

void tool_result_free(struct tool_result *r)
{
	buf_free(&r->out);
	cJSON_Delete(r->blocks);
	r->blocks = NULL;
}

char *tool_read_all(int fd, size_t max, size_t *len)
{
	size_t alloc = 4096, n = 0;
	char *data = malloc(alloc);
	while (data != NULL) {
		if (n + 1 == alloc) {
			char *more = realloc(data, alloc * 2);
			if (more == NULL)
				break;
			data = more;
			alloc *= 2;
		}
		ssize_t got = read(fd, data + n, alloc - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		if (got == 0) {
			data[n] = '\0';
			*len = n;
			return data;
		}
		n += (size_t)got;
		if (n > max) {
			errno = EFBIG;
			break;
		}
	}
	int e = data != NULL ? errno : ENOMEM;
	free(data);
	errno = e;
	return NULL;
}

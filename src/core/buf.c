/* Bounded text buffers: see include/core/buf.h. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
}

void buf_append(struct buf *b, const char *s, size_t n)
{
	size_t room = b->cap - b->len;
	size_t take = n < room ? n : room;
	b->dropped += n - take;
	if (take == 0 || b->oom)
		return;
	if (b->len + take + 1 > b->alloc) {
		size_t alloc = b->alloc ? b->alloc : 256;
		while (alloc < b->len + take + 1)
			alloc *= 2;
		if (alloc > b->cap + 1)
			alloc = b->cap + 1;
		char *d = realloc(b->data, alloc);
		if (d == NULL) {
			b->oom = true;
			b->dropped += take;
			return;
		}
		b->data = d;
		b->alloc = alloc;
	}
	memcpy(b->data + b->len, s, take);
	b->len += take;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		buf_append(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_append(b, big, (size_t)n);
	free(big);
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

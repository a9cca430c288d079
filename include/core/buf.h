/* A growable text buffer with a cap: appends past the cap are dropped and counted, so
 * that output fed from outside (a tool, a file) can never grow without bound, and the
 * reader can be told how much was cut. Always NUL-terminated. */
#ifndef AGENTD_CORE_BUF_H
#define AGENTD_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len, alloc, cap;
	size_t dropped;         /* bytes refused at the cap */
	bool oom;
};

void buf_init(struct buf *b, size_t cap);
void buf_append(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text, never NULL. */
const char *buf_str(const struct buf *b);
void buf_free(struct buf *b);

#endif

/* Fuzz target for the event-stream parser. Besides "no crash, no sanitizer report"
 * it checks a property: the same bytes fed whole and fed in small chunks (sizes taken
 * from the input) give the same events. Built with libFuzzer by `make fuzz`, and with
 * tests/fuzz/replay.c into a program that runs given files, which `make test` does over
 * the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claude/sse.h"

#define MAX_EVENT 512
#define LOG_MAX (1 << 16)

struct log {
	char buf[LOG_MAX];
	size_t len;
};

static int record(void *ctx, const char *event, const char *data, size_t data_len, struct ad_err *err)
{
	struct log *l = ctx;
	size_t n = strlen(event);
	if (l->len + n + data_len + 2 > sizeof(l->buf))
		return ad_err_set(err, 0, "log full");
	memcpy(l->buf + l->len, event, n);
	l->buf[l->len + n] = '\0';
	memcpy(l->buf + l->len + n + 1, data, data_len);
	l->buf[l->len + n + 1 + data_len] = '\n';
	l->len += n + data_len + 2;
	return 0;
}

/* Returns 0 or -1 as the parser did; fills log. */
static int parse(const uint8_t *data, size_t size, const uint8_t *chunks, size_t nchunks, struct log *log)
{
	struct sse_parser *p = sse_parser_new(MAX_EVENT);
	struct ad_err e;
	int rc = 0;
	if (p == NULL)
		abort();
	log->len = 0;
	for (size_t off = 0, i = 0; off < size && rc == 0; i++) {
		size_t n = nchunks ? (size_t)(chunks[i % nchunks] % 16) + 1 : size;
		if (n > size - off)
			n = size - off;
		rc = sse_parser_feed(p, (const char *)data + off, n, record, log, &e);
		off += n;
	}
	sse_parser_free(p);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct log whole, pieces;
	/* the first 4 bytes choose chunk sizes, the rest is the stream */
	size_t nchunks = size < 4 ? size : 4;
	int a = parse(data + nchunks, size - nchunks, NULL, 0, &whole);
	int b = parse(data + nchunks, size - nchunks, data, nchunks, &pieces);
	if (a != b || (a == 0 && (whole.len != pieces.len || memcmp(whole.buf, pieces.buf, whole.len) != 0))) {
		fprintf(stderr, "fuzz_sse: whole and chunked parses differ\n");
		abort();
	}
	return 0;
}

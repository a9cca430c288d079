/* Fuzz target for the frame decoder. Properties beyond "no crash": feeding the bytes
 * whole or split at a point taken from the input gives the same frames; and every
 * frame that decodes re-encodes into a frame that decodes to the same payload. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/frame.h"

#define MAX_PAYLOAD 4096

struct seen {
	char *text[64];
	unsigned type[64];
	int n;
};

/* The re-decode of the round trip: only records. */
static int record(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct seen *s = ctx;
	if (s->n == 64) {
		cJSON_Delete(payload);
		return ad_err_set(err, 0, "enough");
	}
	s->text[s->n] = cJSON_PrintUnformatted(payload);
	s->type[s->n++] = type;
	cJSON_Delete(payload);
	return 0;
}

static int keep(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct seen *s = ctx;
	char *text = cJSON_PrintUnformatted(payload);
	/* round trip: encode, decode, compare */
	char *frame;
	size_t len;
	struct ad_err e;
	if (text == NULL || frame_encode(type, payload, &frame, &len, &e) < 0)
		abort();
	struct frame_decoder *d = frame_decoder_new(1u << 20);
	struct seen again = { .n = 0 };
	cJSON_Delete(payload);
	if (s->n == 64) {
		cJSON_free(text);
		free(frame);
		frame_decoder_free(d);
		return ad_err_set(err, 0, "enough");
	}
	s->text[s->n] = text;
	s->type[s->n++] = type;
	if (frame_decoder_feed(d, frame, len, record, &again, &e) < 0 || again.n != 1 ||
	    again.type[0] != type || strcmp(again.text[0], text) != 0) {
		fprintf(stderr, "fuzz_frame: round trip changed a %s frame\n", frame_type_name(type));
		abort();
	}
	cJSON_free(again.text[0]);
	free(frame);
	frame_decoder_free(d);
	return 0;
}

static int decode(const uint8_t *data, size_t size, size_t cut, struct seen *s)
{
	struct frame_decoder *d = frame_decoder_new(MAX_PAYLOAD);
	struct ad_err e;
	s->n = 0;
	int rc = frame_decoder_feed(d, (const char *)data, cut, keep, s, &e);
	if (rc == 0)
		rc = frame_decoder_feed(d, (const char *)data + cut, size - cut, keep, s, &e);
	frame_decoder_free(d);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen whole, split;
	size_t cut = size ? data[0] % (size + 1) : 0;
	int a = decode(data, size, size, &whole);
	int b = decode(data, size, cut, &split);
	int same = a == b && whole.n == split.n;
	for (int i = 0; same && i < whole.n; i++)
		same = whole.type[i] == split.type[i] && strcmp(whole.text[i], split.text[i]) == 0;
	for (int i = 0; i < whole.n; i++)
		cJSON_free(whole.text[i]);
	for (int i = 0; i < split.n; i++)
		cJSON_free(split.text[i]);
	if (!same) {
		fprintf(stderr, "fuzz_frame: whole and split decodes differ\n");
		abort();
	}
	return 0;
}

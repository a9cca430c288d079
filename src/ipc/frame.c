/* Frame encoding and decoding: see include/ipc/frame.h. */
#include "ipc/frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static const char *const type_names[FRAME_TYPE_END] = {
	[FRAME_HELLO] = "hello", [FRAME_API_REQUEST] = "api_request", [FRAME_API_EVENT] = "api_event",
	[FRAME_API_END] = "api_end", [FRAME_TURN] = "turn", [FRAME_RUN_EVENT] = "run_event",
	[FRAME_CANCEL] = "cancel", [FRAME_OP] = "op", [FRAME_TOOL_CALL] = "tool_call",
	[FRAME_TOOL_RESULT] = "tool_result", [FRAME_API_KEY] = "api_key",
	[FRAME_OWNER] = "owner",
};

const char *frame_type_name(unsigned type)
{
	return type > 0 && type < FRAME_TYPE_END ? type_names[type] : "unknown";
}

int frame_encode(unsigned type, const cJSON *payload, char **out, size_t *len, struct ad_err *err)
{
	if (!cJSON_IsObject(payload))
		return ad_err_set(err, 0, "a frame carries a JSON object");
	char *json = json_print(payload);
	if (json == NULL)
		return ad_err_set(err, ENOMEM, "encode a %s frame", frame_type_name(type));
	int rc = frame_build(type, json, strlen(json), out, len, err);
	cJSON_free(json);
	return rc;
}

int frame_build(unsigned type, const char *json, size_t n, char **out, size_t *len, struct ad_err *err)
{
	if (type == 0 || type >= FRAME_TYPE_END)
		return ad_err_set(err, 0, "frame type %u is not one of ours", type);
	if (n > FRAME_MAX_PAYLOAD)
		return ad_err_code(err, EMSGSIZE, "%s frame of %zu bytes is over the limit of %u",
				   frame_type_name(type), n, FRAME_MAX_PAYLOAD);
	char *buf = malloc(FRAME_HEADER_SIZE + n);
	if (buf == NULL)
		return ad_err_set(err, ENOMEM, "encode a %s frame", frame_type_name(type));
	buf[0] = 'A';
	buf[1] = 'G';
	buf[2] = FRAME_VERSION;
	buf[3] = (char)type;
	buf[4] = (char)(n >> 24);
	buf[5] = (char)(n >> 16);
	buf[6] = (char)(n >> 8);
	buf[7] = (char)n;
	memcpy(buf + FRAME_HEADER_SIZE, json, n);
	*out = buf;
	*len = FRAME_HEADER_SIZE + n;
	return 0;
}

struct frame_decoder {
	size_t max;
	unsigned char head[FRAME_HEADER_SIZE];
	size_t head_len;
	char *payload;            /* max + 1 bytes, allocated on first use */
	size_t want, have;        /* payload length announced, bytes of it so far */
	bool failed;
};

struct frame_decoder *frame_decoder_new(size_t max_payload)
{
	struct frame_decoder *d = calloc(1, sizeof(*d));
	if (d != NULL)
		d->max = max_payload < FRAME_MAX_PAYLOAD ? max_payload : FRAME_MAX_PAYLOAD;
	return d;
}

void frame_decoder_free(struct frame_decoder *d)
{
	if (d != NULL)
		free(d->payload);
	free(d);
}

const char *frame_decoder_payload(const struct frame_decoder *d, size_t *len)
{
	*len = d->want;
	return d->payload;
}

void frame_decoder_wipe_payload(struct frame_decoder *d)
{
	if (d->payload != NULL)
		explicit_bzero(d->payload, d->want);
}

int frame_decoder_pending(const struct frame_decoder *d)
{
	return d->head_len > 0;
}

/* The header is whole: check it. */
static int check_header(struct frame_decoder *d, struct ad_err *err)
{
	const unsigned char *h = d->head;
	if (h[0] != 'A' || h[1] != 'G')
		return ad_err_set(err, 0, "not a frame (bad magic 0x%02x%02x)", h[0], h[1]);
	if (h[2] != FRAME_VERSION)
		return ad_err_set(err, 0, "frame version %u; this agentd speaks %u", h[2], FRAME_VERSION);
	if (h[3] == 0 || h[3] >= FRAME_TYPE_END)
		return ad_err_set(err, 0, "unknown frame type %u", h[3]);
	d->want = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
	if (d->want > d->max)
		return ad_err_set(err, 0, "%s frame of %zu bytes is over the limit of %zu",
				  frame_type_name(h[3]), d->want, d->max);
	if (d->want == 0)
		return ad_err_set(err, 0, "%s frame without a payload", frame_type_name(h[3]));
	if (d->payload == NULL && (d->payload = malloc(d->max + 1)) == NULL)
		return ad_err_set(err, ENOMEM, "frame buffer");
	d->have = 0;
	return 0;
}

/* The payload is whole: parse it, hand it over, get ready for the next frame. */
static int deliver(struct frame_decoder *d, frame_fn fn, void *ctx, struct ad_err *err)
{
	unsigned type = d->head[3];
	cJSON *payload = NULL;
	d->head_len = 0;
	if (json_parse_strict(d->payload, d->want, &payload, err) < 0)
		return ad_err_prefix(err, "%s frame", frame_type_name(type));
	if (!cJSON_IsObject(payload)) {
		cJSON_Delete(payload);
		return ad_err_set(err, 0, "%s frame: the payload is not a JSON object", frame_type_name(type));
	}
	return fn(ctx, type, payload, err);
}

int frame_decoder_feed(struct frame_decoder *d, const char *buf, size_t len, frame_fn fn, void *ctx,
		       struct ad_err *err)
{
	if (d->failed)
		return ad_err_set(err, 0, "the frame stream already failed");
	while (len > 0) {
		if (d->head_len < FRAME_HEADER_SIZE) {
			size_t n = FRAME_HEADER_SIZE - d->head_len;
			if (n > len)
				n = len;
			memcpy(d->head + d->head_len, buf, n);
			d->head_len += n;
			buf += n, len -= n;
			if (d->head_len < FRAME_HEADER_SIZE || check_header(d, err) == 0)
				continue;
			d->failed = true;
			return -1;
		}
		size_t n = d->want - d->have;
		if (n > len)
			n = len;
		memcpy(d->payload + d->have, buf, n);
		d->have += n;
		buf += n, len -= n;
		if (d->have == d->want && deliver(d, fn, ctx, err) < 0) {
			d->failed = true;
			return -1;
		}
	}
	return 0;
}

/* Frames between agentd's processes (gateway, supervisor, agent): length-prefixed,
 * typed, versioned JSON.
 *
 *     'A' 'G' | version (1 byte) | type (1 byte) | payload length (4 bytes, big-endian)
 *     | payload: one JSON object, parsed strictly (core/json.h)
 *
 * The decoder checks every field and caps the length; anything wrong ends the
 * conversation with that peer (a session), never the process that reads it. */
#ifndef AGENTD_IPC_FRAME_H
#define AGENTD_IPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"

#define FRAME_VERSION 1
#define FRAME_HEADER_SIZE 8
#define FRAME_MAX_PAYLOAD (8u << 20)

enum frame_type {
	FRAME_HELLO = 1,          /* who is speaking, which protocol */
	FRAME_API_REQUEST,        /* agent -> supervisor: a Messages API request */
	FRAME_API_EVENT,          /* supervisor -> agent: one streamed API event */
	FRAME_API_END,            /* supervisor -> agent: the call ended (ok or an error) */
	FRAME_TURN,               /* gateway -> agent: a user message to work on */
	FRAME_RUN_EVENT,          /* agent -> gateway: what the run does, for the client */
	FRAME_CANCEL,             /* gateway -> agent: interrupt the run */
	FRAME_OP,                 /* gateway -> agent: exec, files, snapshot, restore */
	FRAME_TOOL_CALL,          /* agent -> supervisor: run a tool of the supervisor's */
	FRAME_TOOL_RESULT,        /* supervisor -> agent: its result */
	FRAME_API_KEY,            /* gateway -> supervisor: a new API key (never to the agent) */
	FRAME_OWNER,              /* gateway -> supervisor: who a pooled sandbox's session is now */
	FRAME_TYPE_END            /* not a type: one past the last */
};

const char *frame_type_name(unsigned type);

/* A whole frame in a new buffer (free()); *len set. A payload over FRAME_MAX_PAYLOAD
 * fails with err->errnum EMSGSIZE. */
int frame_encode(unsigned type, const cJSON *payload, char **out, size_t *len, struct ad_err *err);

/* The same around a payload that is JSON text already (n bytes): a hop that passes a
 * payload on unchanged, or splices one, builds its frame without printing again. */
int frame_build(unsigned type, const char *payload, size_t n, char **out, size_t *len, struct ad_err *err);

struct frame_decoder;

/* Called for each whole frame; the payload belongs to the callback (cJSON_Delete it). */
typedef int (*frame_fn)(void *ctx, unsigned type, cJSON *payload, struct ad_err *err);

struct frame_decoder *frame_decoder_new(size_t max_payload);
/* Feed bytes split anywhere; fails (for good) on the first bad frame. */
int frame_decoder_feed(struct frame_decoder *d, const char *buf, size_t len, frame_fn fn, void *ctx,
		       struct ad_err *err);
/* Inside fn: the payload's bytes as they came (len), for a hop that passes the frame on
 * unchanged; valid until fn returns. */
const char *frame_decoder_payload(const struct frame_decoder *d, size_t *len);
/* Inside fn: overwrite the payload's bytes, for a frame that carries a secret. */
void frame_decoder_wipe_payload(struct frame_decoder *d);
/* True when part of a frame is buffered (a peer that stopped mid-frame). */
int frame_decoder_pending(const struct frame_decoder *d);
void frame_decoder_free(struct frame_decoder *d);

#endif

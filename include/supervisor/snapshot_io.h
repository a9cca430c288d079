/* The supervisor's side of a hybrid session's saves and resumes. The workspace's bytes
 * go straight between the session's state directory and its agent, in the supervisor
 * (a process of the session's own, which may block on them), never through the
 * gateway: the gateway asks with one small OP and hears one op_end.
 *
 *   {"op": "restore", "saved": true, "generation": N}
 *       the saved snapshot of generation N (persist.h) is sent to the agent as restore
 *       pieces; none saved: it fails
 *   {"op": "snapshot", "save": true, "generation": N}
 *       the agent's snapshot pieces are written to the state directory, fsync()ed and
 *       renamed into place as generation N at its op_end, which passes on to the
 *       gateway (with "ok": false if they could not be kept)
 *   {"op": "restore", "upload": "upload.XXXXXX"}
 *       a tar a client uploaded, which the gateway wrote to the session's folder
 *       (ipc/session_files.h), sent to the agent as restore pieces and removed
 * Without "generation": generation 0. A plain {"op": "snapshot"} passes on to the agent;
 * its pieces go to the gateway, which streams them to a client (GET .../workspace.tar). */
#ifndef AGENTD_SUPERVISOR_SNAPSHOT_IO_H
#define AGENTD_SUPERVISOR_SNAPSHOT_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct snapshot_file;

struct snapio {
	const char *state_dir, *id;
	uint64_t max_bytes;                /* what a tar of the workspace can come to */
	struct snapshot_file *save;        /* a save under way, or NULL */
	double save_op;                    /* its op id */
	uint64_t save_b64;                 /* base64 characters of it so far */
	char failed[AD_ERR_MSG_MAX];       /* why a piece could not be written, or "" */
	double stream_op;                  /* a plain snapshot's op id (to the gateway), or -1 */
	/* How an OP frame (taken) reaches the agent, paced as the relay's are. */
	int (*send)(void *ctx, unsigned type, cJSON *payload, struct ad_err *err);
	void *send_ctx;
};

enum { SNAPIO_NOT_OURS = 0, SNAPIO_SENT = 1, SNAPIO_FAILED = 2 };

/* max_bytes: the most a save may write; an agent that sends more (a tar of its
 * workspace cannot be larger) fails the save rather than filling the host's disk. */
void snapio_init(struct snapio *io, const char *state_dir, const char *session_id, uint64_t max_bytes);
/* What a tar of a workspace of so many bytes and files can come to: a header and a
 * padded block per file, the end blocks, room for directories' entries. */
uint64_t snapio_tar_max(uint64_t workspace_bytes, uint64_t workspace_files);
/* An OP from the gateway. SNAPIO_NOT_OURS: pass it on as it is. SNAPIO_SENT: done here,
 * the agent's op_end will follow. SNAPIO_FAILED: nothing reached the agent; why says
 * what went wrong, for an op_end the caller makes. -1: the agent could not be sent to. */
int snapio_gateway_op(struct snapio *io, const cJSON *op, char *why, size_t size, struct ad_err *err);
/* A run event from the agent: 1 when it was a save's piece, kept here (not passed on);
 * 0 to pass it on (a save's op_end, committed first and changed if that failed). */
int snapio_agent_event(struct snapio *io, cJSON *ev);
/* Whether ev is a piece of a plain snapshot: a client downloads it at its own pace
 * (the gateway holds the supervisor back meanwhile), so each piece is progress that
 * moves the op's deadline on, rather than the whole tar within the command's limit. */
bool snapio_streaming(const struct snapio *io, const cJSON *ev);
/* Drop a save under way (the session ends). */
void snapio_abort(struct snapio *io);

#endif

/* A hybrid session's folder, <state_dir>/sessions/<id>/, as both processes that write
 * it see it: the gateway keeps session.json and the title there (session/persist.h),
 * the session's supervisor writes and reads the workspace snapshots:
 *
 *     workspace.<N>.tar  /workspace as it was at save N (written to a temporary
 *                        file, fsync()ed, renamed); workspace.tar: generation 0
 *     upload.XXXXXX      a tar a client is uploading (PUT .../workspace.tar), written
 *                        by the gateway, then read and removed by the supervisor,
 *                        which sends it to the agent to unpack
 *
 * Names only here, and the snapshot file's life; what goes in session.json is the
 * gateway's. */
#ifndef AGENTD_IPC_SESSION_FILES_H
#define AGENTD_IPC_SESSION_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The gateway's saved state of a hybrid session: while it is there, the workspace on
 * disk (sandbox/workspace.h) outlives the session's sandbox. */
#define SESSION_META_FILE "session.json"

/* A session id (core/node_id.h): "sess_" and lowercase hex, then "." and a node name when
 * it names one; the only names a session's folder can have. */
bool session_id_ok(const char *id);
/* <state_dir>/sessions/<id>, made if missing. */
int session_dir(const char *state_dir, const char *id, char *out, size_t size, struct ad_err *err);

/* What a tar of a workspace of so many bytes and files can come to: a header and a
 * padded block per file, the end blocks, room for directories' entries. */
uint64_t workspace_tar_max(uint64_t workspace_bytes, uint64_t workspace_files);

/* A new upload file in the session's folder (made if missing), open for writing: its
 * fd, its name (name, at least UPLOAD_NAME_MAX bytes) and path (path), or -1. */
#define UPLOAD_NAME_MAX 16
int upload_create(const char *state_dir, const char *id, char *name, char *path, size_t path_size,
		  struct ad_err *err);
/* The upload named name, opened for reading and removed: its fd, or -1 (a name that
 * is not an upload's is refused). */
int upload_take(const char *state_dir, const char *id, const char *name, struct ad_err *err);

/* The snapshots in the folder dir older than generation keep go; with UINT64_MAX all of
 * them, and a half-written one too (the session is being removed). */
void snapshot_remove_older(const char *dir, uint64_t keep);

/* The workspace snapshot, as it arrives in base64 pieces (in the session's supervisor). */
struct snapshot_file;
struct snapshot_file *snapshot_begin(const char *state_dir, const char *id, uint64_t gen, struct ad_err *err);
int snapshot_write_b64(struct snapshot_file *f, const char *b64, struct ad_err *err);
/* Keep it (fsync, rename to generation gen's name) or drop it; f is freed either way. */
int snapshot_commit(struct snapshot_file *f, struct ad_err *err);
void snapshot_abort(struct snapshot_file *f);
/* Generation gen's snapshot's path (out: also when there is none; then -1). */
int snapshot_path(const char *state_dir, const char *id, uint64_t gen, char *out, size_t size);

#endif

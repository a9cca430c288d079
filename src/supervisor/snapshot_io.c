/* The supervisor's side of a hybrid session's saves and resumes: see
 * include/supervisor/snapshot_io.h. */
#include "supervisor/snapshot_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/log.h"
#include "ipc/frame.h"
#include "ipc/protocol.h"
#include "ipc/session_files.h"

void snapio_init(struct snapio *io, const char *state_dir, const char *session_id, uint64_t max_bytes)
{
	*io = (struct snapio){ .state_dir = state_dir, .id = session_id, .max_bytes = max_bytes, .save_op = -1,
			       .stream_op = -1 };
}

uint64_t snapio_tar_max(uint64_t workspace_bytes, uint64_t workspace_files)
{
	return workspace_tar_max(workspace_bytes, workspace_files);
}

static bool is_op(const cJSON *op, const char *kind, const char *flag)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(op, "op");
	return cJSON_IsString(k) && strcmp(k->valuestring, kind) == 0 &&
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, flag));
}

/* The largest generation: one a double holds exactly. */
#define GENERATION_MAX 9007199254740991.0

/* The op's "generation": which snapshot it saves or restores (none: 0). -1 when it
 * is not a whole number a snapshot's name can carry. */
static int op_generation(const cJSON *op, uint64_t *gen)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(op, "generation");
	*gen = 0;
	if (g == NULL)
		return 0;
	if (!cJSON_IsNumber(g) || g->valuedouble < 0 || g->valuedouble > GENERATION_MAX ||
	    g->valuedouble != (double)(uint64_t)g->valuedouble)
		return -1;
	*gen = (uint64_t)g->valuedouble;
	return 0;
}

/* One restore piece of op id to the agent. */
static int send_piece(struct snapio *io, double id, const char *b64, bool last, struct ad_err *err)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "id", id);
	cJSON_AddStringToObject(p, "op", "restore");
	cJSON_AddStringToObject(p, "data_b64", b64);
	cJSON_AddBoolToObject(p, "last", last);
	return io->send(io->send_ctx, FRAME_OP, p, err);
}

/* A tar (fd, taken) to the agent in restore pieces. One that fails midway still ends
 * the restore (last: true), so that the agent reports the cut tar and is ready for what
 * comes next. */
static int send_tar(struct snapio *io, double id, int fd, const char *what, char *why, size_t size,
		    struct ad_err *err)
{
	char *raw = malloc(PROTO_CHUNK), *b64 = malloc(base64_encoded_len(PROTO_CHUNK) + 1);
	int rc = SNAPIO_SENT;
	if (raw == NULL || b64 == NULL) {
		snprintf(why, size, "cannot read %s: out of memory", what);
		rc = SNAPIO_FAILED;
	}
	while (rc == SNAPIO_SENT) {
		ssize_t n = read(fd, raw, PROTO_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			log_error("reading %s: %s", what, strerror(errno));
		base64_encode(raw, n > 0 ? (size_t)n : 0, b64);
		if (send_piece(io, id, b64, n <= 0, err) < 0)
			rc = -1;
		if (n <= 0)
			break;
	}
	free(raw);
	free(b64);
	close(fd);
	return rc;
}

/* The saved tar, in pieces. One that is missing (every suspend saves one: its loss is
 * not an empty workspace) or cannot be opened: SNAPIO_FAILED, nothing sent. */
static int restore(struct snapio *io, double id, uint64_t gen, char *why, size_t size, struct ad_err *err)
{
	char path[4200];
	if (snapshot_path(io->state_dir, io->id, gen, path, sizeof(path)) < 0) {
		snprintf(why, size, "the saved workspace %s is missing", path);
		return SNAPIO_FAILED;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(why, size, "cannot read the saved workspace %s: %s", path, strerror(errno));
		return SNAPIO_FAILED;
	}
	return send_tar(io, id, fd, "the saved workspace", why, size, err);
}

/* A client's upload, by the name the gateway gives (only an upload's name in the
 * session's own folder is opened), removed once open; no larger than a tar of the
 * workspace can be, whatever the gateway checked. */
static int restore_upload(struct snapio *io, double id, const char *name, char *why, size_t size,
			  struct ad_err *err)
{
	struct ad_err e;
	struct stat st;
	int fd = upload_take(io->state_dir, io->id, name, &e);
	if (fd < 0) {
		snprintf(why, size, "cannot read the upload: %s", e.msg);
		return SNAPIO_FAILED;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > io->max_bytes) {
		snprintf(why, size, "the upload is larger than a tar of the workspace can be (%llu bytes)",
			 (unsigned long long)io->max_bytes);
		close(fd);
		return SNAPIO_FAILED;
	}
	return send_tar(io, id, fd, "the upload", why, size, err);
}

bool snapio_streaming(const struct snapio *io, const cJSON *ev)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	return io->stream_op >= 0 && cJSON_IsString(type) && strcmp(type->valuestring, "op_output") == 0 &&
	       cJSON_IsNumber(id) && id->valuedouble == io->stream_op;
}

int snapio_gateway_op(struct snapio *io, const cJSON *op, char *why, size_t size, struct ad_err *err)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(op, "id");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "op");
	const cJSON *upload = cJSON_GetObjectItemCaseSensitive(op, "upload");
	bool restoring = is_op(op, "restore", "saved");
	uint64_t gen;
	io->stream_op = -1;
	if (cJSON_IsNumber(id) && cJSON_IsString(kind) && strcmp(kind->valuestring, "restore") == 0 &&
	    cJSON_IsString(upload))
		return restore_upload(io, id->valuedouble, upload->valuestring, why, size, err);
	if (cJSON_IsNumber(id) && cJSON_IsString(kind) && strcmp(kind->valuestring, "snapshot") == 0 &&
	    !cJSON_HasObjectItem(op, "save"))
		io->stream_op = id->valuedouble;   /* to the gateway as it comes */
	if (!cJSON_IsNumber(id) || (!restoring && !is_op(op, "snapshot", "save")))
		return SNAPIO_NOT_OURS;
	if (op_generation(op, &gen) < 0) {
		snprintf(why, size, "\"generation\" must be a whole number from 0 to 2^53-1");
		return SNAPIO_FAILED;
	}
	if (restoring)
		return restore(io, id->valuedouble, gen, why, size, err);
	snapio_abort(io);
	struct ad_err e;
	if ((io->save = snapshot_begin(io->state_dir, io->id, gen, &e)) == NULL) {
		snprintf(why, size, "cannot save the workspace: %s", e.msg);
		return SNAPIO_FAILED;
	}
	io->save_op = id->valuedouble;
	io->save_b64 = 0;
	cJSON *plain = cJSON_CreateObject();
	cJSON_AddNumberToObject(plain, "id", id->valuedouble);
	cJSON_AddStringToObject(plain, "op", "snapshot");
	return io->send(io->send_ctx, FRAME_OP, plain, err) < 0 ? -1 : SNAPIO_SENT;
}

/* The save failed: its op_end says so, whatever the agent said. */
static void fail_end(cJSON *ev, const char *why)
{
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "ok");
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "error");
	cJSON_AddFalseToObject(ev, "ok");
	cJSON_AddStringToObject(ev, "error", why);
}

int snapio_agent_event(struct snapio *io, cJSON *ev)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	if (io->save == NULL || !cJSON_IsString(type) || !cJSON_IsNumber(id) || id->valuedouble != io->save_op)
		return 0;
	struct ad_err e;
	if (strcmp(type->valuestring, "op_output") == 0) {
		const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(ev, "data_b64");
		if (io->failed[0] != '\0')
			return 1;
		if (!cJSON_IsString(b64))
			snprintf(io->failed, sizeof(io->failed), "a piece without data_b64");
		else if ((io->save_b64 += strlen(b64->valuestring)) / 4 * 3 > io->max_bytes)
			snprintf(io->failed, sizeof(io->failed), "the snapshot is larger than a tar of the workspace "
				 "can be (%llu bytes)", (unsigned long long)io->max_bytes);
		else if (snapshot_write_b64(io->save, b64->valuestring, &e) < 0)
			snprintf(io->failed, sizeof(io->failed), "%s", e.msg);
		return 1;
	}
	if (strcmp(type->valuestring, "op_end") != 0)
		return 0;
	struct snapshot_file *f = io->save;
	io->save = NULL;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "ok"))) {
		snapshot_abort(f);
	} else if (io->failed[0] != '\0') {
		snapshot_abort(f);
		fail_end(ev, io->failed);
	} else if (snapshot_commit(f, &e) < 0) {
		fail_end(ev, e.msg);
	}
	io->failed[0] = '\0';
	return 0;
}

void snapio_abort(struct snapio *io)
{
	if (io->save != NULL)
		snapshot_abort(io->save);
	io->save = NULL;
	io->failed[0] = '\0';
}

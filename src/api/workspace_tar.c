/* A session's workspace as one tar, out and in: GET .../workspace.tar streams it to the
 * client as the agent's tar makes it (tar_export.h, with the op below as its source);
 * PUT .../workspace.tar unpacks a client's tar into /workspace, to seed a new session.
 *
 * The upload is written to a file in the session's folder as it comes (an
 * HTTP_BODY_STREAM route), and only once it is whole does the supervisor send it to the
 * agent, as restore pieces (supervisor/snapshot_io.h), like a saved snapshot. Handing
 * the pieces on as they come would tie libmicrohttpd's thread to the pace of the
 * sandbox (its tar, its disk): the handler would have to wait, or hold a growing
 * backlog, for gigabytes. A local file takes each piece at once, memory stays one
 * piece, and a tar cut short by its client never reaches the workspace. The cost is
 * room on the host's disk for one tar while it lasts. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/app.h"
#include "api/op_run.h"
#include "api/tar_export.h"
#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"
#include "ipc/protocol.h"
#include "ipc/session_files.h"
#include "session/session.h"
#include "session/waiters.h"

/* ------------------------------------------------------------------- export */

/* The agent's tar, an op on the sandbox, as an export's source: the op_output pieces
 * decoded into the export, its op_end the export's end. */
struct op_source {
	struct session *s;          /* referenced */
	struct op_run *op;          /* the session holds it until its end */
	struct tar_export *x;       /* referenced */
	char *raw;                  /* a piece, decoded */
	bool garbled;
};

static void source_hold(void *p, bool hold)
{
	struct op_source *src = p;
	session_op_hold(src->s, src->op, hold);
}

/* The agent's tar cannot be stopped from here (an op runs to its end): let go (the
 * export did), its pieces come at the sandbox's pace and are dropped, and the session
 * takes other work once it has ended. */
static void source_stop(void *p)
{
	(void)p;
}

static void source_piece(void *p, const cJSON *ev)
{
	struct op_source *src = p;
	const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(ev, "data_b64");
	struct ad_err e;
	size_t n;
	if (!cJSON_IsString(b64) || src->garbled)
		return;
	size_t len = strlen(b64->valuestring);
	if (len > base64_encoded_len(PROTO_CHUNK) || base64_decode(b64->valuestring, len, src->raw, &n, &e) < 0) {
		src->garbled = true;
		return;
	}
	tar_export_bytes(src->x, src->raw, n);
}

static void source_done(void *p, bool ok, const char *error)
{
	struct op_source *src = p;
	tar_export_end(src->x, ok && !src->garbled, src->garbled ? "the tar came back garbled" : error);
	tar_export_unref(src->x);
	session_unref(src->s);
	free(src->raw);
	free(src);
}

static void source_tick(void *p)
{
	struct op_source *src = p;
	tar_export_tick(src->x);
}

static enum MHD_Result export_start(struct http_req *req, struct session *s)
{
	struct ad_err e;
	struct op_source *src = calloc(1, sizeof(*src));
	char *raw = malloc(PROTO_CHUNK + 4);
	struct tar_source ts = { source_hold, source_stop, src };
	struct tar_export *x = src ? tar_export_new(&ts) : NULL;
	struct op_run *o = x ? op_run_new(false) : NULL;
	cJSON *op = cJSON_CreateObject();
	if (o == NULL || raw == NULL || op == NULL) {
		if (x != NULL)
			tar_export_unref(x);
		free(src);
		free(raw);
		cJSON_Delete(op);
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "out of memory");
	}
	*src = (struct op_source){ .s = s, .op = o, .x = x, .raw = raw };
	session_ref(s);
	op_run_set_sink(o, source_piece, source_done, src);
	op_run_set_tick(o, source_tick);
	tar_export_ref(x);                      /* the request's */
	req->ctx = x;
	req->ctx_free = tar_export_unref;
	cJSON_AddStringToObject(op, "op", "snapshot");
	int rc = session_op(s, op, o, &e);
	cJSON_Delete(op);
	/* from here src is the op's: once it has ended, it is gone */
	if (rc < 0)
		source_done(src, false, e.msg);
	op_run_unref(o);
	if (rc < 0)
		return http_reply_error(req, 409, "conflict_error", "%s", e.msg);
	return tar_export_wait(x, req->conn) ? MHD_YES : req->route->fn(req);
}

enum MHD_Result api_workspace_tar_get(struct http_req *req)
{
	enum MHD_Result r;
	if (req->ctx != NULL) {
		if (tar_export_wait(req->ctx, req->conn))
			return MHD_YES;
		char name[96];
		snprintf(name, sizeof(name), "%s.tar", req->params[0]);
		return tar_export_reply(req->ctx, req, name);
	}
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	return s == NULL ? r : export_start(req, s);
}

/* ------------------------------------------------------------------- import */

struct upload {
	int fd;                     /* the file, until the whole body is in */
	char dir[4096];             /* the session's folder, and the file's name in it */
	char name[UPLOAD_NAME_MAX];
	uint64_t bytes, max;
	bool hybrid;                /* the folder is the session's own, for its snapshots */
	bool sent;                  /* the restore went out: the supervisor removes the file */
	struct op_run *op;          /* then: the restore */
};

static void upload_free(void *p)
{
	struct upload *u = p;
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", u->dir, u->name);
	if (u->fd >= 0)
		close(u->fd);
	if (!u->sent)
		unlink(path);
	if (!u->hybrid)                /* made for the upload: gone with it (if empty) */
		rmdir(u->dir);
	if (u->op != NULL)
		op_run_release(u->op);
	free(u);
}

/* Each piece of the body into the file, within the session's limit. */
static int upload_piece(struct http_req *req, const char *data, size_t n)
{
	struct upload *u = req->ctx;
	if ((u->bytes += n) > u->max) {
		req->body_status = 413;
		snprintf(req->body_error, sizeof(req->body_error), "the tar is larger than the limit of %llu bytes "
			 "(the session's sandbox.workspace_size, and room for tar's headers)", (unsigned long long)u->max);
		return -1;
	}
	if (fs_write_all(u->fd, data, n) == 0)
		return 0;
	req->body_status = errno == ENOSPC || errno == EDQUOT ? 507 : 500;
	snprintf(req->body_error, sizeof(req->body_error), "cannot keep the upload on the host: %s", strerror(errno));
	log_error("workspace.tar: %s/%s: %s", u->dir, u->name, req->body_error);
	return -1;
}

/* Before the body: the session, its state and its limit, then the file. */
static enum MHD_Result upload_open(struct http_req *req)
{
	enum MHD_Result r;
	struct ad_err e;
	struct app *app = req->app;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	_cleanup_cjson_ cJSON *view = session_json(s, false);
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(view, "state");
	if (cJSON_IsString(state) && strcmp(state->valuestring, "running") == 0)
		return http_reply_error(req, 409, "conflict_error", "session %s is working on a turn; try again when "
					"it is done", session_id(s));
	struct sandbox_policy policy = app->policy;
	if (session_sandbox_policy(s, &policy, &e) < 0)
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "the session's policy: %s", e.msg);
	uint64_t max = workspace_tar_max(policy.workspace_size, policy.workspace_files);
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > max)
		return http_reply_error(req, 413, HTTP_ERR_TOO_LARGE, "the tar of %s bytes is larger than the limit of "
					"%llu bytes (the session's sandbox.workspace_size, and room for tar's "
					"headers)", cl, (unsigned long long)max);
	struct upload *u = calloc(1, sizeof(*u));
	char path[4200];
	if (u == NULL)
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "out of memory");
	u->fd = upload_create(app->cfg.state_dir, session_id(s), u->name, path, sizeof(path), &e);
	if (u->fd < 0) {
		free(u);
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "cannot keep the upload on the host: %s", e.msg);
	}
	snprintf(u->dir, sizeof(u->dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	u->max = max;
	u->hybrid = session_pattern(s) == PATTERN_HYBRID;
	req->ctx = u;
	req->ctx_free = upload_free;
	req->body_piece = upload_piece;
	return MHD_YES;
}

/* The whole body is in: the supervisor sends it to the agent to unpack. */
static enum MHD_Result upload_restore(struct http_req *req, struct upload *u)
{
	enum MHD_Result r;
	struct ad_err e;
	_cleanup_session_ struct session *s = api_find_session(req, &r);
	if (s == NULL)
		return r;
	int fd = u->fd;
	u->fd = -1;
	if (close(fd) < 0)
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "cannot keep the upload on the host: %s",
					strerror(errno));
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "op", "restore");
	cJSON_AddStringToObject(op, "upload", u->name);
	u->op = op_run_new(false);
	int rc = u->op != NULL ? session_op(s, op, u->op, &e) : ad_err_set(&e, ENOMEM, "restore");
	cJSON_Delete(op);
	if (rc < 0)
		return http_reply_error(req, 409, "conflict_error", "%s", e.msg);
	u->sent = true;
	return req->route->fn(req);
}

enum MHD_Result api_workspace_tar_put(struct http_req *req)
{
	struct upload *u = req->ctx;
	enum MHD_Result r;
	if (req->body_open)
		return upload_open(req);
	if (u->op == NULL)
		return upload_restore(req, u);
	cJSON *end = api_op_result(req, u->op, &r, NULL, NULL);
	if (end == NULL)
		return r;
	cJSON_Delete(end);
	cJSON *ok = cJSON_CreateObject();
	cJSON_AddTrueToObject(ok, "ok");
	cJSON_AddNumberToObject(ok, "bytes", (double)u->bytes);
	return http_reply_json(req, 200, ok);
}

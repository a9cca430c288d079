/* A session's folder and its snapshots: see include/ipc/session_files.h. */
#include "ipc/session_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/node_id.h"

#define SNAPSHOT "workspace.tar"              /* generation 0: saved before generations were */
#define SNAPSHOT_GEN "workspace.%llu.tar"
#define SNAPSHOT_TMP "workspace.tar.tmp"

bool session_id_ok(const char *id)
{
	const char *node;
	return node_id_parse(id, &node);
}

int session_dir(const char *state_dir, const char *id, char *out, size_t size, struct ad_err *err)
{
	if (!session_id_ok(id))
		return ad_err_code(err, EINVAL, "\"%s\" is not a session id", id);
	snprintf(out, size, "%s/sessions/%s", state_dir, id);
	return fs_mkdir_p(out, 0700, err);
}

uint64_t workspace_tar_max(uint64_t workspace_bytes, uint64_t workspace_files)
{
	return workspace_bytes + workspace_files * 1024 + (1u << 20);
}

#define UPLOAD_PREFIX "upload."

int upload_create(const char *state_dir, const char *id, char *name, char *path, size_t path_size,
		  struct ad_err *err)
{
	char dir[4096];
	if (session_dir(state_dir, id, dir, sizeof(dir), err) < 0)
		return -1;
	snprintf(path, path_size, "%s/" UPLOAD_PREFIX "XXXXXX", dir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return ad_err_sys(err, "create %s", path);
	snprintf(name, UPLOAD_NAME_MAX, "%s", strrchr(path, '/') + 1);
	return fd;
}

/* "upload." and mkstemp's six letters: the only names the supervisor opens. */
static bool upload_name_ok(const char *name)
{
	size_t p = strlen(UPLOAD_PREFIX);
	if (strncmp(name, UPLOAD_PREFIX, p) != 0 || strlen(name) != p + 6)
		return false;
	for (const char *c = name + p; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
			return false;
	return true;
}

int upload_take(const char *state_dir, const char *id, const char *name, struct ad_err *err)
{
	char path[4200];
	if (!session_id_ok(id) || !upload_name_ok(name))
		return ad_err_code(err, EINVAL, "\"%s\" is not an upload", name);
	snprintf(path, sizeof(path), "%s/sessions/%s/%s", state_dir, id, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ad_err_sys(err, "open %s", path);
	unlink(path);
	return fd;
}

/* The file name of generation gen's snapshot. */
static void snapshot_name(uint64_t gen, char *out, size_t size)
{
	if (gen == 0)
		snprintf(out, size, SNAPSHOT);
	else
		snprintf(out, size, SNAPSHOT_GEN, (unsigned long long)gen);
}

/* Generation of a snapshot's file name, or -1 when name is not one. */
static long long snapshot_gen_of(const char *name)
{
	unsigned long long gen;
	int end = 0;
	if (strcmp(name, SNAPSHOT) == 0)
		return 0;
	if (sscanf(name, "workspace.%llu.tar%n", &gen, &end) != 1 || name[end] != '\0' || gen > INT64_MAX)
		return -1;
	return (long long)gen;
}

void snapshot_remove_older(const char *dir, uint64_t keep)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		long long gen = snapshot_gen_of(de->d_name);
		if (gen >= 0 && (uint64_t)gen < keep)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	if (keep == UINT64_MAX) {
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_TMP, dir);
		unlink(tmp);
	}
}


struct snapshot_file {
	char dir[4096];
	uint64_t gen;
	int fd;
	size_t bytes;
};

struct snapshot_file *snapshot_begin(const char *state_dir, const char *id, uint64_t gen, struct ad_err *err)
{
	struct snapshot_file *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		ad_err_set(err, ENOMEM, "snapshot");
		return NULL;
	}
	char path[4200];
	if (session_dir(state_dir, id, f->dir, sizeof(f->dir), err) < 0) {
		free(f);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_TMP, f->dir);
	f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		ad_err_sys(err, "open %s", path);
		free(f);
		return NULL;
	}
	f->gen = gen;
	return f;
}

int snapshot_write_b64(struct snapshot_file *f, const char *b64, struct ad_err *err)
{
	size_t len = strlen(b64), n;
	_cleanup_free_ char *raw = malloc(base64_decoded_max(len) + 1);
	if (raw == NULL)
		return ad_err_set(err, ENOMEM, "snapshot");
	if (base64_decode(b64, len, raw, &n, err) < 0)
		return ad_err_prefix(err, "snapshot piece");
	if (fs_write_all(f->fd, raw, n) < 0)
		return ad_err_sys(err, "write the snapshot");
	f->bytes += n;
	return 0;
}

int snapshot_commit(struct snapshot_file *f, struct ad_err *err)
{
	char tmp[4200], final[4200], name[64];
	snapshot_name(f->gen, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_TMP, f->dir);
	snprintf(final, sizeof(final), "%s/%s", f->dir, name);
	int rc = 0;
	bool synced = fsync(f->fd) == 0;
	if (close(f->fd) < 0 || !synced)
		rc = ad_err_sys(err, "write %s", tmp);
	else if (rename(tmp, final) < 0)
		rc = ad_err_sys(err, "rename %s", tmp);
	if (rc < 0)
		unlink(tmp);           /* the last good snapshot stays */
	if (rc == 0) {
		int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	free(f);
	return rc;
}

void snapshot_abort(struct snapshot_file *f)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_TMP, f->dir);
	close(f->fd);
	unlink(tmp);
	free(f);
}

int snapshot_path(const char *state_dir, const char *id, uint64_t gen, char *out, size_t size)
{
	struct stat st;
	char name[64];
	snapshot_name(gen, name, sizeof(name));
	snprintf(out, size, "%s/sessions/%s/%s", state_dir, id, name);
	return session_id_ok(id) && stat(out, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -1;
}

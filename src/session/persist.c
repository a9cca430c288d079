/* Hybrid sessions on disk: see include/session/persist.h. */
#include "session/persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"
#include "core/statefile.h"
#include "core/utf8.h"

#define META "session.json"
#define TITLE "title"
#define TITLE_MAX 4096                        /* bytes: 200 characters of up to 4 */
#define SNAPSHOT "workspace.tar"              /* generation 0: saved before generations were */
#define SNAPSHOT_GEN "workspace.%llu.tar"
#define SNAPSHOT_TMP "workspace.tar.tmp"

static bool id_ok(const char *id)
{
	if (strncmp(id, "sess_", 5) != 0 || strlen(id) > 64)
		return false;
	for (const char *p = id + 5; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return id[5] != '\0';
}

int persist_dir(const char *state_dir, const char *id, char *out, size_t size, struct ad_err *err)
{
	if (!id_ok(id))
		return ad_err_code(err, EINVAL, "\"%s\" is not a session id", id);
	snprintf(out, size, "%s/sessions/%s", state_dir, id);
	return fs_mkdir_p(out, 0700, err);
}

int persist_save_meta(const char *state_dir, const char *id, const cJSON *meta, struct ad_err *err)
{
	char dir[4096];
	if (persist_dir(state_dir, id, dir, sizeof(dir), err) < 0)
		return -1;
	_cleanup_free_ char *text = json_print(meta);
	if (text == NULL)
		return ad_err_set(err, ENOMEM, "session state");
	return statefile_replace(dir, -1, META, text, strlen(text), 0600, 0, err);
}

int persist_save_title(const char *state_dir, const char *id, const char *title, struct ad_err *err)
{
	char dir[4096];
	if (persist_dir(state_dir, id, dir, sizeof(dir), err) < 0)
		return -1;
	if (title[0] != '\0')
		return statefile_replace(dir, -1, TITLE, title, strlen(title), 0600, 0, err);
	char path[4200];
	snprintf(path, sizeof(path), "%s/" TITLE, dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return ad_err_sys(err, "%s", path);
	return 0;
}

/* The title kept beside session.json, into meta's "title"; a title that cannot be read
 * is logged, and the session comes back without it. */
static void load_title(const char *dir, cJSON *meta)
{
	char path[4600];
	_cleanup_free_ char *text = NULL;
	size_t len;
	struct ad_err e;
	snprintf(path, sizeof(path), "%s/" TITLE, dir);
	if (statefile_read(path, TITLE_MAX, &text, &len, &e) < 0) {
		if (e.errnum != ENOENT)
			log_warn("state: %s: %s; the session comes back without its title", path, e.msg);
		return;
	}
	if (strlen(text) != len || !utf8_valid(text, len, NULL)) {
		log_warn("state: %s is not UTF-8 text; the session comes back without its title", path);
		return;
	}
	cJSON_AddStringToObject(meta, "title", text);
}

cJSON *persist_load_all(const char *state_dir)
{
	char dir[4096];
	cJSON *all = cJSON_CreateArray();
	snprintf(dir, sizeof(dir), "%s/sessions", state_dir);
	DIR *d = opendir(dir);
	if (d == NULL)
		return all;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[4600];
		_cleanup_free_ char *text = NULL;
		size_t len;
		struct ad_err e;
		cJSON *meta = NULL;
		snprintf(path, sizeof(path), "%s/%s/" META, dir, de->d_name);
		if (!id_ok(de->d_name)) {
			log_warn("state: %s/%s is not a session's directory; skipped", dir, de->d_name);
			continue;
		}
		if (statefile_read(path, PERSIST_META_MAX, &text, &len, &e) < 0 && e.errnum == ENOENT) {
			/* no session.json: a first save cut short, or one that outlived its session */
			log_info("state: %s/%s holds no session.json; removed", dir, de->d_name);
			persist_remove(state_dir, de->d_name);
			continue;
		}
		if (text == NULL || json_parse_strict(text, len, &meta, &e) < 0) {
			log_warn("state: %s cannot be used (%s); the session is skipped", path, e.msg);
			continue;
		}
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(meta, "id");
		if (!cJSON_IsObject(meta) || !cJSON_IsString(id) || strcmp(id->valuestring, de->d_name) != 0 ||
		    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(meta, "transcript"))) {
			log_warn("state: %s does not describe session %s; skipped", path, de->d_name);
			cJSON_Delete(meta);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		load_title(path, meta);
		cJSON_AddItemToArray(all, meta);
	}
	closedir(d);
	return all;
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

/* Every snapshot of id's older than keep (all of them: UINT64_MAX). */
static void remove_snapshots(const char *dir, uint64_t keep)
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
}

void persist_prune(const char *state_dir, const char *id, uint64_t keep)
{
	char dir[4096];
	if (!id_ok(id))
		return;
	snprintf(dir, sizeof(dir), "%s/sessions/%s", state_dir, id);
	remove_snapshots(dir, keep);
}

void persist_remove(const char *state_dir, const char *id)
{
	char dir[4096], path[4200];
	if (!id_ok(id))
		return;
	snprintf(dir, sizeof(dir), "%s/sessions/%s", state_dir, id);
	remove_snapshots(dir, UINT64_MAX);
	const char *names[] = { META, SNAPSHOT_TMP };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
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
	if (persist_dir(state_dir, id, f->dir, sizeof(f->dir), err) < 0) {
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
	for (size_t off = 0; off < n;) {
		ssize_t w = write(f->fd, raw + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return ad_err_sys(err, "write the snapshot");
		off += (size_t)w;
	}
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
	return id_ok(id) && stat(out, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -1;
}

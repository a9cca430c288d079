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

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"
#include "core/statefile.h"
#include "core/utf8.h"
#include "ipc/session_files.h"
#include "sandbox/workspace.h"

#define META SESSION_META_FILE
#define TITLE "title"
#define TITLE_MAX 4096                        /* bytes: 200 characters of up to 4 */

int persist_save_meta(const char *state_dir, const char *id, const cJSON *meta, struct ad_err *err)
{
	char dir[4096];
	if (session_dir(state_dir, id, dir, sizeof(dir), err) < 0)
		return -1;
	_cleanup_free_ char *text = json_print(meta);
	if (text == NULL)
		return ad_err_set(err, ENOMEM, "session state");
	return statefile_replace(dir, -1, META, text, strlen(text), 0600, 0, err);
}

int persist_save_title(const char *state_dir, const char *id, const char *title, struct ad_err *err)
{
	char dir[4096];
	if (session_dir(state_dir, id, dir, sizeof(dir), err) < 0)
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

cJSON *persist_load_all(const struct config *cfg)
{
	const char *state_dir = cfg->state_dir;
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
		if (!session_id_ok(de->d_name)) {
			log_warn("state: %s/%s is not a session's directory; skipped", dir, de->d_name);
			continue;
		}
		if (statefile_read(path, PERSIST_META_MAX, &text, &len, &e) < 0 && e.errnum == ENOENT) {
			/* no session.json: a first save cut short, or one that outlived its session */
			log_info("state: %s/%s holds no session.json; removed", dir, de->d_name);
			persist_remove(cfg, de->d_name);
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


void persist_prune(const char *state_dir, const char *id, uint64_t keep)
{
	char dir[4096];
	if (!session_id_ok(id))
		return;
	snprintf(dir, sizeof(dir), "%s/sessions/%s", state_dir, id);
	snapshot_remove_older(dir, keep);
}

void persist_remove(const struct config *cfg, const char *id)
{
	char dir[4096], path[4200];
	struct ad_err e;
	if (!session_id_ok(id))
		return;
	snprintf(dir, sizeof(dir), "%s/sessions/%s", cfg->state_dir, id);
	/* session.json first: a supervisor that ends now removes the workspace itself (the
	 * snapshots and the title go with the folder, below) */
	snprintf(path, sizeof(path), "%s/" META, dir);
	unlink(path);
	struct workspace_host h = { .store = (enum workspace_store)cfg->sandbox.workspace_store };
	if (workspace_remove(&h, dir, &e) < 0)
		log_about(AD_LOG_WARN, id, NULL, "removing its workspace: %s", e.msg);
	/* then the folder with all that is left in it (an upload cut short by a crash, say) */
	snprintf(path, sizeof(path), "%s/sessions", cfg->state_dir);
	_cleanup_close_ int sessions = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sessions >= 0 && fs_remove_tree(sessions, id, &e) < 0)
		log_about(AD_LOG_WARN, id, NULL, "%s stays: %s", dir, e.msg);
}

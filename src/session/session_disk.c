/* A session's workspace as the gateway sees it: where it is and what it holds (GET
 * /api/sessions/{id}'s resources, /api/health's totals). On disk it is read from the
 * host (sandbox/workspace.h), a suspended session's too; in memory (the tmpfs store)
 * through the running sandbox's root. */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/statfs.h>

#include "core/workq.h"
#include "sandbox/workspace.h"
#include "session/persist.h"

bool session_workspace_on_disk(const struct session *s)
{
	return registry_config(s->reg)->sandbox.workspace_store != WORKSPACE_TMPFS;
}

void session_workspace_dir(const struct session *s, char *out, size_t size)
{
	snprintf(out, size, "%s/sessions/%s", registry_config(s->reg)->state_dir, s->id);
}

int session_disk_usage_locked(struct session *s, uint64_t *bytes, uint64_t *files)
{
	char path[4200];
	if (session_workspace_on_disk(s)) {
		struct workspace_host h = { .store = registry_config(s->reg)->sandbox.workspace_store };
		session_workspace_dir(s, path, sizeof(path));
		return workspace_usage(&h, path, bytes, files);
	}
	struct statfs sf;
	if (s->link == NULL || s->init_pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/root/workspace", s->init_pid);
	if (statfs(path, &sf) < 0)
		return -1;
	*bytes = (uint64_t)(sf.f_blocks - sf.f_bfree) * (uint64_t)sf.f_bsize;
	*files = sf.f_files - sf.f_ffree > 1 ? (uint64_t)(sf.f_files - sf.f_ffree) - 1 : 0;
	return 0;
}

void session_disk_json(struct session *s, cJSON *resources)
{
	uint64_t bytes, files;
	if (session_disk_usage_locked(s, &bytes, &files) < 0)
		return;
	cJSON_AddNumberToObject(resources, "disk_bytes", (double)bytes);
	cJSON_AddNumberToObject(resources, "disk_files", (double)files);
}

void sessions_disk_usage(struct sessions *reg, uint64_t *bytes, uint64_t *files)
{
	size_t n;
	struct session **all = registry_all(reg, &n);
	*bytes = *files = 0;
	for (size_t i = 0; all != NULL && i < n; i++) {
		uint64_t b, f;
		pthread_mutex_lock(&all[i]->lock);
		if (session_disk_usage_locked(all[i], &b, &f) == 0) {
			*bytes += b;
			*files += f;
		}
		pthread_mutex_unlock(&all[i]->lock);
		session_unref(all[i]);
	}
	free(all);
}

/* A workspace whose supervisor died before it could remove it (killed, say) goes on the
 * saver's thread: the disk is not the hub's to wait for. */
struct drop_job {
	struct sessions *reg;
	char id[64];
};

static void drop_run(void *ctx)
{
	struct drop_job *j = ctx;
	persist_remove(registry_config(j->reg), j->id);
	free(j);
}

void session_workspace_drop(struct session *s)
{
	struct drop_job *j = malloc(sizeof(*j));
	if (!session_workspace_on_disk(s) || j == NULL) {
		free(j);
		return;
	}
	j->reg = s->reg;
	snprintf(j->id, sizeof(j->id), "%s", s->id);
	if (workq_push(s->reg->saver, drop_run, j) < 0)
		drop_run(j);      /* the saver has stopped (shutdown): here, then */
}

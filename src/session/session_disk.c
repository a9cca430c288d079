/* A session's workspace as the gateway sees it: where it is and what it holds (GET
 * /api/sessions/{id}'s resources, /api/health's totals). On disk it is read from the
 * host (sandbox/workspace.h), a suspended session's too; in memory (the tmpfs store)
 * through the running sandbox's root. */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/statfs.h>

#include "core/clock.h"
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

/* The pass over every session (a statfs or a quota read each, ~20 us with its lock). */
static void disk_totals_run(void *ctx)
{
	struct sessions *reg = ctx;
	size_t n;
	struct session **all = registry_all(reg, &n);
	uint64_t bytes = 0, files = 0;
	for (size_t i = 0; all != NULL && i < n; i++) {
		uint64_t b, f;
		pthread_mutex_lock(&all[i]->lock);
		if (session_disk_usage_locked(all[i], &b, &f) == 0) {
			bytes += b;
			files += f;
		}
		pthread_mutex_unlock(&all[i]->lock);
		session_unref(all[i]);
	}
	free(all);
	pthread_mutex_lock(&reg->disk.lock);
	reg->disk.bytes = bytes;
	reg->disk.files = files;
	reg->disk.at_ns = clock_mono_ns();
	reg->disk.queued = false;
	pthread_mutex_unlock(&reg->disk.lock);
}

/* /api/health must answer in the same time with ten thousand sessions as with ten: it
 * gets the last totals at once, and when they are older than DISK_TOTALS_MAX_MS a new
 * pass is queued on the files thread (a health check every few seconds keeps them
 * fresh; a lone one sees those of its predecessor). */
void sessions_disk_usage(struct sessions *reg, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&reg->disk.lock);
	uint64_t now = clock_mono_ns();
	if (!reg->disk.queued && !reg->disk.closed && now - reg->disk.at_ns >= DISK_TOTALS_MAX_MS * 1000000ull)
		reg->disk.queued = workq_push(reg->files, disk_totals_run, reg) == 0;
	*bytes = reg->disk.bytes;
	*files = reg->disk.files;
	pthread_mutex_unlock(&reg->disk.lock);
}

/* A workspace whose supervisor died before it could remove it (killed, say) goes on the
 * saver's thread: the disk is not the hub's to wait for. */
struct drop_job {
	struct sessions *reg;
	char id[SESSION_ID_LEN];
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

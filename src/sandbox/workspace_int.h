/* Inside the workspace store (include/sandbox/workspace.h): what its files share. */
#ifndef AGENTD_SANDBOX_WORKSPACE_INT_H
#define AGENTD_SANDBOX_WORKSPACE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

/* dir locked (flock) against another process's open, release or removal of its
 * workspace: a descriptor to close; one held longer than WORKSPACE_LOCK_MS by a
 * process stopped or stuck is an error (EBUSY) rather than a wait without end. */
#define WORKSPACE_LOCK_MS 10000
int workspace_lock(const char *dir, struct ad_err *err);
/* What an image that is not mounted holds, noted as it was unmounted: "BYTES FILES". */
#define WORKSPACE_USAGE "workspace.usage"
void workspace_note_usage(const char *dir);
bool workspace_mounted(const char *path);
int workspace_loop_probe(char *note, size_t size);
int workspace_loop_open(const char *dir, bool create, uint64_t size, uint64_t files, uid_t new_owner,
			struct ad_err *err);
int workspace_loop_remove(const char *dir, struct ad_err *err);
int workspace_loop_release(const char *dir, struct ad_err *err);
int workspace_quota_probe(const char *base, char *note, size_t size);
int workspace_quota_open(const char *dir, bool create, uint64_t size, uint64_t files, uid_t new_owner,
			 struct ad_err *err);
int workspace_quota_usage(const char *dir, uint64_t *bytes, uint64_t *files);
int workspace_quota_release(const char *dir);


#endif

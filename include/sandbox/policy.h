/* What a sandbox may use: limits, time, names, paths. Built from the config; a request
 * (a session, a CLI flag) may tighten it, never loosen it. Fixed-size, no pointers into
 * the heap but env_allow, so that a forked child can read it without allocating. */
#ifndef AGENTD_SANDBOX_POLICY_H
#define AGENTD_SANDBOX_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

struct cJSON;

#define SANDBOX_MAX_BINDS 16
#define SANDBOX_BIND_PATH_MAX 256

struct sandbox_bind {
	char src[SANDBOX_BIND_PATH_MAX];   /* host path */
	char dst[SANDBOX_BIND_PATH_MAX];   /* path inside the sandbox */
	bool rw;
};

struct sandbox_policy {
	uint64_t memory_max;          /* bytes, swap 0 */
	uint64_t pids_max;
	uint64_t cpus_milli;          /* thousandths of a CPU */
	uint64_t workspace_size, workspace_files;
	uint64_t tmp_size, tmp_files;
	uint64_t nofile;
	unsigned command_timeout_s;
	unsigned session_timeout_s;
	char hostname[64];
	char *const *env_allow;       /* names, NULL-terminated; owned by the config */
	struct sandbox_bind binds[SANDBOX_MAX_BINDS];
	unsigned nbinds;
	bool usr_overlay;
	bool allow_no_cgroup;
	bool cpu_low;                 /* a warm pool's: its cgroup at the least CPU weight
					 (sandbox_cgroup_cpu_normal restores it) */
	uint32_t uid_base, uid_count;
	uint32_t host_uid;            /* root in the sandbox as the host sees it (agentd as
					 root); 0: one of uid_base's range, by sandbox */
};

int sandbox_policy_from_config(struct sandbox_policy *p, const struct config *cfg, struct ad_err *err);

/* Apply {"memory_max": "256M", "pids_max": 64, "cpus": 0.5, "command_timeout_s": 10,
 * ...}: every value must be at most the current one, or the whole request is refused
 * with the key named. "hostname" may be changed; paths and the environment may not. */
int sandbox_policy_tighten(struct sandbox_policy *p, const struct cJSON *req, struct ad_err *err);

/* "KEY=VALUE" (the CLI's --set) as a one-key tightening request. */
int sandbox_policy_tighten_kv(struct sandbox_policy *p, const char *kv, struct ad_err *err);

#endif

/* A warm pool's sandbox back at the normal CPU priority: see include/sandbox/cgroup.h.
 * Its cgroup was made at the least weight (cgroup.c, policy.cpu_low) and its threads
 * inherited SCHED_IDLE from the supervisor that built it. */
#include "sandbox/cgroup.h"
#include "cgroup_int.h"

#include <stdio.h>

#include "core/sched.h"

/* version's CPU controller directory dir: the default weight, every thread normal. */
static int cpu_normal(int version, const char *dir, struct ad_err *err)
{
	bool v2 = version == 2;
	if (cg_write(dir, v2 ? "cpu.weight" : "cpu.shares", v2 ? CPU_WEIGHT_NORMAL : CPU_SHARES_NORMAL, err) < 0)
		return -1;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, v2 ? "cgroup.threads" : "tasks");
	return sched_idle_leave_listed(path, err) < 0 ? -1 : 0;
}

int sandbox_cgroup_cpu_normal(const struct sandbox_cgroup *cg, struct ad_err *err)
{
	if (cg->ndirs == 0)
		return 0;                 /* without a cgroup: nothing was lowered */
	return cpu_normal(cg->version, cg->dir[cg->version == 2 ? 0 : CG_CPU], err);
}

int sandbox_cgroup_info_cpu_normal(const cJSON *info, struct ad_err *err)
{
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(info, "version");
	int v = cJSON_IsNumber(version) ? version->valueint : 0;
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(info, v == 2 ? "dir" : "cpu");
	if (v == 0 || !cJSON_IsString(dir))
		return 0;                 /* without a cgroup: nothing was lowered */
	return cpu_normal(v, dir->valuestring, err);
}

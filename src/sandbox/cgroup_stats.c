/* What a session's sandbox uses now, read from its cgroup: see include/sandbox/cgroup.h.
 * The supervisor names the directories (sandbox_cgroup_json); the gateway reads them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/cgroup.h"

cJSON *sandbox_cgroup_json(const struct sandbox_cgroup *cg)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "version", cg->version);
	if (cg->version == 2) {
		cJSON_AddStringToObject(j, "dir", cg->dir[0]);
	} else if (cg->version == 1) {
		for (unsigned i = 0; i < CG_NCTL; i++)
			if (cg->dir[i][0])
				cJSON_AddStringToObject(j, cgroup_ctl_names[i], cg->dir[i]);
	}
	return j;
}

/* The first number in dir/file (after key, when given), or -1. */
static double read_number(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX + 64], buf[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = buf;
	if (key != NULL) {
		size_t kl = strlen(key);
		for (p = buf; p != NULL; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
				break;
		if (p == NULL)
			return -1;
		p += kl + 1;
	}
	char *end;
	double v = strtod(p, &end);
	return end == p ? -1 : v;
}

/* CPU seconds without cpuacct (v1 hosts that mount it apart from cpu): the processes of
 * the cgroup, with the time of the children they reaped (everything in a sandbox is
 * reaped inside it, by its init at the latest). */
static double cpu_from_procs(const char *dir)
{
	char path[PATH_MAX + 32], line[64];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	double ticks = 0, hz = (double)sysconf(_SC_CLK_TCK);
	while (fgets(line, sizeof(line), f) != NULL) {
		char stat[PATH_MAX], buf[1024];
		snprintf(stat, sizeof(stat), "/proc/%d/stat", atoi(line));
		int fd = open(stat, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		const char *p = strrchr(buf, ')');
		unsigned long long v[4];
		/* after ")": state, then fields 4..13, then utime stime cutime cstime */
		if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
					&v[0], &v[1], &v[2], &v[3]) == 4)
			ticks += (double)(v[0] + v[1] + v[2] + v[3]);
	}
	fclose(f);
	return ticks / (hz > 0 ? hz : 100);
}

static void add(cJSON *j, const char *name, double v)
{
	if (v >= 0)
		cJSON_AddNumberToObject(j, name, v);
	else
		cJSON_AddNullToObject(j, name);
}

double sandbox_cgroup_info_oom_kills(const cJSON *info)
{
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(info, "version");
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(info, cJSON_IsNumber(version) && version->valueint == 2
								   ? "dir" : "memory");
	if (!cJSON_IsString(dir))
		return -1;
	return cJSON_IsNumber(version) && version->valueint == 2
		       ? read_number(dir->valuestring, "memory.events", "oom_kill")
		       : read_number(dir->valuestring, "memory.oom_control", "oom_kill");
}

cJSON *sandbox_cgroup_stats(const cJSON *info)
{
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(info, "version");
	cJSON *j = cJSON_CreateObject();
	if (!cJSON_IsNumber(version) || version->valueint == 0) {
		cJSON_AddNullToObject(j, "memory_bytes");
		return j;
	}
	if (version->valueint == 2) {
		const cJSON *dir = cJSON_GetObjectItemCaseSensitive(info, "dir");
		const char *d = cJSON_IsString(dir) ? dir->valuestring : "/nonexistent";
		add(j, "memory_bytes", read_number(d, "memory.current", NULL));
		add(j, "memory_peak_bytes", read_number(d, "memory.peak", NULL));
		double us = read_number(d, "cpu.stat", "usage_usec");
		add(j, "cpu_seconds", us < 0 ? -1 : us / 1e6);
		add(j, "pids", read_number(d, "pids.current", NULL));
		add(j, "oom_kills", sandbox_cgroup_info_oom_kills(info));
		return j;
	}
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(info, "memory");
	const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(info, "cpu");
	const cJSON *pids = cJSON_GetObjectItemCaseSensitive(info, "pids");
	const char *md = cJSON_IsString(mem) ? mem->valuestring : "/nonexistent";
	add(j, "memory_bytes", read_number(md, "memory.usage_in_bytes", NULL));
	add(j, "memory_peak_bytes", read_number(md, "memory.max_usage_in_bytes", NULL));
	double ns = read_number(cJSON_IsString(cpu) ? cpu->valuestring : "/nonexistent", "cpuacct.usage", NULL);
	add(j, "cpu_seconds", ns >= 0 ? ns / 1e9 : cpu_from_procs(md));
	add(j, "pids", read_number(cJSON_IsString(pids) ? pids->valuestring : "/nonexistent", "pids.current", NULL));
	add(j, "oom_kills", sandbox_cgroup_info_oom_kills(info));
	return j;
}

/* The sandbox policy: see include/sandbox/policy.h. */
#include "sandbox/policy.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/cleanup.h"

/* Places a bind may not cover: the sandbox's own mounts and the read-only system. */
static const char *const reserved_dst[] = {
	"/proc", "/dev", "/sys", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
};

static int check_abs(const char *what, const char *path, struct ad_err *err)
{
	if (path[0] != '/' || strlen(path) >= SANDBOX_BIND_PATH_MAX)
		return ad_err_set(err, 0, "%s \"%s\" must be an absolute path under %d characters", what,
				  path, SANDBOX_BIND_PATH_MAX);
	for (const char *p = path; *p; p++) {
		if (p[0] == '/' && (p[1] == '/' || (p[1] == '.' && (p[2] == '/' || p[2] == '\0' ||
				    (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))))
			return ad_err_set(err, 0, "%s \"%s\" must be normalised (no //, . or ..)", what, path);
	}
	return 0;
}

static int parse_bind(struct sandbox_bind *b, const char *spec, struct ad_err *err)
{
	char buf[2 * SANDBOX_BIND_PATH_MAX + 8];
	if (strlen(spec) >= sizeof(buf))
		return ad_err_set(err, 0, "\"%s\" is too long", spec);
	strcpy(buf, spec);
	char *dst = strchr(buf, ':');
	*dst++ = '\0';                 /* the config check guarantees the ':' */
	char *mode = strchr(dst, ':');
	if (mode != NULL)
		*mode++ = '\0';
	b->rw = mode != NULL && strcmp(mode, "rw") == 0;
	if (check_abs("source", buf, err) < 0 || check_abs("destination", dst, err) < 0)
		return -1;
	if (strcmp(dst, "/") == 0)
		return ad_err_set(err, 0, "destination may not be /");
	for (size_t i = 0; i < ARRAY_SIZE(reserved_dst); i++) {
		size_t n = strlen(reserved_dst[i]);
		if (strncmp(dst, reserved_dst[i], n) == 0 && (dst[n] == '\0' || dst[n] == '/'))
			return ad_err_set(err, 0, "destination %s is inside %s, which the sandbox builds itself",
					  dst, reserved_dst[i]);
	}
	struct stat st;
	if (stat(buf, &st) < 0)
		return ad_err_sys(err, "source %s", buf);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return ad_err_set(err, 0, "source %s is neither a directory nor a regular file", buf);
	snprintf(b->src, sizeof(b->src), "%s", buf);
	snprintf(b->dst, sizeof(b->dst), "%s", dst);
	return 0;
}

int sandbox_policy_from_config(struct sandbox_policy *p, const struct config *cfg, struct ad_err *err)
{
	memset(p, 0, sizeof(*p));
	p->memory_max = (uint64_t)cfg->sandbox.memory_max;
	p->pids_max = (uint64_t)cfg->sandbox.pids_max;
	p->cpus_milli = (uint64_t)cfg->sandbox.cpus_milli;
	p->workspace_size = (uint64_t)cfg->sandbox.workspace_size;
	p->workspace_files = (uint64_t)cfg->sandbox.workspace_files;
	p->tmp_size = (uint64_t)cfg->sandbox.tmp_size;
	p->tmp_files = (uint64_t)cfg->sandbox.tmp_files;
	p->nofile = (uint64_t)cfg->sandbox.nofile;
	p->command_timeout_s = (unsigned)cfg->sandbox.command_timeout_s;
	p->session_timeout_s = (unsigned)cfg->sandbox.session_timeout_s;
	snprintf(p->hostname, sizeof(p->hostname), "%s", cfg->sandbox.hostname);
	p->env_allow = cfg->sandbox.env_allow;
	p->usr_overlay = cfg->sandbox.usr_overlay;
	p->allow_no_cgroup = cfg->sandbox.allow_no_cgroup;
	if ((uint64_t)cfg->sandbox.uid_base + (uint64_t)cfg->sandbox.uid_count > UINT32_MAX - 1)
		return ad_err_set(err, 0, "sandbox.uid_base + sandbox.uid_count must stay below 2^32 - 1");
	p->uid_base = (uint32_t)cfg->sandbox.uid_base;
	p->uid_count = (uint32_t)cfg->sandbox.uid_count;
	for (char *const *b = cfg->sandbox.binds; b != NULL && *b != NULL; b++) {
		if (p->nbinds == SANDBOX_MAX_BINDS)
			return ad_err_set(err, 0, "sandbox.binds: more than %d binds", SANDBOX_MAX_BINDS);
		if (parse_bind(&p->binds[p->nbinds], *b, err) < 0)
			return ad_err_prefix(err, "sandbox.binds: \"%s\"", *b);
		p->nbinds++;
	}
	return 0;
}

enum limit_kind { LIMIT_COUNT, LIMIT_SIZE, LIMIT_MILLI, LIMIT_SECONDS };

static const struct {
	const char *key;
	enum limit_kind kind;
	size_t offset;
} limits[] = {
	{ "memory_max", LIMIT_SIZE, offsetof(struct sandbox_policy, memory_max) },
	{ "pids_max", LIMIT_COUNT, offsetof(struct sandbox_policy, pids_max) },
	{ "cpus", LIMIT_MILLI, offsetof(struct sandbox_policy, cpus_milli) },
	{ "workspace_size", LIMIT_SIZE, offsetof(struct sandbox_policy, workspace_size) },
	{ "workspace_files", LIMIT_COUNT, offsetof(struct sandbox_policy, workspace_files) },
	{ "tmp_size", LIMIT_SIZE, offsetof(struct sandbox_policy, tmp_size) },
	{ "tmp_files", LIMIT_COUNT, offsetof(struct sandbox_policy, tmp_files) },
	{ "nofile", LIMIT_COUNT, offsetof(struct sandbox_policy, nofile) },
	{ "command_timeout_s", LIMIT_SECONDS, offsetof(struct sandbox_policy, command_timeout_s) },
	{ "session_timeout_s", LIMIT_SECONDS, offsetof(struct sandbox_policy, session_timeout_s) },
};

/* The smallest value the config accepts for sandbox.<key>: no request goes lower. */
static int64_t setting_min(const char *key)
{
	char full[64];
	snprintf(full, sizeof(full), "sandbox.%s", key);
	for (size_t i = 0; i < config_settings_count; i++)
		if (strcmp(config_settings[i].key, full) == 0)
			return config_settings[i].min;
	return 1;
}

/* One value, as JSON number or text, in the unit of its kind (milli: thousandths). */
static int limit_value(enum limit_kind kind, const cJSON *v, int64_t *out)
{
	char text[64];
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble < 0 || v->valuedouble > 9e15)
			return -1;
		snprintf(text, sizeof(text), kind == LIMIT_MILLI ? "%.3f" : "%.0f", v->valuedouble);
		if (kind != LIMIT_MILLI && (double)(int64_t)v->valuedouble != v->valuedouble)
			return -1;
	} else if (cJSON_IsString(v)) {
		snprintf(text, sizeof(text), "%s", v->valuestring);
	} else {
		return -1;
	}
	if (kind == LIMIT_MILLI)
		return config_parse_milli(text, out);
	if (kind == LIMIT_SIZE)
		return config_parse_size(text, out);
	char *end;
	errno = 0;
	long long n = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || n < 0)
		return -1;
	*out = n;
	return 0;
}

int sandbox_policy_tighten(struct sandbox_policy *p, const cJSON *req, struct ad_err *err)
{
	struct sandbox_policy next = *p;
	if (!cJSON_IsObject(req))
		return ad_err_set(err, 0, "the policy must be a JSON object");
	for (const cJSON *k = req->child; k != NULL; k = k->next) {
		if (strcmp(k->string, "hostname") == 0) {
			if (!cJSON_IsString(k) || config_settings_check("sandbox.hostname", k->valuestring, err) < 0)
				return cJSON_IsString(k) ? ad_err_prefix(err, "hostname")
							 : ad_err_set(err, 0, "hostname must be a string");
			snprintf(next.hostname, sizeof(next.hostname), "%s", k->valuestring);
			continue;
		}
		size_t i = 0;
		while (i < ARRAY_SIZE(limits) && strcmp(limits[i].key, k->string) != 0)
			i++;
		if (i == ARRAY_SIZE(limits))
			return ad_err_set(err, 0, "\"%s\" is not a policy setting a request may change", k->string);
		int64_t v;
		if (limit_value(limits[i].kind, k, &v) < 0 || v <= 0)
			return ad_err_set(err, 0, "%s: not a valid positive value", k->string);
		void *slot = (char *)&next + limits[i].offset;
		uint64_t cur = limits[i].kind == LIMIT_SECONDS ? *(unsigned *)slot : *(uint64_t *)slot;
		if ((uint64_t)v > cur)
			return ad_err_set(err, 0, "%s may only be lowered: %lld is above the configured %llu",
					  k->string, (long long)v, (unsigned long long)cur);
		int64_t floor = setting_min(k->string);
		if (v < floor && limits[i].kind == LIMIT_MILLI)
			return ad_err_set(err, 0, "%s: %.3f is below the smallest allowed, %.3f", k->string,
					  (double)v / 1000, (double)floor / 1000);
		if (v < floor)
			return ad_err_set(err, 0, "%s: %lld is below the smallest allowed, %lld", k->string,
					  (long long)v, (long long)floor);
		if (limits[i].kind == LIMIT_SECONDS)
			*(unsigned *)slot = (unsigned)v;
		else
			*(uint64_t *)slot = (uint64_t)v;
	}
	*p = next;
	return 0;
}

int sandbox_policy_tighten_kv(struct sandbox_policy *p, const char *kv, struct ad_err *err)
{
	const char *eq = strchr(kv, '=');
	if (eq == NULL || eq == kv)
		return ad_err_set(err, 0, "\"%s\": expected KEY=VALUE", kv);
	char key[64];
	snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
	cJSON *obj = cJSON_CreateObject();
	if (obj == NULL || cJSON_AddStringToObject(obj, key, eq + 1) == NULL) {
		cJSON_Delete(obj);
		return ad_err_set(err, ENOMEM, "policy");
	}
	int rc = sandbox_policy_tighten(p, obj, err);
	cJSON_Delete(obj);
	return rc;
}

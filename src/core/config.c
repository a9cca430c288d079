/* Loading, overriding and validating settings: see include/core/config.h. The settings
 * themselves are listed in config_table.c. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_value.h"
#include "core/cleanup.h"
#include "core/dotenv.h"
#include "core/json.h"
#include "core/node_id.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

static const struct setting *find_setting(const char *key)
{
	for (size_t i = 0; i < config_settings_count; i++)
		if (strcmp(config_settings[i].key, key) == 0)
			return &config_settings[i];
	return NULL;
}

static bool is_section(const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < config_settings_count; i++)
		if (strncmp(config_settings[i].key, prefix, n) == 0 && config_settings[i].key[n] == '.')
			return true;
	return false;
}

/* Settings that were renamed: a file that still uses the old name is told the new one. */
static const struct { const char *old, *now; } renamed[] = {
	{ "agent.max_turns", "agent.max_model_calls" },
};

static int unknown_setting(const char *key, struct ad_err *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(renamed); i++)
		if (strcmp(key, renamed[i].old) == 0)
			return ad_err_set(err, 0, "setting \"%s\" is called \"%s\" now (the same meaning)", key,
					  renamed[i].now);
	return ad_err_set(err, 0, "unknown setting \"%s\"", key);
}

/* Walk the file's objects; every leaf must be a known setting. Keys starting with '_'
 * are comments and ignored. */
static int apply_object(struct config *cfg, const cJSON *obj, const char *prefix,
			const char *base_dir, struct ad_err *err)
{
	const cJSON *item;
	cJSON_ArrayForEach(item, obj) {
		char key[256];
		if (item->string[0] == '_')
			continue;
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", item->string);
		const struct setting *s = find_setting(key);
		if (s == NULL && cJSON_IsObject(item) && is_section(key)) {
			if (apply_object(cfg, item, key, base_dir, err) < 0)
				return -1;
			continue;
		}
		if (s == NULL && is_section(key))
			return ad_err_set(err, 0, "\"%s\" must be an object of settings", key);
		if (s == NULL)
			return unknown_setting(key, err);
		if (s->flags & SETTING_SECRET)
			return ad_err_set(err, 0, "%s: secrets do not belong in the config file; set %s in the environment or in .env",
					  key, s->env);
		if (config_apply_json(cfg, s, item, base_dir, err) < 0)
			return ad_err_prefix(err, "%s", key);
	}
	return 0;
}

static int load_file(struct config *cfg, const char *path, struct ad_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ad_err_sys(err, "open");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ad_err_sys(err, "stat");
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES)
		return ad_err_set(err, 0, "not a regular file of at most %d bytes", CONFIG_MAX_BYTES);
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return ad_err_set(err, ENOMEM, "read");
	ssize_t got = read(fd, buf, (size_t)st.st_size);
	if (got < 0)
		return ad_err_sys(err, "read");
	_cleanup_cjson_ cJSON *root = NULL;
	if (json_parse_strict(buf, (size_t)got, &root, err) < 0)
		return -1;
	if (!cJSON_IsObject(root))
		return ad_err_set(err, 0, "the top level must be a JSON object");

	_cleanup_free_ char *dir = strdup(path);
	if (dir == NULL)
		return ad_err_set(err, ENOMEM, "read");
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return apply_object(cfg, root, "", dir, err);
}

#ifndef AGENTD_CONFIG_PATH
#define AGENTD_CONFIG_PATH "/etc/agentd/agentd.json"
#endif

void config_locate(const char **config, const char **env_file)
{
	if (*config == NULL)
		*config = getenv("AGENTD_CONFIG");
	if (*config == NULL && access(AGENTD_CONFIG_PATH, F_OK) == 0)
		*config = AGENTD_CONFIG_PATH;
	if (*env_file == NULL)
		*env_file = getenv("AGENTD_ENV_FILE");
	if (*env_file == NULL)
		*env_file = ".env";
}

void config_env_scrub(const char *name)
{
	char *v = getenv(name);
	if (v != NULL)
		explicit_bzero(v, strlen(v));   /* where it lies: the process's first stack too */
	unsetenv(name);
}

/* node.name left empty: the host name's first label (core/node_id.h). */
static int fill_node_name(struct config *cfg, struct ad_err *err)
{
	char name[NODE_NAME_MAX + 1];
	if (cfg->node.name[0] != '\0')
		return 0;
	if (node_name_from_host(name, err) < 0)
		return ad_err_prefix(err, "node.name");
	free(cfg->node.name);
	if ((cfg->node.name = strdup(name)) == NULL)
		return ad_err_set(err, ENOMEM, "config");
	return 0;
}

/* What one setting cannot say alone. */
static int check_together(const struct config *cfg, struct ad_err *err)
{
	int64_t budget = cfg->agent.thinking_budget;
	if (cfg->runtime.api_port == cfg->network.proxy_port)
		return ad_err_set(err, 0, "runtime.api_port and network.proxy_port are both %lld: the sandbox's API and "
				  "its egress proxy need ports of their own", (long long)cfg->runtime.api_port);
	for (char **m = cfg->runtime.model_map; m != NULL && *m != NULL; m++)
		if (!config_model_allowed(cfg, strchr(*m, '=') + 1))
			return ad_err_set(err, 0, "runtime.model_map: \"%s\": %s is not an allowed model (anthropic.model, "
					  "anthropic.models)", *m, strchr(*m, '=') + 1);
	if (budget != 0 && (budget < 1024 || budget >= cfg->anthropic.max_tokens))
		return ad_err_set(err, 0, "agent.thinking_budget: %lld: 0 (no thinking), or from 1024 to less than "
				  "anthropic.max_tokens (%lld)", (long long)budget, (long long)cfg->anthropic.max_tokens);
	return 0;
}

int config_load(struct config *cfg, const char *path, const char *env_file, struct ad_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < config_settings_count; i++) {
		/* A built-in default skips its extra check (the deny list's five regcomp()
		 * are a third of what a short `agentd sandbox run` spends on its settings);
		 * test_config's defaults_pass_their_checks runs each through it instead. */
		struct setting s_unchecked = config_settings[i];
		const struct setting *s = &s_unchecked;
		s_unchecked.check = NULL;
		if (config_apply_text(cfg, s, s->def, NULL, err) < 0) {
			ad_err_prefix(err, "built-in default of %s", s->key);
			goto fail;
		}
	}
	if (path != NULL) {
		if (load_file(cfg, path, err) < 0) {
			ad_err_prefix(err, "config file %s", path);
			goto fail;
		}
		if ((cfg->source = strdup(path)) == NULL) {
			ad_err_set(err, ENOMEM, "config");
			goto fail;
		}
	}
	if (env_file != NULL && (cfg->env_file = strdup(env_file)) == NULL) {
		ad_err_set(err, ENOMEM, "config");
		goto fail;
	}
	struct dotenv *dotenv = NULL;
	if (env_file != NULL && dotenv_load(env_file, &dotenv, err) < 0) {
		ad_err_prefix(err, "env file");
		goto fail;
	}
	for (size_t i = 0; i < config_settings_count; i++) {
		const struct setting *s = &config_settings[i];
		if (s->env == NULL)
			continue;
		const char *from = "environment variable";
		const char *v = getenv(s->env);
		if (v == NULL) {
			v = dotenv_get(dotenv, s->env);
			from = "env file: variable";
		}
		if (v != NULL && config_apply_text(cfg, s, v, NULL, err) < 0) {
			ad_err_prefix(err, "%s %s", from, s->env);
			dotenv_free(dotenv);
			goto fail;
		}
		if (v != NULL && (s->flags & SETTING_SECRET))   /* the API key: what a reload reads */
			cfg->key_source = getenv(s->env) != NULL ? CONFIG_KEY_ENV : CONFIG_KEY_FILE;
		if (s->flags & SETTING_SECRET)
			config_env_scrub(s->env);     /* kept in cfg alone from now on */
	}
	dotenv_free(dotenv);
	if (check_together(cfg, err) < 0 || fill_node_name(cfg, err) < 0)
		goto fail;
	return 0;
fail:
	config_free(cfg);
	return -1;
}

int config_settings_check(const char *key, const char *value, struct ad_err *err)
{
	const struct setting *s = find_setting(key);
	if (s == NULL)
		return unknown_setting(key, err);
	return s->check != NULL ? s->check(value, err) : 0;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < config_settings_count; i++) {
		const struct setting *s = &config_settings[i];
		if (s->type == SETTING_LIST) {
			char ***list = config_field(cfg, s);
			config_list_free(*list);
			*list = NULL;
			continue;
		}
		if (s->type != SETTING_STRING && s->type != SETTING_JSON)
			continue;
		char **slot = config_field(cfg, s);
		if (*slot != NULL && (s->flags & SETTING_SECRET))
			explicit_bzero(*slot, strlen(*slot));
		free(*slot);
		*slot = NULL;
	}
	free(cfg->source);
	cfg->source = NULL;
	free(cfg->env_file);
	cfg->env_file = NULL;
}

/* {"http": {"max_body_bytes": 1048576, ...}, ...} following the dotted keys. */
cJSON *config_to_json(const struct config *cfg)
{
	cJSON *root = cJSON_CreateObject();
	for (size_t i = 0; root != NULL && i < config_settings_count; i++) {
		const struct setting *s = &config_settings[i];
		char key[256];
		snprintf(key, sizeof(key), "%s", s->key);
		cJSON *obj = root;
		char *part = key, *dot;
		while ((dot = strchr(part, '.')) != NULL) {
			*dot = '\0';
			cJSON *sub = cJSON_GetObjectItemCaseSensitive(obj, part);
			if (sub == NULL)
				sub = cJSON_AddObjectToObject(obj, part);
			obj = sub;
			part = dot + 1;
		}
		const void *f = (const char *)cfg + s->offset;
		switch (s->type) {
		case SETTING_STRING: {
			const char *v = *(char *const *)f;
			if (s->flags & SETTING_SECRET)
				cJSON_AddStringToObject(obj, part, v && v[0] ? "(set)" : "(not set)");
			else
				cJSON_AddStringToObject(obj, part, v ? v : "");
			break;
		}
		case SETTING_BOOL: cJSON_AddBoolToObject(obj, part, *(const bool *)f); break;
		case SETTING_INT:
		case SETTING_SIZE: cJSON_AddNumberToObject(obj, part, (double)*(const int64_t *)f); break;
		case SETTING_MILLI: cJSON_AddNumberToObject(obj, part, (double)*(const int64_t *)f / 1000); break;
		case SETTING_ENUM: cJSON_AddStringToObject(obj, part, s->choices[*(const int *)f]); break;
		case SETTING_JSON: {
			cJSON *v = *(char *const *)f ? cJSON_Parse(*(char *const *)f) : NULL;
			cJSON_AddItemToObject(obj, part, v ? v : cJSON_CreateObject());
			break;
		}
		case SETTING_LIST: {
			cJSON *arr = cJSON_AddArrayToObject(obj, part);
			for (char *const *it = *(char **const *)f; it != NULL && *it != NULL; it++)
				cJSON_AddItemToArray(arr, cJSON_CreateString(*it));
			break;
		}
		}
	}
	return root;
}

bool config_model_allowed(const struct config *cfg, const char *model)
{
	if (strcmp(model, cfg->anthropic.model) == 0)
		return true;
	for (char **m = cfg->anthropic.models; m != NULL && *m != NULL; m++)
		if (strcmp(model, *m) == 0)
			return true;
	return false;
}

const char *config_model_for(const struct config *cfg, const char *model)
{
	if (config_model_allowed(cfg, model))
		return model;
	size_t n = strlen(model);
	for (char **m = cfg->runtime.model_map; m != NULL && *m != NULL; m++)
		if (strncmp(*m, model, n) == 0 && (*m)[n] == '=')
			return *m + n + 1;
	return NULL;
}

bool config_runtime_allowed(const struct config *cfg, const char *runtime)
{
	for (char **r = cfg->runtime.allow; r != NULL && *r != NULL; r++)
		if (strcmp(*r, runtime) == 0)
			return true;
	return false;
}

bool config_port_exposed(const struct config *cfg, unsigned port)
{
	for (char **p = cfg->runtime.ports; p != NULL && *p != NULL; p++)
		if ((unsigned)atoi(*p) == port)
			return true;
	return false;
}

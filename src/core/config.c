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

#include "core/cleanup.h"
#include "core/dotenv.h"
#include "core/json.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

static void *field(struct config *cfg, const struct setting *s)
{
	return (char *)cfg + s->offset;
}

int config_parse_bool(const char *t, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(t, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(t, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

/* "1048576", "512K", "1M", "1MiB", "2G": binary multiples. */
int config_parse_size(const char *t, int64_t *out)
{
	if (!isdigit((unsigned char)*t))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(t, &end, 10);
	if (errno != 0)
		return -1;
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	}
	if (shift != 0 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end != '\0' || v > (unsigned long long)(INT64_MAX >> shift))
		return -1;
	*out = (int64_t)(v << shift);
	return 0;
}

static int parse_int(const char *t, int64_t *out)
{
	errno = 0;
	char *end;
	long long v = strtoll(t, &end, 10);
	if (errno != 0 || end == t || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int check_range(const struct setting *s, int64_t v, struct ad_err *err)
{
	if (v < s->min || v > s->max)
		return ad_err_set(err, 0, "%" PRId64 " is out of range (%" PRId64 " to %" PRId64 ")",
				  v, s->min, s->max);
	return 0;
}

/* Store one value given as text (environment, .env, defaults and JSON strings). */
static int apply_text(struct config *cfg, const struct setting *s, const char *text,
		      const char *base_dir, struct ad_err *err)
{
	int64_t n;
	for (const char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return ad_err_set(err, 0, "contains a control character");
	switch (s->type) {
	case SETTING_STRING: {
		if (s->check != NULL && s->check(text, err) < 0)
			return -1;
		char *v;
		if ((s->flags & SETTING_PATH) && base_dir != NULL && text[0] != '/' && text[0] != '\0') {
			if (asprintf(&v, "%s/%s", base_dir, text) < 0)
				v = NULL;
		} else {
			v = strdup(text);
		}
		if (v == NULL)
			return ad_err_set(err, ENOMEM, "store");
		char **slot = field(cfg, s);
		free(*slot);
		*slot = v;
		return 0;
	}
	case SETTING_BOOL:
		if (config_parse_bool(text, field(cfg, s)) < 0)
			return ad_err_set(err, 0, "\"%s\" is not a boolean (true/false, 1/0, yes/no)", text);
		return 0;
	case SETTING_INT:
		if (parse_int(text, &n) < 0)
			return ad_err_set(err, 0, "\"%s\" is not a whole number", text);
		if (check_range(s, n, err) < 0)
			return -1;
		*(int64_t *)field(cfg, s) = n;
		return 0;
	case SETTING_SIZE:
		if (config_parse_size(text, &n) < 0)
			return ad_err_set(err, 0, "\"%s\" is not a size (bytes, or a number with K, M, G)", text);
		if (check_range(s, n, err) < 0)
			return -1;
		*(int64_t *)field(cfg, s) = n;
		return 0;
	case SETTING_ENUM:
		for (int i = 0; s->choices[i] != NULL; i++) {
			if (strcmp(text, s->choices[i]) == 0) {
				*(int *)field(cfg, s) = i;
				return 0;
			}
		}
		char list[256] = "";
		for (int i = 0; s->choices[i] != NULL; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", s->choices[i]);
		return ad_err_set(err, 0, "\"%s\" is not one of: %s", text, list);
	}
	return ad_err_set(err, 0, "unknown setting type");
}

static int apply_json(struct config *cfg, const struct setting *s, const cJSON *v,
		      const char *base_dir, struct ad_err *err)
{
	char num[32];
	switch (s->type) {
	case SETTING_BOOL:
		if (!cJSON_IsBool(v))
			return ad_err_set(err, 0, "must be true or false");
		*(bool *)field(cfg, s) = cJSON_IsTrue(v);
		return 0;
	case SETTING_INT:
	case SETTING_SIZE:
		if (cJSON_IsNumber(v)) {
			double d = v->valuedouble;
			if (d != floor(d) || fabs(d) > 9.0e15)
				return ad_err_set(err, 0, "must be a whole number");
			snprintf(num, sizeof(num), "%.0f", d);
			return apply_text(cfg, s, num, base_dir, err);
		}
		if (s->type == SETTING_SIZE && cJSON_IsString(v))
			return apply_text(cfg, s, v->valuestring, base_dir, err);
		return ad_err_set(err, 0, s->type == SETTING_SIZE ? "must be a number or a size string like \"1M\""
								: "must be a number");
	case SETTING_STRING:
	case SETTING_ENUM:
		if (!cJSON_IsString(v))
			return ad_err_set(err, 0, "must be a string");
		return apply_text(cfg, s, v->valuestring, base_dir, err);
	}
	return ad_err_set(err, 0, "unknown setting type");
}

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
		if (s == NULL)
			return ad_err_set(err, 0, "unknown setting \"%s\"", key);
		if (s->flags & SETTING_SECRET)
			return ad_err_set(err, 0, "%s: secrets do not belong in the config file; set %s in the environment or in .env",
					  key, s->env);
		if (apply_json(cfg, s, item, base_dir, err) < 0)
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

int config_load(struct config *cfg, const char *path, const char *env_file, struct ad_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < config_settings_count; i++) {
		const struct setting *s = &config_settings[i];
		if (apply_text(cfg, s, s->def, NULL, err) < 0) {
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
		if (v != NULL && apply_text(cfg, s, v, NULL, err) < 0) {
			ad_err_prefix(err, "%s %s", from, s->env);
			dotenv_free(dotenv);
			goto fail;
		}
	}
	dotenv_free(dotenv);
	return 0;
fail:
	config_free(cfg);
	return -1;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < config_settings_count; i++) {
		const struct setting *s = &config_settings[i];
		if (s->type != SETTING_STRING)
			continue;
		char **slot = field(cfg, s);
		if (*slot != NULL && (s->flags & SETTING_SECRET))
			explicit_bzero(*slot, strlen(*slot));
		free(*slot);
		*slot = NULL;
	}
	free(cfg->source);
	cfg->source = NULL;
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
		case SETTING_ENUM: cJSON_AddStringToObject(obj, part, s->choices[*(const int *)f]); break;
		}
	}
	return root;
}

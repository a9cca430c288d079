/* Values of settings: parsing text and JSON into struct config, with the checks each
 * type implies. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_value.h"
#include "core/cleanup.h"

void *config_field(struct config *cfg, const struct setting *s)
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

/* "1", "0.5", "2.25": at most three decimals, kept in thousandths. */
int config_parse_milli(const char *t, int64_t *out)
{
	int64_t whole = 0, frac = 0;
	int digits = 0;
	const char *p = t;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++)
		if ((whole = whole * 10 + (*p - '0')) > INT64_MAX / 10000)
			return -1;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits >= 3)
				return -1;
			else
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -1;
	}
	if (*p != '\0')
		return -1;
	while (digits++ < 3)
		frac *= 10;
	*out = whole * 1000 + frac;
	return 0;
}

void config_list_free(char **list)
{
	for (char **p = list; p != NULL && *p != NULL; p++)
		free(*p);
	free(list);
}

/* Replace the list in slot with items (copied); each is checked first. */
static int store_list(const struct setting *s, char ***slot, const char *const *items, size_t n,
		      struct ad_err *err)
{
	char **list = calloc(n + 1, sizeof(*list));
	if (list == NULL)
		return ad_err_set(err, ENOMEM, "store");
	for (size_t i = 0; i < n; i++) {
		if ((s->check != NULL && s->check(items[i], err) < 0) ||
		    (list[i] = strdup(items[i])) == NULL) {
			if (list[i] == NULL && errno == ENOMEM)
				ad_err_set(err, ENOMEM, "store");
			config_list_free(list);
			return ad_err_prefix(err, "item %zu", i + 1);
		}
	}
	config_list_free(*slot);
	*slot = list;
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
int config_apply_text(struct config *cfg, const struct setting *s, const char *text,
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
		char **slot = config_field(cfg, s);
		free(*slot);
		*slot = v;
		return 0;
	}
	case SETTING_BOOL:
		if (config_parse_bool(text, config_field(cfg, s)) < 0)
			return ad_err_set(err, 0, "\"%s\" is not a boolean (true/false, 1/0, yes/no)", text);
		return 0;
	case SETTING_INT:
		if (parse_int(text, &n) < 0)
			return ad_err_set(err, 0, "\"%s\" is not a whole number", text);
		if (check_range(s, n, err) < 0)
			return -1;
		*(int64_t *)config_field(cfg, s) = n;
		return 0;
	case SETTING_SIZE:
		if (config_parse_size(text, &n) < 0)
			return ad_err_set(err, 0, "\"%s\" is not a size (bytes, or a number with K, M, G)", text);
		if (check_range(s, n, err) < 0)
			return -1;
		*(int64_t *)config_field(cfg, s) = n;
		return 0;
	case SETTING_MILLI:
		if (config_parse_milli(text, &n) < 0)
			return ad_err_set(err, 0, "\"%s\" is not a decimal number with at most 3 decimals", text);
		if (n < s->min || n > s->max)
			return ad_err_set(err, 0, "%s is out of range (%.3f to %.3f)", text,
					  (double)s->min / 1000, (double)s->max / 1000);
		*(int64_t *)config_field(cfg, s) = n;
		return 0;
	case SETTING_LIST: {
		/* "a,b,c": items are trimmed; empty text is an empty list */
		_cleanup_free_ char *copy = strdup(text);
		const char *items[256];
		size_t count = 0;
		if (copy == NULL)
			return ad_err_set(err, ENOMEM, "store");
		char *save = NULL;
		for (char *it = strtok_r(copy, ",", &save); it != NULL; it = strtok_r(NULL, ",", &save)) {
			while (isspace((unsigned char)*it))
				it++;
			char *end = it + strlen(it);
			while (end > it && isspace((unsigned char)end[-1]))
				*--end = '\0';
			if (*it == '\0')
				continue;
			if (count == ARRAY_SIZE(items))
				return ad_err_set(err, 0, "more than %zu items", ARRAY_SIZE(items));
			items[count++] = it;
		}
		return store_list(s, config_field(cfg, s), items, count, err);
	}
	case SETTING_JSON: {
		cJSON *v = cJSON_Parse(text);
		char *compact = cJSON_IsObject(v) ? cJSON_PrintUnformatted(v) : NULL;
		cJSON_Delete(v);
		if (compact == NULL)
			return ad_err_set(err, 0, "must be a JSON object");
		if (s->check != NULL && s->check(compact, err) < 0) {
			cJSON_free(compact);
			return -1;
		}
		char **slot = config_field(cfg, s);
		free(*slot);
		*slot = strdup(compact);
		cJSON_free(compact);
		return *slot != NULL ? 0 : ad_err_set(err, ENOMEM, "store");
	}
	case SETTING_ENUM:
		for (int i = 0; s->choices[i] != NULL; i++) {
			if (strcmp(text, s->choices[i]) == 0) {
				*(int *)config_field(cfg, s) = i;
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

int config_apply_json(struct config *cfg, const struct setting *s, const cJSON *v,
		      const char *base_dir, struct ad_err *err)
{
	char num[32];
	switch (s->type) {
	case SETTING_BOOL:
		if (!cJSON_IsBool(v))
			return ad_err_set(err, 0, "must be true or false");
		*(bool *)config_field(cfg, s) = cJSON_IsTrue(v);
		return 0;
	case SETTING_INT:
	case SETTING_SIZE:
		if (cJSON_IsNumber(v)) {
			double d = v->valuedouble;
			/* range first: the cast is only defined for values that fit */
			if (d > 9.0e15 || d < -9.0e15 || d != (double)(int64_t)d)
				return ad_err_set(err, 0, "must be a whole number");
			snprintf(num, sizeof(num), "%.0f", d);
			return config_apply_text(cfg, s, num, base_dir, err);
		}
		if (s->type == SETTING_SIZE && cJSON_IsString(v))
			return config_apply_text(cfg, s, v->valuestring, base_dir, err);
		return ad_err_set(err, 0, s->type == SETTING_SIZE ? "must be a number or a size string like \"1M\""
								: "must be a number");
	case SETTING_MILLI:
		if (cJSON_IsNumber(v)) {
			snprintf(num, sizeof(num), "%.3f", v->valuedouble);
			if (v->valuedouble < 0 || v->valuedouble > 1e12 ||
			    v->valuedouble * 1000 - (double)(int64_t)(v->valuedouble * 1000 + 0.5) > 1e-6 ||
			    v->valuedouble * 1000 - (double)(int64_t)(v->valuedouble * 1000 + 0.5) < -1e-6)
				return ad_err_set(err, 0, "must be a decimal number with at most 3 decimals");
			return config_apply_text(cfg, s, num, base_dir, err);
		}
		if (cJSON_IsString(v))
			return config_apply_text(cfg, s, v->valuestring, base_dir, err);
		return ad_err_set(err, 0, "must be a number");
	case SETTING_LIST: {
		if (!cJSON_IsArray(v))
			return ad_err_set(err, 0, "must be an array of strings");
		const char *items[256];
		size_t count = 0;
		const cJSON *it;
		cJSON_ArrayForEach(it, v) {
			if (!cJSON_IsString(it))
				return ad_err_set(err, 0, "item %zu must be a string", count + 1);
			if (count == ARRAY_SIZE(items))
				return ad_err_set(err, 0, "more than %zu items", ARRAY_SIZE(items));
			items[count++] = it->valuestring;
		}
		return store_list(s, config_field(cfg, s), items, count, err);
	}
	case SETTING_JSON: {
		if (!cJSON_IsObject(v))
			return ad_err_set(err, 0, "must be an object");
		char *text = cJSON_PrintUnformatted(v);
		int rc = text != NULL ? config_apply_text(cfg, s, text, base_dir, err) : ad_err_set(err, ENOMEM, "store");
		cJSON_free(text);
		return rc;
	}
	case SETTING_STRING:
	case SETTING_ENUM:
		if (!cJSON_IsString(v))
			return ad_err_set(err, 0, "must be a string");
		return config_apply_text(cfg, s, v->valuestring, base_dir, err);
	}
	return ad_err_set(err, 0, "unknown setting type");
}


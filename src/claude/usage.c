/* Token usage: see include/claude/usage.h. */
#include "claude/usage.h"

#include <stdbool.h>
#include <stddef.h>

#include "core/cleanup.h"

/* A token count the API may send: whole, not negative, not absurd. */
static bool count(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15;
}

void usage_read_json(struct usage *u, const cJSON *j)
{
	static const struct { const char *name; size_t off; } fields[] = {
		{ "input_tokens", offsetof(struct usage, input) },
		{ "output_tokens", offsetof(struct usage, output) },
		{ "cache_creation_input_tokens", offsetof(struct usage, cache_write) },
		{ "cache_read_input_tokens", offsetof(struct usage, cache_read) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, fields[i].name);
		if (count(v))
			*(int64_t *)(void *)((char *)u + fields[i].off) = (int64_t)v->valuedouble;
	}
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "cache_creation"),
						       "ephemeral_1h_input_tokens");
	if (count(h))
		u->cache_write_1h = (int64_t)h->valuedouble;
	if (u->cache_write_1h > u->cache_write)      /* a breakdown that does not add up */
		u->cache_write_1h = u->cache_write;
}

void usage_add(struct usage *to, const struct usage *u)
{
	to->input += u->input;
	to->output += u->output;
	to->cache_write += u->cache_write;
	to->cache_read += u->cache_read;
	to->cache_write_1h += u->cache_write_1h;
}

cJSON *usage_json(const struct usage *u)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "input_tokens", (double)u->input);
	cJSON_AddNumberToObject(j, "output_tokens", (double)u->output);
	cJSON_AddNumberToObject(j, "cache_creation_input_tokens", (double)u->cache_write);
	cJSON_AddNumberToObject(j, "cache_read_input_tokens", (double)u->cache_read);
	cJSON *by = cJSON_AddObjectToObject(j, "cache_creation");
	cJSON_AddNumberToObject(by, "ephemeral_5m_input_tokens", (double)(u->cache_write - u->cache_write_1h));
	cJSON_AddNumberToObject(by, "ephemeral_1h_input_tokens", (double)u->cache_write_1h);
	return j;
}

double usage_cost(const struct config *cfg, const struct usage *u)
{
	const typeof(cfg->anthropic) *a = &cfg->anthropic;
	double milli = (double)u->input * (double)a->price_input_milli +
		       (double)u->output * (double)a->price_output_milli +
		       (double)(u->cache_write - u->cache_write_1h) * (double)a->price_cache_write_milli +
		       (double)u->cache_write_1h * (double)a->price_cache_write_1h_milli +
		       (double)u->cache_read * (double)a->price_cache_read_milli;
	return milli / 1e3 / 1e6;
}

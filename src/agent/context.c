/* The context window: see include/agent/context.h. */
#include "agent/context.h"

#include <stdio.h>
#include <string.h>

void context_init(struct context *x, int64_t window, int64_t max_tokens)
{
	x->window = window;
	x->max_tokens = max_tokens;
	x->rate = CONTEXT_FIRST_RATE;
}

static int64_t count(const cJSON *usage, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, name);
	return cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e12 ? (int64_t)v->valuedouble : 0;
}

void context_learn(struct context *x, size_t bytes, const cJSON *usage)
{
	int64_t tokens = count(usage, "input_tokens") + count(usage, "cache_read_input_tokens") +
			 count(usage, "cache_creation_input_tokens");
	/* a small request says little of the rate (the tools and the system prompt are most
	 * of it); and a usage that counts nothing is no measure */
	if (tokens > 0 && bytes >= 4096)
		x->rate = (double)tokens / (double)bytes;
}

int64_t context_too_long(struct context *x, size_t bytes, const char *message)
{
	long long have, max;
	const char *p = message != NULL ? strstr(message, "prompt is too long: ") : NULL;
	if (p == NULL || sscanf(p, "prompt is too long: %lld tokens > %lld maximum", &have, &max) != 2 ||
	    have <= 0)
		return 0;
	if (bytes > 0)
		x->rate = (double)have / (double)bytes;
	if (max > 0 && max < x->window)       /* the API knows the model's window best */
		x->window = max;
	return have;
}

int64_t context_estimate(const struct context *x, size_t bytes)
{
	return (int64_t)((double)bytes * x->rate) + 1;
}

bool context_fits(const struct context *x, size_t bytes)
{
	/* room for the reply, but never so much that little is left for the prompt */
	int64_t reserve = x->max_tokens < x->window / 5 ? x->max_tokens : x->window / 5;
	return context_estimate(x, bytes) <= x->window - reserve;
}

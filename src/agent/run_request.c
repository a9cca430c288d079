/* The request of a model call, made to fit the model's context window: see
 * run_int.h and include/agent/context.h. */
#include "run_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

size_t run_printed_size(const cJSON *req)
{
	_cleanup_free_ char *text = cJSON_PrintUnformatted(req);
	return text != NULL ? strlen(text) : 0;
}

int run_compact_event(struct agent *a, const char *summary, int cleared, int64_t before, int64_t after,
		      struct ad_err *err)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "compact");
	cJSON_AddStringToObject(ev, "kind", summary != NULL ? "summary" : "cleared");
	if (summary != NULL)
		cJSON_AddStringToObject(ev, "summary", summary);
	else
		cJSON_AddNumberToObject(ev, "tool_results", cleared);
	cJSON_AddNumberToObject(ev, "tokens_before", (double)before);
	cJSON_AddNumberToObject(ev, "tokens_after", (double)after);
	return run_event(a, ev, err);
}

/* The old tool results cleared (agent/context.h), which a compact event says; *bytes,
 * req's size (req refers to the conversation), is its size after. How many, or -1. */
static int clear_results(struct agent *a, const cJSON *req, size_t *bytes, struct ad_err *err)
{
	int64_t before = context_estimate(&a->ctx, *bytes);
	int n = conv_clear_results(a->conv, CONTEXT_KEEP_RESULTS);
	*bytes = run_printed_size(req);
	if (n > 0 && run_compact_event(a, NULL, n, before, context_estimate(&a->ctx, *bytes), err) < 0)
		return -1;
	return n;
}

int run_make_room(struct agent *a, const char *model, const char *system, struct ad_err *err)
{
	cJSON *req = conv_request(a->conv, model, a->max_tokens, system, a->tooldefs);
	if (req == NULL)
		return ad_err_set(err, ENOMEM, "model request");
	size_t bytes = run_printed_size(req);
	int n = clear_results(a, req, &bytes, err);
	cJSON_Delete(req);
	return n;
}

int run_request(struct agent *a, const char *model, const char *system, long thinking, cJSON **out,
		size_t *bytes, struct ad_err *err)
{
	cJSON *req = conv_request(a->conv, model, a->max_tokens, system, a->tooldefs);
	if (req == NULL)
		return ad_err_set(err, ENOMEM, "model request");
	*bytes = run_printed_size(req);
	if (!context_fits(&a->ctx, *bytes)) {
		if (clear_results(a, req, bytes, err) < 0) {
			cJSON_Delete(req);
			return -1;
		}
		if (!context_fits(&a->ctx, *bytes)) {
			cJSON_Delete(req);
			return 1;
		}
	}
	cJSON *t = thinking > 0 ? cJSON_AddObjectToObject(req, "thinking") : NULL;
	if ((thinking > 0 && (cJSON_AddStringToObject(t, "type", "enabled") == NULL ||
			      cJSON_AddNumberToObject(t, "budget_tokens", (double)thinking) == NULL)) ||
	    prompt_cache_mark(req, a->cache_ttl) < 0) {
		cJSON_Delete(req);
		return ad_err_set(err, ENOMEM, "model request");
	}
	*out = req;
	return 0;
}

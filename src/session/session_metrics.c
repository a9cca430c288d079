/* What the gateway's metrics (core/metrics.h) learn from sessions: their events as they
 * pass (model calls, tools, egress, sandboxes up or failed, OOM kills), and, at each
 * scrape, how many there are in each state. Label values are the supervisor's own words
 * (outcomes, steps, decisions, retry reasons) or tool names, which a model may make up:
 * each family's series cap bounds them (core/metrics.h). A model agentd does not allow
 * is "other"; an id never becomes a label. */
#include "session_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/cleanup.h"
#include "core/config.h"
#include "core/metrics.h"
#include "sandbox/cgroup.h"

static const char *str(const cJSON *ev, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *ev, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, name);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* One model call (a usage event: the built-in agent's, or a program's through the
 * sandbox's API), whatever its end. */
static void api_call(struct session *s, const cJSON *ev)
{
	const struct config *cfg = s->reg->cfg;
	const char *m = str(ev, "model");
	const char *model = m != NULL && config_model_allowed(cfg, m) ? m : METRIC_OVERFLOW;
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(ev, "status");
	const char *outcome = str(ev, "outcome");
	if (outcome == NULL)       /* a program's call that never reached the API's answer */
		outcome = cJSON_IsNumber(status) && status->valueint / 100 == 2 ? "ok" : "client_error";
	metric_add(METRIC_API_REQUESTS, METRIC_L(model, outcome), 1);

	struct usage u = { 0 };
	usage_read_json(&u, cJSON_GetObjectItemCaseSensitive(ev, "call"));
	const int64_t by_kind[] = { u.input, u.output, u.cache_write, u.cache_read };
	static const char *const kinds[] = { "input", "output", "cache_write", "cache_read" };
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (by_kind[i] > 0)
			metric_add(METRIC_API_TOKENS, METRIC_L(model, kinds[i]), (double)by_kind[i]);
	double cost = usage_cost(cfg, &u);
	if (cost > 0)
		metric_add(METRIC_API_COST, METRIC_L(model, cfg->metrics.per_token ? s->owner : ""), cost);

	/* a call agentd refused was never made: no time to count */
	bool made = strcmp(outcome, "refused") != 0 && strcmp(outcome, "budget_exceeded") != 0;
	double first = made ? num(ev, "first_byte_ms") : -1, total = made ? num(ev, "duration_ms") : -1;
	if (first >= 0)
		metric_observe(METRIC_API_SECONDS, METRIC_L(model, "first_byte"), first / 1e3);
	if (total >= 0)
		metric_observe(METRIC_API_SECONDS, METRIC_L(model, "total"), total / 1e3);
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(ev, "retries"))
		if (cJSON_IsNumber(r) && r->valuedouble > 0)
			metric_add(METRIC_API_RETRIES, METRIC_L(r->string), r->valuedouble);
}

static void tool_end(const cJSON *ev)
{
	const char *tool = str(ev, "name");
	tool = tool != NULL ? tool : METRIC_OVERFLOW;
	bool failed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "is_error"));
	metric_add(METRIC_TOOL_CALLS, METRIC_L(tool, failed ? "error" : "ok"), 1);
	double ms = num(ev, "duration_ms");
	if (ms >= 0)
		metric_observe(METRIC_TOOL_SECONDS, METRIC_L(tool), ms / 1e3);
}

/* New OOM kills in the session's own sandbox (a shared sandbox's members are not
 * counted apart: they would count the same kills each). */
static void oom_check(struct session *s)
{
	if (s->cgroup == NULL || s->group != NULL)
		return;
	double kills = sandbox_cgroup_info_oom_kills(s->cgroup);
	if (kills > s->oom_seen) {
		metric_add(METRIC_OOM_KILLS, NULL, kills - s->oom_seen);
		s->oom_seen = kills;
	}
}

static void build_failed(struct session *s, const char *step)
{
	if (s->build_failed)
		return;
	s->build_failed = true;
	metric_add(METRIC_SANDBOX_FAILURES, METRIC_L(step), 1);
}

void session_metrics_event(struct session *s, const char *type, const cJSON *ev)
{
	if (strcmp(type, "usage") == 0) {
		api_call(s, ev);
	} else if (strcmp(type, "tool_end") == 0) {
		tool_end(ev);
		oom_check(s);
	} else if (strcmp(type, "egress") == 0) {
		const char *decision = str(ev, "decision");
		metric_add(METRIC_EGRESS, METRIC_L(decision ? decision : METRIC_OVERFLOW), 1);
	} else if (strcmp(type, "ready") == 0) {
		if (s->spawn_ns != 0)
			metric_observe(METRIC_SANDBOX_START, NULL, (double)(clock_mono_ns() - s->spawn_ns) / 1e9);
		s->spawn_ns = 0;
		s->oom_seen = 0;
	} else if (strcmp(type, "done") == 0) {
		oom_check(s);
	} else if (strcmp(type, "error") == 0) {
		/* before its sandbox was up (no "ready" since the spawn), the supervisor says
		 * which step failed; the agent sends nothing before then */
		if (s->spawn_ns != 0 && str(ev, "step") != NULL)
			build_failed(s, str(ev, "step"));
		oom_check(s);
	}
}

void session_metrics_closed(struct session *s)
{
	/* its supervisor ended before the sandbox was up, and nobody asked it to */
	if (s->spawn_ns != 0 && s->state != SESSION_DESTROYED)
		build_failed(s, "supervisor");
}

/* One pass over the registry (it holds neither the pool's sandboxes nor a shared
 * sandbox's host): sessions by state and pattern, and the OOM kills of their sandboxes
 * (a kill during an exec ends no turn: the scrape sees it). The workspaces' disk is
 * /api/health's totals (session_disk.c): at 10,000 sessions a statfs each made a scrape
 * take seconds. */
void sessions_metrics(struct sessions *reg)
{
	unsigned counts[SESSION_DESTROYED][PATTERN_SHARED + 1] = { { 0 } };
	uint64_t bytes, files;
	size_t n;
	struct session **all = registry_all(reg, &n);
	for (size_t i = 0; all != NULL && i < n; i++) {
		struct session *s = all[i];
		pthread_mutex_lock(&s->lock);
		if (s->state < SESSION_DESTROYED)
			counts[s->state][s->pattern]++;
		oom_check(s);
		pthread_mutex_unlock(&s->lock);
		session_unref(s);
	}
	free(all);
	for (unsigned st = 0; st < SESSION_DESTROYED; st++)
		for (unsigned p = 0; p <= PATTERN_SHARED; p++)
			metric_set(METRIC_SESSIONS, METRIC_L(session_state_names[st], session_pattern_names[p]),
				   counts[st][p]);
	sessions_disk_usage(reg, &bytes, &files);
	metric_set(METRIC_WS_DISK_BYTES, NULL, (double)bytes);
	metric_set(METRIC_WS_DISK_FILES, NULL, (double)files);

	struct pool_stats pool;
	pool_stats(reg, &pool);
	metric_set(METRIC_POOL_SIZE, NULL, pool.size);
	metric_set(METRIC_POOL_READY, NULL, pool.ready);
	metric_set(METRIC_POOL_BUILDING, NULL, pool.building);
	metric_set(METRIC_POOL_HITS, NULL, (double)pool.hits);
	metric_set(METRIC_POOL_MISSES, NULL, (double)pool.misses);
}

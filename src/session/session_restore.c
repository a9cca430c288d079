/* At start-up: the hybrid sessions saved in the state directory (persist.h) back in the
 * registry, suspended; the next message resumes each (hybrid_resume.c). */
#include "session_int.h"

#include <stddef.h>
#include <stdio.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "session/persist.h"

/* One saved session back in the registry, suspended. */
static void restore_one(struct sessions *reg, const cJSON *m)
{
	struct ad_err e;
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(m, "owner");
	const cJSON *system = cJSON_GetObjectItemCaseSensitive(m, "system");
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(m, "model");
	const cJSON *idle = cJSON_GetObjectItemCaseSensitive(m, "idle_timeout_s");
	struct session_opts o = {
		.pattern = PATTERN_HYBRID, .owner = cJSON_IsString(owner) ? owner->valuestring : "anonymous",
		.system = cJSON_IsString(system) ? system->valuestring : NULL,
		.model = cJSON_IsString(model) ? model->valuestring : NULL,
		.runtime = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "runtime")),
		.command = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "command")),
		.title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "title")),
		.idle_timeout_s = cJSON_IsNumber(idle) ? (unsigned)idle->valuedouble : 0,
	};
	const cJSON *spawn = cJSON_GetObjectItemCaseSensitive(m, "spawn");
	if (cJSON_IsObject(spawn)) {
		o.policy = cJSON_GetObjectItemCaseSensitive(spawn, "policy");
		o.network = cJSON_GetObjectItemCaseSensitive(spawn, "network");
		o.mcp_servers = cJSON_GetObjectItemCaseSensitive(spawn, "mcp_servers");
	}
	struct session *s = session_alloc(reg, &o, &e);
	if (s == NULL)
		return;
	snprintf(s->id, sizeof(s->id), "%s", cJSON_GetObjectItemCaseSensitive(m, "id")->valuestring);
	static const struct { const char *name; size_t off; } times[] = {
		{ "created", offsetof(struct session, created) }, { "last_active", offsetof(struct session, last_active) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, times[i].name);
		if (cJSON_IsNumber(t))
			*(time_t *)(void *)((char *)s + times[i].off) = (time_t)t->valuedouble;
	}
	const cJSON *turns = cJSON_GetObjectItemCaseSensitive(m, "turns");
	s->turns = cJSON_IsNumber(turns) ? (unsigned)turns->valuedouble : 0;
	const cJSON *gen = cJSON_GetObjectItemCaseSensitive(m, "workspace_generation");
	/* a generation no snapshot can have: generation 0's, which a resume then reports missing */
	s->saved_gen = s->save_gen = cJSON_IsNumber(gen) && gen->valuedouble >= 0 && gen->valuedouble < 9e15
					     ? (uint64_t)gen->valuedouble : 0;
	usage_read_json(&s->usage, cJSON_GetObjectItemCaseSensitive(m, "usage"));
	cJSON_Delete(s->transcript);
	s->transcript = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(m, "transcript"), true);
	s->committed = cJSON_GetArraySize(s->transcript);
	const cJSON *turn_log = cJSON_GetObjectItemCaseSensitive(m, "turn_log");
	if (cJSON_IsArray(turn_log))
		s->turn_log = cJSON_Duplicate(turn_log, true);
	s->state = SESSION_SUSPENDED;
	registry_insert(reg, s, true);
	session_log(s, AD_LOG_INFO, "back from the state directory, suspended (%u turns)", s->turns);
}

void sessions_restore(struct sessions *reg)
{
	cJSON *all = persist_load_all(reg->cfg);
	const cJSON *m;
	cJSON_ArrayForEach(m, all)
		restore_one(reg, m);
	cJSON_Delete(all);
}

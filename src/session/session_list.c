/* Lists of sessions: an owner's (GET /api/sessions) and the operator's, every session on
 * the host with its owner, resources and totals (GET /api/admin/sessions). */
#include "session_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

cJSON *sessions_list(struct sessions *reg, const char *owner)
{
	size_t n;
	struct session **all = registry_all(reg, &n);
	cJSON *j = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(j, "sessions");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i]->owner, owner) == 0 && all[i]->pattern != PATTERN_EPHEMERAL)
			cJSON_AddItemToArray(list, session_json(all[i], false));
		session_unref(all[i]);
	}
	free(all);
	return j;
}

const char *session_owner(const struct session *s)
{
	return s->owner;         /* set once, when it is made or taken from the pool */
}

cJSON *session_admin_json(struct session *s)
{
	cJSON *j = session_json(s, true);
	time_t now = time(NULL);
	pthread_mutex_lock(&s->lock);
	cJSON_AddStringToObject(j, "owner", s->owner);
	cJSON_AddNumberToObject(j, "age_s", now > s->created ? (double)(now - s->created) : 0);
	pthread_mutex_unlock(&s->lock);
	return j;
}

/* Adds one to totals.by_state[state]. */
static void count_state(cJSON *by_state, const char *state)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(by_state, state);
	if (c != NULL)
		cJSON_SetNumberValue(c, c->valuedouble + 1);
	else
		cJSON_AddNumberToObject(by_state, state, 1);
}

/* Each entry is session_json(s, true): its resources are read from the sandbox's cgroup
 * files (and, on v1 hosts without cpuacct, from its processes' /proc/PID/stat) and its
 * workspace's usage from the disk, a few small reads per session under its lock. That is
 * fine for an operator's page refreshed every few seconds, not for a hot path. */
cJSON *sessions_admin_list(struct sessions *reg)
{
	size_t n;
	struct session **all = registry_all(reg, &n);
	cJSON *j = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(j, "sessions");
	cJSON *totals = cJSON_AddObjectToObject(j, "totals");
	cJSON *by_state = cJSON_CreateObject();
	double cost = 0, count = 0;
	for (size_t i = 0; all != NULL && i < n; i++) {
		/* the registry holds sessions only: not the warm pool's sandboxes nor a shared
		 * sandbox's host (its members are listed) */
		cJSON *one = session_admin_json(all[i]);
		if (one != NULL) {
			count_state(by_state, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "state")));
			cost += cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(one, "cost_usd"));
			count++;
			cJSON_AddItemToArray(list, one);
		}
		session_unref(all[i]);
	}
	free(all);
	cJSON_AddNumberToObject(totals, "sessions", count);
	cJSON_AddItemToObject(totals, "by_state", by_state);
	cJSON_AddNumberToObject(totals, "cost_usd", cost);
	return j;
}

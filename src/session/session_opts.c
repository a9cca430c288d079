/* What a session takes from its options (session_opts): see session_int.h. */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "sandbox/policy.h"

static void set_text(char **to, const char *v)
{
	free(*to);
	*to = v ? strdup(v) : NULL;
}

void session_adopt(struct session *s, const struct session_opts *o)
{
	const struct config *cfg = s->reg->cfg;
	snprintf(s->owner, sizeof(s->owner), "%s", o->owner);
	s->pattern = o->pattern;
	s->created = s->last_active = time(NULL);
	s->idle_since_ns = clock_mono_ns();
	s->idle_timeout_s = o->idle_timeout_s && o->idle_timeout_s < cfg->session.idle_timeout_s
				    ? o->idle_timeout_s : (unsigned)cfg->session.idle_timeout_s;
	set_text(&s->system, o->system);
	set_text(&s->model, o->model);
	set_text(&s->runtime, o->runtime && strcmp(o->runtime, "agentd") != 0 ? o->runtime : NULL);
	set_text(&s->command, o->command);
	set_text(&s->title, o->title && o->title[0] ? o->title : NULL);
}

int session_sandbox_policy(struct session *s, struct sandbox_policy *p, struct ad_err *err)
{
	pthread_mutex_lock(&s->lock);
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(s->spawn_opts, "policy");
	int rc = req != NULL ? sandbox_policy_tighten(p, req, err) : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* This node among others behind a load balancer: where a session id lives, and draining
 * (include/session/session.h; README, "More than one host"). */
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum session_home sessions_home(struct sessions *reg, const char *id, char *node, size_t n)
{
	const char *at;
	/* what is not a session id at all is nobody's: the lookup answers 404 for it */
	if (!node_id_parse(id, &at) || at[0] == '\0' || strcmp(at, reg->cfg->node.name) == 0)
		return SESSION_HOME_HERE;
	/* a node renamed keeps the sessions it saved under its old name */
	struct session *s = session_find_any(reg, id);
	if (s != NULL) {
		session_unref(s);
		return SESSION_HOME_HERE;
	}
	snprintf(node, n, "%s", at);
	return SESSION_HOME_NODE;
}

const char *sessions_node(const struct sessions *reg)
{
	return reg->cfg->node.name;
}

void sessions_drain(struct sessions *reg, bool on)
{
	bool was = atomic_exchange(&reg->draining, on);
	if (was == on)
		return;
	log_info("node %s: %s", reg->cfg->node.name, on ? "draining: no new sessions; hybrid sessions are "
		 "suspended as soon as they are idle" : "takes new sessions again");
	if (!on)
		return;
	size_t count;
	struct session **all = registry_all(reg, &count);
	for (size_t i = 0; i < count; i++) {
		struct ad_err e;
		/* a busy one (EBUSY) is suspended by its tick once idle (session_link.c) */
		if (all[i]->pattern == PATTERN_HYBRID && session_suspend(all[i], NULL, &e) < 0 && e.errnum != EBUSY)
			session_log(all[i], AD_LOG_WARN, "drain: cannot suspend: %s", e.msg);
		session_unref(all[i]);
	}
	free(all);
}

bool sessions_draining(struct sessions *reg)
{
	return atomic_load(&reg->draining);
}

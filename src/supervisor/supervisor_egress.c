/* The session's egress, as the supervisor runs it: its rules from the config and the
 * session's own list, the sandbox's listener, the proxy, and the proxy's events on
 * their way to the gateway. See include/supervisor/egress_proxy.h. */
#include "supervisor_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

int sup_egress_rules(struct supervisor *s, const cJSON *opts, struct ad_err *err)
{
	const cJSON *net = cJSON_GetObjectItemCaseSensitive(opts, "network");
	const cJSON *allow = cJSON_GetObjectItemCaseSensitive(net, "allow");
	if (egress_rules_init(&s->egress, s->env->cfg, allow, err) < 0)
		return ad_err_prefix(err, "the session's network");
	return 0;
}

bool sup_egress_wanted(const struct supervisor *s, const cJSON *join)
{
	/* a shared session's members go out through the sandbox's own (its first session's) */
	return join == NULL && egress_rules_any(&s->egress);
}

void sup_egress_env(const struct supervisor *s, char *out[EGRESS_ENV_MAX])
{
	static const char *const names[] = { "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy" };
	unsigned port = (unsigned)s->env->cfg->network.proxy_port;
	size_t n = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		snprintf(out[n++], EGRESS_ENV_LEN, "%s=http://127.0.0.1:%u", names[i], port);
	snprintf(out[n++], EGRESS_ENV_LEN, "NO_PROXY=localhost,127.0.0.1,::1");
	snprintf(out[n++], EGRESS_ENV_LEN, "no_proxy=localhost,127.0.0.1,::1");
	out[n] = NULL;
}

int sup_egress_start(struct supervisor *s, int fd, struct ad_err *err)
{
	const struct config *cfg = s->env->cfg;
	struct egress_limits lim = { .max_connections = (unsigned)cfg->network.max_connections,
				     .max_bytes_per_turn = (uint64_t)cfg->network.max_bytes_per_turn };
	s->proxy = egress_proxy_start(fd, &s->egress, &lim, err);
	return s->proxy != NULL ? 0 : ad_err_prefix(err, "egress proxy");
}

cJSON *sup_egress_json(const struct supervisor *s)
{
	cJSON *n = cJSON_CreateObject();
	cJSON *allow = cJSON_AddArrayToObject(n, "allow");
	for (size_t i = 0; s->egress.allow != NULL && s->egress.allow[i] != NULL; i++)
		cJSON_AddItemToArray(allow, cJSON_CreateString(s->egress.allow[i]));
	if (s->proxy != NULL) {
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)s->env->cfg->network.proxy_port);
		cJSON_AddStringToObject(n, "proxy", url);
	}
	return n;
}

void sup_egress_events(struct supervisor *s)
{
	cJSON *ev;
	while (s->proxy != NULL && !s->quit && (ev = egress_proxy_take(s->proxy)) != NULL)
		sup_to_gateway(s, ev);
}

void sup_egress_end(struct supervisor *s)
{
	egress_proxy_stop(s->proxy);
	s->proxy = NULL;
	egress_rules_free(&s->egress);
}

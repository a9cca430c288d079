/* The sockets a sandbox listens on for its supervisor, and the Messages API served on
 * two of them (include/supervisor/api_server.h), as the supervisor runs them. */
#include "supervisor_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "sandbox/sandbox.h"

/* The sandbox makes its listeners among its first steps: this is plenty. */
#define LISTENER_WAIT_MS 10000
/* What a program in the sandbox may show as its key: it opens nothing. */
#define PLACEHOLDER_KEY "sk-ant-agentd-placeholder-the-real-key-stays-outside"

int sup_listeners_start(struct supervisor *s, bool egress, bool api, struct ad_err *err)
{
	struct sandbox_listeners l;
	if (!egress && !api)
		return 0;
	if (sandbox_take_listeners(s->sb, LISTENER_WAIT_MS, &l, err) < 0) {
		/* a sandbox that failed before its network step (its sync socket's end came
		 * first, its exit is on its way): its end says why */
		struct pollfd p = { sandbox_event_fd(s->sb), POLLIN, 0 };
		return poll(&p, 1, err->errnum == ETIMEDOUT ? 0 : LISTENER_WAIT_MS) > 0
			       ? 0 : ad_err_prefix(err, "the sandbox's listeners");
	}
	if (egress && l.proxy >= 0 && sup_egress_start(s, l.proxy, err) < 0)
		l.proxy = -1;                 /* taken, and closed */
	if (l.proxy >= 0 && !egress)
		close(l.proxy);
	int fds[2];
	unsigned n = 0;
	if (l.api_unix >= 0)
		fds[n++] = l.api_unix;
	if (l.api_tcp >= 0)
		fds[n++] = l.api_tcp;
	if (s->proxy == NULL && egress) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		return -1;
	}
	if (n > 0 && (s->api = api_server_start(fds, n, &s->relay, err)) == NULL)
		return ad_err_prefix(err, "the sandbox's API");
	s->relay.client.tick = sup_call_tick;   /* a model call holds the loop that accepts */
	return 0;
}

void sup_api_env(const struct supervisor *s, char *out[API_ENV_MAX])
{
	snprintf(out[0], API_ENV_LEN, "ANTHROPIC_BASE_URL=http://127.0.0.1:%u", (unsigned)s->env->cfg->runtime.api_port);
	snprintf(out[1], API_ENV_LEN, "ANTHROPIC_UNIX_SOCKET=%s", SANDBOX_API_SOCKET);
	snprintf(out[2], API_ENV_LEN, "ANTHROPIC_API_KEY=%s", PLACEHOLDER_KEY);
	out[3] = NULL;
}

/* A call of a program in the sandbox, as a usage event: counted in the run in flight,
 * if any (its done event has it), and in the session's. */
void sup_api_notes(struct supervisor *s)
{
	cJSON *note;
	while (s->api != NULL && !s->quit && (note = api_server_take(s->api)) != NULL) {
		struct usage u = { 0 };
		usage_read_json(&u, cJSON_GetObjectItemCaseSensitive(note, "usage"));
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(note, "path");
		if (!cJSON_IsString(path) || strcmp(path->valuestring, "/v1/messages") != 0) {
			cJSON_Delete(note);
			continue;
		}
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(note, "status");
		if (s->running) {
			usage_add(&s->run_usage, &u);
			s->run_api_calls += cJSON_IsNumber(status) && status->valueint / 100 == 2;
		}
		cJSON *ev = cJSON_CreateObject();
		cJSON_AddStringToObject(ev, "type", "usage");
		cJSON_AddItemToObject(ev, "call", usage_json(&u));
		cJSON_AddItemToObject(ev, "total", usage_json(s->running ? &s->run_usage : &u));
		cJSON_AddNumberToObject(ev, "cost_usd", usage_cost(s->env->cfg, s->running ? &s->run_usage : &u));
		cJSON_AddStringToObject(ev, "source", "sandbox_api");
		cJSON_AddItemToObject(ev, "model", cJSON_DetachItemFromObjectCaseSensitive(note, "model"));
		cJSON_AddItemToObject(ev, "status", cJSON_DetachItemFromObjectCaseSensitive(note, "status"));
		static const char *const facts[] = { "outcome", "first_byte_ms", "duration_ms" };
		for (size_t i = 0; i < ARRAY_SIZE(facts); i++) {
			cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(note, facts[i]);
			if (v != NULL)
				cJSON_AddItemToObject(ev, facts[i], v);
		}
		cJSON *why = cJSON_DetachItemFromObjectCaseSensitive(note, "error");
		if (why != NULL)
			cJSON_AddItemToObject(ev, "error", why);
		cJSON_Delete(note);
		sup_to_gateway(s, ev);
	}
}

void sup_api_end(struct supervisor *s)
{
	api_server_stop(s->api);
	s->api = NULL;
}

unsigned sup_api_pollfds(const struct supervisor *s, struct pollfd *p)
{
	int fds[API_LISTEN_MAX];
	unsigned n = s->api != NULL ? api_server_listeners(s->api, fds) : 0;
	for (unsigned i = 0; i < n; i++)
		p[i] = (struct pollfd){ fds[i], POLLIN, 0 };
	return n;
}

void sup_api_events(struct supervisor *s, const struct pollfd *p, unsigned n)
{
	if (p[0].revents)
		sup_api_notes(s);
	for (unsigned i = 1; i <= n; i++)
		if (p[i].revents) {
			api_server_accept(s->api);     /* every listener's, at once */
			return;
		}
}

void sup_call_tick(void *ctx)
{
	struct supervisor *s = ctx;
	if (s->api != NULL)      /* the loop that accepts them waits for this call */
		api_server_accept(s->api);
}

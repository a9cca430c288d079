/* The supervisor's relay: see include/supervisor/relay.h. */
#include "supervisor/relay.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/log.h"
#include "ipc/frame.h"

/* The request fields an agent may use; everything else is refused. */
static const char *const allowed_fields[] = {
	"model", "max_tokens", "system", "messages", "tools", "tool_choice", "stream",
	"temperature", "top_p", "top_k", "stop_sequences", "thinking", "metadata",
};

int relay_check_request(const struct config *cfg, const cJSON *req, struct ad_err *err)
{
	if (!cJSON_IsObject(req))
		return ad_err_set(err, 0, "the request is not a JSON object");
	const cJSON *f;
	cJSON_ArrayForEach(f, req) {
		size_t i = 0;
		while (i < ARRAY_SIZE(allowed_fields) && strcmp(f->string, allowed_fields[i]) != 0)
			i++;
		if (i == ARRAY_SIZE(allowed_fields))
			return ad_err_set(err, 0, "field \"%s\" is not allowed", f->string);
	}
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
	if (!cJSON_IsString(model) || !config_model_allowed(cfg, model->valuestring))
		return ad_err_set(err, 0, "model %s%s%s is not allowed by agentd's configuration",
				  cJSON_IsString(model) ? "\"" : "", cJSON_IsString(model) ? model->valuestring : "(none)",
				  cJSON_IsString(model) ? "\"" : "");
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
	if (!cJSON_IsNumber(mt) || mt->valuedouble < 1 || mt->valuedouble > (double)cfg->anthropic.max_tokens ||
	    mt->valuedouble != (double)(int64_t)mt->valuedouble)
		return ad_err_set(err, 0, "max_tokens must be a whole number from 1 to %lld",
				  (long long)cfg->anthropic.max_tokens);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream")))
		return ad_err_set(err, 0, "\"stream\" must be true");
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
	if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
		return ad_err_set(err, 0, "\"messages\" must be a non-empty array");
	return 0;
}

int relay_admit(struct relay *r, struct ad_err *why)
{
	const struct config *cfg = r->cfg;
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	int64_t tokens = r->total.input + r->total.output + r->total.cache_write + r->total.cache_read;
	if (r->requests >= (unsigned)cfg->session.max_requests)
		rc = ad_err_set(why, 0, "this session has made its %lld model requests (session.max_requests)",
				(long long)cfg->session.max_requests);
	else if (tokens >= cfg->session.max_tokens)
		rc = ad_err_set(why, 0, "this session has spent %lld of its %lld tokens (session.max_tokens)",
				(long long)tokens, (long long)cfg->session.max_tokens);
	else
		r->requests++;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void relay_spent(struct relay *r, const struct usage *u)
{
	pthread_mutex_lock(&r->lock);
	usage_add(&r->total, u);
	pthread_mutex_unlock(&r->lock);
}

void relay_usage_event(struct usage *u, const char *event, const char *data, size_t len)
{
	bool start = strcmp(event, "message_start") == 0;
	if (!start && strcmp(event, "message_delta") != 0)
		return;
	_cleanup_cjson_ cJSON *j = cJSON_ParseWithLength(data, len);
	const cJSON *src = start ? cJSON_GetObjectItemCaseSensitive(j, "message") : j;
	usage_read_json(u, cJSON_GetObjectItemCaseSensitive(src, "usage"));
}

void relay_init(struct relay *r, const struct config *cfg, int abort_fd)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->cfg = cfg;
	snprintf(r->api_key, sizeof(r->api_key), "%s", cfg->anthropic.api_key ? cfg->anthropic.api_key : "");
	r->client = (struct claude_client){
		.base_url = cfg->anthropic.base_url,
		.timeout_s = (unsigned)cfg->anthropic.timeout_s,
		.max_retries = (unsigned)cfg->anthropic.max_retries,
		.abort_fd = abort_fd,
	};
}

void relay_key(struct relay *r, char *out)
{
	pthread_mutex_lock(&r->lock);
	memcpy(out, r->api_key, sizeof(r->api_key));
	pthread_mutex_unlock(&r->lock);
}

bool relay_set_key(struct relay *r, const char *key)
{
	pthread_mutex_lock(&r->lock);
	bool changed = strcmp(r->api_key, key) != 0;
	explicit_bzero(r->api_key, sizeof(r->api_key));
	snprintf(r->api_key, sizeof(r->api_key), "%s", key);
	pthread_mutex_unlock(&r->lock);
	return changed;
}

struct call_ctx {
	struct relay *relay;
	struct usage usage;
	bool agent_gone;
	struct ad_err agent_err;
};

/* An event's name as the API spells them (content_block_delta): safe in JSON as it is. */
static bool event_name_ok(const char *event)
{
	size_t n = strspn(event, "abcdefghijklmnopqrstuvwxyz_");
	return n > 0 && n <= 64 && event[n] == '\0';
}

int relay_event_payload(const char *event, const char *data, size_t len, char **out, size_t *n,
			struct ad_err *err)
{
	_cleanup_cjson_ cJSON *j = NULL;
	if (!event_name_ok(event))
		return ad_err_set(err, 0, "the API sent an event named \"%.64s\", which is not a name", event);
	if (json_parse_strict(data, len, &j, err) < 0 || !cJSON_IsObject(j))
		return ad_err_prefix(err, "the API sent a %s event that is not a JSON object", event);
	char *p = malloc(len + strlen(event) + 24);
	if (p == NULL)
		return ad_err_set(err, ENOMEM, "relay an event");
	*n = (size_t)sprintf(p, "{\"event\":\"%s\",\"data\":", event);
	memcpy(p + *n, data, len);
	*n += len;
	p[(*n)++] = '}';
	*out = p;
	return 0;
}

/* Each event goes on to the agent as it comes, its JSON checked (relay_event_payload)
 * but not printed again; the usage counters are read on the way (message_start carries
 * the input side, message_delta the running totals). */
static int on_event(void *ud, const char *event, const char *data, size_t len, struct ad_err *err)
{
	struct call_ctx *c = ud;
	relay_usage_event(&c->usage, event, data, len);
	_cleanup_free_ char *payload = NULL;
	size_t n;
	if (relay_event_payload(event, data, len, &payload, &n, err) < 0)
		return -1;
	if (c->relay->send_raw(c->relay->send_ctx, FRAME_API_EVENT, payload, n, &c->agent_err) < 0) {
		c->agent_gone = true;
		return ad_err_set(err, 0, "the agent stopped reading");
	}
	return 0;
}

static int api_end_error(struct relay *r, const char *type, const char *message, long status, struct ad_err *err)
{
	cJSON *end = json_error(type, message);
	cJSON_AddFalseToObject(end, "ok");
	cJSON_AddNumberToObject(end, "status", (double)status);
	return r->send(r->send_ctx, FRAME_API_END, end, err);
}

/* A call that failed after a 2xx (an error event in the stream) by the error's type. */
static const char *call_outcome(int rc, const struct claude_call *call)
{
	if (rc == 0 || call->status / 100 != 2)
		return claude_outcome(rc == 0 ? 200 : call->status);
	if (strcmp(call->error_type, "overloaded_error") == 0)
		return claude_outcome(529);
	if (strcmp(call->error_type, "rate_limit_error") == 0)
		return claude_outcome(429);
	return claude_outcome(call->error_type[0] == '\0' ? 0 : 500);
}

int relay_serve(struct relay *r, const cJSON *payload, struct ad_err *err)
{
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(payload, "request");
	struct ad_err why;
	memset(&r->last, 0, sizeof(r->last));
	memset(&r->last_call, 0, sizeof(r->last_call));
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
	snprintf(r->last_model, sizeof(r->last_model), "%s", cJSON_IsString(model) ? model->valuestring : "");
	r->last_outcome = "refused";
	if (relay_check_request(r->cfg, req, &why) < 0) {
		log_warn("relay: refused the agent's request: %s", why.msg);
		char msg[AD_ERR_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "agentd refused the model request: %s", why.msg);
		return api_end_error(r, "invalid_request_error", msg, 400, err);
	}
	if (relay_admit(r, &why) < 0) {
		r->last_outcome = "budget_exceeded";
		log_info("relay: budget spent: %s", why.msg);
		return api_end_error(r, "budget_exceeded_error", why.msg, 429, err);
	}
	_cleanup_free_ char *body = json_print(req);
	if (body == NULL)
		return ad_err_set(err, ENOMEM, "print the request");
	struct call_ctx c = { .relay = r };
	struct claude_call call;
	char key[sizeof(r->api_key)];
	relay_key(r, key);                 /* the call keeps it, whatever a reload does meanwhile */
	r->client.api_key = key;
	int rc = claude_call(&r->client, body, on_event, &c, &call);
	r->client.api_key = NULL;
	explicit_bzero(key, sizeof(key));
	r->last = c.usage;
	r->last_call = call;
	r->last_outcome = call_outcome(rc, &call);
	relay_spent(r, &c.usage);
	if (c.agent_gone) {
		*err = c.agent_err;
		return -1;
	}
	if (rc < 0) {
		const char *type = call.status == CLAUDE_ABORTED ? "cancelled"
				   : call.error_type[0]             ? call.error_type
				   : call.status == 0               ? "api_connection_error"
								    : "api_error";
		return api_end_error(r, type, call.message, call.status, err);
	}
	cJSON *end = cJSON_CreateObject();
	cJSON_AddTrueToObject(end, "ok");
	return r->send(r->send_ctx, FRAME_API_END, end, err);
}

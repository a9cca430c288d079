/* The frames a supervisor passes between its gateway and its agent: run events,
 * model requests and OPs. See include/supervisor/supervisor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "ipc/link.h"
#include "ipc/protocol.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"
#include "supervisor/relay.h"
#include "supervisor/snapshot_io.h"
#include "supervisor_int.h"

/* How the agent's last call went, in its usage event: its model, outcome, timing and
 * retries (what the gateway's metrics count). */
static void add_call_facts(cJSON *ev, const struct relay *r)
{
	const struct claude_call *c = &r->last_call;
	cJSON_AddStringToObject(ev, "model", r->last_model);
	cJSON_AddStringToObject(ev, "outcome", r->last_outcome ? r->last_outcome : "refused");
	if (c->total_ns == 0)
		return;                        /* agentd refused it: no call was made */
	if (c->first_byte_ns != 0)
		cJSON_AddNumberToObject(ev, "first_byte_ms", (double)c->first_byte_ns / 1e6);
	cJSON_AddNumberToObject(ev, "duration_ms", (double)c->total_ns / 1e6);
	cJSON *retries = NULL;
	for (unsigned i = 0; i < CLAUDE_RETRY_REASONS; i++)
		if (c->retries[i] != 0) {
			if (retries == NULL)
				retries = cJSON_AddObjectToObject(ev, "retries");
			cJSON_AddNumberToObject(retries, claude_retry_reason_names[i], c->retries[i]);
		}
}

/* The usage of the last call, with the run's running total. It goes out once the
 * agent has passed on the call's text (its next frame that is not text), so that a
 * client sees a call's text before the call's usage. */
void sup_flush_usage(struct supervisor *s)
{
	if (!s->usage_pending)
		return;
	s->usage_pending = false;
	const struct usage *u = &s->relay.last;
	usage_add(&s->run_usage, u);
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "usage");
	cJSON_AddItemToObject(ev, "call", usage_json(u));
	cJSON_AddItemToObject(ev, "total", usage_json(&s->run_usage));
	cJSON_AddNumberToObject(ev, "cost_usd", usage_cost(s->env->cfg, &s->run_usage));
	add_call_facts(ev, &s->relay);
	sup_to_gateway(s, ev);
}

static uint64_t op_deadline_ns(const struct supervisor *s, const cJSON *op);

static const char *const run_event_types[] = {
	"text", "thinking", "tool_start", "tool_output", "tool_end", "message", "compact", "done", "error", "op_output", "op_end",
};

/* A run event from the agent: its type must be one of ours; done gets the usage as
 * the supervisor counted it. */
static int pass_run_event(struct supervisor *s, cJSON *ev, struct ad_err *err)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	size_t i = 0;
	while (cJSON_IsString(type) && i < ARRAY_SIZE(run_event_types) && strcmp(type->valuestring, run_event_types[i]))
		i++;
	if (!cJSON_IsString(type) || i == ARRAY_SIZE(run_event_types)) {
		cJSON_Delete(ev);
		return ad_err_set(err, 0, "run event of unknown type");
	}
	bool op_event = strncmp(type->valuestring, "op_", 3) == 0;
	if (op_event ? !s->op_active : !s->running) {
		cJSON_Delete(ev);
		return ad_err_set(err, 0, "run event \"%s\" outside %s", type->valuestring, op_event ? "an op" : "a run");
	}
	if (op_event && snapio_streaming(&s->snap, ev))
		s->op_by_ns = op_deadline_ns(s, NULL);
	if (op_event && snapio_agent_event(&s->snap, ev) == 1) {
		cJSON_Delete(ev);              /* a piece of a save: on disk, not for the gateway */
		return 0;
	}
	if (strcmp(type->valuestring, "op_end") == 0) {
		s->op_active = false;
		s->op_by_ns = 0;
	}
	bool done = strcmp(type->valuestring, "done") == 0;
	if (done || strcmp(type->valuestring, "error") == 0) {
		/* the calls of the sandbox's API that the run made are noted before its end
		 * (api_forward_end): counted in it */
		sup_api_notes(s);
		s->running = false;
		s->cancel_by_ns = 0;
	}
	if (!done && !op_event) {          /* unchanged: on as the bytes that came (a save's
					    * op_end may have been changed by snapio) */
		size_t n;
		const char *raw = frame_decoder_payload(s->agent_dec, &n);
		cJSON_Delete(ev);
		sup_to_gateway_raw(s, raw, n);
		return 0;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "usage");
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "cost_usd");
	if (done && !cJSON_HasObjectItem(ev, "model_calls"))   /* another runtime's, through the API */
		cJSON_AddNumberToObject(ev, "model_calls", s->run_api_calls);
	cJSON_AddItemToObject(ev, "usage", usage_json(&s->run_usage));
	cJSON_AddNumberToObject(ev, "cost_usd", usage_cost(s->env->cfg, &s->run_usage));
	sup_to_gateway(s, ev);
	return 0;
}

static bool is_text_event(unsigned type, const cJSON *payload)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(payload, "type");
	return type == FRAME_RUN_EVENT && cJSON_IsString(t) && strcmp(t->valuestring, "text") == 0;
}

int sup_agent_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct supervisor *s = ctx;
	int rc = 0;
	if (!is_text_event(type, payload))
		sup_flush_usage(s);
	switch (type) {
	case FRAME_HELLO: {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, "version");
		if (!cJSON_IsNumber(v) || v->valueint != PROTO_VERSION) {
			rc = ad_err_set(err, 0, "the agent speaks another protocol version");
			break;
		}
		/* the sandbox is up: the gateway learns it, and where its cgroup is */
		cJSON *ready = cJSON_CreateObject();
		cJSON_AddStringToObject(ready, "type", "ready");
		cJSON_AddItemToObject(ready, "cgroup", s->joined ? cJSON_Duplicate(s->join_cgroup, true)
							       : sandbox_cgroup_json(sandbox_cgroup_of(s->sb)));
		cJSON_AddNumberToObject(ready, "init_pid", sandbox_init_pid(s->sb));
		char ns[64];
		struct stat st;
		snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int)sandbox_init_pid(s->sb));
		if (stat(ns, &st) == 0)      /* which network is the sandbox's: for its ports */
			cJSON_AddNumberToObject(ready, "netns", (double)st.st_ino);
		sup_open_workspace(s);
		cJSON_AddBoolToObject(ready, "views", s->ws >= 0);   /* files read during turns */
		cJSON_AddItemToObject(ready, "network", sup_egress_json(s));
		cJSON_AddItemToObject(ready, "mcp", sup_mcp_report(s, cJSON_GetObjectItemCaseSensitive(payload, "mcp")));
		/* a pooled one is complete when it says it is ready, its connection to the API
		 * on its way (nobody waits on a name lookup); another's opens while nothing waits */
		if (s->pooled)
			claude_client_preconnect(&s->relay.client);
		sup_to_gateway(s, ready);
		if (!s->pooled)
			claude_client_preconnect(&s->relay.client);
		break;
	}
	case FRAME_API_REQUEST:
		if (!s->running || s->in_call) {
			rc = ad_err_set(err, 0, "a model request %s", s->in_call ? "during another" : "outside a run");
			break;
		}
		s->in_call = true;
		rc = relay_serve(&s->relay, payload, err);
		s->in_call = false;
		s->usage_pending = rc == 0;
		break;
	case FRAME_TOOL_CALL:
		if (!s->running || s->in_call || s->in_tool) {
			rc = ad_err_set(err, 0, "a tool call outside a run or during a call");
			break;
		}
		s->in_tool = true;
		rc = sup_tool_call(s, payload, err);
		s->in_tool = false;
		break;
	case FRAME_RUN_EVENT:
		return pass_run_event(s, payload, err);
	default:
		rc = ad_err_set(err, 0, "the agent may not send %s frames", frame_type_name(type));
	}
	cJSON_Delete(payload);
	return rc;
}

/* When the agent must have ended an OP: an exec's own time limit (else the session's
 * command limit, as for every other op), and a margin. Past it the agent is stuck. */
static uint64_t op_deadline_ns(const struct supervisor *s, const cJSON *op)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(op, "timeout_s");
	double limit = (double)s->env->policy->command_timeout_s;
	if (cJSON_IsNumber(t) && t->valuedouble > 0 && t->valuedouble < limit)
		limit = t->valuedouble;
	if (limit < OP_MIN_S)
		limit = OP_MIN_S;
	return clock_mono_ns() + (uint64_t)((limit + OP_GRACE_S) * 1e9);
}

int sup_gateway_frame(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	struct supervisor *s = ctx;
	int rc = 0;
	char why[AD_ERR_MSG_MAX] = "";
	if (type == FRAME_OP && sup_serves_files(payload)) {
		sup_file_op(s, payload);       /* the agent may be busy: it is not asked */
	} else if ((type == FRAME_TURN || type == FRAME_OP) && (s->running || s->op_active)) {
		rc = ad_err_set(err, 0, "a %s while a %s is in flight", frame_type_name(type), s->running ? "run" : "op");
	} else if (type == FRAME_OP) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(payload, "id");
		s->op_id = cJSON_IsNumber(id) ? id->valuedouble : 0;
		s->op_active = true;           /* before the pieces: the agent may answer at once */
		s->op_by_ns = op_deadline_ns(s, payload);
		int io = snapio_gateway_op(&s->snap, payload, why, sizeof(why), err);
		if (io == SNAPIO_NOT_OURS)
			rc = sup_to_agent(s, type, payload, err);
		else if (io < 0)
			rc = -1;
		if (io == SNAPIO_FAILED)
			sup_op_failed(s, s->op_id, why);
		else if (rc < 0)
			s->op_active = false;
	} else if (type == FRAME_TURN) {
		rc = sup_to_agent(s, type, payload, err);
		if (rc == 0) {
			s->running = true;
			s->cancel_by_ns = 0;
			egress_proxy_turn(s->proxy);
			memset(&s->run_usage, 0, sizeof(s->run_usage));
			s->run_api_calls = 0;
		}
	} else if (type == FRAME_CANCEL) {
		/* one cancel is enough; the agent that has not ended the run by the deadline
		 * is stuck, and the session ends without it (supervisor.c) */
		if (s->running && s->cancel_by_ns == 0) {
			rc = sup_to_agent(s, type, payload, err);
			s->cancel_by_ns = clock_mono_ns() + CANCEL_GRACE_MS * 1000000ull;
		}
		s->abort_call = s->in_call || s->in_tool;
	} else if (type == FRAME_API_KEY) {
		rc = sup_api_key(s, payload, err);
	} else if (type == FRAME_OWNER) {
		/* a pooled sandbox was taken: its log lines name the token from here on */
		const cJSON *owner = cJSON_GetObjectItemCaseSensitive(payload, "owner");
		log_set_about(s->id, cJSON_IsString(owner) ? owner->valuestring : NULL);
		sup_pool_adopted(s);
	} else {
		rc = ad_err_set(err, 0, "the gateway may not send %s frames", frame_type_name(type));
	}
	cJSON_Delete(payload);
	return rc;
}

bool sup_during_call(void *ctx)
{
	struct supervisor *s = ctx;
	if (s->gw_end == 0) {
		s->abort_call = false;
		s->gw_end = link_recv(s->gw, s->gw_dec, sup_gateway_frame, s, &s->gw_err);
	}
	return s->gw_end != 0 || s->abort_call;
}

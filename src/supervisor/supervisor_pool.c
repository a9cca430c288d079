/* A supervisor built for the warm pool: it and its sandbox run at a low CPU priority
 * while they wait, so that building and keeping them never takes the CPU from a turn
 * in flight, and go back to the normal one when a session takes them (FRAME_OWNER).
 * nice 19 alone was tried and did not help: a thread's nice value (as its SCHED_IDLE)
 * weighs it only against the others of its cgroup, and what a sandbox's processes
 * weigh against a turn's sandbox is their cgroup's weight; hence the least weight for
 * the pooled sandbox's cgroup, and SCHED_IDLE for the supervisor, which shares the
 * daemon's cgroup with the turns' supervisors (its sandbox's threads inherit it too).
 * tests/bench/pool_bench.py compares the pool with none. The connection to the API opened ahead is kept fresh
 * meanwhile: one older than the client trusts would be of no use to the first call. */
#include "supervisor_int.h"

#include <unistd.h>

#include "core/log.h"
#include "core/sched.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"

/* A note for the gateway about the pooled sandbox being built (session_link.c). */
static void builder_note(struct supervisor *s, const char *key, cJSON *value)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "builder");
	cJSON_AddItemToObject(b, key, value);
	sup_to_gateway(s, b);
}

void sup_pool_enter(struct supervisor *s, struct sandbox_policy *policy, const cJSON *opts)
{
	struct ad_err e;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "pooled")) ||
	    cJSON_GetObjectItemCaseSensitive(opts, "join") != NULL)
		return;
	s->pooled = true;
	policy->cpu_low = true;
	/* with no cgroup to list them by, the sandbox's processes could not be found to
	 * bring them back: they start at the normal policy (its cgroup's weight is low) */
	bool no_cgroups = s->env->cgroups == NULL || s->env->cgroups->version == 0;
	if (sched_idle_enter(no_cgroups, &e) < 0)
		log_warn("the warm pool's sandbox is built at the normal CPU priority: %s", e.msg);
	/* the gateway may take it before it is built: it raises us then, by our pid */
	builder_note(s, "pid", cJSON_CreateNumber(getpid()));
}

void sup_pool_sandbox_made(struct supervisor *s, int rc)
{
	if (!s->pooled || rc < 0)
		return;
	builder_note(s, "cgroup", sandbox_cgroup_json(sandbox_cgroup_of(s->sb)));
}

void sup_pool_adopted(struct supervisor *s)
{
	struct ad_err e;
	if (!s->pooled)
		return;
	s->pooled = false;
	if (s->sb != NULL && !s->joined && sandbox_cgroup_cpu_normal(sandbox_cgroup_of(s->sb), &e) < 0)
		log_warn("the sandbox taken from the pool keeps a low CPU priority: %s", e.msg);
	if (sched_idle_leave_process(0, &e) < 0)
		log_warn("the supervisor taken from the pool keeps a low CPU priority: %s", e.msg);
}

int sup_pool_wait_ms(struct supervisor *s, int timeout_ms)
{
	if (!s->pooled)
		return timeout_ms;
	claude_client_warm_refresh(&s->relay.client);
	int due = claude_client_warm_due_ms(&s->relay.client);
	return due >= 0 && due < timeout_ms ? due : timeout_ms;
}

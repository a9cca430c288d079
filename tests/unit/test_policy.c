/* Unit tests for the sandbox policy (include/sandbox/policy.h): from the config, and
 * requests that may tighten it but never loosen it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/json.h"
#include "sandbox/policy.h"
#include "sandbox/userns.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct config cfg;

static int setup(void **state)
{
	(void)state;
	struct ad_err e;
	return config_load(&cfg, NULL, NULL, &e);
}

static int teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	return 0;
}

/* Sandboxes whose init pids fall on the same slot (kernel.pid_max above uid_count) get
 * different host ids while both live; a slot comes free when its holder closes it; a full
 * range is an error that names the setting. As root only (the ranges are root's). */
static void live_sandboxes_never_share_a_host_id(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct sandbox_policy p = { .uid_base = 3900000000u, .uid_count = 2 };
	struct sandbox_ids a, b, c;
	int la, lb, lc;
	struct ad_err e;
	assert_int_equal(sandbox_ids_choose(&a, &p, 5, &la, &e), 0);
	assert_int_equal(a.host_uid, 3900000001u);
	assert_int_equal(sandbox_ids_choose(&b, &p, 5 + 2, &lb, &e), 0);      /* same slot, taken */
	assert_int_equal(b.host_uid, 3900000000u);
	assert_int_equal(b.host_gid, b.host_uid);
	assert_int_equal(sandbox_ids_choose(&c, &p, 9, &lc, &e), -1);
	assert_non_null(strstr(e.msg, "sandbox.uid_count"));
	assert_int_equal(lc, -1);
	close(la);
	assert_int_equal(sandbox_ids_choose(&c, &p, 9, &lc, &e), 0);
	assert_int_equal(c.host_uid, 3900000001u);
	close(lb);
	close(lc);
	unlink("/run/agentd-ids-3900000000-2.lock");
}

/* A session's workspace keeps its owner across sandboxes: the id its name is given is
 * the same each time, within the range, and names spread over it. */
static void a_name_keeps_its_host_id(void **state)
{
	(void)state;
	struct sandbox_policy p = { .uid_base = 524288, .uid_count = 65536 };
	uint32_t a = sandbox_ids_for_name(&p, "sess_0123456789abcdef01234567");
	assert_int_equal(a, sandbox_ids_for_name(&p, "sess_0123456789abcdef01234567"));
	assert_true(a >= 524288 && a < 524288 + 65536);
	unsigned distinct = 0;
	uint32_t seen[64];
	for (unsigned i = 0; i < 64; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sess_%08x", i);
		seen[i] = sandbox_ids_for_name(&p, name);
		bool dup = false;
		for (unsigned j = 0; j < i; j++)
			dup |= seen[j] == seen[i];
		distinct += !dup;
	}
	assert_true(distinct >= 60);
	p.uid_count = 0;                /* no range: the base itself, not a division by 0 */
	assert_int_equal(sandbox_ids_for_name(&p, "x"), 524288);
}

static void defaults_follow_the_guide(void **state)
{
	(void)state;
	struct sandbox_policy p;
	struct ad_err e;
	assert_int_equal(sandbox_policy_from_config(&p, &cfg, &e), 0);
	assert_int_equal(p.memory_max, 1ull << 30);
	assert_int_equal(p.cpus_milli, 1000);
	assert_int_equal(p.pids_max, 512);
	assert_int_equal(p.workspace_size, 5ull << 30);   /* the guide's sandbox: 5 GiB of disk */
	assert_int_equal(p.workspace_files, 100000);
	assert_int_equal(p.command_timeout_s, 300);
	assert_string_equal(p.hostname, "sandbox");
	assert_int_equal(p.nbinds, 0);
}

static void tightening_is_applied(void **state)
{
	(void)state;
	struct sandbox_policy p;
	struct ad_err e;
	sandbox_policy_from_config(&p, &cfg, &e);
	cJSON *req = cJSON_Parse("{\"memory_max\": \"256M\", \"pids_max\": 64, \"cpus\": 0.5, "
				 "\"command_timeout_s\": 10, \"hostname\": \"box1\"}");
	assert_int_equal(sandbox_policy_tighten(&p, req, &e), 0);
	cJSON_Delete(req);
	assert_int_equal(p.memory_max, 256ull << 20);
	assert_int_equal(p.pids_max, 64);
	assert_int_equal(p.cpus_milli, 500);
	assert_int_equal(p.command_timeout_s, 10);
	assert_string_equal(p.hostname, "box1");
	assert_int_equal(sandbox_policy_tighten_kv(&p, "workspace_size=8M", &e), 0);
	assert_int_equal(p.workspace_size, 8ull << 20);
}

/* Each refused request names what was wrong and leaves the policy as it was. */
static void loosening_and_nonsense_are_refused_whole(void **state)
{
	(void)state;
	static const struct {
		const char *req, *needle;
	} cases[] = {
		{ "{\"memory_max\": \"2G\"}", "may only be lowered" },
		{ "{\"pids_max\": 100000}", "may only be lowered" },
		{ "{\"cpus\": 2}", "may only be lowered" },
		{ "{\"command_timeout_s\": 301}", "may only be lowered" },
		{ "{\"memory_max\": \"1K\"}", "below the smallest allowed" },
		{ "{\"cpus\": 0.001}", "below the smallest allowed, 0.010" },
		{ "{\"pids_max\": 0}", "not a valid positive value" },
		{ "{\"pids_max\": -5}", "not a valid positive value" },
		{ "{\"pids_max\": 1.5}", "not a valid positive value" },
		{ "{\"memory_max\": \"lots\"}", "not a valid positive value" },
		{ "{\"binds\": [\"/:/host\"]}", "not a policy setting a request may change" },
		{ "{\"usr_overlay\": true}", "not a policy setting a request may change" },
		{ "{\"hostname\": \"bad name!\"}", "hostname" },
		{ "{\"pids_max\": 10, \"memory_max\": \"4G\"}", "memory_max" },   /* all or nothing */
		{ "[1]", "must be a JSON object" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct sandbox_policy p, before;
		struct ad_err e = { 0 };
		sandbox_policy_from_config(&p, &cfg, &e);
		before = p;
		cJSON *req = cJSON_Parse(cases[i].req);
		assert_non_null(req);
		if (sandbox_policy_tighten(&p, req, &e) == 0)
			fail_msg("accepted %s", cases[i].req);
		cJSON_Delete(req);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].req, e.msg, cases[i].needle);
		assert_memory_equal(&p, &before, sizeof(p));
	}
	struct sandbox_policy p;
	struct ad_err e;
	sandbox_policy_from_config(&p, &cfg, &e);
	assert_int_equal(sandbox_policy_tighten_kv(&p, "no-equals", &e), -1);
	assert_non_null(strstr(e.msg, "KEY=VALUE"));
}

/* Binds come from the config only, and only to places the sandbox does not build. */
static void binds_are_checked(void **state)
{
	(void)state;
	static const struct {
		const char *bind, *needle;   /* needle NULL: accepted */
	} cases[] = {
		{ "/tmp:/data", NULL },
		{ "/tmp:/data:rw", NULL },
		{ "/tmp:/workspace/in", NULL },
		{ "tmp:/data", "absolute" },
		{ "/tmp:data", "absolute" },
		{ "/tmp/../etc:/data", "normalised" },
		{ "/tmp:/data/./x", "normalised" },
		{ "/tmp:/", "may not be /" },
		{ "/tmp:/proc/x", "inside /proc" },
		{ "/tmp:/usr", "inside /usr" },
		{ "/tmp:/etc/foo", "inside /etc" },
		{ "/tmp:/dev", "inside /dev" },
		{ "/nonexistent-agentd:/data", "ENOENT" },
		{ "/dev/null:/data", "neither a directory nor a regular file" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char bind[128];
		snprintf(bind, sizeof(bind), "%s", cases[i].bind);
		char *list[2] = { bind, NULL };
		char **old = cfg.sandbox.binds;
		cfg.sandbox.binds = list;
		struct sandbox_policy p;
		struct ad_err e = { 0 };
		int rc = sandbox_policy_from_config(&p, &cfg, &e);
		cfg.sandbox.binds = old;
		if (cases[i].needle == NULL) {
			if (rc != 0)
				fail_msg("%s refused: %s", cases[i].bind, e.msg);
			assert_int_equal(p.nbinds, 1);
			assert_int_equal(p.binds[0].rw, strstr(cases[i].bind, ":rw") != NULL);
		} else if (rc == 0 || strstr(e.msg, cases[i].needle) == NULL) {
			fail_msg("%s: rc %d, message \"%s\" lacks \"%s\"", cases[i].bind, rc, e.msg, cases[i].needle);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_follow_the_guide),
		cmocka_unit_test(a_name_keeps_its_host_id),
		cmocka_unit_test(live_sandboxes_never_share_a_host_id),
		cmocka_unit_test(tightening_is_applied),
		cmocka_unit_test(loosening_and_nonsense_are_refused_whole),
		cmocka_unit_test(binds_are_checked),
	};
	return cmocka_run_group_tests_name("policy", tests, setup, teardown);
}

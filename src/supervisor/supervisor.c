/* The supervisor: see include/supervisor/supervisor.h.
 *
 * One poll() loop over three descriptors: the gateway's socket (turns, cancels, and
 * its hang-up, which ends the session), the agent's socket (model requests and run
 * events), and the sandbox's pidfd (the agent ended). A model call blocks the loop while
 * it streams; a hang-up or a cancel from the gateway abandons it (relay's abort_fd). */
#include "supervisor/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "ipc/link.h"
#include "ipc/protocol.h"
#include "sandbox/sandbox.h"
#include "supervisor/snapshot_io.h"
#include "supervisor_int.h"

/* Frames the agent has not taken: more than a few of the largest means it is stuck. */
#define AGENT_OUT_MAX (32u << 20)
/* Frames the gateway has not taken; the hub reads as they come, so this is plenty. */
#define GW_OUT_MAX (64u << 20)
/* A shared sandbox's member agent gets this long to end its shells by itself. */
#define JOINED_EXIT_MS 1000

static int send_hello(struct supervisor *s, struct ad_err *err)
{
	const struct config *cfg = s->env->cfg;
	_cleanup_cjson_ cJSON *h = cJSON_CreateObject();
	cJSON_AddStringToObject(h, "role", "supervisor");
	cJSON_AddNumberToObject(h, "version", PROTO_VERSION);
	cJSON *c = cJSON_AddObjectToObject(h, "config");
	cJSON_AddStringToObject(c, "model", cfg->anthropic.model);
	cJSON_AddNumberToObject(c, "max_tokens", (double)cfg->anthropic.max_tokens);
	cJSON_AddStringToObject(c, "system", cfg->agent.system_prompt);
	cJSON_AddNumberToObject(c, "max_model_calls", (double)cfg->agent.max_model_calls);
	cJSON_AddNumberToObject(c, "command_timeout_s", (double)s->env->policy->command_timeout_s);
	cJSON *deny = cJSON_AddArrayToObject(c, "deny_commands");
	for (char **p = cfg->agent.deny_commands; p != NULL && *p != NULL; p++)
		cJSON_AddItemToArray(deny, cJSON_CreateString(*p));
	cJSON_AddStringToObject(c, "workspace", "/workspace");
	cJSON_AddStringToObject(c, "claude_code", cfg->runtime.claude_code);
	cJSON_AddStringToObject(c, "session_id", s->id);
	cJSON_AddStringToObject(c, "cache_ttl", config_cache_ttls[cfg->anthropic.cache_ttl]);
	cJSON_AddNumberToObject(c, "context_window", (double)cfg->anthropic.context_window);
	cJSON_AddNumberToObject(c, "thinking_budget", (double)cfg->agent.thinking_budget);
	cJSON_AddBoolToObject(c, "shell", cfg->agent.shell_ahead && !s->other_runtime);   /* started ahead */
	cJSON_AddNumberToObject(c, "shell_rest_s", (double)cfg->agent.shell_rest_s);
	sup_mcp_hello(s, c);
	cJSON *host_tools = sup_host_tools(s);
	if (host_tools != NULL)
		cJSON_AddItemToObject(c, "host_tools", host_tools);
	return sup_to_agent(s, FRAME_HELLO, h, err);
}

/* relay's and snapio's way to the agent: paced (supervisor_io.c). */
static int send_paced(void *ctx, unsigned type, cJSON *payload, struct ad_err *err)
{
	return sup_to_agent_paced(ctx, type, payload, err);
}

static int send_paced_raw(void *ctx, unsigned type, const char *payload, size_t n, struct ad_err *err)
{
	return sup_to_agent_paced_raw(ctx, type, payload, n, err);
}

static int start_sandbox(struct supervisor *s, const cJSON *join, struct ad_err *err)
{
	const struct supervisor_env *env = s->env;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return ad_err_sys(err, "socketpair");
	s->agent = sv[0];
	fcntl(s->agent, F_SETFL, fcntl(s->agent, F_GETFL) | O_NONBLOCK);
	bool egress = sup_egress_wanted(s, join);
	/* a shared sandbox's members reach the API of its first session's supervisor */
	bool api = join == NULL;
	char vars[EGRESS_ENV_MAX + API_ENV_MAX][API_ENV_LEN], *extra[EGRESS_ENV_MAX + API_ENV_MAX];
	for (size_t i = 0; i < EGRESS_ENV_MAX + API_ENV_MAX; i++)
		extra[i] = vars[i];
	size_t nextra = 0;
	if (egress) {
		sup_egress_env(s, extra);
		while (extra[nextra] != NULL)
			nextra++;
		extra[nextra] = vars[nextra];      /* its end, where the API's come */
	}
	sup_api_env(s, extra + nextra);
	char **envp = sandbox_env_build(env->policy, extra);
	char *argv[] = { (char *)SANDBOX_AGENT_ARGV0, NULL };
	/* the agent's stderr reaches the log only when debugging (it is the sandbox's text),
	 * and in sanitizer builds, whose reports from inside the sandbox must be seen */
#if defined(__SANITIZE_ADDRESS__)
	int err_fd = STDERR_FILENO;
#else
	int err_fd = log_enabled(AD_LOG_DEBUG) ? STDERR_FILENO : -1;
#endif
	struct sandbox_spec spec = {
		.policy = env->policy, .seccomp = env->seccomp, .cgroups = env->cgroups,
		.argv = argv, .env = envp, .stdio = { -1, -1, err_fd }, .pass_fd = sv[1],
		.timeout_s = env->policy->session_timeout_s,
		.listen_port = egress ? (uint16_t)env->cfg->network.proxy_port : 0,
		.api_port = api ? (uint16_t)env->cfg->runtime.api_port : 0, .api_socket = api,
		.workspace_tree = s->ws_tree,
	};
	int rc;
	if (envp == NULL) {
		rc = ad_err_set(err, ENOMEM, "environment");
	} else if (join != NULL) {     /* a shared session: into the sandbox that runs already */
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(join, "pid");
		struct sandbox_join_spec js = {
			.policy = env->policy, .seccomp = env->seccomp,
			.target = cJSON_IsNumber(pid) ? (pid_t)pid->valuedouble : 0,
			.cgroup = cJSON_GetObjectItemCaseSensitive(join, "cgroup"),
			.env = envp, .pass_fd = sv[1], .err_fd = err_fd,
			.timeout_s = env->policy->session_timeout_s,
		};
		rc = js.target > 0 ? sandbox_join(&js, &s->sb, err) : ad_err_set(err, 0, "no sandbox to join");
		s->joined = rc == 0;
	} else {
		rc = sandbox_start(&spec, &s->sb, err);
	}
	close(sv[1]);
	sandbox_env_free(envp);
	sup_pool_sandbox_made(s, rc);
	if (rc < 0 || sup_listeners_start(s, egress, api, err) < 0)
		return -1;
	sup_mcp_open_remote(s);    /* while the sandbox sets itself up */
	/* an agent already gone (a sandbox whose set-up failed) is found by the loop, which
	 * waits for the sandbox's end and says why it ended */
	if (send_hello(s, err) < 0 && err->errnum != EPIPE && err->errnum != ECONNRESET)
		return -1;
	return 0;
}

/* The sandbox ended by itself: the gateway hears how (a run waiting for it, or the
 * session, which fails with that reason: a sandbox that could not be set up says why). */
static void sandbox_ended(struct supervisor *s)
{
	struct sandbox_result res;
	sandbox_finish(s->sb, &res);
	log_info("the sandbox ended: %s", res.message);
	char msg[AD_ERR_MSG_MAX + 64];
	snprintf(msg, sizeof(msg), "the agent's sandbox ended%s: %s", s->running ? " during the run" : "",
		 res.message);
	sup_send_error_step(s, "sandbox_error", msg, res.outcome == SANDBOX_FAILED ? sandbox_failed_step(res.message) : NULL);
	s->quit = true;
}

/* No more events can come from the agent: wait for the sandbox to end, briefly, and
 * say how it ended; one that goes on without its agent is killed. */
static void agent_gone(struct supervisor *s)
{
	struct pollfd w = { sandbox_event_fd(s->sb), POLLIN, 0 };
	if (poll(&w, 1, 1000) > 0)
		sandbox_ended(s);
	else
		sup_end(s, "agent_error", "the agent hung up, and its sandbox went on without it");
}

static void time_up(struct supervisor *s)
{
	struct sandbox_result res;
	sandbox_stop(s->sb, SANDBOX_TIMED_OUT, &res);
	char msg[AD_ERR_MSG_MAX + 64];
	snprintf(msg, sizeof(msg), "the session reached its time limit (sandbox.session_timeout_s): %s", res.message);
	log_info("%s", msg);
	sup_send_error(s, "timeout_error", msg);
	s->quit = true;
}

/* What ends the session whatever the agent does: its time limit, an agent that takes
 * nothing it is sent, that does not end its run after a CANCEL or an op in its time.
 * The sandbox is killed through its cgroup. */
static void check_deadlines(struct supervisor *s, uint64_t now)
{
	struct ad_err e;
	if (now >= sandbox_deadline_ns(s->sb))
		time_up(s);
	else if (link_out_stalled_ms(&s->to_agent, now) >= SUP_STALL_MS)
		sup_end(s, "agent_error", (sup_agent_stuck(s, &e), e.msg));
	else if (s->cancel_by_ns != 0 && now >= s->cancel_by_ns)
		sup_end(s, "agent_error", "the agent did not stop its run within 5 s of the interrupt; its sandbox was stopped");
	else if (s->op_by_ns != 0 && now >= s->op_by_ns)
		sup_end(s, "agent_error", "the agent did not finish the operation in its time; its sandbox was stopped");
	else if (link_out_stalled_ms(&s->to_gw, now) >= SUP_STALL_MS) {
		log_warn("the gateway took nothing for %u s; ending", SUP_STALL_MS / 1000);
		s->quit = true;
	}
}

/* The next moment check_deadlines may have something to do, in ms from now. */
static int next_check_ms(const struct supervisor *s, uint64_t now)
{
	uint64_t at = sandbox_deadline_ns(s->sb);
	if (s->cancel_by_ns != 0 && s->cancel_by_ns < at)
		at = s->cancel_by_ns;
	if (s->op_by_ns != 0 && s->op_by_ns < at)
		at = s->op_by_ns;
	uint64_t left = at > now ? (at - now) / 1000000u + 1 : 0;
	if (link_out_pending(&s->to_agent) || link_out_pending(&s->to_gw))
		left = left < 1000 ? left : 1000;      /* a stall is measured by the second */
	return left > 60000 ? 60000 : (int)left;
}

/* An agent frame handler failed: the agent broke the protocol, is stuck, or the
 * session's time ran out while waiting for it. */
static void agent_failed(struct supervisor *s, struct ad_err *e)
{
	if (s->quit)
		return;
	if (clock_mono_ns() >= sandbox_deadline_ns(s->sb)) {
		time_up(s);
		return;
	}
	if (e->errnum == ECONNRESET && !s->joined) {
		agent_gone(s);      /* it died (a sandbox that failed to set up, say): how */
		return;
	}
	if (e->errnum == 0)
		ad_err_prefix(e, "the agent broke the protocol");
	sup_end(s, "agent_error", e->msg);
}

/* SIGTERM: the spawner has gone (PR_SET_PDEATHSIG), with the gateway. */
static volatile sig_atomic_t terminate;

static void on_sigterm(int sig)
{
	(void)sig;
	terminate = 1;
}

static void serve(struct supervisor *s)
{
	struct ad_err e;
	while (!s->quit) {
		if (terminate) {
			log_info("agentd has gone; ending the session");
			break;
		}
		uint64_t now = clock_mono_ns();
		check_deadlines(s, now);
		if (s->quit)
			break;
		/* the gateway's queue full: the agent waits until it drains */
		bool read_agent = s->agent >= 0 && link_out_queued(&s->to_gw) < GW_OUT_MAX / 2;
		struct pollfd p[5 + API_LISTEN_MAX] = {
			{ s->gw, POLLIN | (link_out_pending(&s->to_gw) ? POLLOUT : 0), 0 },
			{ s->agent, (read_agent ? POLLIN : 0) | (link_out_pending(&s->to_agent) ? POLLOUT : 0), 0 },
			{ sandbox_event_fd(s->sb), POLLIN, 0 },
			{ s->proxy ? egress_proxy_event_fd(s->proxy) : -1, POLLIN, 0 },
			{ s->api ? api_server_event_fd(s->api) : -1, POLLIN, 0 },
		};
		unsigned nl = sup_api_pollfds(s, p + 5);
		/* (what the gateway sent during a model call may have ended its link already) */
		int n = poll(p, 5 + nl, sup_idle_wait(s, s->gw_end != 0 ? 0 : sup_pool_wait_ms(s, next_check_ms(s, now))));
		if (n < 0 && errno != EINTR) {
			ad_err_sys(&s->fault, "poll");
			break;
		}
		if (sup_idle_after(s, n) <= 0 && s->gw_end == 0)
			continue;
		if ((p[0].revents & POLLOUT) && link_out_flush(&s->to_gw, s->gw, &e) < 0)
			break;                 /* the gateway is gone */
		if ((p[1].revents & POLLOUT) && link_out_flush(&s->to_agent, s->agent, &e) < 0)
			p[1].revents |= POLLHUP;    /* gone: read what is left, then the end */
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			int rc = link_recv(s->agent, s->agent_dec, sup_agent_frame, s, &e);
			if (rc < 0) {
				agent_failed(s, &e);
				break;
			}
			if (rc == 1)     /* the agent closed its end: the pidfd will say how it ended */
				s->agent = (close(s->agent), -1);
		}
		/* what the gateway sent (read here, or during a model call that held the loop) */
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !s->quit && s->gw_end == 0)
			s->gw_end = link_recv(s->gw, s->gw_dec, sup_gateway_frame, s, &s->gw_err);
		if (s->gw_end != 0 && !s->quit) {
			if (s->gw_end < 0 && s->gw_err.errnum == EPIPE) {
				agent_gone(s);     /* what it passed on found the agent gone: how */
				break;
			}
			if (s->gw_end < 0)
				log_warn("from the gateway: %s", s->gw_err.msg);
			break;
		}
		if (p[3].revents)
			sup_egress_events(s);
		sup_api_events(s, p + 4, nl);
		if (p[2].revents && !s->quit)
			sandbox_ended(s);
		if (s->agent < 0 && !s->quit)
			agent_gone(s);
	}
	/* what the gateway should still hear (the run's end, an error), as far as it takes it */
	if (s->gw >= 0 && link_out_pending(&s->to_gw)) {
		struct pollfd w = { s->gw, POLLOUT, 0 };
		uint64_t until = clock_mono_ns() + 1000000000ull;
		while (link_out_pending(&s->to_gw) && clock_mono_ns() < until && poll(&w, 1, 100) >= 0 &&
		       !(w.revents & (POLLERR | POLLHUP)) && link_out_flush(&s->to_gw, s->gw, &e) == 0)
			;
	}
}

/* The session's own policy: p (the config's), tightened as the session asked. */
static int session_policy(const cJSON *o, struct sandbox_policy *p, struct ad_err *err)
{
	const cJSON *tighten = cJSON_GetObjectItemCaseSensitive(o, "policy");
	return tighten != NULL ? sandbox_policy_tighten(p, tighten, err) : 0;
}

int supervisor_main(const struct supervisor_env *env, int gw_fd, const char *session_id, const char *opts)
{
	struct sandbox_policy policy = *env->policy;
	struct supervisor_env own = *env;
	own.policy = &policy;
	env = &own;
	struct supervisor s = { .env = env, .id = session_id, .gw = gw_fd, .agent = -1, .ws = -1, .ws_ids_lock = -1 };
	struct ad_err e;
	_cleanup_cjson_ cJSON *o = cJSON_Parse(opts);
	const cJSON *join = cJSON_GetObjectItemCaseSensitive(o, "join");
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(o, "owner");
	log_set_about(session_id, cJSON_IsString(owner) ? owner->valuestring : NULL);
	s.other_runtime = cJSON_GetObjectItemCaseSensitive(o, "runtime") != NULL;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction term = { .sa_handler = on_sigterm };      /* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &term, NULL);
	fcntl(gw_fd, F_SETFL, fcntl(gw_fd, F_GETFL) | O_NONBLOCK);
	link_out_init(&s.to_gw, GW_OUT_MAX);
	link_out_init(&s.to_agent, AGENT_OUT_MAX);
	sup_pool_enter(&s, &policy, o);
	s.gw_dec = frame_decoder_new(FRAME_MAX_PAYLOAD);
	s.agent_dec = frame_decoder_new(FRAME_MAX_PAYLOAD);
	relay_init(&s.relay, env->cfg, gw_fd);
	s.relay.send = send_paced;
	s.relay.send_raw = send_paced_raw;
	s.relay.send_ctx = &s;
	s.relay.client.abort_check = sup_during_call;
	s.relay.client.abort_ctx = &s;
	uint64_t t0 = clock_mono_ns();
	if (s.gw_dec == NULL || s.agent_dec == NULL) {
		ad_err_set(&e, ENOMEM, "frame decoders");
		sup_send_error(&s, "sandbox_error", e.msg);
	} else if (session_policy(o, &policy, &e) < 0) {
		ad_err_prefix(&e, "the session's sandbox policy");
		sup_send_error(&s, "invalid_request_error", e.msg);
	} else if (sup_egress_rules(&s, o, &e) < 0 || sup_mcp_select(&s, o, &e) < 0) {
		sup_send_error(&s, "invalid_request_error", e.msg);
	} else if (join == NULL && sup_workspace_open(&s, &policy, &e) < 0) {
		sup_build_failed(&s, "workspace", NULL, &e);
	} else if ((s.join_cgroup = cJSON_GetObjectItemCaseSensitive(join, "cgroup"), start_sandbox(&s, join, &e)) < 0) {
		sup_build_failed(&s, sandbox_failed_step(e.msg), "the sandbox could not be built", &e);
	} else {
		log_debug("sandbox up in %.2f ms", (double)(clock_mono_ns() - t0) / 1e6);
		/* the cap of a save: what a tar of this session's own workspace can come to */
		snapio_init(&s.snap, env->cfg->state_dir, session_id,
			    snapio_tar_max(policy.workspace_size, policy.workspace_files));
		s.snap.send = send_paced;
		s.snap.send_ctx = &s;
		serve(&s);
	}
	if (s.joined && s.agent >= 0) {
		/* the sandbox is not ours to kill: the agent ends its own shells on the hang-up */
		close(s.agent);
		s.agent = -1;
		struct pollfd p = { sandbox_event_fd(s.sb), POLLIN, 0 };
		poll(&p, 1, JOINED_EXIT_MS);
	}
	sup_api_end(&s);
	sup_egress_end(&s);
	sup_mcp_end(&s);
	if (s.sb != NULL)
		sandbox_destroy(s.sb);
	sup_workspace_end(&s);
	if (s.agent >= 0)
		close(s.agent);
	if (s.ws >= 0)
		close(s.ws);
	snapio_abort(&s.snap);
	link_out_free(&s.to_gw);
	link_out_free(&s.to_agent);
	frame_decoder_free(s.gw_dec);
	frame_decoder_free(s.agent_dec);
	claude_client_cleanup(&s.relay.client);
	log_info("ended after %u model calls (%.0f ms)", s.relay.requests,
		 (double)(clock_mono_ns() - t0) / 1e6);
	return s.fault.msg[0] ? 1 : 0;
}

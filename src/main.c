/* agentd: self-hosted Claude agents, one Linux sandbox per conversation.
 *
 * This file is the command line and the daemon's life: read and check the settings,
 * run the sandbox self-check, serve HTTP, reload the API key on SIGHUP, and stop cleanly
 * on SIGTERM or SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/app.h"
#include "core/clock.h"
#include "cli/cli.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/netaddr.h"
#include "core/sdnotify.h"
#include "http/server.h"
#include "sandbox/cgroup.h"
#include "sandbox/policy.h"
#include "sandbox/sandbox.h"
#include "sandbox/workspace.h"
#include "session/hub.h"
#include "session/session.h"
#include "supervisor/spawner.h"

enum { EXIT_USAGE = 2 };

/* After the sessions are gone, the requests that waited for them end at once. */
#define SHUTDOWN_GRACE_MS 2000

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: agentd [OPTIONS]\n"
		"       agentd sandbox run [OPTIONS] [--] COMMAND [ARGS...]\n"
		"       agentd check-api [--config FILE] [--message TEXT]\n"
		"       agentd token add NAME | list | remove NAME [--config FILE]\n"
		"Serve Claude agents over HTTP, each conversation in its own Linux sandbox.\n"
		"\n"
		"  -c, --config FILE    settings file (default: $AGENTD_CONFIG, else\n"
		"                       " AGENTD_CONFIG_PATH " if it exists, else built-in defaults)\n"
		"  -e, --env-file FILE  .env file to read (default: $AGENTD_ENV_FILE, else ./.env)\n"
		"      --check-config   check the settings, print the effective ones, and exit\n"
		"      --help-config    describe every setting (a Markdown table) and exit\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n"
		"\n"
		"The environment overrides the settings file: AGENTD_LISTEN, AGENTD_STATE_DIR,\n"
		"AGENTD_STATIC_DIR, AGENTD_LOG_LEVEL, AGENTD_LOG_FORMAT, ANTHROPIC_API_KEY,\n"
		"ANTHROPIC_BASE_URL, ... (README.md lists every setting).\n"
		"Exit status: 0 on success, 1 on an error, 2 on bad usage.\n");
}

struct options {
	const char *config;
	const char *env_file;
	bool check_config;
};

/* The settings table as Markdown: README.md's configuration reference is this. */
static void help_config(void)
{
	static const char *const types[] = {
		[SETTING_STRING] = "string", [SETTING_BOOL] = "bool", [SETTING_INT] = "integer",
		[SETTING_SIZE] = "size", [SETTING_MILLI] = "decimal", [SETTING_ENUM] = "choice",
		[SETTING_LIST] = "list", [SETTING_JSON] = "object",
	};
	printf("| setting | environment | type | default | meaning |\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < config_settings_count; i++) {
		const struct setting *s = &config_settings[i];
		printf("| `%s` | %s%s%s | %s | ", s->key, s->env ? "`" : "", s->env ? s->env : "-",
		       s->env ? "`" : "", types[s->type]);
		if (s->def[0] == '\0')
			fputs("(empty)", stdout);
		else if (s->type == SETTING_LIST)   /* one code span per item, pipes escaped */
			for (const char *p = s->def; *p; p++) {
				if (p == s->def || p[-1] == ',')
					putchar('`');
				if (*p == '|')
					putchar('\\');
				if (*p == ',')
					fputs("`, ", stdout);
				else
					putchar(*p);
				if (p[1] == '\0')
					putchar('`');
			}
		else
			printf("`%s`", s->def);
		printf(" | %s |\n", s->doc);
	}
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_CHECK = 256, OPT_HELP_CONFIG };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "env-file", required_argument, NULL, 'e' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "help-config", no_argument, NULL, OPT_HELP_CONFIG },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:e:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'e': o->env_file = optarg; break;
		case OPT_CHECK: o->check_config = true; break;
		case OPT_HELP_CONFIG: help_config(); exit(0);
		case 'V': printf("agentd %s\n", AGENTD_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	config_locate(&o->config, &o->env_file);
	return 0;
}

static void notify(const char *state)
{
	struct ad_err e;
	if (sdnotify(state, &e) < 0)
		log_warn("sd_notify %s: %s", state, e.msg);
}

/* Everything before the first thread: settings, directories, the self-check. */
static int prepare(struct app *app, const struct options *o, struct ad_err *err)
{
	if (config_load(&app->cfg, o->config, o->env_file, err) < 0 ||
	    sandbox_policy_from_config(&app->policy, &app->cfg, err) < 0)
		return -1;
	log_setup((enum ad_log_level)app->cfg.log.level, app->cfg.log.format == LOG_FORMAT_JSON);
	limits_raise();      /* before the spawner: its supervisors inherit them */
	api_key_loaded(app);
	if (fs_mkdir_p(app->cfg.state_dir, 0700, err) < 0)
		return ad_err_prefix(err, "state_dir");
	if (static_files_open(&app->static_files, app->cfg.static_dir, err) < 0)
		return ad_err_prefix(err, "static_dir");
	if (api_auth_setup(app, err) < 0)      /* tokens: before any thread or child */
		return -1;
	app->start_ns = clock_mono_ns();
	api_metrics_setup(app->cfg.node.name);
	sandbox_probe_run(&app->probe, app->policy.allow_no_cgroup);
	if (app->probe.ready)
		log_info("sandbox self-check: ready (cgroup v%d)", app->probe.cgroup.version);
	else
		log_warn("sandbox self-check: sandboxes cannot start here: %s", app->probe.reason);
	if (app->cfg.anthropic.api_key[0] == '\0')
		log_warn("ANTHROPIC_API_KEY is not set: /api/chat answers 503 until it is");
	/* where workspaces live, before the spawner takes its copy of the settings */
	char sessions[4200];
	snprintf(sessions, sizeof(sessions), "%s/sessions", app->cfg.state_dir);
	if (workspace_probe(sessions, (enum workspace_store)app->cfg.sandbox.workspace_store, &app->workspaces, err) < 0)
		return -1;
	app->cfg.sandbox.workspace_store = app->workspaces.store;
	if (app->workspaces.store == WORKSPACE_TMPFS && app->workspaces.note[0] != '\0')
		log_warn("workspaces: %s", app->workspaces.note);
	else
		log_info("workspaces: %s under %s%s%s", config_workspace_stores[app->workspaces.store], sessions,
			 app->workspaces.note[0] ? "; " : "", app->workspaces.note);
	/* the spawner is forked now, while this process has one thread */
	if (cgroup_host_detect(&app->cgroups, false, err) < 0)
		return ad_err_prefix(err, "cgroup");
	if (app->cgroups.version != 0 && sandbox_cgroup_prepare(&app->cgroups, err) < 0)
		log_warn("cgroup: %s", err->msg);
	return spawner_start(&app->spawner, &app->cfg, &app->policy, &app->cgroups, err);
}

static int serve(struct app *app, struct ad_err *err)
{
	const struct config *cfg = &app->cfg;
	struct http_server_opts opts = {
		.threads = cfg->http.threads ? (unsigned)cfg->http.threads
					     : (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
		.max_body = (size_t)cfg->http.max_body_bytes,
		.max_header = (size_t)cfg->http.max_header_bytes,
		.max_connections = (unsigned)cfg->http.max_connections,
		.max_per_ip = (unsigned)cfg->http.max_connections_per_ip,
		.idle_timeout_s = (unsigned)cfg->http.idle_timeout_s,
		.header_timeout_s = (unsigned)cfg->http.header_timeout_s,
		.access_log = cfg->log.access,
		.authorize = api_authorize,
	};
	if (netaddr_parse(cfg->listen, &opts.addr, err) < 0)
		return ad_err_prefix(err, "listen");

	/* Signals are taken by sigwaitinfo() below; blocked before the server's threads
	 * start so that none of them is picked to run a handler. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct http_server *srv;
	if (hub_start(&app->hub, err) < 0 || sessions_new(&app->sessions, &app->cfg, app->spawner, app->hub,
						    &app->cgroups, err) < 0)
		return -1;
	sessions_restore(app->sessions);
	if (http_server_start(&srv, &opts, api_routes, app, err) < 0) {
		sessions_free(app->sessions);   /* a busy port, say: what was restored goes */
		app->sessions = NULL;
		return -1;
	}
	char addr[80];
	netaddr_format(http_server_address(srv), addr, sizeof(addr));
	log_info("agentd %s listening on http://%s/", AGENTD_VERSION, addr);
	if (app->probe.ready && app->cfg.anthropic.api_key[0] != '\0')
		sessions_pool_fill(app->sessions);
	notify("READY=1");

	siginfo_t si;
	int sig;
	while ((sig = sigwaitinfo(&set, &si)) == SIGHUP || (sig < 0 && errno == EINTR))
		if (sig == SIGHUP)
			api_key_reload(app);   /* systemctl reload agentd */
	/* nothing new starts from here on, before the sessions go; and before the log says
	 * so, that a client who reads it and sends a request meets the refusal */
	http_server_stop_work(srv);
	log_info("%s: shutting down, letting requests in flight finish (up to %llds)",
		 strsignal(si.si_signo), (long long)cfg->http.shutdown_timeout_s);
	notify("STOPPING=1");
	sessions_shutdown(app->sessions);
	unsigned left = http_server_drain(srv, (unsigned)cfg->http.shutdown_timeout_s * 1000u);
	if (left > 0)
		log_warn("%u requests still in flight at the deadline; ending their sessions", left);
	/* every session's supervisor hangs up its sandbox; turns still waited for end */
	sessions_free(app->sessions);
	app->sessions = NULL;
	if (left > 0 && (left = http_server_drain(srv, SHUTDOWN_GRACE_MS)) > 0)
		log_warn("%u requests still in flight; closing them", left);
	http_server_free(srv);
	hub_stop(app->hub);     /* sessions left: their supervisors see the hang-up and clean up */
	app->hub = NULL;
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	/* first: the sandbox's agent, exec'd by its init or by sandbox_join() into a running
	 * sandbox, must do nothing but its job. Not dumpable, as init is: nothing else in the
	 * sandbox may read its memory. It ends with _exit(): under seccomp, exit handlers
	 * have nothing to do (LeakSanitizer's would need ptrace) */
	if (argc > 1 && strcmp(argv[1], SANDBOX_AGENT_CMD) == 0)
		_exit(fcntl(SANDBOX_PASS_FD, F_GETFD) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0
		      ? 2 : agent_main(SANDBOX_PASS_FD));
	if (argc > 1 && strcmp(argv[1], "sandbox") == 0) {
		int rc = cli_sandbox(argc - 1, argv + 1);
#ifndef __SANITIZE_ADDRESS__
		/* the sandbox is gone and everything else is the kernel's to release: no exit
		 * handlers and library destructors between the command's end and ours (the
		 * sanitizers' builds keep them, for LeakSanitizer's check) */
		fflush(NULL);
		_exit(rc);
#endif
		return rc;
	}
	if (argc > 1 && strcmp(argv[1], "check-api") == 0)
		return cli_check_api(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return cli_token(argc - 1, argv + 1);
	struct options o = { 0 };
	if (parse_options(argc, argv, &o) < 0)
		return EXIT_USAGE;

	struct app app = { 0 };
	struct ad_err e;
	int rc = 0;
	if (o.check_config) {
		struct sandbox_policy policy;
		if (config_load(&app.cfg, o.config, o.env_file, &e) < 0) {
			fprintf(stderr, "agentd: %s\n", e.msg);
			return 1;
		}
		if (sandbox_policy_from_config(&policy, &app.cfg, &e) < 0) {
			fprintf(stderr, "agentd: %s\n", e.msg);
			config_free(&app.cfg);
			return 1;
		}
		cJSON *j = config_to_json(&app.cfg);
		char *text = j ? cJSON_Print(j) : NULL;
		printf("%s\n", text ? text : "{}");
		fprintf(stderr, "agentd: configuration OK (%s)\n", app.cfg.source ? app.cfg.source : "built-in defaults");
		cJSON_free(text);
		cJSON_Delete(j);
		config_free(&app.cfg);
		return 0;
	}
	if (prepare(&app, &o, &e) < 0 || serve(&app, &e) < 0) {
		log_error("%s", e.msg);
		rc = 1;
	}
	hub_stop(app.hub);
	spawner_stop(app.spawner);
	static_files_free(app.static_files);
	api_auth_free(&app);
	config_free(&app.cfg);
	metrics_free();
	return rc;
}

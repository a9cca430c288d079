/* `agentd sandbox run`: one sandbox with the configured policy, the command's stdio
 * attached, its exit status passed on. Operators debug policies with it; the benchmark
 * measures it. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/config.h"
#include "core/log.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"
#include "sandbox/steptime.h"

#define EXIT_SETUP 125

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: agentd sandbox run [OPTIONS] [--] COMMAND [ARGS...]\n"
		"Run COMMAND in a sandbox built with the configured policy, stdio attached.\n"
		"\n"
		"  -c, --config FILE     settings file (as for the daemon)\n"
		"  -e, --env-file FILE   .env file (default ./.env)\n"
		"  -s, --set KEY=VALUE   tighten the policy: memory_max, pids_max, cpus,\n"
		"                        workspace_size, workspace_files, tmp_size, tmp_files,\n"
		"                        nofile, command_timeout_s, session_timeout_s, hostname\n"
		"  -h, --help            this help\n"
		"\n"
		"Exit status: COMMAND's own; 128+N when killed by signal N; 137 out of memory;\n"
		"124 timed out; 125 the sandbox could not be built; 126/127 COMMAND could not be\n"
		"run / was not found.\n");
}

struct run_opts {
	const char *config, *env_file;
	char *sets[32];
	int nsets;
};

static int parse(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "env-file", required_argument, NULL, 'e' },
		{ "set", required_argument, NULL, 's' },    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	/* '+': stop at the command, whose own options are not ours */
	while ((c = getopt_long(argc, argv, "+c:e:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'e': o->env_file = optarg; break;
		case 's':
			if (o->nsets == (int)ARRAY_SIZE(o->sets)) {
				fprintf(stderr, "agentd: too many --set\n");
				return -1;
			}
			o->sets[o->nsets++] = optarg;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "agentd: sandbox run: no command given\n");
		usage(stderr);
		return -1;
	}
	config_locate(&o->config, &o->env_file);
	return optind;
}

/* One sandbox, waited for; the result's message goes to stderr when it is news. */
static int run_sandbox(const struct sandbox_spec *spec, const struct cgroup_host *host)
{
	/* Ctrl-C, SIGTERM, SIGHUP: kill the sandbox and clean up, never leave it behind */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	_cleanup_close_ int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	struct ad_err e;
	struct sandbox *sb;
	int rc = sandbox_start(spec, &sb, &e);
	/* What a SIGKILLed run left behind, removed while the child builds its sandbox, when
	 * this process would only wait (never ours: this pid is alive). */
	sandbox_cgroup_sweep(host);
	sandbox_steptime_mark("cgroup-sweep");
	if (rc < 0) {
		fprintf(stderr, "agentd: sandbox: %s\n", e.msg);
		return EXIT_SETUP;
	}
	struct sandbox_result res;
	sandbox_wait(sb, sfd, &res);
	sandbox_steptime_mark("ended");
	sandbox_destroy(sb);
	sandbox_steptime_mark("cleaned-up");
	sandbox_steptime_print(STDERR_FILENO);
	if ((res.outcome != SANDBOX_EXITED && res.outcome != SANDBOX_SIGNALED) || res.oom_kills > 0)
		fprintf(stderr, "agentd: sandbox: %s\n", res.message);
	return sandbox_result_exit_code(&res);
}

static int run(struct config *cfg, struct run_opts *o, char **cmd)
{
	struct ad_err e;
	struct sandbox_policy policy;
	struct cgroup_host host;
	sandbox_steptime_mark("config");
	if (sandbox_policy_from_config(&policy, cfg, &e) < 0)
		goto setup_failed;
	for (int i = 0; i < o->nsets; i++)
		if (sandbox_policy_tighten_kv(&policy, o->sets[i], &e) < 0) {
			ad_err_prefix(&e, "--set %s", o->sets[i]);
			goto setup_failed;
		}
	if (cgroup_host_detect(&host, false, &e) < 0 || sandbox_cgroup_prepare(&host, &e) < 0)
		goto setup_failed;
	sandbox_steptime_mark("cgroup-host");
	char **env = sandbox_env_build(&policy, NULL);
	if (env == NULL) {
		ad_err_set(&e, ENOMEM, "environment");
		goto setup_failed;
	}
	struct sandbox_spec spec = {
		.policy = &policy, .seccomp = seccomp_filter_builtin(), .cgroups = &host, .argv = cmd, .env = env,
		.stdio = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO }, .pass_fd = -1,
	};
	int rc = run_sandbox(&spec, &host);
	sandbox_env_free(env);
	return rc;
setup_failed:
	fprintf(stderr, "agentd: sandbox: %s\n", e.msg);
	return EXIT_SETUP;
}

int cli_sandbox(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		usage(stderr);
		return 2;
	}
	struct run_opts o = { 0 };
	int first = parse(argc - 1, argv + 1, &o);
	if (first < 0)
		return 2;
	struct config cfg;
	struct ad_err e;
	/* the benchmark's per-step breakdown (tests/bench/sandbox_bench.py) */
	if (getenv("AGENTD_SANDBOX_TIMING") != NULL) {
		sandbox_steptime_enable();
		sandbox_steptime_mark("main");
	}
	log_setup(AD_LOG_WARN, false);
	if (config_load(&cfg, o.config, o.env_file, &e) < 0) {
		fprintf(stderr, "agentd: %s\n", e.msg);
		return EXIT_SETUP;
	}
	int rc = run(&cfg, &o, argv + 1 + first);
	config_free(&cfg);
	return rc;
}

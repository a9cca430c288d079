/* `agentd token add|list|remove`: the API tokens in <state_dir>/tokens.json. A new
 * token is printed once, on stdout alone (so that `agentd token add ci > file` keeps
 * it); only its hash is stored. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "auth/token_source.h"
#include "auth/tokens.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: agentd token add NAME [--admin] [--config FILE] [--env-file FILE]\n"
		"       agentd token list [--config FILE] [--env-file FILE]\n"
		"       agentd token remove NAME [--config FILE] [--env-file FILE]\n"
		"Manage the API tokens in <state_dir>/" TOKEN_STORE_FILE ". `add` prints the new token once;\n"
		"only its SHA-256 is kept. Names: 1 to %d of A-Z a-z 0-9 . _ -\n"
		"--admin: the token may also see and end every session on the host (/api/admin/...).\n"
		"A running agentd that uses the same state directory follows the store: a change\n"
		"counts within a second. Give the settings that agentd runs with (for `make run`,\n"
		"the command it prints), and the command says whether one does.\n",
		TOKEN_NAME_MAX);
}

/* What a change of the store does now: only what is so. A daemon that uses another
 * state directory (`make run` keeps its own, .run/state) never sees this store, so
 * "accepted" is said only when a running agentd follows this one. */
static void say_who_follows(const char *state_dir, const char *effect)
{
	pid_t pid = 0;
	struct ad_err e;
	int rc = token_follower(state_dir, &pid, &e);
	if (rc > 0)
		fprintf(stderr, "agentd: the agentd running as pid %ld uses %s: it %s within a second\n",
			(long)pid, state_dir, effect);
	else if (rc == 0)
		fprintf(stderr, "agentd: no running agentd uses %s, so nothing changes now: this counts when "
			"an agentd starts with this state directory. An agentd with other settings has its "
			"own tokens (`make run` prints the command for it): run this command with its "
			"settings (--config FILE, AGENTD_STATE_DIR)\n", state_dir);
	else
		fprintf(stderr, "agentd: cannot tell whether a running agentd uses %s (%s)\n", state_dir, e.msg);
}

static int token_add(const char *state_dir, const char *name, bool admin)
{
	char token[TOKEN_LEN + 1];
	struct ad_err e;
	if (token_store_add(state_dir, name, admin, token, &e) < 0) {
		fprintf(stderr, "agentd: token add: %s\n", e.msg);
		return 1;
	}
	printf("%s\n", token);
	fflush(stdout);
	explicit_bzero(token, sizeof(token));
	fprintf(stderr, "agentd: %stoken \"%s\" saved (its hash only) in %s/%s; copy it now, it is not "
		"shown again\n", admin ? "admin " : "", name, state_dir, TOKEN_STORE_FILE);
	say_who_follows(state_dir, "accepts it, and refuses requests without a valid token,");
	return 0;
}

static int token_list(const char *state_dir)
{
	struct token_set *ts = NULL;
	struct ad_err e;
	if (token_store_load(&ts, state_dir, &e) < 0) {
		fprintf(stderr, "agentd: token list: %s\n", e.msg);
		return 1;
	}
	size_t n = token_set_count(ts);
	fprintf(stderr, "agentd: %zu tokens in %s/%s\n", n, state_dir, TOKEN_STORE_FILE);
	for (size_t i = 0; i < n; i++)
		printf("%-24s %s%s\n", token_set_name(ts, i), token_set_created(ts, i),
		       token_set_admin(ts, i) ? "  admin" : "");
	token_set_free(ts);
	return 0;
}

static int token_remove(const char *state_dir, const char *name)
{
	struct ad_err e;
	if (token_store_remove(state_dir, name, &e) < 0) {
		fprintf(stderr, "agentd: token remove: %s\n", e.msg);
		return 1;
	}
	fprintf(stderr, "agentd: token \"%s\" removed from %s/%s\n", name, state_dir, TOKEN_STORE_FILE);
	say_who_follows(state_dir, "refuses it");
	return 0;
}

int cli_token(int argc, char **argv)
{
	const char *config = NULL, *env_file = NULL;
	bool admin = false;
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "env-file", required_argument, NULL, 'e' },
		{ "admin", no_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:e:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'e': env_file = optarg; break;
		case 'a': admin = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	int nargs = argc - optind;
	const char *action = nargs > 0 ? argv[optind] : "";
	bool named = strcmp(action, "add") == 0 || strcmp(action, "remove") == 0;
	if ((!(named && nargs == 2) && !(strcmp(action, "list") == 0 && nargs == 1)) ||
	    (admin && strcmp(action, "add") != 0)) {
		usage(stderr);
		return 2;
	}
	struct config cfg;
	struct ad_err e;
	config_locate(&config, &env_file);
	log_setup(AD_LOG_WARN, false);
	if (config_load(&cfg, config, env_file, &e) < 0) {
		fprintf(stderr, "agentd: %s\n", e.msg);
		return 1;
	}
	const char *name = named ? argv[optind + 1] : NULL;
	int rc = strcmp(action, "add") == 0 ? token_add(cfg.state_dir, name, admin)
	       : strcmp(action, "remove") == 0 ? token_remove(cfg.state_dir, name)
	       : token_list(cfg.state_dir);
	config_free(&cfg);
	return rc;
}

/* The API key reloaded on SIGHUP (`systemctl reload agentd`): see api_key_reload() in
 * include/api/app.h.
 *
 * Runs on the main thread, which alone reads and writes app->cfg's key after start-up
 * (the handlers look at api_key_set). The order keeps every session on one key or the
 * other, never none: the spawner and the running supervisors get the new key first
 * (sessions_rekey), then the gateway's copy is replaced and the old one wiped. Neither
 * key, nor any part of one, is ever logged. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "core/log.h"
#include "session/session.h"

void api_key_loaded(struct app *app)
{
	atomic_store(&app->api_key_set, app->cfg.anthropic.api_key != NULL && app->cfg.anthropic.api_key[0] != '\0');
	atomic_store(&app->key_loaded_at, (int64_t)time(NULL));
}

/* The gateway's copy becomes key (taken); the old one is wiped. */
static void replace_key(struct app *app, char *key)
{
	char *old = app->cfg.anthropic.api_key;
	app->cfg.anthropic.api_key = key;
	if (old != NULL) {
		explicit_bzero(old, strlen(old));
		free(old);
	}
}

void api_key_reload(struct app *app)
{
	struct ad_err e;
	char *key = NULL;
	if (config_key_read(&app->cfg, &key, &e) < 0) {
		log_warn("SIGHUP: the API key was not reloaded, the one in use stays: %s", e.msg);
		return;
	}
	const char *old = app->cfg.anthropic.api_key;
	bool first = old == NULL || old[0] == '\0';
	if (old != NULL && strcmp(old, key) == 0) {
		explicit_bzero(key, strlen(key));
		free(key);
		atomic_store(&app->key_loaded_at, (int64_t)time(NULL));
		log_info("SIGHUP: the API key was reloaded from %s: the API key is the same", app->cfg.env_file);
		return;
	}
	unsigned sent = 0;
	if (sessions_rekey(app->sessions, key, &sent, &e) < 0) {
		explicit_bzero(key, strlen(key));
		free(key);
		log_warn("SIGHUP: the API key was not reloaded, the one in use stays: %s", e.msg);
		return;
	}
	replace_key(app, key);
	api_key_loaded(app);
	if (app->cfg.key_source == CONFIG_KEY_ENV)
		log_warn("SIGHUP: the env file %s now gives the API key; ANTHROPIC_API_KEY in agentd's environment "
			 "would win again at the next start", app->cfg.env_file);
	app->cfg.key_source = CONFIG_KEY_FILE;
	log_info("SIGHUP: the API key was reloaded from %s: the API key changed; %u running sessions got it, "
		 "new and resumed sessions use it", app->cfg.env_file, sent);
	if (first && app->probe.ready)
		sessions_pool_fill(app->sessions);   /* none was built without a key */
}

/* The API key read again (SIGHUP): config_key_read() in include/core/config.h.
 *
 * At start-up the key came from the process environment or from the env file; the
 * environment's copy was scrubbed once read (config_env_scrub), and a process's
 * environment cannot be changed from outside anyway, so the env file is what a reload
 * reads. Nothing here puts the key, or any part of it, into a message. */
#include "core/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/dotenv.h"

#define KEY_VAR "ANTHROPIC_API_KEY"

/* What is wrong with a key, in words that do not quote it. */
static int key_check(const char *key, struct ad_err *err)
{
	size_t n = strlen(key);
	if (n == 0)
		return ad_err_set(err, 0, "%s is empty", KEY_VAR);
	if (n < CONFIG_API_KEY_MIN)
		return ad_err_set(err, 0, "%s is %zu characters long, too short for a key", KEY_VAR, n);
	if (config_settings_check("anthropic.api_key", key, err) < 0)
		return ad_err_prefix(err, "%s", KEY_VAR);
	return 0;
}

/* The file has no key: where the one in use came from says what to do. */
static int no_key(const struct config *cfg, struct ad_err *err)
{
	if (cfg->key_source == CONFIG_KEY_ENV)
		return ad_err_set(err, 0, "the key in use came from the environment variable %s, which a reload "
				  "cannot change, and the env file %s has no %s (put the key there, or restart "
				  "agentd with the new key in its environment)", KEY_VAR, cfg->env_file, KEY_VAR);
	return ad_err_set(err, 0, "the env file %s has no %s", cfg->env_file, KEY_VAR);
}

int config_key_read(const struct config *cfg, char **key, struct ad_err *err)
{
	if (cfg->env_file == NULL)
		return ad_err_set(err, 0, "no env file was named at start-up (--env-file, AGENTD_ENV_FILE)");
	struct dotenv *env = NULL;
	if (dotenv_load(cfg->env_file, &env, err) < 0)
		return ad_err_prefix(err, "env file");
	const char *v = dotenv_get(env, KEY_VAR);
	int rc = v == NULL ? no_key(cfg, err) : key_check(v, err);
	if (rc == 0 && (*key = strdup(v)) == NULL)
		rc = ad_err_set(err, ENOMEM, "the key");
	if (rc < 0 && v != NULL)
		ad_err_prefix(err, "env file %s", cfg->env_file);
	dotenv_free(env);                  /* its values are wiped */
	return rc;
}

/* The environment a sandboxed command starts with: nothing of agentd's but the names the
 * policy allows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"

static const char *const fixed[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/workspace", "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "PWD=/workspace",
};

static size_t count(char *const *v)
{
	size_t n = 0;
	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

char **sandbox_env_build(const struct sandbox_policy *p, char *const *extra)
{
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t max = nfixed + count(p->env_allow) + count(extra) + 1;
	char **env = calloc(max, sizeof(*env));
	size_t n = 0;
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < nfixed; i++)
		if ((env[n++] = strdup(fixed[i])) == NULL)
			goto fail;
	for (size_t i = 0; i < count(p->env_allow); i++) {
		const char *v = getenv(p->env_allow[i]);
		if (v != NULL && asprintf(&env[n++], "%s=%s", p->env_allow[i], v) < 0) {
			env[--n] = NULL;
			goto fail;
		}
	}
	for (size_t i = 0; i < count(extra); i++)
		if ((env[n++] = strdup(extra[i])) == NULL)
			goto fail;
	return env;
fail:
	sandbox_env_free(env);
	return NULL;
}

void sandbox_env_free(char **env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

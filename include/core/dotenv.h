/* .env files: KEY=VALUE lines, '#' comments, optional "export ", values optionally in
 * single quotes (taken as they are) or double quotes (\n, \t, \", \\ understood).
 * Values are kept in memory and looked up; the process environment is not changed, so
 * nothing read here is inherited by the processes agentd starts. */
#ifndef AGENTD_CORE_DOTENV_H
#define AGENTD_CORE_DOTENV_H

#include <stddef.h>

#include "core/err.h"

struct dotenv;

/* Parse a file. A missing file gives an empty set, not an error. */
int dotenv_load(const char *path, struct dotenv **out, struct ad_err *err);
/* Parse text already in memory (the unit tests use this). */
int dotenv_parse(const char *text, size_t len, struct dotenv **out, struct ad_err *err);
const char *dotenv_get(const struct dotenv *env, const char *key);
size_t dotenv_count(const struct dotenv *env);
void dotenv_free(struct dotenv *env);

#endif

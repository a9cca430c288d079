/* API tokens: who may use the HTTP API.
 *
 * A token is "agt_" and 64 hex digits (32 random bytes), shown once when it is made and
 * never kept: the store (<state_dir>/tokens.json, mode 0600) holds only its name, the
 * SHA-256 of the token, and when it was made. Tokens may also come from AGENTD_TOKENS
 * (comma-separated, for containers and tests), each named "env-" and 16 hex digits
 * derived from its hash (not its place in the list: a token's sessions must not pass to
 * another token when the list changes).
 *
 * A token's name is the principal the HTTP layer hands to the handlers: 1 to 64 of
 * [A-Za-z0-9._-]; "anonymous" and names starting with "env-" are kept for agentd. A
 * stored token may have the admin role ("admin": true in the store): it may see and end
 * every session on the host (/api/admin/...). AGENTD_TOKENS tokens never have it. */
#ifndef AGENTD_AUTH_TOKENS_H
#define AGENTD_AUTH_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define TOKEN_NAME_MAX 64
#define TOKEN_PREFIX "agt_"
#define TOKEN_RANDOM_BYTES 32
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + 2 * TOKEN_RANDOM_BYTES)
#define TOKEN_STORE_FILE "tokens.json"
#define TOKEN_STORE_MAX_BYTES (1024 * 1024)
#define TOKENS_MAX 4096              /* in the store and the environment together */
#define TOKEN_ENV_PREFIX "env-"     /* names of AGENTD_TOKENS tokens; kept for them */
#define TOKEN_ENV_NAME_BYTES 8       /* of a hash, in the name as hex */
#define TOKEN_ANONYMOUS "anonymous"  /* HTTP_PRINCIPAL_ANONYMOUS: kept, never a token's name */

struct token_set;

struct token_set *token_set_new(void);
void token_set_free(struct token_set *ts);

/* The store's JSON text; every entry checked (name, hash, date, no repeats). */
int token_set_parse(struct token_set **out, const char *text, size_t len, struct ad_err *err);
/* The store's JSON text for the stored entries (not those of AGENTD_TOKENS); NULL when
 * out of memory. Free with free(). */
char *token_set_format(const struct token_set *ts);

/* Add the tokens of an AGENTD_TOKENS value ("tok1,tok2"; blanks around items ignored). */
int token_set_add_env(struct token_set *ts, const char *list, struct ad_err *err);
/* Make a new token for name (an admin's when admin): its text into token (TOKEN_LEN + 1
 * bytes), its hash into the set, dated now. */
int token_set_make(struct token_set *ts, const char *name, bool admin, char *token, struct ad_err *err);
int token_set_remove(struct token_set *ts, const char *name, struct ad_err *err);

size_t token_set_count(const struct token_set *ts);
const char *token_set_name(const struct token_set *ts, size_t i);
const char *token_set_created(const struct token_set *ts, size_t i);   /* "" for env tokens */
bool token_set_admin(const struct token_set *ts, size_t i);           /* false for env tokens */

/* The name of the token whose text is token[0..len), or NULL; *admin (admin may be
 * NULL): whether it has the admin role. Takes the same time whichever token matches, or
 * none: see the comment in tokens.c. */
const char *token_set_match(const struct token_set *ts, const char *token, size_t len, bool *admin);

/* 0 when name may be given to a new token; else err says why. */
int token_name_check(const char *name, struct ad_err *err);

/* The store file in state_dir (token_store.c). Load: a missing file is an empty set;
 * anything wrong names the file and the problem. Add and remove lock the store, read
 * it, change it and write it back atomically with mode 0600. */
int token_store_load(struct token_set **out, const char *state_dir, struct ad_err *err);
int token_store_add(const char *state_dir, const char *name, bool admin, char *token, struct ad_err *err);
int token_store_remove(const char *state_dir, const char *name, struct ad_err *err);

#endif

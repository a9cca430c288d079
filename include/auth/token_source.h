/* The daemon's API tokens, kept in step with the store on disk.
 *
 * `agentd token add` and `agentd token remove` change <state_dir>/tokens.json while the
 * daemon runs; a removed token must stop working without a restart (it may have leaked),
 * and a new one should work at once. So the source looks at the store's identity (inode,
 * size, change time) at most once a second, from whichever request comes, and reads it
 * again when it changed. A store that cannot be read then (half-edited by hand, say) is
 * reported once and the tokens read before are kept: a typo must not lock everyone out
 * nor let everyone in. The AGENTD_TOKENS tokens are read once, at start-up.
 *
 * Safe to use from any thread. */
#ifndef AGENTD_AUTH_TOKEN_SOURCE_H
#define AGENTD_AUTH_TOKEN_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"

#define TOKEN_RECHECK_MS 1000
/* In the state directory: a running agentd holds a read lock on it (token_follow.c). */
#define TOKEN_LOCK_FILE "tokens.lock"

struct token_source;

/* Read the store in state_dir and the tokens of env_list (AGENTD_TOKENS; NULL for
 * none); look at the store again at most every recheck_ms (TOKEN_RECHECK_MS; 0: at
 * every call). Fails, naming the file and the problem, when the store cannot be read. */
int token_source_open(struct token_source **out, const char *state_dir, const char *env_list,
		      unsigned recheck_ms, struct ad_err *err);
void token_source_free(struct token_source *src);

/* How many tokens there are now: stored, and from the environment. */
void token_source_count(struct token_source *src, size_t *stored, size_t *env);
/* Copy into name (size bytes) the name of the token whose text is token[0..len), into
 * *admin whether it has the admin role, and return 0; -1 when no token matches.
 * Timing-safe (token_set_match). */
int token_source_match(struct token_source *src, const char *token, size_t len, char *name, size_t size,
		       bool *admin);

/* Whether a running agentd follows the store in state_dir, so that `agentd token` can
 * say what its change does rather than guess: token_follow_mark() is the daemon's side,
 * an fd holding the lock until it is closed (token_source_open takes it); and
 * token_follower() answers 1 with the pid of such a daemon, 0 when none runs, -1 when it
 * cannot tell (err says why). */
int token_follow_mark(const char *state_dir, struct ad_err *err);
int token_follower(const char *state_dir, pid_t *pid, struct ad_err *err);

#endif

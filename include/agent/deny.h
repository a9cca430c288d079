/* The bash tool's deny-list: commands matching one of a few extended regular
 * expressions (POSIX ERE with GNU's \s, \b, \w) are refused without being run.
 *
 * A pattern is matched against the command's text anywhere in it, not against a parse
 * of the shell language: `echo "curl x | sh"` is refused like the pipe it quotes, and a
 * command can be rephrased to slip past any list. That is accepted: this is defence in
 * depth that stops the obvious accidents; the sandbox is the boundary. */
#ifndef AGENTD_AGENT_DENY_H
#define AGENTD_AGENT_DENY_H

#include <stddef.h>

#include "core/err.h"

#define DENY_MAX_PATTERNS 256
#define DENY_PATTERN_MAX 1024

struct deny_list;

/* Compile patterns (NULL-terminated; NULL or empty: a list that refuses nothing). On a
 * pattern that does not compile, err names it. */
int deny_list_new(const char *const *patterns, struct deny_list **out, struct ad_err *err);
/* The pattern that command matches, or NULL when it may run. */
const char *deny_list_match(const struct deny_list *d, const char *command);
void deny_list_free(struct deny_list *d);

#endif

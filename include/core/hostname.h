/* Host names and the patterns of an allow-list: "example.com" (that name), "*.example.com"
 * (any name below it, not the name itself), or an address written out ("203.0.113.5",
 * "2001:db8::1"), which matches only a request for that address. Names compare without
 * regard to case and to a final dot. */
#ifndef AGENTD_CORE_HOSTNAME_H
#define AGENTD_CORE_HOSTNAME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define HOSTNAME_MAX 253

/* A name as DNS spells it: labels of 1 to 63 letters, digits, '-' and '_' (not at a
 * label's ends, but '_' anywhere), at most HOSTNAME_MAX characters; or an IPv4 or IPv6
 * address. */
bool hostname_valid(const char *name);
/* name into out (at least HOSTNAME_MAX + 2 bytes): lower case, no final dot, an IPv6
 * address without its brackets. -1 when it is not a valid name. */
int hostname_normal(const char *name, char *out, size_t size);
/* Whether a pattern is one; err says why not. */
int host_pattern_check(const char *pattern, struct ad_err *err);
/* Whether host (normal) is one pattern's, or any of a NULL-terminated list's. */
bool host_pattern_match(const char *pattern, const char *host);
bool host_patterns_match(char *const *patterns, const char *host);
/* Whether every name inner matches is one that one of outer's matches too: how a
 * session's own list is checked against the configured one (it may only narrow it). */
bool host_patterns_cover(char *const *outer, const char *inner);

#endif

/* Host names and allow-list patterns: see include/core/hostname.h. */
#include "core/hostname.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_address(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool label_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

bool hostname_valid(const char *name)
{
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > HOSTNAME_MAX)
		return false;
	char copy[HOSTNAME_MAX + 1];
	memcpy(copy, name, n);
	copy[n] = '\0';
	if (is_address(copy))
		return true;
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? name[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-')
				return false;
			label = 0;
		} else if (label_char(c)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

int hostname_normal(const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
		name++;
		n -= 2;
	}
	if (n + 1 > size || n > HOSTNAME_MAX + 1)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[n] = '\0';
	if (!hostname_valid(out))
		return -1;
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = '\0';
	return 0;
}

int host_pattern_check(const char *pattern, struct ad_err *err)
{
	const char *name = strncmp(pattern, "*.", 2) == 0 ? pattern + 2 : pattern;
	if (strchr(name, '*') != NULL)
		return ad_err_set(err, 0, "\"%s\": a wildcard is allowed only as the first label (\"*.example.com\")",
				  pattern);
	if (!hostname_valid(name) || name[strlen(name) - 1] == '.')
		return ad_err_set(err, 0, "\"%s\" is not a host name (letters, digits, '-' and '.'), a "
				  "\"*.suffix\" or an IP address", pattern);
	if (name != pattern && is_address(name))
		return ad_err_set(err, 0, "\"%s\": a wildcard goes with a name, not an address", pattern);
	return 0;
}

/* Whether name ends in "." suffix (case aside), with at least one label before it. */
static bool below(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);
	return n > s + 1 && name[n - s - 1] == '.' && strcasecmp(name + n - s, suffix) == 0;
}

bool host_pattern_match(const char *pattern, const char *host)
{
	if (strncmp(pattern, "*.", 2) == 0)
		return !is_address(host) && below(host, pattern + 2);
	return strcasecmp(pattern, host) == 0;
}

bool host_patterns_match(char *const *patterns, const char *host)
{
	for (size_t i = 0; patterns != NULL && patterns[i] != NULL; i++)
		if (host_pattern_match(patterns[i], host))
			return true;
	return false;
}

bool host_patterns_cover(char *const *outer, const char *inner)
{
	if (strncmp(inner, "*.", 2) != 0)
		return host_patterns_match(outer, inner);
	/* *.a.b is inside *.b and inside *.a.b; a name pattern never holds a wildcard's */
	for (size_t i = 0; outer != NULL && outer[i] != NULL; i++)
		if (strncmp(outer[i], "*.", 2) == 0 &&
		    (strcasecmp(outer[i] + 2, inner + 2) == 0 || below(inner + 2, outer[i] + 2)))
			return true;
	return false;
}

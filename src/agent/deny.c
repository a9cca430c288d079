/* The command deny-list: see include/agent/deny.h. */
#include "agent/deny.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

struct deny_list {
	size_t n;
	char **text;          /* as given, for the refusal message */
	regex_t *re;
};

void deny_list_free(struct deny_list *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		regfree(&d->re[i]);
		free(d->text[i]);
	}
	free(d->re);
	free(d->text);
	free(d);
}

int deny_list_new(const char *const *patterns, struct deny_list **out, struct ad_err *err)
{
	size_t count = 0;
	while (patterns != NULL && patterns[count] != NULL)
		if (++count > DENY_MAX_PATTERNS)
			return ad_err_set(err, 0, "more than %d deny-list patterns", DENY_MAX_PATTERNS);
	struct deny_list *d = calloc(1, sizeof(*d));
	if (d == NULL || (count > 0 && ((d->re = calloc(count, sizeof(*d->re))) == NULL ||
					(d->text = calloc(count, sizeof(*d->text))) == NULL))) {
		deny_list_free(d);
		return ad_err_set(err, ENOMEM, "deny-list");
	}
	for (; d->n < count; d->n++) {
		const char *p = patterns[d->n];
		if (strlen(p) > DENY_PATTERN_MAX) {
			deny_list_free(d);
			return ad_err_set(err, 0, "deny-list pattern %zu is longer than %d bytes", d->n,
					  DENY_PATTERN_MAX);
		}
		int rc = regcomp(&d->re[d->n], p, REG_EXTENDED | REG_NOSUB);
		if (rc != 0 || (d->text[d->n] = strdup(p)) == NULL) {
			char why[128] = "out of memory";
			if (rc != 0)
				regerror(rc, &d->re[d->n], why, sizeof(why));
			else
				regfree(&d->re[d->n]);
			deny_list_free(d);
			return ad_err_set(err, 0, "deny-list pattern \"%s\": %s", p, why);
		}
	}
	*out = d;
	return 0;
}

const char *deny_list_match(const struct deny_list *d, const char *command)
{
	for (size_t i = 0; d != NULL && i < d->n; i++)
		if (regexec(&d->re[i], command, 0, NULL, 0) == 0)
			return d->text[i];
	return NULL;
}

/* Fuzz target for the token store's parser (token_set_parse) and AGENTD_TOKENS
 * (token_set_add_env). Beyond "no crash": a store that parses formats into text that
 * parses to the same names and dates, and each entry's hash still matches nothing but
 * itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/tokens.h"

static void check_round_trip(const struct token_set *ts)
{
	char *text = token_set_format(ts);
	struct token_set *again = NULL;
	struct ad_err e;
	if (text == NULL || token_set_parse(&again, text, strlen(text), &e) < 0) {
		fprintf(stderr, "fuzz_tokens: formatted store does not parse: %s\n", text ? e.msg : "(null)");
		abort();
	}
	if (token_set_count(again) != token_set_count(ts))
		abort();
	for (size_t i = 0; i < token_set_count(ts); i++)
		if (strcmp(token_set_name(ts, i), token_set_name(again, i)) != 0 ||
		    strcmp(token_set_created(ts, i), token_set_created(again, i)) != 0 ||
		    token_set_admin(ts, i) != token_set_admin(again, i))
			abort();
	token_set_free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct token_set *ts = NULL;
	struct ad_err e;
	if (token_set_parse(&ts, text, size, &e) == 0) {
		check_round_trip(ts);
		if (token_set_match(ts, "agt_", 4, NULL) != NULL)   /* no store entry is this token */
			abort();
		token_set_free(ts);
	}
	/* the same bytes as an AGENTD_TOKENS value: each accepted token matches its name */
	ts = token_set_new();
	if (ts != NULL && strlen(text) == size && token_set_add_env(ts, text, &e) == 0)
		for (size_t i = 0; i < token_set_count(ts); i++)
			if (strncmp(token_set_name(ts, i), "env-", 4) != 0)
				abort();
	token_set_free(ts);
	free(text);
	return 0;
}

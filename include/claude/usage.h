/* Token usage as the Messages API counts it, and what it costs at the config's prices.
 * Protocol only: the supervisor counts it from the API's stream, the gateway keeps and
 * prices it, the agent never reports it. */
#ifndef AGENTD_CLAUDE_USAGE_H
#define AGENTD_CLAUDE_USAGE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/config.h"

struct usage {
	int64_t input, output, cache_write, cache_read;
};

void usage_add(struct usage *to, const struct usage *u);
/* The four counters from their JSON (usage_json's shape); missing ones stay. */
void usage_read_json(struct usage *u, const cJSON *j);
/* {"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"} */
cJSON *usage_json(const struct usage *u);
/* In US dollars, at the config's prices. */
double usage_cost(const struct config *cfg, const struct usage *u);

#endif

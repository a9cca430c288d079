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
	int64_t cache_write_1h;     /* of cache_write, the 1-hour entries' */
};

void usage_add(struct usage *to, const struct usage *u);
/* The counters from their JSON (the API's usage object, or usage_json's: the same
 * shape); missing ones stay. */
void usage_read_json(struct usage *u, const cJSON *j);
/* {"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
 *  "cache_creation": {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}} */
cJSON *usage_json(const struct usage *u);
/* In US dollars, at the config's prices. */
double usage_cost(const struct config *cfg, const struct usage *u);

#endif

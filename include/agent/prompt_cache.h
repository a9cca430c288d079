/* Prompt caching for the agent's model calls, as Claude Code places it: the API caches a
 * request's prefix (tools, then system, then messages) up to each block marked with
 * cache_control, and a later request whose prefix is the same, byte for byte, reads it
 * at a tenth of the price instead of paying for it again.
 *
 * Three breakpoints of the four the API allows:
 *   1. the end of the system prompt (or of the tools when there is none): what every
 *      call of every turn shares;
 *   2. the last block of the message that ended the previous call (the last user
 *      message before the newest assistant message): what this call reads;
 *   3. the last block of the conversation: what the next call will read.
 * Breakpoint 2 is where 3 was one call before, so a call reads its predecessor's prefix
 * however many blocks (parallel tool calls and their results) came since; the API's own
 * look-back reaches only 20 blocks.
 *
 * The marks go on copies in the request, never into the conversation: what is re-sent
 * stays exactly what was sent (the markers are not part of the cached prefix), and a
 * client's history has its own marks taken out when it seeds the conversation. */
#ifndef AGENTD_AGENT_PROMPT_CACHE_H
#define AGENTD_AGENT_PROMPT_CACHE_H

#include <cjson/cJSON.h>

#include "core/err.h"

/* The cache lifetimes the API offers; PROMPT_CACHE_OFF sends no marks at all. */
enum prompt_cache_ttl { PROMPT_CACHE_OFF, PROMPT_CACHE_5M, PROMPT_CACHE_1H };

/* "off", "5m" or "1h" into *ttl; -1 and err for anything else. */
int prompt_cache_ttl_parse(const char *s, enum prompt_cache_ttl *ttl, struct ad_err *err);

/* Mark req (conv_request's: messages and tools referenced, system a string or absent)
 * with the breakpoints above: the items that get a mark are replaced by marked copies,
 * the rest stays referenced. 0, or -1 when out of memory (req is then still valid,
 * with fewer marks). Nothing happens for PROMPT_CACHE_OFF. */
int prompt_cache_mark(cJSON *req, enum prompt_cache_ttl ttl);

/* Take every cache_control out of blocks (a message's content, tool_result contents
 * included): a seeded history's marks are not ours to keep. */
void prompt_cache_strip(cJSON *blocks);

#endif

/* The fetch_url and fetch_html tools (DESIGN.md section 5), run by the supervisor under
 * the session's egress rules: http and https only (libcurl), each redirect followed by
 * hand and checked again, every connection pinned to the address the rules checked,
 * the body capped in size and the whole fetch in time. fetch_url gives the page as
 * readable text (html_text.h), fetch_html as served; both say the final URL, the status
 * and the content type; a refusal is an error result with the reason. */
#ifndef AGENTD_SUPERVISOR_FETCH_H
#define AGENTD_SUPERVISOR_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "supervisor/egress.h"

#define FETCH_MAX_REDIRECTS 10
#define FETCH_MAX_REDIRECTS_TEXT "10"

struct fetch_limits {
	uint64_t max_bytes;         /* of a body read (network.fetch_max_bytes) */
	unsigned timeout_s;         /* the whole fetch, redirects included */
	size_t max_text;            /* of the result the model gets */
};

struct fetch_result {
	char *text;                 /* the tool's result, UTF-8 (free()) */
	bool is_error;
	cJSON *events;              /* "egress" events, one per connection tried (taken by the caller) */
};

/* url fetched; readable: fetch_url's text, else fetch_html's. abort (may be NULL) is
 * asked about once a second and more: true abandons the fetch. 0, or -1 when memory
 * ran out (out is empty then). */
int fetch_run(const struct egress_rules *r, const struct fetch_limits *lim, const char *url, bool readable,
	      bool (*abort)(void *), void *abort_ctx, struct fetch_result *out);
void fetch_result_free(struct fetch_result *out);

/* The tools' definitions, as the Messages API takes them (an array of two). */
cJSON *fetch_tooldefs(void);

#endif

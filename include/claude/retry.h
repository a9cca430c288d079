/* When to call the API again, and after how long: the rules of Anthropic's official
 * SDKs. An "x-should-retry" header decides first; else 408, 409, 429 and 5xx (529
 * among them) and connection failures are retried, other statuses (400, 401, 403, 404,
 * 413, ...) never. The wait is "retry-after-ms", else "retry-after" (seconds or an HTTP
 * date) when it is between 0 and 60 s; else 0.5 s doubled per retry up to 8 s, less up
 * to 25% of jitter. */
#ifndef AGENTD_CLAUDE_RETRY_H
#define AGENTD_CLAUDE_RETRY_H

#include <stdbool.h>
#include <time.h>

struct claude_attempt {
	long status;                 /* HTTP status; 0 when no response came (connection) */
	const char *should_retry;    /* x-should-retry header, or NULL */
	const char *retry_after_ms;  /* retry-after-ms header, or NULL */
	const char *retry_after;     /* retry-after header, or NULL */
};

bool claude_should_retry(const struct claude_attempt *a);

/* Milliseconds to wait before retry number retry (1 for the first); jitter01 a random
 * number in [0, 1); now is the time HTTP dates are compared with. */
long claude_retry_delay_ms(const struct claude_attempt *a, unsigned retry, double jitter01, time_t now);

#endif

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

/* What metrics call an attempt that is tried again (status 0: no response came;
 * timed_out: the attempt ran out of time) and a call's end (status as the client left
 * it: 2xx, 0, or CLAUDE_ABORTED of supervisor/claude_client.h for a cancelled call):
 * fixed words, so that label sets stay small. */
enum claude_retry_reason {
	CLAUDE_RETRY_RATE_LIMITED, CLAUDE_RETRY_OVERLOADED, CLAUDE_RETRY_SERVER_ERROR, CLAUDE_RETRY_TIMEOUT,
	CLAUDE_RETRY_CONNECTION, CLAUDE_RETRY_OTHER, CLAUDE_RETRY_REASONS
};
extern const char *const claude_retry_reason_names[CLAUDE_RETRY_REASONS];
enum claude_retry_reason claude_retry_reason(long status, bool timed_out);
const char *claude_outcome(long status);

#endif

/* The SDKs' retry rules: see include/claude/retry.h. */
#include "claude/retry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INITIAL_DELAY_MS 500.0
#define MAX_DELAY_MS 8000.0
#define MAX_HONOURED_MS 60000.0

bool claude_should_retry(const struct claude_attempt *a)
{
	if (a->should_retry != NULL && strcasecmp(a->should_retry, "true") == 0)
		return true;
	if (a->should_retry != NULL && strcasecmp(a->should_retry, "false") == 0)
		return false;
	return a->status == 0 || a->status == 408 || a->status == 409 || a->status == 429 ||
	       a->status >= 500;
}

const char *const claude_retry_reason_names[CLAUDE_RETRY_REASONS] = {
	"rate_limited", "overloaded", "server_error", "timeout", "connection_error", "other",
};

enum claude_retry_reason claude_retry_reason(long status, bool timed_out)
{
	if (timed_out || status == 408)
		return CLAUDE_RETRY_TIMEOUT;
	if (status == 0)
		return CLAUDE_RETRY_CONNECTION;
	if (status == 429)
		return CLAUDE_RETRY_RATE_LIMITED;
	if (status == 529)
		return CLAUDE_RETRY_OVERLOADED;
	return status >= 500 ? CLAUDE_RETRY_SERVER_ERROR : CLAUDE_RETRY_OTHER;
}

const char *claude_outcome(long status)
{
	if (status / 100 == 2)
		return "ok";
	if (status < 0)
		return "cancelled";
	if (status == 0)
		return "connection_error";
	if (status == 429)
		return "rate_limited";
	if (status == 529)
		return "overloaded";
	return status >= 500 ? "server_error" : "client_error";
}

/* A number of the whole text, or -1. */
static double number(const char *text)
{
	char *end;
	double v = strtod(text, &end);
	return end != text && *end == '\0' ? v : -1;
}

/* What the server asked for, in ms, or -1 when it asked nothing usable. */
static double asked_ms(const struct claude_attempt *a, time_t now)
{
	if (a->retry_after_ms != NULL) {
		double v = number(a->retry_after_ms);
		if (v >= 0)
			return v;
	}
	if (a->retry_after != NULL) {
		double v = number(a->retry_after);
		if (v >= 0)
			return v * 1000;
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *end = strptime(a->retry_after, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (end != NULL && *end == '\0')
			return difftime(timegm(&tm), now) * 1000;
	}
	return -1;
}

long claude_retry_delay_ms(const struct claude_attempt *a, unsigned retry, double jitter01, time_t now)
{
	double ms = asked_ms(a, now);
	if (ms > 0 && ms <= MAX_HONOURED_MS)
		return (long)ms;
	double backoff = INITIAL_DELAY_MS;
	for (unsigned i = 1; i < retry && backoff < MAX_DELAY_MS; i++)
		backoff *= 2;
	if (backoff > MAX_DELAY_MS)
		backoff = MAX_DELAY_MS;
	return (long)(backoff * (1.0 - 0.25 * jitter01));
}

/* Logging to stderr (the journal under systemd), as text or as JSON lines.
 * Each record is written with one write(2), so lines from threads never interleave.
 * Anything that came from a client is escaped before it reaches the log. */
#ifndef AGENTD_CORE_LOG_H
#define AGENTD_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum ad_log_level { AD_LOG_DEBUG, AD_LOG_INFO, AD_LOG_WARN, AD_LOG_ERROR };

struct log_access_rec {
	const char *method;
	const char *path;       /* raw request target, as sent */
	const char *remote;     /* peer address, may be NULL */
	unsigned status;
	uint64_t bytes;         /* response body bytes */
	double duration_ms;
};

void log_setup(enum ad_log_level min_level, bool json);
bool log_enabled(enum ad_log_level level);
void log_msg(enum ad_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_access(const struct log_access_rec *rec);

/* "debug" → AD_LOG_DEBUG ...; -1 when unknown. */
int log_level_parse(const char *name);

#define log_debug(...) log_msg(AD_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(AD_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(AD_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(AD_LOG_ERROR, __VA_ARGS__)

#endif

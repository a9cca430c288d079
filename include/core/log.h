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
	const char *route;      /* the route's template, or NULL (JSON only: text keeps its columns) */
	const char *token;      /* the name of the token it came with, or NULL */
	const char *session;    /* the session it was about, or NULL */
};

#define LOG_ABOUT_MAX 80

void log_setup(enum ad_log_level min_level, bool json);
bool log_enabled(enum ad_log_level level);
void log_msg(enum ad_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A record about a session: its id and its token's name (NULL or "": none) are fields
 * of the JSON line ("session", "token"), and in text "session ID (TOKEN): " before the
 * message. */
void log_about(enum ad_log_level level, const char *session, const char *token, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* What a process' records are about when they say nothing (a supervisor: its session). */
void log_set_about(const char *session, const char *token);
void log_access(const struct log_access_rec *rec);

/* "debug" → AD_LOG_DEBUG ...; -1 when unknown. */
int log_level_parse(const char *name);

#define log_debug(...) log_msg(AD_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(AD_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(AD_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(AD_LOG_ERROR, __VA_ARGS__)

#endif

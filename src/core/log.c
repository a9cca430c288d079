/* Log records: see include/core/log.h. */
#include "core/log.h"
#include "core/fsutil.h"
#include "core/utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static enum ad_log_level log_min = AD_LOG_INFO;
static bool log_json;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum ad_log_level min_level, bool json)
{
	log_min = min_level;
	log_json = json;
}

bool log_enabled(enum ad_log_level level)
{
	return level >= log_min;
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* A bounded line builder: appends never overflow, the line is cut instead. */
struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void line_put(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len;   /* keep one byte for '\n' */
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

static void line_printf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_printf(struct line *l, const char *fmt, ...)
{
	size_t room = sizeof(l->buf) - 1 - l->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < room ? (size_t)n : room;
}

/* Text logs: control bytes, backslash and bytes >= 0x7f become \xNN; JSON logs: a
 * JSON string with \uNNNN escapes. Either way a client cannot forge a log line. */
static void line_escaped(struct line *l, const char *s, bool json)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(s);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (json) {
			size_t n = c >= 0x80 ? utf8_seq_len((const char *)p, len - (size_t)(p - (const unsigned char *)s)) : 1;
			if (c == '"' || c == '\\') {
				char e[2] = { '\\', (char)c };
				line_put(l, e, 2);
			} else if (c < 0x20 || c == 0x7f) {
				char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
				line_put(l, e, 6);
			} else if (n == 0) {
				/* not UTF-8: the byte as the text \xNN, so the line stays JSON */
				char e[5] = { '\\', '\\', 'x', hex[c >> 4], hex[c & 15] };
				line_put(l, e, 5);
			} else {
				line_put(l, (const char *)p, n);
				p += n - 1;
			}
		} else if (c < 0x20 || c >= 0x7f || c == '\\') {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			line_put(l, e, 4);
		} else {
			line_put(l, (const char *)p, 1);
		}
	}
}

static void line_timestamp(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	line_printf(l, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void line_flush(struct line *l)
{
	l->buf[l->len++] = '\n';
	int saved = errno;
	(void)fs_write_all(STDERR_FILENO, l->buf, l->len);
	errno = saved;
}

/* The process' own subject (a supervisor's session), for records that name none. */
static char about_session[LOG_ABOUT_MAX], about_token[LOG_ABOUT_MAX];

void log_set_about(const char *session, const char *token)
{
	snprintf(about_session, sizeof(about_session), "%s", session ? session : "");
	snprintf(about_token, sizeof(about_token), "%s", token ? token : "");
}

/* ,"session":"...","token":"..." for JSON; "session ID (TOKEN): " for text. */
static void line_about(struct line *l, const char *session, const char *token, bool json)
{
	if (session == NULL || session[0] == '\0')
		return;
	bool with_token = token != NULL && token[0] != '\0';
	line_puts(l, json ? ",\"session\":\"" : "session ");
	line_escaped(l, session, json);
	if (with_token) {
		line_puts(l, json ? "\",\"token\":\"" : " (");
		line_escaped(l, token, json);
	}
	line_puts(l, json ? "\"" : with_token ? "): " : ": ");
}

static void log_vrecord(enum ad_log_level level, const char *session, const char *token, const char *fmt,
			va_list ap)
{
	if (level < log_min)
		return;
	char msg[LOG_LINE_MAX];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (session == NULL) {
		session = about_session;
		token = about_token;
	}
	struct line l = { .len = 0 };
	if (log_json) {
		line_puts(&l, "{\"ts\":\"");
		line_timestamp(&l);
		line_printf(&l, "\",\"level\":\"%s\"", level_names[level]);
		line_about(&l, session, token, true);
		line_puts(&l, ",\"msg\":\"");
		line_escaped(&l, msg, true);
		line_puts(&l, "\"}");
	} else {
		line_timestamp(&l);
		line_printf(&l, " %-5s ", level_names[level]);
		line_about(&l, session, token, false);
		line_escaped(&l, msg, false);
	}
	line_flush(&l);
}

void log_msg(enum ad_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vrecord(level, NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_about(enum ad_log_level level, const char *session, const char *token, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vrecord(level, session ? session : "", token, fmt, ap);
	va_end(ap);
}

void log_access(const struct log_access_rec *r)
{
	struct line l = { .len = 0 };
	const char *remote = r->remote ? r->remote : "-";
	if (log_json) {
		line_puts(&l, "{\"ts\":\"");
		line_timestamp(&l);
		line_puts(&l, "\",\"level\":\"info\",\"type\":\"access\",\"method\":\"");
		line_escaped(&l, r->method, true);
		line_puts(&l, "\",\"path\":\"");
		line_escaped(&l, r->path, true);
		line_printf(&l, "\",\"status\":%u,\"bytes\":%llu,\"duration_ms\":%.3f,\"remote\":\"",
			    r->status, (unsigned long long)r->bytes, r->duration_ms);
		line_escaped(&l, remote, true);
		line_puts(&l, "\"");
		if (r->route != NULL) {
			line_puts(&l, ",\"route\":\"");
			line_escaped(&l, r->route, true);
			line_puts(&l, "\"");
		}
		if (r->token != NULL && r->token[0]) {
			line_puts(&l, ",\"token\":\"");
			line_escaped(&l, r->token, true);
			line_puts(&l, "\"");
		}
		if (r->session != NULL && r->session[0]) {
			line_puts(&l, ",\"session\":\"");
			line_escaped(&l, r->session, true);
			line_puts(&l, "\"");
		}
		line_puts(&l, "}");
	} else {
		line_timestamp(&l);
		line_puts(&l, " access ");
		line_escaped(&l, r->method, false);
		line_puts(&l, " ");
		line_escaped(&l, r->path, false);
		line_printf(&l, " %u %llu %.3fms ", r->status, (unsigned long long)r->bytes,
			    r->duration_ms);
		line_escaped(&l, remote, false);
		if (r->token != NULL && r->token[0]) {
			line_puts(&l, " token=");
			line_escaped(&l, r->token, false);
		}
		if (r->session != NULL && r->session[0]) {
			line_puts(&l, " session=");
			line_escaped(&l, r->session, false);
		}
	}
	line_flush(&l);
}

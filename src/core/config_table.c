/* The settings of agentd, one row each: key in agentd.json, type, where it lives in
 * struct config, the environment variable that overrides it, the default, limits and
 * documentation. README.md's configuration reference follows this table, and
 * `agentd --check-config` prints the effective values. */
#include <stddef.h>
#include <string.h>

#include "core/config.h"
#include "core/netaddr.h"

#ifndef AGENTD_STATIC_DIR
#define AGENTD_STATIC_DIR "/usr/local/share/agentd/static"
#endif

static int check_listen(const char *v, struct ad_err *err)
{
	struct netaddr a;
	return netaddr_parse(v, &a, err);
}

static int check_nonempty_path(const char *v, struct ad_err *err)
{
	if (v[0] == '\0')
		return ad_err_set(err, 0, "must not be empty");
	return 0;
}

static int check_base_url(const char *v, struct ad_err *err)
{
	if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
		return ad_err_set(err, 0, "\"%s\" must start with https:// or http://", v);
	if (strpbrk(v, " \"<>\\^`{|}") != NULL)
		return ad_err_set(err, 0, "\"%s\" contains a character not allowed in a URL", v);
	return 0;
}

/* The key goes into an HTTP header: printable ASCII without spaces, or nothing. */
static int check_api_key(const char *v, struct ad_err *err)
{
	size_t n = strlen(v);
	if (n > 512)
		return ad_err_set(err, 0, "longer than 512 characters");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return ad_err_set(err, 0, "contains a character that is not printable ASCII (at %zu)", i);
	return 0;
}

static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "text", "json", NULL };

#define OFF(f) offsetof(struct config, f)
#define KiB (1024LL)
#define MiB (1024LL * 1024)
#define GiB (1024LL * 1024 * 1024)

const struct setting config_settings[] = {
	{ "listen", SETTING_STRING, OFF(listen), "AGENTD_LISTEN", "127.0.0.1:8080", 0, 0, NULL,
	  check_listen, 0,
	  "Address and port of the HTTP server: IPv4 \"127.0.0.1:8080\" or IPv6 \"[::1]:8080\"; port 0 picks a free port." },
	{ "state_dir", SETTING_STRING, OFF(state_dir), "AGENTD_STATE_DIR", "/var/lib/agentd", 0, 0, NULL,
	  check_nonempty_path, SETTING_PATH,
	  "Directory for agentd's state; created with mode 0700 at start-up." },
	{ "static_dir", SETTING_STRING, OFF(static_dir), "AGENTD_STATIC_DIR", AGENTD_STATIC_DIR, 0, 0, NULL,
	  check_nonempty_path, SETTING_PATH,
	  "Directory served at / (the chat page); nothing outside it is ever served." },
	{ "log.level", SETTING_ENUM, OFF(log.level), "AGENTD_LOG_LEVEL", "info", 0, 0, log_levels,
	  NULL, 0, "Least severe log level written: debug, info, warn or error." },
	{ "log.format", SETTING_ENUM, OFF(log.format), "AGENTD_LOG_FORMAT", "text", 0, 0, log_formats,
	  NULL, 0, "Log records as plain text lines or as JSON lines." },
	{ "log.access", SETTING_BOOL, OFF(log.access), "AGENTD_ACCESS_LOG", "true", 0, 0, NULL,
	  NULL, 0, "One log line per HTTP request: method, path, status, bytes, duration." },
	{ "http.max_body_bytes", SETTING_SIZE, OFF(http.max_body_bytes), "AGENTD_MAX_BODY_BYTES", "1M",
	  1 * KiB, 1 * GiB, NULL, NULL, 0,
	  "Largest request body accepted; larger ones get 413." },
	{ "http.max_header_bytes", SETTING_SIZE, OFF(http.max_header_bytes), "AGENTD_MAX_HEADER_BYTES", "16K",
	  4 * KiB, 1 * MiB, NULL, NULL, 0,
	  "Room for the request line and headers of one request; more gets 431." },
	{ "http.max_connections", SETTING_INT, OFF(http.max_connections), "AGENTD_MAX_CONNECTIONS", "512",
	  1, 100000, NULL, NULL, 0,
	  "Open HTTP connections at once; more are refused." },
	{ "http.max_connections_per_ip", SETTING_INT, OFF(http.max_connections_per_ip), "AGENTD_MAX_CONNECTIONS_PER_IP", "64",
	  0, 100000, NULL, NULL, 0,
	  "Open HTTP connections from one client address (0: no limit)." },
	{ "http.idle_timeout_s", SETTING_INT, OFF(http.idle_timeout_s), "AGENTD_IDLE_TIMEOUT_S", "60",
	  1, 86400, NULL, NULL, 0,
	  "Seconds a connection may stay silent (also while sending a request) before it is closed." },
	{ "http.threads", SETTING_INT, OFF(http.threads), "AGENTD_HTTP_THREADS", "0",
	  0, 256, NULL, NULL, 0,
	  "HTTP worker threads (0: one per CPU)." },
	{ "http.shutdown_timeout_s", SETTING_INT, OFF(http.shutdown_timeout_s), "AGENTD_SHUTDOWN_TIMEOUT_S", "10",
	  0, 3600, NULL, NULL, 0,
	  "On SIGTERM/SIGINT, seconds to let requests in flight finish before exiting." },
	{ "anthropic.base_url", SETTING_STRING, OFF(anthropic.base_url), "ANTHROPIC_BASE_URL", "https://api.anthropic.com",
	  0, 0, NULL, check_base_url, 0,
	  "Base URL of the Messages API; any compatible server works." },
	{ "anthropic.api_key", SETTING_STRING, OFF(anthropic.api_key), "ANTHROPIC_API_KEY", "",
	  0, 0, NULL, check_api_key, SETTING_SECRET,
	  "The Anthropic API key: environment or .env only, refused in the config file." },
	{ "anthropic.max_message_chars", SETTING_INT, OFF(anthropic.max_message_chars), "AGENTD_MAX_MESSAGE_CHARS", "10000",
	  1, 1000000, NULL, NULL, 0,
	  "Longest user message accepted, in characters (Unicode code points)." },
};

const size_t config_settings_count = sizeof(config_settings) / sizeof(config_settings[0]);

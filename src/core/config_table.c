/* The settings of agentd, one row each: key in agentd.json, type, where it lives in
 * struct config, the environment variable that overrides it, the default, limits and
 * documentation. README.md's configuration reference follows this table, and
 * `agentd --check-config` prints the effective values. */
#include <regex.h>
#include <stddef.h>
#include <string.h>

#include "core/config.h"
#include "core/netaddr.h"
#include "config_checks.h"

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

static int check_model(const char *v, struct ad_err *err)
{
	size_t n = strlen(v);
	if (n == 0 || n > 128)
		return ad_err_set(err, 0, "must be 1 to 128 characters");
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@", v[i]))
			return ad_err_set(err, 0, "\"%s\": letters, digits and - _ . : @ only", v);
	return 0;
}

/* A deny-list item: an extended regular expression (with GNU's \\s, \\b, ...). */
static int check_regex(const char *v, struct ad_err *err)
{
	regex_t re;
	int rc = regcomp(&re, v, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char why[128];
		regerror(rc, &re, why, sizeof(why));
		return ad_err_set(err, 0, "\"%s\" is not a valid extended regular expression: %s", v, why);
	}
	regfree(&re);
	return 0;
}

static const char *const session_patterns[] = { "ephemeral", "long-running", "hybrid", "shared", NULL };
static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "text", "json", NULL };
const char *const config_cache_ttls[] = { [CACHE_TTL_OFF] = "off", [CACHE_TTL_5M] = "5m", [CACHE_TTL_1H] = "1h", NULL };
const char *const config_workspace_stores[] = {
	[WORKSPACE_AUTO] = "auto", [WORKSPACE_QUOTA] = "quota", [WORKSPACE_LOOP] = "loop",
	[WORKSPACE_TMPFS] = "tmpfs", NULL,
};

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
	{ "node.name", SETTING_STRING, OFF(node.name), "AGENTD_NODE_NAME", "", 0, 0, NULL, check_node_name, 0,
	  "This agentd's name among several behind a load balancer: the end of every new session id (README, \"More than one host\"); 1 to 40 of a-z, 0-9, '-'; empty: the host name's first label, lowercased, other characters as '-'." },
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
	  "Open HTTP connections at once; past it, the one that has waited longest for a request (an idle keep-alive one, or the slowest sender) is closed to let the new one in." },
	{ "http.max_connections_per_ip", SETTING_INT, OFF(http.max_connections_per_ip), "AGENTD_MAX_CONNECTIONS_PER_IP", "64",
	  0, 100000, NULL, NULL, 0,
	  "Open HTTP connections from one client address (0: no limit)." },
	{ "http.idle_timeout_s", SETTING_INT, OFF(http.idle_timeout_s), "AGENTD_IDLE_TIMEOUT_S", "60",
	  1, 86400, NULL, NULL, 0,
	  "Seconds a connection may stay silent (also while sending a request) before it is closed." },
	{ "http.header_timeout_s", SETTING_INT, OFF(http.header_timeout_s), "AGENTD_HEADER_TIMEOUT_S", "10",
	  1, 3600, NULL, NULL, 0,
	  "Seconds a client has for a request's line and headers, from the connection's opening or the end of the previous response, however slowly they trickle in; then the connection is closed." },
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
	  "The Anthropic API key: environment or .env only, refused in the config file; SIGHUP reads the .env file's again." },
	{ "anthropic.model", SETTING_STRING, OFF(anthropic.model), "AGENTD_MODEL", "claude-sonnet-4-5",
	  0, 0, NULL, check_model, 0,
	  "Model the agents use." },
	{ "anthropic.max_tokens", SETTING_INT, OFF(anthropic.max_tokens), "AGENTD_MAX_TOKENS", "4096",
	  1, 128000, NULL, NULL, 0,
	  "Most tokens one model reply may have." },
	{ "anthropic.timeout_s", SETTING_INT, OFF(anthropic.timeout_s), "AGENTD_API_TIMEOUT_S", "600",
	  5, 3600, NULL, NULL, 0,
	  "Seconds one API call may take, connection (at most 5 s of it) to last byte." },
	{ "anthropic.max_retries", SETTING_INT, OFF(anthropic.max_retries), "AGENTD_API_MAX_RETRIES", "2",
	  0, 10, NULL, NULL, 0,
	  "Retries of a failed API call (429, 5xx, 529, connection errors), with backoff." },
	{ "anthropic.max_message_chars", SETTING_INT, OFF(anthropic.max_message_chars), "AGENTD_MAX_MESSAGE_CHARS", "10000",
	  1, 1000000, NULL, NULL, 0,
	  "Longest user message accepted, in characters (Unicode code points)." },
	{ "anthropic.models", SETTING_LIST, OFF(anthropic.models), "AGENTD_MODELS", "",
	  0, 0, NULL, check_model, 0,
	  "Other models a request may ask for with \"model\"; anthropic.model is always allowed." },
	{ "anthropic.price_input", SETTING_MILLI, OFF(anthropic.price_input_milli), "AGENTD_PRICE_INPUT", "3",
	  0, 1000000000, NULL, NULL, 0,
	  "US dollars per million input tokens, for cost_usd." },
	{ "anthropic.price_output", SETTING_MILLI, OFF(anthropic.price_output_milli), "AGENTD_PRICE_OUTPUT", "15",
	  0, 1000000000, NULL, NULL, 0,
	  "US dollars per million output tokens." },
	{ "anthropic.price_cache_write", SETTING_MILLI, OFF(anthropic.price_cache_write_milli), "AGENTD_PRICE_CACHE_WRITE", "3.75",
	  0, 1000000000, NULL, NULL, 0,
	  "US dollars per million tokens written to the prompt cache (5-minute entries)." },
	{ "anthropic.price_cache_write_1h", SETTING_MILLI, OFF(anthropic.price_cache_write_1h_milli),
	  "AGENTD_PRICE_CACHE_WRITE_1H", "6", 0, 1000000000, NULL, NULL, 0,
	  "US dollars per million tokens written to the prompt cache as 1-hour entries." },
	{ "anthropic.price_cache_read", SETTING_MILLI, OFF(anthropic.price_cache_read_milli), "AGENTD_PRICE_CACHE_READ", "0.3",
	  0, 1000000000, NULL, NULL, 0,
	  "US dollars per million tokens read from the prompt cache." },
	{ "anthropic.cache_ttl", SETTING_ENUM, OFF(anthropic.cache_ttl), "AGENTD_CACHE_TTL", "5m", 0, 0,
	  config_cache_ttls, NULL, 0,
	  "Prompt caching of the agent's model calls: the lifetime of its cache entries (5m, or 1h for "
	  "sessions whose turns are minutes apart, at a higher price per write), or off." },
	{ "anthropic.context_window", SETTING_INT, OFF(anthropic.context_window), "AGENTD_CONTEXT_WINDOW",
	  "200000", 1024, 1073741824, NULL, NULL, 0,
	  "The model's context window, in tokens: before a call would not fit (leaving room for the reply), "
	  "the oldest tool results are cleared." },
	{ "agent.system_prompt", SETTING_STRING, OFF(agent.system_prompt), "AGENTD_SYSTEM_PROMPT",
	  "You are an agent working in a Linux sandbox. Your files are in /workspace. Use the tools to run commands and edit files. Answer briefly.",
	  0, 0, NULL, NULL, 0,
	  "System prompt of every agent (empty: none)." },
	{ "agent.allow_system", SETTING_BOOL, OFF(agent.allow_system), "AGENTD_ALLOW_SYSTEM", "true",
	  0, 0, NULL, NULL, 0,
	  "Whether a request may replace the system prompt with its own \"system\"." },
	{ "agent.thinking_budget", SETTING_INT, OFF(agent.thinking_budget), "AGENTD_THINKING_BUDGET", "0",
	  0, 1073741824, NULL, NULL, 0,
	  "Extended thinking: the tokens the model may think with before it answers (0: no thinking; else "
	  "at least 1024 and less than anthropic.max_tokens). A request may ask otherwise with \"thinking\"." },
	{ "agent.shell_ahead", SETTING_BOOL, OFF(agent.shell_ahead), "AGENTD_SHELL_AHEAD", "true", 0, 0, NULL,
	  NULL, 0, "Whether the bash tool's shell starts with each session's agent, so that the first command finds "
	  "it ready (about 0.3 MiB more per idle session), or with the first command (false)." },
	{ "agent.shell_rest_s", SETTING_INT, OFF(agent.shell_rest_s), "AGENTD_SHELL_REST_S", "300", 0, 1L << 24,
	  NULL, NULL, 0, "A shell started ahead that has run no command after so many seconds without a turn is "
	  "ended, and started again with the next turn (0: kept while the session lives)." },
	{ "agent.max_model_calls", SETTING_INT, OFF(agent.max_model_calls), "AGENTD_MAX_MODEL_CALLS", "30",
	  1, 10000, NULL, NULL, 0,
	  "Model calls in one turn (one user message and the work it causes) before the turn stops with stop_reason \"max_model_calls\"." },
	{ "agent.deny_commands", SETTING_LIST, OFF(agent.deny_commands), NULL,
	  "\\brm\\s+(-[a-zA-Z-]*\\s+)*-[a-zA-Z]*[rR][a-zA-Z]*\\s+(-[a-zA-Z-]*\\s+)*/(\\*|\\s|;|$),"
	  "\\bdd\\s.*\\bif=/dev/zero,"
	  ":\\(\\)\\s*\\{\\s*:\\s*\\|\\s*:\\s*&\\s*\\}\\s*;\\s*:,"
	  "\\bcurl\\b[^|]*\\|\\s*(sudo\\s+)?(ba|z|da)?sh\\b,"
	  "\\bwget\\b[^|]*\\|\\s*(sudo\\s+)?(ba|z|da)?sh\\b",
	  0, 0, NULL, check_regex, 0,
	  "Commands the bash tool refuses (extended regular expressions, matched anywhere in the command). Defence in depth: the sandbox is the boundary. Config file only." },
	{ "session.max_requests", SETTING_INT, OFF(session.max_requests), "AGENTD_SESSION_MAX_REQUESTS", "200",
	  1, 1000000, NULL, NULL, 0,
	  "Model calls one session may make in all; the supervisor refuses more (a taken-over sandbox spends no more)." },
	{ "session.max_tokens", SETTING_INT, OFF(session.max_tokens), "AGENTD_SESSION_MAX_TOKENS", "5000000",
	  1000, 10000000000, NULL, NULL, 0,
	  "Input plus output tokens one session may spend; the call that crosses it is the last." },
	{ "session.pattern", SETTING_ENUM, OFF(session.pattern), "AGENTD_SESSION_PATTERN", "long-running",
	  0, 0, session_patterns, NULL, 0,
	  "Lifecycle of a session made without \"pattern\": ephemeral, long-running, hybrid or shared." },
	{ "session.idle_timeout_s", SETTING_INT, OFF(session.idle_timeout_s), "AGENTD_SESSION_IDLE_TIMEOUT_S", "900",
	  1, 604800, NULL, NULL, 0,
	  "A long-running session idle this long is destroyed (hybrid: suspended); a session may ask for less." },
	{ "session.max_sessions", SETTING_INT, OFF(session.max_sessions), "AGENTD_MAX_SESSIONS", "1000",
	  1, 100000, NULL, NULL, 0,
	  "Sessions alive at once (all tokens); past it, 503 with Retry-After." },
	{ "session.max_per_token", SETTING_INT, OFF(session.max_per_token), "AGENTD_MAX_SESSIONS_PER_TOKEN", "100",
	  1, 100000, NULL, NULL, 0,
	  "Sessions alive at once for one token; past it, 503 with Retry-After." },
	{ "session.pool_size", SETTING_INT, OFF(session.pool_size), "AGENTD_POOL_SIZE", "2",
	  0, 1000, NULL, NULL, 0,
	  "Sandboxes kept built ahead of time, so that a new session starts at once (0: none)." },
	{ "session.pool_refill_delay_ms", SETTING_INT, OFF(session.pool_refill_delay_ms), "AGENTD_POOL_REFILL_DELAY_MS", "2000",
	  0, 3600000, NULL, NULL, 0,
	  "A sandbox taken from the pool is rebuilt once the turn that took it has answered, or this long after it was taken, whichever comes first; a pool's build that the host's load keeps from finishing at the lowest CPU priority goes on at the normal one after this long." },
	/* auth.* (tokens, rate limits) follow here */
	{ "auth.allow_anonymous", SETTING_BOOL, OFF(auth.allow_anonymous), "AGENTD_ALLOW_ANONYMOUS", "false",
	  0, 0, NULL, NULL, 0,
	  "With no API token configured, serve anyway on a listen address beyond loopback: anyone who reaches it can run agents." },
	{ "auth.rate_per_minute", SETTING_INT, OFF(auth.rate_per_minute), "AGENTD_RATE_PER_MINUTE", "600",
	  0, 1000000, NULL, NULL, 0,
	  "API requests one token may make per minute on average (without tokens: one remote client address); past it, 429 with Retry-After. 0: no limit." },
	{ "auth.burst", SETTING_INT, OFF(auth.burst), "AGENTD_RATE_BURST", "60",
	  1, 1000000, NULL, NULL, 0,
	  "API requests one token may make back to back after a quiet spell: the size of its token bucket." },
	{ "metrics.enabled", SETTING_BOOL, OFF(metrics.enabled), "AGENTD_METRICS", "true", 0, 0, NULL, NULL, 0,
	  "Serve GET /metrics (Prometheus' text format) to loopback clients and to holders of metrics.token." },
	{ "metrics.token", SETTING_STRING, OFF(metrics.token), "AGENTD_METRICS_TOKEN", "", 0, 0, NULL, check_api_key,
	  SETTING_SECRET,
	  "A bearer token that lets a scraper beyond loopback read /metrics (no API token needed): environment or .env only." },
	{ "metrics.per_token", SETTING_BOOL, OFF(metrics.per_token), "AGENTD_METRICS_PER_TOKEN", "false", 0, 0, NULL,
	  NULL, 0, "Label agentd_api_cost_usd_total with the API token's name too: one series per token and model." },
	{ "sandbox.memory_max", SETTING_SIZE, OFF(sandbox.memory_max), "AGENTD_SANDBOX_MEMORY_MAX", "1G",
	  16 * MiB, 1024 * GiB, NULL, NULL, 0,
	  "Memory of one sandbox, page cache included; no swap. Past it the kernel's OOM killer ends a process." },
	{ "sandbox.pids_max", SETTING_INT, OFF(sandbox.pids_max), "AGENTD_SANDBOX_PIDS_MAX", "512",
	  8, 1000000, NULL, NULL, 0,
	  "Processes and threads in one sandbox at once: a fork bomb stops here." },
	{ "sandbox.cpus", SETTING_MILLI, OFF(sandbox.cpus_milli), "AGENTD_SANDBOX_CPUS", "1",
	  10, 1024000, NULL, NULL, 0,
	  "CPU time of one sandbox, in CPUs (0.5: half of one CPU; 2: two CPUs)." },
	{ "sandbox.workspace_size", SETTING_SIZE, OFF(sandbox.workspace_size), "AGENTD_SANDBOX_WORKSPACE_SIZE", "5G",
	  1 * MiB, 1024 * GiB, NULL, NULL, 0,
	  "Size of /workspace, on the host's disk under state_dir/sessions/; writing past it fails with ENOSPC, never the OOM killer." },
	{ "sandbox.workspace_files", SETTING_INT, OFF(sandbox.workspace_files), "AGENTD_SANDBOX_WORKSPACE_FILES", "100000",
	  16, 100000000, NULL, NULL, 0,
	  "Files and directories /workspace may hold; one more fails with ENOSPC (or EDQUOT)." },
	{ "sandbox.workspace_store", SETTING_ENUM, OFF(sandbox.workspace_store), "AGENTD_SANDBOX_WORKSPACE_STORE", "auto", 0, 0,
	  config_workspace_stores, NULL, 0,
	  "How the workspace's limits are kept: quota (project quotas on the state directory's XFS or ext4), loop (an ext4 image per workspace, as root), tmpfs (in memory, the sandbox's memory limit raised by workspace_size); auto: the first of these the host offers (/api/health says which)." },
	{ "sandbox.tmp_size", SETTING_SIZE, OFF(sandbox.tmp_size), "AGENTD_SANDBOX_TMP_SIZE", "256M",
	  1 * MiB, 1024 * GiB, NULL, NULL, 0,
	  "Size of /tmp and /dev/shm together in the sandbox (memory-backed, counted in memory_max)." },
	{ "sandbox.tmp_files", SETTING_INT, OFF(sandbox.tmp_files), "AGENTD_SANDBOX_TMP_FILES", "10000",
	  16, 100000000, NULL, NULL, 0,
	  "Files and directories /tmp and /dev/shm may hold together." },
	{ "sandbox.command_timeout_s", SETTING_INT, OFF(sandbox.command_timeout_s), "AGENTD_SANDBOX_COMMAND_TIMEOUT_S", "300",
	  1, 86400, NULL, NULL, 0,
	  "Wall-clock limit of one command; past it the command and all its children are killed." },
	{ "sandbox.max_background", SETTING_INT, OFF(sandbox.max_background), "AGENTD_SANDBOX_MAX_BACKGROUND", "16",
	  1, 256, NULL, NULL, 0,
	  "Background processes (exec with \"background\": true) one session may have running at once; one more is refused (409)." },
	{ "sandbox.session_timeout_s", SETTING_INT, OFF(sandbox.session_timeout_s), "AGENTD_SANDBOX_SESSION_TIMEOUT_S", "3600",
	  1, 604800, NULL, NULL, 0,
	  "Wall-clock limit of a whole sandbox; past it everything in it is killed." },
	{ "sandbox.nofile", SETTING_INT, OFF(sandbox.nofile), "AGENTD_SANDBOX_NOFILE", "1024",
	  16, 1048576, NULL, NULL, 0,
	  "Open files per process in the sandbox (RLIMIT_NOFILE)." },
	{ "sandbox.hostname", SETTING_STRING, OFF(sandbox.hostname), "AGENTD_SANDBOX_HOSTNAME", "sandbox",
	  0, 0, NULL, check_hostname, 0,
	  "Host name inside the sandbox." },
	{ "sandbox.env_allow", SETTING_LIST, OFF(sandbox.env_allow), "AGENTD_SANDBOX_ENV_ALLOW", "LANG,LC_ALL,TZ,TERM",
	  0, 0, NULL, check_env_name, 0,
	  "Variables copied from agentd's environment into the sandbox; nothing else is (PATH, HOME are set)." },
	{ "sandbox.binds", SETTING_LIST, OFF(sandbox.binds), NULL, "",
	  0, 0, NULL, check_bind, 0,
	  "Extra host paths visible in the sandbox: \"SRC:DST\" (read-only), \"SRC:DST:rw\". Config file only." },
	{ "sandbox.usr_overlay", SETTING_BOOL, OFF(sandbox.usr_overlay), "AGENTD_SANDBOX_USR_OVERLAY", "false",
	  0, 0, NULL, NULL, 0,
	  "Make /usr writable through an overlay whose changes vanish with the sandbox (apt, pip inside)." },
	{ "sandbox.allow_no_cgroup", SETTING_BOOL, OFF(sandbox.allow_no_cgroup), "AGENTD_SANDBOX_ALLOW_NO_CGROUP", "false",
	  0, 0, NULL, NULL, 0,
	  "Start sandboxes without memory, pids and CPU limits when no cgroup can be had (reported by /api/health)." },
	{ "sandbox.uid_base", SETTING_INT, OFF(sandbox.uid_base), "AGENTD_SANDBOX_UID_BASE", "524288",
	  1000, 2147483647, NULL, NULL, 0,
	  "When agentd runs as root: root in a sandbox is host uid/gid uid_base + n, never host root." },
	{ "sandbox.uid_count", SETTING_INT, OFF(sandbox.uid_count), "AGENTD_SANDBOX_UID_COUNT", "65536",
	  1, 1000000, NULL, NULL, 0,
	  "How many host ids (from uid_base) sandboxes take turns on." },
	{ "network.allow", SETTING_LIST, OFF(network.allow), "AGENTD_NETWORK_ALLOW", "",
	  0, 0, NULL, check_host_pattern, 0,
	  "Names a sandbox may reach through agentd's egress proxy: \"pypi.org\", \"*.example.com\"; empty: no network." },
	{ "network.hosts", SETTING_LIST, OFF(network.hosts), "AGENTD_NETWORK_HOSTS", "",
	  0, 0, NULL, check_host_entry, 0,
	  "Fixed addresses, looked up before /etc/hosts and DNS: \"NAME:ADDRESS\" (as docker --add-host)." },
	{ "network.allow_private", SETTING_LIST, OFF(network.allow_private), "AGENTD_NETWORK_ALLOW_PRIVATE", "",
	  0, 0, NULL, check_cidr, 0,
	  "CIDR blocks reachable although private, loopback, link-local or metadata (refused otherwise)." },
	{ "network.proxy_port", SETTING_INT, OFF(network.proxy_port), "AGENTD_NETWORK_PROXY_PORT", "3128",
	  1, 65535, NULL, NULL, 0,
	  "Port of the egress proxy on 127.0.0.1 inside each sandbox (HTTP_PROXY, HTTPS_PROXY)." },
	{ "network.max_connections", SETTING_INT, OFF(network.max_connections), "AGENTD_NETWORK_MAX_CONNECTIONS", "32",
	  1, 4096, NULL, NULL, 0,
	  "Connections through the egress proxy at once, per session; more are refused (429)." },
	{ "network.max_bytes_per_turn", SETTING_SIZE, OFF(network.max_bytes_per_turn), "AGENTD_NETWORK_MAX_BYTES_PER_TURN", "1G",
	  1 * KiB, 1024 * GiB, NULL, NULL, 0,
	  "Bytes through the egress proxy (both ways) per session from one turn to the next; past it, connections end." },
	{ "network.connect_timeout_s", SETTING_INT, OFF(network.connect_timeout_s), "AGENTD_NETWORK_CONNECT_TIMEOUT_S", "10",
	  1, 300, NULL, NULL, 0,
	  "How long the egress proxy and the fetch tools wait for a connection to a host." },
	{ "network.fetch_max_bytes", SETTING_SIZE, OFF(network.fetch_max_bytes), "AGENTD_NETWORK_FETCH_MAX_BYTES", "10M",
	  1 * KiB, 1 * GiB, NULL, NULL, 0,
	  "Largest page fetch_url and fetch_html read; the rest is cut." },
	{ "network.fetch_timeout_s", SETTING_INT, OFF(network.fetch_timeout_s), "AGENTD_NETWORK_FETCH_TIMEOUT_S", "30",
	  1, 600, NULL, NULL, 0,
	  "Time limit of one fetch_url or fetch_html call, redirects included." },
	{ "runtime.allow", SETTING_LIST, OFF(runtime.allow), "AGENTD_RUNTIME_ALLOW", "agentd,claude-code,command",
	  0, 0, NULL, check_runtime, 0,
	  "Runtimes a session may ask for: agentd (the built-in agent), claude-code (the Claude Code CLI), command (a program of its own)." },
	{ "runtime.claude_code", SETTING_STRING, OFF(runtime.claude_code), "AGENTD_RUNTIME_CLAUDE_CODE", "claude",
	  0, 0, NULL, check_program, 0,
	  "The Claude Code CLI as the sandbox sees it: a name on its PATH, or an absolute path (bind it in with sandbox.binds)." },
	{ "runtime.api_port", SETTING_INT, OFF(runtime.api_port), "AGENTD_RUNTIME_API_PORT", "4180",
	  1, 65535, NULL, NULL, 0,
	  "Port of the Messages API on 127.0.0.1 inside each sandbox (ANTHROPIC_BASE_URL); also served on /run/agentd/api.sock." },
	{ "runtime.model_map", SETTING_LIST, OFF(runtime.model_map), "AGENTD_RUNTIME_MODEL_MAP", "",
	  0, 0, NULL, check_model_map, 0,
	  "\"FROM=TO\": a model a program in the sandbox asks for, sent as TO (an allowed one); other models not allowed are refused." },
	{ "runtime.ports", SETTING_LIST, OFF(runtime.ports), "AGENTD_RUNTIME_PORTS", "3000,5000,8000,8080,8888",
	  0, 0, NULL, check_port, 0,
	  "Ports inside a sandbox that /api/sessions/{id}/ports/{port}/ reaches (HTTP, SSE, WebSocket), for the session's owner." },
	{ "runtime.port_timeout_s", SETTING_INT, OFF(runtime.port_timeout_s), "AGENTD_RUNTIME_PORT_TIMEOUT_S", "30",
	  1, 3600, NULL, NULL, 0,
	  "How long a server in a sandbox has to start its answer to a request through /ports/ (then 504)." },
	{ "mcp.servers", SETTING_JSON, OFF(mcp.servers), "AGENTD_MCP_SERVERS", "{}",
	  0, 0, NULL, check_mcp_servers, 0,
	  "MCP servers: {\"NAME\": {\"command\", \"args\", \"env\"}} (stdio, in the sandbox) or {\"NAME\": {\"url\", \"headers\"}} (Streamable HTTP, from the supervisor)." },
	{ "mcp.start_timeout_s", SETTING_INT, OFF(mcp.start_timeout_s), "AGENTD_MCP_START_TIMEOUT_S", "30",
	  1, 600, NULL, NULL, 0,
	  "How long one MCP server may take to start and list its tools; past it the session goes on without it." },
	{ "mcp.call_timeout_s", SETTING_INT, OFF(mcp.call_timeout_s), "AGENTD_MCP_CALL_TIMEOUT_S", "120",
	  1, 3600, NULL, NULL, 0,
	  "Time limit of one MCP tool call." },
	{ "mcp.max_output", SETTING_SIZE, OFF(mcp.max_output), "AGENTD_MCP_MAX_OUTPUT", "100K",
	  1 * KiB, 16 * MiB, NULL, NULL, 0,
	  "Largest MCP tool result given to the model (text and images); the rest is cut with a note." },
};

const size_t config_settings_count = sizeof(config_settings) / sizeof(config_settings[0]);

/* agentd's settings.
 *
 * Every setting is one row of a table (src/core/config_table.c): its key in
 * agentd.json, its type and limits, its default, the environment variable that
 * overrides it, and one line of documentation. Values come from, strongest first:
 * the environment, a .env file, the config file, the default. Validation names the
 * setting, where its value came from, and what is wrong with it.
 */
#ifndef AGENTD_CORE_CONFIG_H
#define AGENTD_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct cJSON;

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
/* anthropic.cache_ttl: no prompt caching, or breakpoints of this lifetime */
enum cache_ttl { CACHE_TTL_OFF, CACHE_TTL_5M, CACHE_TTL_1H };
extern const char *const config_cache_ttls[];   /* their names, NULL-terminated */

/* sandbox.workspace_store: where /workspace lives (sandbox/workspace.h); auto: the best
 * the host offers, found at start-up */
enum workspace_store { WORKSPACE_AUTO, WORKSPACE_QUOTA, WORKSPACE_LOOP, WORKSPACE_TMPFS };
extern const char *const config_workspace_stores[];

/* Where anthropic.api_key came from at start-up: a reload (config_key_read) reads the
 * env file again; the process environment's copy was scrubbed once read. */
enum config_key_source { CONFIG_KEY_NONE, CONFIG_KEY_ENV, CONFIG_KEY_FILE };
/* The longest API key taken (it goes into an HTTP header), and the shortest a reload
 * takes (a truncated line is not a key). */
#define CONFIG_API_KEY_MAX 512
#define CONFIG_API_KEY_MIN 8

struct config {
	char *listen;              /* "HOST:PORT" or "[V6]:PORT" */
	char *state_dir;
	char *static_dir;
	struct {
		char *name;        /* never empty once loaded: the host name's when not set */
	} node;
	struct {
		int level;         /* enum ad_log_level */
		int format;        /* enum log_format */
		bool access;
	} log;
	struct {
		int64_t max_body_bytes;
		int64_t max_header_bytes;
		int64_t max_connections;
		int64_t max_connections_per_ip;
		int64_t idle_timeout_s;
		int64_t header_timeout_s;
		int64_t threads;
		int64_t shutdown_timeout_s;
	} http;
	struct {
		char *base_url;
		char *api_key;     /* environment or .env only, never the config file */
		char *model;
		int64_t max_tokens;
		int64_t timeout_s;
		int64_t max_retries;
		int64_t max_message_chars;
		char **models;             /* others a request may ask for; NULL-terminated */
		int64_t price_input_milli; /* USD per million tokens, in thousandths */
		int64_t price_output_milli;
		int64_t price_cache_write_milli;      /* 5-minute entries */
		int64_t price_cache_write_1h_milli;   /* 1-hour entries */
		int64_t price_cache_read_milli;
		int cache_ttl;                        /* enum cache_ttl */
		int64_t context_window;               /* the model's, in tokens */
	} anthropic;
	struct {
		char *system_prompt;
		bool allow_system;         /* a request may bring its own system prompt */
		int64_t max_model_calls;
		int64_t thinking_budget;      /* 0: no extended thinking */
		bool shell_ahead;          /* the bash tool's shell starts with the agent */
		int64_t shell_rest_s;      /* and ends when still unused after so long idle (0: never) */
		char **deny_commands;      /* extended regular expressions; NULL-terminated */
	} agent;
	struct {
		int64_t max_requests;      /* model calls one session may make */
		int64_t max_tokens;        /* input + output tokens one session may spend */
		int pattern;               /* enum session_pattern: the default */
		int64_t idle_timeout_s;    /* long-running: destroyed after this long idle */
		int64_t max_sessions;      /* alive at once, all tokens */
		int64_t max_per_token;     /* alive at once, one token */
		int64_t pool_size;         /* sandboxes built ahead of time */
		int64_t pool_refill_delay_ms;   /* a refill waits for its taker's turn at most this long */
	} session;
	struct {
		bool allow_anonymous;      /* no token configured: serve beyond loopback anyway */
		int64_t rate_per_minute;   /* per token (or client address); 0: no limit */
		int64_t burst;             /* the token bucket's size */
	} auth;
	struct {
		bool enabled;              /* GET /metrics */
		char *token;               /* a scraper's bearer token (environment only), or "" */
		bool per_token;            /* spend labelled by API token too */
	} metrics;
	struct {
		int64_t memory_max;
		int64_t pids_max;
		int64_t cpus_milli;        /* thousandths of a CPU */
		int64_t workspace_size;
		int64_t workspace_files;
		int workspace_store;       /* enum workspace_store; resolved at start-up */
		int64_t tmp_size;
		int64_t tmp_files;
		int64_t command_timeout_s;
		int64_t max_background;    /* background processes running at once, per session */
		int64_t session_timeout_s;
		int64_t nofile;
		char *hostname;
		char **env_allow;          /* NULL-terminated */
		char **binds;              /* "SRC:DST[:ro|rw]", NULL-terminated */
		bool usr_overlay;
		bool allow_no_cgroup;
		int64_t uid_base;
		int64_t uid_count;
	} sandbox;
	struct {
		char **allow;              /* names and "*.suffix" any session may reach */
		char **hosts;              /* "NAME:ADDRESS": fixed answers, before the resolver */
		char **allow_private;      /* CIDR blocks let through despite their kind */
		int64_t proxy_port;        /* the egress proxy's port on the sandbox's 127.0.0.1 */
		int64_t max_connections;   /* through the proxy at once, per session */
		int64_t max_bytes_per_turn;/* both ways, per session, from one turn to the next */
		int64_t connect_timeout_s;
		int64_t fetch_max_bytes;   /* fetch_url, fetch_html: the largest body read */
		int64_t fetch_timeout_s;
	} network;
	struct {
		char **allow;              /* runtimes a session may ask for; NULL-terminated */
		char *claude_code;         /* the Claude Code CLI, as the sandbox sees it */
		int64_t api_port;          /* the Messages API on the sandbox's 127.0.0.1 */
		char **model_map;          /* "FROM=TO": a runtime's model, mapped; NULL-terminated */
		char **ports;              /* ports of the sandbox /ports/ reaches; NULL-terminated */
		int64_t port_timeout_s;    /* for a server there to start its answer */
	} runtime;
	struct {
		char *servers;             /* JSON: {"name": {"command", "args", "env"} | {"url", "headers"}} */
		int64_t start_timeout_s;   /* to start and list one server's tools */
		int64_t call_timeout_s;    /* one tool call */
		int64_t max_output;        /* bytes of one tool result */
	} mcp;
	char *source;              /* path of the config file read, or NULL for defaults */
	char *env_file;            /* the env file named at start-up, or NULL */
	int key_source;            /* enum config_key_source */
};

enum setting_type {
	SETTING_STRING,
	SETTING_BOOL,
	SETTING_INT,
	SETTING_SIZE,     /* bytes: a number, or "512K", "1M", "2G" */
	SETTING_MILLI,    /* a decimal number kept in thousandths: "1.5" -> 1500 */
	SETTING_ENUM,
	SETTING_LIST,     /* char **, NULL-terminated: a JSON array of strings, or "a,b,c" */
	SETTING_JSON,     /* char *: a JSON object, kept as its compact text */
};

struct setting {
	const char *key;                 /* dotted path in agentd.json */
	enum setting_type type;
	size_t offset;                   /* into struct config */
	const char *env;                 /* overriding environment variable, or NULL */
	const char *def;                 /* default, written as an environment value would be */
	int64_t min, max;                /* SETTING_INT, _SIZE and _MILLI (in thousandths) */
	const char *const *choices;      /* SETTING_ENUM, NULL-terminated */
	int (*check)(const char *value, struct ad_err *err);  /* extra check: strings, list items */
	unsigned flags;
	const char *doc;
};

#define SETTING_SECRET 1u     /* never printed; refused in the config file */
#define SETTING_PATH 2u       /* relative values in the file are relative to the file */

extern const struct setting config_settings[];
extern const size_t config_settings_count;

/* Where the settings come from when the command line did not say: *config from
 * $AGENTD_CONFIG, else the installed file if it exists, else NULL (built-in defaults);
 * *env_file from $AGENTD_ENV_FILE, else ./.env. Given values are kept. */
void config_locate(const char **config, const char **env_file);

/* Take the variable name out of the environment and overwrite its value where it lies,
 * so that neither a child nor /proc/PID/environ shows it: for secrets, once read. */
void config_env_scrub(const char *name);

/* Read the config file (NULL: built-in defaults only), then the .env file (NULL: none),
 * then the process environment (secrets are taken out of it once read). On failure err
 * names the setting and the reason. */
int config_load(struct config *cfg, const char *path, const char *env_file, struct ad_err *err);
void config_free(struct config *cfg);

/* anthropic.api_key read again as config_load read it (SIGHUP): from cfg->env_file,
 * which must hold ANTHROPIC_API_KEY, well formed (CONFIG_API_KEY_MIN to _MAX printable
 * characters); the environment's key, scrubbed at start-up, cannot change. *key: a new
 * string (wipe it with explicit_bzero before free()). err never holds the key. */
int config_key_read(const struct config *cfg, char **key, struct ad_err *err);

/* The effective configuration as JSON, secrets shown only as set or not. */
struct cJSON *config_to_json(const struct config *cfg);

/* anthropic.model, or one of anthropic.models. */
bool config_model_allowed(const struct config *cfg, const char *model);
/* The model to send for one a program in the sandbox asked for: itself when allowed,
 * else its runtime.model_map entry's; NULL when neither. */
const char *config_model_for(const struct config *cfg, const char *model);
/* One of runtime.ports. */
bool config_port_exposed(const struct config *cfg, unsigned port);
/* One of runtime.allow. */
bool config_runtime_allowed(const struct config *cfg, const char *runtime);
extern const char *const config_runtimes[];     /* every runtime's name, NULL-terminated */

/* Helpers shared with the table's checks and the tests. */
int config_parse_size(const char *text, int64_t *out);
int config_parse_bool(const char *text, bool *out);
int config_parse_milli(const char *text, int64_t *out);
/* Run the extra check of setting key on value (0 when it has none). */
int config_settings_check(const char *key, const char *value, struct ad_err *err);

#endif

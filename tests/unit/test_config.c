/* Unit tests for settings (include/core/config.h): defaults, the file, .env, the
 * environment, and the messages that name what is wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/config.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[64];

/* Every variable the table reads is cleared around each test, so that neither the
 * caller's environment nor an earlier test leaks in. */
static void clear_env(void)
{
	for (size_t i = 0; i < config_settings_count; i++)
		if (config_settings[i].env != NULL)
			unsetenv(config_settings[i].env);
}

static int env_fixture(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int remove_tmpdir(void **state)
{
	(void)state;
	clear_env();
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Write text to tmpdir/name (creating one level of directory) and return the path. */
static const char *write_file(const char *name, const char *text)
{
	static char path[2][256];
	static int which;
	char *p = path[which++ % 2];
	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	mkdir(p, 0700);
	*slash = '/';
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	return p;
}

static void load_ok(struct config *cfg, const char *path, const char *env_file)
{
	struct ad_err e = { 0 };
	if (config_load(cfg, path, env_file, &e) != 0)
		fail_msg("config_load failed: %s", e.msg);
}

/* The defaults are stored without their extra check (config_load): each passes it. */
static void defaults_pass_their_checks(void **state)
{
	(void)state;
	struct config cfg;
	struct ad_err e = { 0 };
	int checked = 0;
	load_ok(&cfg, NULL, NULL);
	for (size_t i = 0; i < config_settings_count; i++) {
		const struct setting *s = &config_settings[i];
		void *field = (char *)&cfg + s->offset;
		if (s->check == NULL)
			continue;
		if (s->type == SETTING_LIST) {
			for (char **item = *(char ***)field; item != NULL && *item != NULL; item++, checked++)
				if (s->check(*item, &e) < 0)
					fail_msg("default of %s: %s", s->key, e.msg);
		} else if (s->type == SETTING_STRING && (*(char **)field)[0] != '\0') {
			checked++;
			if (s->check(*(char **)field, &e) < 0)
				fail_msg("default of %s: %s", s->key, e.msg);
		}
	}
	assert_true(checked >= 5);              /* the deny list's patterns at least */
	config_free(&cfg);
}

/* config_load must fail with a message containing needle and not containing absent. */
static void load_fails(const char *path, const char *env_file, const char *needle, const char *absent)
{
	struct config cfg;
	struct ad_err e = { 0 };
	int rc = config_load(&cfg, path, env_file, &e);
	config_free(&cfg);
	if (rc == 0)
		fail_msg("accepted; expected \"%s\"", needle);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
	if (absent != NULL && strstr(e.msg, absent) != NULL)
		fail_msg("message \"%s\" shows \"%s\"", e.msg, absent);
}

static void defaults(void **state)
{
	(void)state;
	struct config cfg;
	load_ok(&cfg, NULL, NULL);
	assert_string_equal(cfg.listen, "127.0.0.1:8080");
	assert_string_equal(cfg.state_dir, "/var/lib/agentd");
#ifdef AGENTD_STATIC_DIR
	assert_string_equal(cfg.static_dir, AGENTD_STATIC_DIR);
#endif
	assert_int_equal(cfg.log.level, 1);             /* info */
	assert_int_equal(cfg.log.format, LOG_FORMAT_TEXT);
	assert_true(cfg.log.access);
	assert_int_equal(cfg.http.max_body_bytes, 1024 * 1024);
	assert_int_equal(cfg.http.max_header_bytes, 16 * 1024);
	assert_int_equal(cfg.http.max_connections, 512);
	assert_int_equal(cfg.http.max_connections_per_ip, 64);
	assert_int_equal(cfg.http.idle_timeout_s, 60);
	assert_int_equal(cfg.http.threads, 0);
	assert_int_equal(cfg.http.shutdown_timeout_s, 10);
	assert_string_equal(cfg.anthropic.base_url, "https://api.anthropic.com");
	assert_string_equal(cfg.anthropic.api_key, "");
	assert_int_equal(cfg.anthropic.max_message_chars, 10000);
	assert_null(cfg.source);
	config_free(&cfg);
	assert_null(cfg.listen);
	config_free(&cfg);   /* a second free is harmless */
}

static void file_sets_values(void **state)
{
	(void)state;
	const char *path = write_file("full.json",
		"{\"_comment\": \"ignored\", \"listen\": \"[::1]:0\", \"state_dir\": \"/srv/agentd\",\n"
		" \"log\": {\"level\": \"debug\", \"format\": \"json\", \"access\": false, \"_x\": 1},\n"
		" \"http\": {\"max_body_bytes\": \"2M\", \"max_header_bytes\": 8192,\n"
		"          \"max_connections\": 7, \"max_connections_per_ip\": 0, \"idle_timeout_s\": 5,\n"
		"          \"threads\": 3, \"shutdown_timeout_s\": 0},\n"
		" \"anthropic\": {\"base_url\": \"http://127.0.0.1:9999/v1\", \"max_message_chars\": 3}}\n");
	struct config cfg;
	load_ok(&cfg, path, NULL);
	assert_string_equal(cfg.listen, "[::1]:0");
	assert_string_equal(cfg.state_dir, "/srv/agentd");
	assert_int_equal(cfg.log.level, 0);
	assert_int_equal(cfg.log.format, LOG_FORMAT_JSON);
	assert_false(cfg.log.access);
	assert_int_equal(cfg.http.max_body_bytes, 2 * 1024 * 1024);
	assert_int_equal(cfg.http.max_header_bytes, 8192);
	assert_int_equal(cfg.http.max_connections, 7);
	assert_int_equal(cfg.http.max_connections_per_ip, 0);
	assert_int_equal(cfg.http.idle_timeout_s, 5);
	assert_int_equal(cfg.http.threads, 3);
	assert_int_equal(cfg.http.shutdown_timeout_s, 0);
	assert_string_equal(cfg.anthropic.base_url, "http://127.0.0.1:9999/v1");
	assert_int_equal(cfg.anthropic.max_message_chars, 3);
	assert_string_equal(cfg.source, path);
	config_free(&cfg);
}

static void file_errors_name_the_setting(void **state)
{
	(void)state;
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{ "{\"http\": {\"max_bdy_bytes\": 1}}", "unknown setting \"http.max_bdy_bytes\"" },
		{ "{\"lisen\": \"127.0.0.1:1\"}", "unknown setting \"lisen\"" },
		{ "{\"agent\": {\"max_turns\": 5}}", "is called \"agent.max_model_calls\" now" },
		{ "{\"http\": {\"max_connections\": \"512\"}}", "http.max_connections: must be a number" },
		{ "{\"http\": {\"max_body_bytes\": true}}", "http.max_body_bytes: must be a number or a size" },
		{ "{\"log\": {\"access\": \"yes\"}}", "log.access: must be true or false" },
		{ "{\"listen\": 8080}", "listen: must be a string" },
		{ "{\"http\": {\"threads\": 1.5}}", "http.threads: must be a whole number" },
		{ "{\"http\": {\"max_body_bytes\": 10}}", "http.max_body_bytes: 10 is out of range (1024 to 1073741824)" },
		{ "{\"http\": {\"max_body_bytes\": \"2G\"}}", "2147483648 is out of range (1024 to 1073741824)" },
		{ "{\"http\": {\"max_body_bytes\": \"lots\"}}", "http.max_body_bytes: \"lots\" is not a size" },
		{ "{\"http\": {\"threads\": -1}}", "http.threads: -1 is out of range (0 to 256)" },
		{ "{\"log\": {\"level\": \"verbose\"}}", "log.level: \"verbose\" is not one of: debug, info, warn, error" },
		{ "{\"listen\": \"localhost:99999\"}", "listen: \"localhost:99999\": port must be a number" },
		{ "{\"listen\": \"127.0.0.1:80\\u0001\"}", "listen: contains a control character" },
		{ "{\"anthropic\": {\"base_url\": \"ftp://x\"}}", "anthropic.base_url: \"ftp://x\" must start with" },
		{ "{\"state_dir\": \"\"}", "state_dir: must not be empty" },
		{ "[1]", "the top level must be a JSON object" },
		{ "", "empty" },
		{ "{\n  \"listen\": \"127.0.0.1:1\",\n  \"log\": }\n", "invalid JSON at line 3, column 10" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		const char *path = write_file("bad.json", cases[i].text);
		char prefix[300];
		snprintf(prefix, sizeof(prefix), "config file %s: ", path);
		load_fails(path, NULL, prefix, NULL);
		load_fails(path, NULL, cases[i].needle, NULL);
	}
	load_fails("/nonexistent/agentd.json", NULL, "config file /nonexistent/agentd.json: open: ENOENT", NULL);
	load_fails(tmpdir, NULL, "not a regular file", NULL);
}

/* The key is refused in the file, and the message neither echoes it nor leaves the
 * user guessing where it goes instead. */
static void secret_refused_in_file(void **state)
{
	(void)state;
	const char *path = write_file("secret.json", "{\"anthropic\": {\"api_key\": \"sk-ant-hunter2\"}}");
	load_fails(path, NULL, "anthropic.api_key", "hunter2");
	load_fails(path, NULL, "ANTHROPIC_API_KEY", "hunter2");
}

static void relative_paths_follow_the_file(void **state)
{
	(void)state;
	const char *path = write_file("etc/rel.json",
		"{\"static_dir\": \"static\", \"state_dir\": \"/abs/state\"}");
	char want[300];
	snprintf(want, sizeof(want), "%s/etc/static", tmpdir);
	struct config cfg;
	load_ok(&cfg, path, NULL);
	assert_string_equal(cfg.static_dir, want);
	assert_string_equal(cfg.state_dir, "/abs/state");
	config_free(&cfg);

	/* A relative value from the environment is not the file's to resolve. */
	setenv("AGENTD_STATIC_DIR", "web", 1);
	load_ok(&cfg, path, NULL);
	assert_string_equal(cfg.static_dir, "web");
	config_free(&cfg);
}

/* Strongest first: environment, .env, file, default. */
static void precedence(void **state)
{
	(void)state;
	const char *path = write_file("prec.json",
		"{\"listen\": \"127.0.0.1:1111\", \"http\": {\"max_body_bytes\": 2048, \"threads\": 3}}");
	const char *env_file = write_file("prec.env",
		"AGENTD_LISTEN=127.0.0.1:2222\nAGENTD_MAX_BODY_BYTES=4K\nANTHROPIC_API_KEY=sk-from-dotenv\n");
	struct config cfg;

	load_ok(&cfg, path, NULL);
	assert_string_equal(cfg.listen, "127.0.0.1:1111");
	assert_int_equal(cfg.http.max_body_bytes, 2048);
	config_free(&cfg);

	load_ok(&cfg, path, env_file);
	assert_string_equal(cfg.listen, "127.0.0.1:2222");
	assert_int_equal(cfg.http.max_body_bytes, 4096);
	assert_int_equal(cfg.http.threads, 3);
	assert_string_equal(cfg.anthropic.api_key, "sk-from-dotenv");
	config_free(&cfg);

	setenv("AGENTD_LISTEN", "127.0.0.1:3333", 1);
	setenv("AGENTD_HTTP_THREADS", "5", 1);
	load_ok(&cfg, path, env_file);
	assert_string_equal(cfg.listen, "127.0.0.1:3333");
	assert_int_equal(cfg.http.max_body_bytes, 4096);
	assert_int_equal(cfg.http.threads, 5);
	config_free(&cfg);

	/* A missing .env file is no error. */
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/none.env", tmpdir);
	load_ok(&cfg, NULL, missing);
	assert_string_equal(cfg.listen, "127.0.0.1:3333");
	config_free(&cfg);
}

static void environment_values(void **state)
{
	(void)state;
	setenv("AGENTD_ACCESS_LOG", "off", 1);
	setenv("AGENTD_LOG_LEVEL", "error", 1);
	setenv("AGENTD_LOG_FORMAT", "json", 1);
	setenv("AGENTD_MAX_BODY_BYTES", "2MiB", 1);
	setenv("AGENTD_MAX_HEADER_BYTES", "8192", 1);
	setenv("ANTHROPIC_API_KEY", "sk-ant-api03-abc_DEF-123", 1);
	struct config cfg;
	load_ok(&cfg, NULL, NULL);
	assert_false(cfg.log.access);
	assert_int_equal(cfg.log.level, 3);
	assert_int_equal(cfg.log.format, LOG_FORMAT_JSON);
	assert_int_equal(cfg.http.max_body_bytes, 2 * 1024 * 1024);
	assert_int_equal(cfg.http.max_header_bytes, 8192);
	assert_string_equal(cfg.anthropic.api_key, "sk-ant-api03-abc_DEF-123");

	/* The effective settings as JSON never show the key. */
	cJSON *j = config_to_json(&cfg);
	char *text = cJSON_PrintUnformatted(j);
	assert_null(strstr(text, "sk-ant"));
	const cJSON *anth = cJSON_GetObjectItemCaseSensitive(j, "anthropic");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(anth, "api_key")->valuestring, "(set)");
	const cJSON *http = cJSON_GetObjectItemCaseSensitive(j, "http");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(http, "max_body_bytes")->valuedouble, 2 * 1024 * 1024);
	free(text);
	cJSON_Delete(j);
	config_free(&cfg);
}

static void environment_errors_name_the_variable(void **state)
{
	(void)state;
	static const struct {
		const char *var, *value, *needle;
	} cases[] = {
		{ "AGENTD_LISTEN", "1.2.3.4", "environment variable AGENTD_LISTEN: \"1.2.3.4\": expected HOST:PORT" },
		{ "AGENTD_LISTEN", "", "environment variable AGENTD_LISTEN: " },
		{ "AGENTD_MAX_BODY_BYTES", "1X", "environment variable AGENTD_MAX_BODY_BYTES: \"1X\" is not a size" },
		{ "AGENTD_MAX_BODY_BYTES", "512", "AGENTD_MAX_BODY_BYTES: 512 is out of range (1024 to" },
		{ "AGENTD_ACCESS_LOG", "maybe", "environment variable AGENTD_ACCESS_LOG: \"maybe\" is not a boolean" },
		{ "AGENTD_LOG_FORMAT", "xml", "AGENTD_LOG_FORMAT: \"xml\" is not one of: text, json" },
		{ "AGENTD_HTTP_THREADS", "1000", "AGENTD_HTTP_THREADS: 1000 is out of range (0 to 256)" },
		{ "AGENTD_MAX_CONNECTIONS", "12abc", "AGENTD_MAX_CONNECTIONS: \"12abc\" is not a whole number" },
		{ "AGENTD_STATE_DIR", "", "AGENTD_STATE_DIR: must not be empty" },
		{ "ANTHROPIC_BASE_URL", "api.anthropic.com", "ANTHROPIC_BASE_URL: \"api.anthropic.com\" must start" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		setenv(cases[i].var, cases[i].value, 1);
		load_fails(NULL, NULL, cases[i].needle, NULL);
		unsetenv(cases[i].var);
	}
}

/* The key goes into a header: no blanks or control bytes, and never in a message. */
static void api_key_checked_not_shown(void **state)
{
	(void)state;
	static const struct {
		const char *value, *dotenv_line;
	} bad[] = {
		{ "sk-ant hunter2", "ANTHROPIC_API_KEY='sk-ant hunter2'\n" },
		{ "sk-ant-hunter2\n", "ANTHROPIC_API_KEY=\"sk-ant-hunter2\\n\"\n" },
		{ "sk-ant\thunter2", "ANTHROPIC_API_KEY=\"sk-ant\\thunter2\"\n" },
		{ "sk-ant-hunter2\xc3\xa9", "ANTHROPIC_API_KEY=sk-ant-hunter2\xc3\xa9\n" },
	};
	for (size_t i = 0; i < N(bad); i++) {
		setenv("ANTHROPIC_API_KEY", bad[i].value, 1);
		load_fails(NULL, NULL, "environment variable ANTHROPIC_API_KEY: ", "hunter2");
		unsetenv("ANTHROPIC_API_KEY");
		load_fails(NULL, write_file("key.env", bad[i].dotenv_line), "variable ANTHROPIC_API_KEY: ", "hunter2");
	}
}

static void env_file_errors(void **state)
{
	(void)state;
	load_fails(NULL, write_file("bad1.env", "AGENTD_LISTEN=nowhere\n"),
		   "env file: variable AGENTD_LISTEN: \"nowhere\"", NULL);
	const char *path = write_file("bad2.env", "# ok\nAGENTD_LISTEN 127.0.0.1:1\n");
	char needle[300];
	snprintf(needle, sizeof(needle), "env file: %s: line 2", path);
	load_fails(NULL, path, needle, NULL);
}

static void listen_validation(void **state)
{
	(void)state;
	static const char *const good[] = { "127.0.0.1:8080", "[::1]:0", "0.0.0.0:65535", "[::]:80", "localhost:1" };
	static const char *const bad[] = {
		"localhost:99999", "1.2.3.4", "[::1]8080", "example.com:80", "::1:80", "127.0.0.1:", "[::1]",
	};
	struct config cfg;
	for (size_t i = 0; i < N(good); i++) {
		setenv("AGENTD_LISTEN", good[i], 1);
		load_ok(&cfg, NULL, NULL);
		assert_string_equal(cfg.listen, good[i]);
		config_free(&cfg);
	}
	for (size_t i = 0; i < N(bad); i++) {
		setenv("AGENTD_LISTEN", bad[i], 1);
		load_fails(NULL, NULL, "environment variable AGENTD_LISTEN: ", NULL);
	}
	unsetenv("AGENTD_LISTEN");
}

static void parse_size(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t value;   /* -1: refused */
	} cases[] = {
		{ "0", 0 }, { "1024", 1024 }, { "4K", 4096 }, { "4k", 4096 }, { "1M", 1 << 20 },
		{ "1MiB", 1 << 20 }, { "1MB", 1 << 20 }, { "2G", 2LL << 30 }, { "3T", 3LL << 40 },
		{ "9223372036854775807", INT64_MAX },
		{ "", -1 }, { "-1", -1 }, { "+1", -1 }, { " 1", -1 }, { "1X", -1 }, { "M", -1 },
		{ "1 M", -1 }, { "1Mi", -1 }, { "1KiBx", -1 }, { "1.5M", -1 }, { "1iB", -1 },
		{ "9223372036854775808", -1 }, { "8388608T", -1 }, { "99999999999999999999", -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t v = -12345;
		int rc = config_parse_size(cases[i].text, &v);
		if (cases[i].value < 0) {
			if (rc == 0)
				fail_msg("accepted \"%s\" as %lld", cases[i].text, (long long)v);
			assert_int_equal(v, -12345);
		} else {
			if (rc != 0)
				fail_msg("refused \"%s\"", cases[i].text);
			assert_int_equal(v, cases[i].value);
		}
	}
}

static void parse_bool(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int value;   /* -1: refused */
	} cases[] = {
		{ "1", 1 }, { "true", 1 }, { "TRUE", 1 }, { "yes", 1 }, { "on", 1 },
		{ "0", 0 }, { "false", 0 }, { "No", 0 }, { "off", 0 },
		{ "", -1 }, { "2", -1 }, { "y", -1 }, { "truth", -1 }, { " true", -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		bool b = cases[i].value != 1;   /* the opposite of what is expected */
		int rc = config_parse_bool(cases[i].text, &b);
		if (cases[i].value < 0) {
			if (rc == 0)
				fail_msg("accepted \"%s\"", cases[i].text);
		} else {
			if (rc != 0)
				fail_msg("refused \"%s\"", cases[i].text);
			assert_int_equal(b, cases[i].value);
		}
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, env_fixture, env_fixture)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(defaults),
		T(defaults_pass_their_checks),
		T(file_sets_values),
		T(file_errors_name_the_setting),
		T(secret_refused_in_file),
		T(relative_paths_follow_the_file),
		T(precedence),
		T(environment_values),
		T(environment_errors_name_the_variable),
		T(api_key_checked_not_shown),
		T(env_file_errors),
		T(listen_validation),
		T(parse_size),
		T(parse_bool),
	};
	return cmocka_run_group_tests_name("config", tests, make_tmpdir, remove_tmpdir);
}

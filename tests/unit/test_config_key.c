/* Unit tests for config_key_read() (include/core/config.h): the API key read again from
 * the env file named at start-up, checked, and never quoted in an error. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

#define KEY_OLD "sk-ant-old-0123456789abcdef"
#define KEY_NEW "sk-ant-new-fedcba9876543210"

static char env_path[64];

static int make_file(void **state)
{
	(void)state;
	unsetenv("ANTHROPIC_API_KEY");
	snprintf(env_path, sizeof(env_path), "/tmp/test_config_key.XXXXXX");
	int fd = mkstemp(env_path);
	return fd < 0 ? -1 : close(fd);
}

static int remove_file(void **state)
{
	(void)state;
	unsetenv("ANTHROPIC_API_KEY");
	return unlink(env_path);
}

static void put(const char *text, size_t n)
{
	FILE *f = fopen(env_path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

#define PUT(s) put((s), sizeof(s) - 1)

static void loaded(struct config *cfg)
{
	struct ad_err e = { 0 };
	if (config_load(cfg, NULL, env_path, &e) != 0)
		fail_msg("config_load: %s", e.msg);
}

static void reads_the_file_again(void **state)
{
	(void)state;
	PUT("ANTHROPIC_API_KEY=" KEY_OLD "\n");
	struct config cfg;
	loaded(&cfg);
	assert_int_equal(cfg.key_source, CONFIG_KEY_FILE);
	assert_string_equal(cfg.env_file, env_path);
	PUT("# rotated\nexport ANTHROPIC_API_KEY=\"" KEY_NEW "\"\n");
	char *key = NULL;
	struct ad_err e = { 0 };
	assert_int_equal(config_key_read(&cfg, &key, &e), 0);
	assert_string_equal(key, KEY_NEW);
	free(key);
	config_free(&cfg);
}

/* A malformed key is refused with a reason that does not quote it. */
static void refuses_malformed_keys(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *why;
	} cases[] = {
		{ "OTHER=1\n", "has no ANTHROPIC_API_KEY" },
		{ "ANTHROPIC_API_KEY=\n", "is empty" },
		{ "ANTHROPIC_API_KEY=sk-a\n", "too short" },
		{ "ANTHROPIC_API_KEY=\"sk-ant-new\\nfedcba9876543210\"\n", "not printable ASCII (at 10)" },
		{ "ANTHROPIC_API_KEY=sk-ant-new\x01" "fedcba9876543210\n", "not printable ASCII (at 10)" },
		{ "ANTHROPIC_API_KEY='sk-ant-new-fedcba9876543210\n", "missing closing" },
	};
	PUT("ANTHROPIC_API_KEY=" KEY_OLD "\n");
	struct config cfg;
	loaded(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put(cases[i].text, strlen(cases[i].text));
		char *key = NULL;
		struct ad_err e = { 0 };
		assert_int_equal(config_key_read(&cfg, &key, &e), -1);
		assert_null(key);
		if (strstr(e.msg, cases[i].why) == NULL || strstr(e.msg, "fedcba") != NULL)
			fail_msg("case %zu: \"%s\"", i, e.msg);
	}
	char long_key[700] = "ANTHROPIC_API_KEY=";
	memset(long_key + strlen(long_key), 'k', 600);
	put(long_key, strlen(long_key));
	char *key = NULL;
	struct ad_err e = { 0 };
	assert_int_equal(config_key_read(&cfg, &key, &e), -1);
	assert_non_null(strstr(e.msg, "longer than 512"));
	config_free(&cfg);
}

/* A key from the environment cannot change: a file without one says so. */
static void environment_key_cannot_change(void **state)
{
	(void)state;
	PUT("ANTHROPIC_API_KEY=" KEY_NEW "\n");
	setenv("ANTHROPIC_API_KEY", KEY_OLD, 1);
	struct config cfg;
	loaded(&cfg);
	assert_string_equal(cfg.anthropic.api_key, KEY_OLD);
	assert_int_equal(cfg.key_source, CONFIG_KEY_ENV);
	assert_null(getenv("ANTHROPIC_API_KEY"));      /* scrubbed once read */
	PUT("\n");
	char *key = NULL;
	struct ad_err e = { 0 };
	assert_int_equal(config_key_read(&cfg, &key, &e), -1);
	assert_non_null(strstr(e.msg, "which a reload cannot change"));
	PUT("ANTHROPIC_API_KEY=" KEY_NEW "\n");       /* the file's, when it has one */
	assert_int_equal(config_key_read(&cfg, &key, &e), 0);
	assert_string_equal(key, KEY_NEW);
	free(key);
	config_free(&cfg);
}

static void no_env_file(void **state)
{
	(void)state;
	struct config cfg;
	struct ad_err e = { 0 };
	assert_int_equal(config_load(&cfg, NULL, NULL, &e), 0);
	char *key = NULL;
	assert_int_equal(config_key_read(&cfg, &key, &e), -1);
	assert_non_null(strstr(e.msg, "no env file"));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reads_the_file_again, make_file, remove_file),
		cmocka_unit_test_setup_teardown(refuses_malformed_keys, make_file, remove_file),
		cmocka_unit_test_setup_teardown(environment_key_cannot_change, make_file, remove_file),
		cmocka_unit_test_setup_teardown(no_env_file, make_file, remove_file),
	};
	return cmocka_run_group_tests_name("config_key", tests, NULL, NULL);
}

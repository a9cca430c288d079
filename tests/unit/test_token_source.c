/* Unit tests for the followed token store (include/auth/token_source.h), looking at the
 * store at every call (recheck 0). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/token_source.h"
#include "auth/tokens.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/agentd-tokens-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, TOKEN_STORE_FILE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char lock[160];
	snprintf(lock, sizeof(lock), "%s/%s", f->dir, TOKEN_LOCK_FILE);
	unlink(f->path);
	unlink(lock);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void add_role(const struct fixture *f, const char *name, bool admin, char token[TOKEN_LEN + 1])
{
	struct ad_err e;
	if (token_store_add(f->dir, name, admin, token, &e) < 0)
		fail_msg("token_store_add: %s", e.msg);
}

static void add(const struct fixture *f, const char *name, char token[TOKEN_LEN + 1])
{
	add_role(f, name, false, token);
}

/* Whether token is an admin's ("" tokens: none matches, false). */
static bool is_admin(struct token_source *src, const char *token)
{
	char name[TOKEN_NAME_MAX + 1];
	bool admin = true;
	if (token_source_match(src, token, strlen(token), name, sizeof(name), &admin) < 0)
		return false;
	return admin;
}

static struct token_source *open_source(const struct fixture *f, const char *env)
{
	struct token_source *src = NULL;
	struct ad_err e;
	if (token_source_open(&src, f->dir, env, 0, &e) < 0)
		fail_msg("token_source_open: %s", e.msg);
	return src;
}

/* The name token matches, or "" for none. */
static const char *who(struct token_source *src, const char *token)
{
	static char name[TOKEN_NAME_MAX + 1];
	bool admin;
	if (token_source_match(src, token, strlen(token), name, sizeof(name), &admin) < 0)
		return "";
	return name;
}

/* The name the environment token text gets when it is the list alone. */
static const char *env_name_of(const char *token)
{
	static char name[TOKEN_NAME_MAX + 1];
	struct token_set *ts = token_set_new();
	struct ad_err e;
	if (ts == NULL || token_set_add_env(ts, token, &e) < 0)
		fail_msg("token_set_add_env: %s", ts ? e.msg : "out of memory");
	snprintf(name, sizeof(name), "%s", token_set_name(ts, 0));
	token_set_free(ts);
	return name;
}

static void replace_text(const struct fixture *f, const char *text)
{
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	FILE *fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(rename(tmp, f->path), 0);
}

static void follows_adds_and_removals(void **state)
{
	struct fixture *f = *state;
	char alice[TOKEN_LEN + 1], bob[TOKEN_LEN + 1];
	add(f, "alice", alice);
	struct token_source *src = open_source(f, "env-secret-1");
	assert_string_equal(who(src, alice), "alice");
	assert_string_equal(who(src, "env-secret-1"), env_name_of("env-secret-1"));

	add(f, "bob", bob);
	assert_string_equal(who(src, bob), "bob");
	struct ad_err e;
	assert_int_equal(token_store_remove(f->dir, "alice", &e), 0);
	assert_string_equal(who(src, alice), "");
	assert_string_equal(who(src, bob), "bob");

	size_t stored, env;
	token_source_count(src, &stored, &env);
	assert_int_equal(stored, 1);
	assert_int_equal(env, 1);
	token_source_free(src);
}

static void unreadable_store_keeps_the_old_tokens(void **state)
{
	struct fixture *f = *state;
	char alice[TOKEN_LEN + 1], carol[TOKEN_LEN + 1];
	add(f, "alice", alice);
	struct token_source *src = open_source(f, NULL);
	replace_text(f, "{\"tokens\": [");
	assert_string_equal(who(src, alice), "alice");
	assert_string_equal(who(src, alice), "alice");     /* and again, without a new report */
	/* a good store again: read */
	assert_int_equal(unlink(f->path), 0);
	add(f, "carol", carol);
	assert_string_equal(who(src, carol), "carol");
	assert_string_equal(who(src, alice), "");
	token_source_free(src);
}

static void a_deleted_store_holds_no_tokens(void **state)
{
	struct fixture *f = *state;
	char alice[TOKEN_LEN + 1];
	add(f, "alice", alice);
	struct token_source *src = open_source(f, "env-secret-1");
	assert_int_equal(unlink(f->path), 0);
	assert_string_equal(who(src, alice), "");
	assert_string_equal(who(src, "env-secret-1"), env_name_of("env-secret-1"));
	size_t stored, env;
	token_source_count(src, &stored, &env);
	assert_int_equal(stored, 0);
	assert_int_equal(env, 1);
	token_source_free(src);
}

static void a_bad_store_fails_at_open(void **state)
{
	struct fixture *f = *state;
	replace_text(f, "not json");
	struct token_source *src = NULL;
	struct ad_err e;
	assert_int_equal(token_source_open(&src, f->dir, NULL, 0, &e), -1);
	assert_non_null(strstr(e.msg, f->path));
	assert_null(src);
	/* and bad environment tokens too */
	unlink(f->path);
	assert_int_equal(token_source_open(&src, f->dir, "a,,b", 0, &e), -1);
	assert_null(src);
}

/* An environment token's name is its own, whatever its place in the list: with a name
 * by place, taking the first token out handed its sessions to the second. */
static void environment_names_do_not_depend_on_the_place(void **state)
{
	struct fixture *f = *state;
	struct token_source *both = open_source(f, "first-token-abc, second-token-xyz");
	struct token_source *second = open_source(f, "second-token-xyz");
	struct token_source *turned = open_source(f, "second-token-xyz,first-token-abc");
	char name[TOKEN_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", who(both, "second-token-xyz"));
	assert_string_equal(who(second, "second-token-xyz"), name);
	assert_string_equal(who(turned, "second-token-xyz"), name);
	assert_string_equal(who(turned, "first-token-abc"), who(both, "first-token-abc"));
	assert_string_not_equal(who(both, "first-token-abc"), name);
	assert_string_equal(who(second, "first-token-abc"), "");
	/* "env-" and 16 hex digits, never the token's text nor a prefix of its hash */
	assert_int_equal(strlen(name), 4 + 16);
	assert_int_equal(strncmp(name, "env-", 4), 0);
	assert_int_equal(strspn(name + 4, "0123456789abcdef"), 16);
	assert_null(strstr(name, "second"));
	token_source_free(both);
	token_source_free(second);
	token_source_free(turned);
}

/* The admin role: only a stored token with "admin": true has it; it survives a
 * rewrite of the store; an AGENTD_TOKENS token never has it; a bad value is refused
 * with the file and the entry. */
static void the_admin_role(void **state)
{
	struct fixture *f = *state;
	char root[TOKEN_LEN + 1], alice[TOKEN_LEN + 1], bob[TOKEN_LEN + 1];
	add_role(f, "root", true, root);
	add(f, "alice", alice);
	struct token_source *src = open_source(f, "env-secret-1");
	assert_true(is_admin(src, root));
	assert_false(is_admin(src, alice));
	assert_false(is_admin(src, "env-secret-1"));
	add(f, "bob", bob);                        /* the store rewritten: root keeps it */
	assert_true(is_admin(src, root));
	assert_false(is_admin(src, bob));
	token_source_free(src);

	replace_text(f, "{\"tokens\": [{\"name\": \"a\", \"sha256\": \"70496f2c67af560ba955f0c875376fe98a"
		     "babc04e358cdaec4646e3b3402c2ad\", \"created\": \"2025-01-31T12:00:00Z\", \"admin\": \"yes\"}]}");
	struct ad_err e;
	assert_int_equal(token_source_open(&src, f->dir, NULL, 0, &e), -1);
	assert_non_null(strstr(e.msg, f->path));
	assert_non_null(strstr(e.msg, "entry 1"));
	assert_non_null(strstr(e.msg, "\"admin\" must be true or false"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(follows_adds_and_removals, setup, teardown),
		cmocka_unit_test_setup_teardown(unreadable_store_keeps_the_old_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(a_deleted_store_holds_no_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(a_bad_store_fails_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(environment_names_do_not_depend_on_the_place, setup, teardown),
		cmocka_unit_test_setup_teardown(the_admin_role, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the error object (include/core/err.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

static void set_plain_message(void **state)
{
	(void)state;
	struct ad_err e;
	assert_int_equal(ad_err_set(&e, 0, "bad %s at %d", "thing", 7), -1);
	assert_string_equal(e.msg, "bad thing at 7");
	assert_int_equal(e.errnum, 0);
}

static void set_with_errno_appends_name(void **state)
{
	(void)state;
	struct ad_err e;
	assert_int_equal(ad_err_set(&e, EACCES, "open %s", "/x"), -1);
	assert_string_equal(e.msg, "open /x: EACCES");
	assert_int_equal(e.errnum, EACCES);

	errno = ENOENT;
	assert_int_equal(ad_err_sys(&e, "stat"), -1);
	assert_string_equal(e.msg, "stat: ENOENT");
	assert_int_equal(e.errnum, ENOENT);
}

static void set_with_unnamed_errno_uses_strerror(void **state)
{
	(void)state;
	struct ad_err e;
	assert_null(ad_errno_name(EHOSTDOWN));
	ad_err_set(&e, EHOSTDOWN, "connect");
	char want[AD_ERR_MSG_MAX];
	snprintf(want, sizeof(want), "connect: %s", strerror(EHOSTDOWN));
	assert_string_equal(e.msg, want);
}

static void set_null_err_still_fails(void **state)
{
	(void)state;
	assert_int_equal(ad_err_set(NULL, EIO, "x"), -1);
	assert_int_equal(ad_err_prefix(NULL, "y"), -1);
	ad_err_clear(NULL);
}

static void prefix_chains(void **state)
{
	(void)state;
	struct ad_err e;
	ad_err_set(&e, 0, "msg");
	assert_int_equal(ad_err_prefix(&e, "b"), -1);
	assert_int_equal(ad_err_prefix(&e, "%s", "a"), -1);
	assert_string_equal(e.msg, "a: b: msg");
}

static void prefix_keeps_errnum(void **state)
{
	(void)state;
	struct ad_err e;
	ad_err_set(&e, EPERM, "setuid");
	ad_err_prefix(&e, "sandbox");
	assert_string_equal(e.msg, "sandbox: setuid: EPERM");
	assert_int_equal(e.errnum, EPERM);
}

/* Every message fits in msg, NUL-terminated, however long the input. */
static void long_messages_are_cut(void **state)
{
	(void)state;
	char big[3 * AD_ERR_MSG_MAX];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct ad_err e;
	/* A guard right after the struct would be overwritten by an overflow. */
	struct {
		struct ad_err e;
		char guard[16];
	} g;
	memset(g.guard, 'G', sizeof(g.guard));

	ad_err_set(&g.e, 0, "%s", big);
	assert_int_equal(strlen(g.e.msg), AD_ERR_MSG_MAX - 1);
	ad_err_set(&g.e, EACCES, "%s", big);
	assert_int_equal(strlen(g.e.msg), AD_ERR_MSG_MAX - 1);
	ad_err_prefix(&g.e, "%s", big);
	assert_int_equal(strlen(g.e.msg), AD_ERR_MSG_MAX - 1);
	for (size_t i = 0; i < sizeof(g.guard); i++)
		assert_int_equal(g.guard[i], 'G');

	/* A long prefix pushes the tail of the old message out, not the start. */
	ad_err_set(&e, 0, "tail");
	ad_err_prefix(&e, "%s", big);
	assert_int_equal(strlen(e.msg), AD_ERR_MSG_MAX - 1);
	assert_int_equal(e.msg[0], 'x');
	assert_null(strstr(e.msg, "tail"));
}

static void clear_empties(void **state)
{
	(void)state;
	struct ad_err e;
	ad_err_set(&e, EIO, "x");
	ad_err_clear(&e);
	assert_string_equal(e.msg, "");
	assert_int_equal(e.errnum, 0);
}

static void errno_names(void **state)
{
	(void)state;
	static const struct {
		int errnum;
		const char *name;
	} cases[] = {
		{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EACCES, "EACCES" },
		{ ENOMEM, "ENOMEM" }, { EADDRINUSE, "EADDRINUSE" }, { EINVAL, "EINVAL" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(ad_errno_name(cases[i].errnum), cases[i].name);
	assert_null(ad_errno_name(0));
	assert_null(ad_errno_name(99999));
}

/* The kernel's words for people, errno kept for code. */
static void words_use_strerror_and_keep_errnum(void **state)
{
	struct ad_err e;
	errno = ENOENT;
	assert_int_equal(ad_err_words(&e, "\"%s\"", "a/b"), -1);
	assert_string_equal(e.msg, "\"a/b\": No such file or directory");
	assert_int_equal(e.errnum, ENOENT);
	errno = EACCES;
	assert_int_equal(ad_err_words(NULL, "x"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_plain_message),
		cmocka_unit_test(set_with_errno_appends_name),
		cmocka_unit_test(set_with_unnamed_errno_uses_strerror),
		cmocka_unit_test(set_null_err_still_fails),
		cmocka_unit_test(prefix_chains),
		cmocka_unit_test(prefix_keeps_errnum),
		cmocka_unit_test(long_messages_are_cut),
		cmocka_unit_test(clear_empties),
		cmocka_unit_test(errno_names),
		cmocka_unit_test(words_use_strerror_and_keep_errnum),
	};
	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}

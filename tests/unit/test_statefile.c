/* Unit tests for state files (include/core/statefile.h): read within a cap, regular
 * files only, and a FIFO in a file's place refused at once instead of holding the
 * reader in open(2) until a writer comes (which never does). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/statefile.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/agentd-statefile-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void a_file_is_read_within_its_cap(void **state)
{
	char path[128], *text = NULL;
	size_t len = 0;
	struct ad_err e;
	snprintf(path, sizeof(path), "%s/f.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"a\": 1}", f);
	fclose(f);
	assert_int_equal(statefile_read(path, 100, &text, &len, &e), 0);
	assert_int_equal(len, 8);
	assert_string_equal(text, "{\"a\": 1}");
	free(text);
	assert_int_equal(statefile_read(path, 4, &text, &len, &e), -1);
	assert_int_equal(e.errnum, EFBIG);
}

static void a_fifo_is_refused_at_once(void **state)
{
	char path[128], *text = NULL;
	size_t len = 0;
	struct ad_err e;
	snprintf(path, sizeof(path), "%s/session.json", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* with no writer, a blocking open would never return */
	assert_int_equal(statefile_read(path, 100, &text, &len, &e), -1);
	assert_non_null(strstr(e.msg, "not a regular file"));
	assert_null(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_file_is_read_within_its_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(a_fifo_is_refused_at_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

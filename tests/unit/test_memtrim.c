/* Unit tests for giving idle memory back (include/core/memtrim.h): the stack pages a
 * deep call dirtied are the kernel's again after memtrim_give_back, and the process
 * goes on using its stack (the pages come back zeroed when it goes deep again). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/memtrim.h"

#define DEPTH 64          /* frames of a page or more: 256 KiB of stack and up */

/* Private_Dirty of the main thread's stack mapping, in KiB. */
static long stack_dirty_kib(void)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in_stack = false;
	long kib = -1;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)       /* a mapping's first line */
			in_stack = strstr(line, "[stack]") != NULL;
		else if (in_stack && sscanf(line, "Private_Dirty: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

__attribute__((noinline)) static long deep(int n)
{
	volatile char page[4096];
	for (size_t i = 0; i < sizeof(page); i += 64)     /* every line of the page written */
		page[i] = (char)n;
	return n == 0 ? page[0] : deep(n - 1) + page[128];
}

static void deep_stack_pages_go_back(void **state)
{
	(void)state;
	assert_true(deep(DEPTH) >= 0);
	long before = stack_dirty_kib();
	memtrim_give_back();
	long after = stack_dirty_kib();
	assert_true(before >= DEPTH * 4);
	assert_true(after <= before - DEPTH * 4 / 2);
	/* the stack works as before: deep again, and back */
	assert_int_equal(deep(DEPTH), deep(DEPTH));
	memtrim_give_back();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(deep_stack_pages_go_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

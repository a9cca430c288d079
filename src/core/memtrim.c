/* Giving idle memory back: see include/core/memtrim.h. */
#include "core/memtrim.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Pages kept below the caller's own: madvise's frame, and a signal handler's, stand there
 * while the call runs (a page that vanished under them would take a return address). */
#define STACK_KEEP_PAGES 4

/* The lowest address of the main thread's stack mapping, or 0. */
static uintptr_t stack_low(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	uintptr_t low = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "[stack]") != NULL) {
			unsigned long long lo;
			if (sscanf(line, "%llx-", &lo) == 1)
				low = (uintptr_t)lo;
			break;
		}
	if (f != NULL)
		fclose(f);
	return low;
}

__attribute__((noinline)) void memtrim_give_back(void)
{
	static uintptr_t low;        /* the mapping only grows down: an old value is safe */
	malloc_trim(0);
	if (low == 0 && (low = stack_low()) == 0)
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t here = (uintptr_t)__builtin_frame_address(0) & ~(page - 1);
	if (here > low + STACK_KEEP_PAGES * page)
		madvise((void *)low, here - STACK_KEEP_PAGES * page - low, MADV_DONTNEED);
}

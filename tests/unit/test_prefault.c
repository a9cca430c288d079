/* Unit tests for populating writable pages ahead (include/core/prefault.h): after
 * prefault_writable, writing the heap and the data takes no page fault, in a fresh
 * process and in a forked one (whose pages were all shared with its parent until then);
 * a mapping larger than the limit is left to fault. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/prefault.h"

#define PAGES 16
#define LIMIT (1u << 20)

static char data_pages[PAGES * 4096];      /* in the program's data (.bss) */

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Page faults taken writing one byte a page of PAGES pages at p. */
static long faults_writing(char *p)
{
	long before = minor_faults();
	for (size_t i = 0; i < PAGES * 4096; i += 4096)
		((volatile char *)p)[i] = 1;
	return minor_faults() - before;
}

static void writes_after_prefault_take_no_fault(void **state)
{
	(void)state;
	char *heap = malloc(PAGES * 4096);     /* below the mmap threshold: the heap */
	assert_non_null(heap);
	assert_true(prefault_writable(LIMIT) >= 2 * PAGES);
	assert_int_equal(faults_writing(heap) + faults_writing(data_pages), 0);
	free(heap);
}

static void a_forked_child_copies_at_once(void **state)
{
	(void)state;
	char *heap = malloc(2 * PAGES * 4096);
	assert_non_null(heap);
	memset(heap, 1, 2 * PAGES * 4096);      /* the parent's own pages, shared by the fork */
	memset(data_pages, 1, sizeof(data_pages));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* without: a fault a page written (its copy); after: none */
		long shared = faults_writing(heap);
		prefault_writable(LIMIT);
		long copied = faults_writing(heap + PAGES * 4096) + faults_writing(data_pages);
		_exit(shared >= PAGES && copied == 0 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(heap);
}

static void a_larger_mapping_is_left_alone(void **state)
{
	(void)state;
	size_t size = 2 * LIMIT;
	char *big = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(big != MAP_FAILED);
	prefault_writable(LIMIT);
	long before = minor_faults();
	for (size_t i = 0; i < size; i += 64 * 4096)
		((volatile char *)big)[i] = 1;
	assert_true(minor_faults() - before >= (long)(size / (64 * 4096)));
	munmap(big, size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_after_prefault_take_no_fault),
		cmocka_unit_test(a_forked_child_copies_at_once),
		cmocka_unit_test(a_larger_mapping_is_left_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Start-up step timestamps: see include/sandbox/steptime.h. */
#include "sandbox/steptime.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/clock.h"

#define STEPTIME_MAX 64

struct steptime_page {
	unsigned n;                      /* taken atomically: parent and child mark at once */
	struct {
		const char *name;
		uint64_t ns;
	} mark[STEPTIME_MAX];
};

static struct steptime_page *page;

void sandbox_steptime_enable(void)
{
	if (page != NULL)
		return;
	void *p = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		page = p;
}

void sandbox_steptime_mark(const char *name)
{
	if (page == NULL)
		return;
	uint64_t now = clock_mono_ns();
	unsigned i = __atomic_fetch_add(&page->n, 1, __ATOMIC_RELAXED);
	if (i >= STEPTIME_MAX)
		return;
	page->mark[i].ns = now;
	__atomic_store_n(&page->mark[i].name, name, __ATOMIC_RELEASE);
}

void sandbox_steptime_print(int fd)
{
	if (page == NULL)
		return;
	unsigned n = page->n < STEPTIME_MAX ? page->n : STEPTIME_MAX;
	bool done[STEPTIME_MAX] = { false };
	char text[STEPTIME_MAX * 64];
	size_t len = 0;
	/* oldest first: a parent's and a child's marks interleave by time, not by slot */
	for (unsigned k = 0; k < n; k++) {
		unsigned best = n;
		for (unsigned i = 0; i < n; i++)
			if (!done[i] && page->mark[i].name != NULL &&
			    (best == n || page->mark[i].ns < page->mark[best].ns))
				best = i;
		if (best == n)
			break;
		done[best] = true;
		int w = snprintf(text + len, sizeof(text) - len, "agentd-steptime %.32s %llu\n",
				 page->mark[best].name, (unsigned long long)page->mark[best].ns);
		if (w > 0 && (size_t)w < sizeof(text) - len)
			len += (size_t)w;
	}
	/* one write: the lines of a run stay together */
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

/* Populating writable mappings ahead: see include/core/prefault.h. */
#include "core/prefault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* One line of /proc/self/maps: "lo-hi perms offset dev inode [path]". */
static size_t populate_line(const char *line, size_t max_bytes)
{
	char *end;
	uintptr_t lo = (uintptr_t)strtoull(line, &end, 16);
	if (*end != '-')
		return 0;
	uintptr_t hi = (uintptr_t)strtoull(end + 1, &end, 16);
	/* private and writable ("rw-p"); no guard pages, no shared memory */
	if (*end != ' ' || strncmp(end + 1, "rw-p", 4) != 0 || hi <= lo || hi - lo > max_bytes)
		return 0;
	int saved = errno;
	int rc = madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	errno = saved;
	return rc == 0 ? (hi - lo) / 4096 : 0;
}

size_t prefault_writable(size_t max_bytes)
{
	/* read whole before any madvise: populating does not change the list, but a
	 * buffer on the stack and no malloc keep this from adding faults of its own */
	char buf[8192];
	size_t len = 0, pages = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (ssize_t n; len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0;)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;          /* a line cut by the buffer's end: left as it is */
		*nl = '\0';
		pages += populate_line(line, max_bytes);
	}
	return pages;
}

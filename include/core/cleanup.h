/* Resources released at scope exit (GCC/Clang cleanup attribute).
 *
 *     _cleanup_free_ char *s = strdup(x);
 *     _cleanup_close_ int fd = open(...);
 *     return steal_pointer(&s);          // hand ownership to the caller
 */
#ifndef AGENTD_CORE_CLEANUP_H
#define AGENTD_CORE_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)

/* Take the value out of *pp and leave NULL behind, so the cleanup does nothing. */
#define steal_pointer(pp) \
	({ __typeof__(*(pp)) steal_tmp_ = *(pp); *(pp) = NULL; steal_tmp_; })

/* Same for file descriptors: leave -1 behind. */
static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif

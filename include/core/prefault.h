/* Mapping at once the pages a short-lived process is about to write. A page fault is
 * dear on a paravirtualized MMU (about 30 us an anonymous page where agentd's benchmarks
 * ran, against under 2 us a page populated by one madvise), and after a fork every
 * private page written by either side faults again to be copied. */
#ifndef AGENTD_CORE_PREFAULT_H
#define AGENTD_CORE_PREFAULT_H

#include <stddef.h>

/* Populate for writing (MADV_POPULATE_WRITE) every private writable mapping of this
 * process no larger than max_bytes each: the stack, the heap, the programs' and
 * libraries' data. Best effort: a kernel without it (before 5.14) just faults as before.
 * Returns the number of pages asked for. */
size_t prefault_writable(size_t max_bytes);

#endif

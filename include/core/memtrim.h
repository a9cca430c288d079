/* Memory a long-lived, mostly idle process gives back to the kernel: the pages malloc
 * holds free, and the part of the main thread's stack below where it runs now (deep
 * calls made once, such as a sandbox's build, leave it dirty for good otherwise). A
 * process forked from a larger one (a supervisor from the spawner) otherwise keeps every
 * page it wrote once as its own copy. */
#ifndef AGENTD_CORE_MEMTRIM_H
#define AGENTD_CORE_MEMTRIM_H

/* On the main thread only, from shallow in its stack (an event loop's idle moment). */
void memtrim_give_back(void);

#endif

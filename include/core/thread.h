/* Threads of the daemon's own: started with every signal blocked, as the daemon's main
 * thread is the one that waits for them (sigwaitinfo). */
#ifndef AGENTD_CORE_THREAD_H
#define AGENTD_CORE_THREAD_H

#include <pthread.h>

/* pthread_create's result: 0, or the error number. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif

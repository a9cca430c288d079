/* Inside the spawner (spawner.c): the supervisors it has forked and not yet reaped. */
#ifndef AGENTD_SUPERVISOR_SPAWNER_INT_H
#define AGENTD_SUPERVISOR_SPAWNER_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "sandbox/cgroup_host.h"

/* A supervisor alive: its pid, and the inode of its session socket, by which the
 * gateway names it (the gateway knows no pid, and a session id may have two supervisors
 * for a moment: one ending, one resuming). */
struct kid {
	pid_t pid;
	unsigned long sock;
};

struct kids {
	struct kid *kid;
	size_t n, cap;
};

void kids_add(struct kids *k, pid_t pid, unsigned long sock);
void kids_remove(struct kids *k, pid_t pid);
/* Supervisor pid has ended with status: one killed by a signal could not clean up
 * after itself, its sandbox's cgroup is removed. */
void kids_ended(const struct cgroup_host *host, struct kids *k, pid_t pid, int status);
/* Reap every supervisor that has ended, without waiting (kids_ended). */
void kids_reap(const struct cgroup_host *host, struct kids *k);
/* The supervisor of session socket sock killed (SIGKILL; kids_reap then removes its
 * sandbox's cgroup): the gateway gave up on it. Unknown: nothing (it has ended). */
void kids_end(struct kids *k, unsigned long sock);

#endif

/* The spawner's supervisors: see spawner_int.h. They are the spawner's own children
 * until it reaps them, so a pid here names the supervisor and no other process. */
#include "spawner_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "core/log.h"
#include "sandbox/cgroup.h"

void kids_add(struct kids *k, pid_t pid, unsigned long sock)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		struct kid *nk = realloc(k->kid, cap * sizeof(*nk));
		if (nk == NULL)
			return;        /* not tracked: it is still reaped, only not waited for */
		k->kid = nk;
		k->cap = cap;
	}
	k->kid[k->n++] = (struct kid){ pid, sock };
}

void kids_remove(struct kids *k, pid_t pid)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->kid[i].pid == pid) {
			k->kid[i] = k->kid[--k->n];
			return;
		}
}

void kids_ended(const struct cgroup_host *host, struct kids *k, pid_t pid, int status)
{
	kids_remove(k, pid);
	if (WIFSIGNALED(status)) {
		log_warn("spawner: supervisor %ld was killed by signal %d; removing its sandbox's cgroup", (long)pid,
			 WTERMSIG(status));
		sandbox_cgroup_sweep_owner(host, pid);
	}
}

void kids_reap(const struct cgroup_host *host, struct kids *k)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0 || (pid < 0 && errno == EINTR))
		if (pid > 0)
			kids_ended(host, k, pid, status);
}

void kids_end(struct kids *k, unsigned long sock)
{
	for (size_t i = 0; sock != 0 && i < k->n; i++)
		if (k->kid[i].sock == sock) {
			log_warn("spawner: the gateway gave up on supervisor %ld (it took nothing it was sent for "
				 "30 s): killing it", (long)k->kid[i].pid);
			kill(k->kid[i].pid, SIGKILL);
			return;
		}
}

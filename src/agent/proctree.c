/* A process with everything it started, killed together: see include/agent/proctree.h.
 *
 * The tree is found in /proc (parent links), inside the sandbox's own pid namespace.
 * Each round stops the processes it found new, waits until they are stopped (one in
 * the middle of a fork finishes it first, and its child shows up in the next scan),
 * and scans again; when a scan finds nobody new, nobody in the tree can fork any more,
 * and all of them are killed. */
#include "agent/proctree.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

#define STOP_ROUNDS 64              /* scans before what was found is killed anyway */
#define STOP_WAIT_MS 200            /* how long a round waits for its stops to take */

struct proc {
	pid_t pid, ppid;
};

void proctree_adopt_orphans(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* pid's state letter, and its parent; 0 when it is gone. */
static char proc_state(pid_t pid, pid_t *ppid)
{
	char path[32], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *name_end = strrchr(buf, ')');     /* the name may hold anything, ')' too */
	char state;
	int parent;
	if (name_end == NULL || sscanf(name_end + 1, " %c %d", &state, &parent) != 2)
		return 0;
	*ppid = parent;
	return state;
}

/* Every process of the namespace with its parent, at most max. */
static size_t scan(struct proc *all, size_t max)
{
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while (n < max && (e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		pid_t ppid;
		if (*end == '\0' && pid > 0 && proc_state((pid_t)pid, &ppid) != 0)
			all[n++] = (struct proc){ (pid_t)pid, ppid };
	}
	closedir(d);
	return n;
}

static bool member(const pid_t *tree, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (tree[i] == pid)
			return true;
	return false;
}

/* Until every one of tree is stopped, a zombie or gone (at most STOP_WAIT_MS). */
static void wait_stopped(const pid_t *tree, size_t n)
{
	uint64_t deadline = clock_mono_ms() + STOP_WAIT_MS;
	for (size_t i = 0; i < n; i++) {
		pid_t ppid;
		char st;
		while ((st = proc_state(tree[i], &ppid)) != 0 && strchr("TtZX", st) == NULL &&
		       clock_mono_ms() < deadline)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
}

void proctree_kill(pid_t root)
{
	struct proc *all = calloc(PROCTREE_MAX, sizeof(*all));
	pid_t *tree = calloc(PROCTREE_MAX, sizeof(*tree));
	size_t n = 0;
	if (all != NULL && tree != NULL) {
		tree[n++] = root;
		kill(root, SIGSTOP);
		for (int round = 0; round < STOP_ROUNDS; round++) {
			wait_stopped(tree, n);
			size_t nall = scan(all, PROCTREE_MAX), before = n;
			for (bool grew = true; grew && n < PROCTREE_MAX;) {
				grew = false;
				for (size_t i = 0; i < nall && n < PROCTREE_MAX; i++)
					if (member(tree, n, all[i].ppid) && !member(tree, n, all[i].pid)) {
						tree[n++] = all[i].pid;
						grew = true;
					}
			}
			if (n == before)
				break;
			for (size_t i = before; i < n; i++)
				kill(tree[i], SIGSTOP);
		}
	}
	kill(-root, SIGKILL);
	kill(root, SIGKILL);        /* stopped before its setsid(), it has no group yet */
	for (size_t i = 1; i < n; i++)
		kill(tree[i], SIGKILL);
	free(all);
	free(tree);
}

void proctree_kill_children(pid_t parent)
{
	struct proc *all = calloc(PROCTREE_MAX, sizeof(*all));
	size_t n = all != NULL ? scan(all, PROCTREE_MAX) : 0;
	for (size_t i = 0; i < n; i++)
		if (all[i].ppid == parent)
			proctree_kill(all[i].pid);
	free(all);
}

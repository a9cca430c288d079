/* A process with everything it started, killed together: a command's timeout or
 * interrupt must not spare what left its process group or session (`setsid sleep 1000 &`),
 * which kill(-pgid) alone misses. The root is made a child subreaper when it is
 * started (proctree_adopt_orphans), so that an orphan among its descendants (a double
 * fork) is re-parented to it, not to init, and stays in its tree. */
#ifndef AGENTD_AGENT_PROCTREE_H
#define AGENTD_AGENT_PROCTREE_H

#include <sys/types.h>

/* The most processes proctree_kill looks at in one scan of /proc. */
#define PROCTREE_MAX 8192

/* In the child, before its exec: orphans below it come to it (PR_SET_CHILD_SUBREAPER,
 * kept across execve). */
void proctree_adopt_orphans(void);

/* Stop root's process group and every descendant of root (SIGSTOP, scanning /proc until
 * a scan finds no new one, so that none forks away meanwhile), then SIGKILL them all.
 * The caller reaps root. */
void proctree_kill(pid_t root);

/* proctree_kill() of every child of parent (a subreaper's, its orphans among them). The
 * caller reaps them. */
void proctree_kill_children(pid_t parent);

#endif

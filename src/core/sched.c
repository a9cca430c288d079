/* CPU scheduling of work that must not compete: see include/core/sched.h. */
#include "core/sched.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

/* Passes over a list before giving up on threads that keep appearing idle. */
#define LEAVE_PASSES 4

int sched_idle_enter(bool reset_on_fork, struct ad_err *err)
{
	struct sched_param sp = { 0 };
	if (sched_setscheduler(0, SCHED_IDLE | (reset_on_fork ? SCHED_RESET_ON_FORK : 0), &sp) < 0)
		return ad_err_sys(err, "sched_setscheduler SCHED_IDLE");
	return 0;
}

int sched_idle_leave(pid_t tid)
{
	int policy = sched_getscheduler(tid);
	if (policy < 0 || (policy & ~SCHED_RESET_ON_FORK) != SCHED_IDLE)
		return 0;
	struct sched_param sp = { 0 };
	if (sched_setscheduler(tid, SCHED_OTHER, &sp) == 0)
		return 1;
	return errno == ESRCH ? 0 : -1;     /* gone meanwhile: nothing to do */
}

/* One pass over path's ids: how many changed, or -1 (err). */
static int leave_pass(const char *path, struct ad_err *err)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return ad_err_sys(err, "open %s", path);
	int changed = 0, tid, rc = 0;
	while (fscanf(f, "%d", &tid) == 1) {
		int r = sched_idle_leave((pid_t)tid);
		if (r < 0 && rc == 0)
			rc = ad_err_sys(err, "sched_setscheduler %d SCHED_OTHER", tid);
		changed += r > 0;
	}
	fclose(f);
	return rc < 0 ? -1 : changed;
}

int sched_idle_leave_listed(const char *path, struct ad_err *err)
{
	int total = 0;
	for (int pass = 0; pass < LEAVE_PASSES; pass++) {
		int n = leave_pass(path, err);
		if (n < 0)
			return -1;
		if (n == 0)
			return total;
		total += n;
	}
	return total;
}

int sched_idle_leave_process(pid_t pid, struct ad_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), pid > 0 ? "/proc/%d/task" : "/proc/self/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return ad_err_sys(err, "open %s", path);
	int changed = 0, rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
		int r = tid > 0 ? sched_idle_leave(tid) : 0;
		if (r < 0 && rc == 0)
			rc = ad_err_sys(err, "sched_setscheduler %d SCHED_OTHER", (int)tid);
		changed += r > 0;
	}
	closedir(d);
	return rc < 0 ? -1 : changed;
}

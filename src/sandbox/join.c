/* Joining a sandbox that runs already (a shared session's sandbox): a new process in
 * its user, mount, network, IPC, UTS, cgroup and pid namespaces and its cgroup, taking
 * the same steps as a sandbox's first process from there (ids, descriptors, rlimits,
 * no capabilities, seccomp last), then a fresh exec of agentd as "sandbox-agent": the
 * agent. Its parent is the caller, as with `docker exec`. See include/sandbox/sandbox.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "sandbox_int.h"
#include "core/cleanup.h"
#include "core/clock.h"
#include "sandbox/caps.h"
#include "sandbox/proc_setup.h"
#include "sandbox/sandbox.h"
#include "sandbox/userns.h"

#define JOIN_NS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

struct join_child {
	const struct sandbox_join_spec *spec;
	int pidfd, exe_fd, report_fd;
	int join_fds[CG_NCTL];
	unsigned njoin;
};

static _Noreturn void fail(int report_fd, const char *step, struct ad_err *e)
{
	child_report_fail(report_fd, step, e, 125);
}

static _Noreturn void join_child_main(const struct join_child *c)
{
	struct ad_err e;
	const struct sandbox_join_spec *spec = c->spec;
	if (sandbox_cgroup_join_self(c->join_fds, c->njoin, &e) < 0)
		fail(c->report_fd, "cgroup", &e);
	/* host groups must not follow us in; then all the namespaces at once */
	if (setgroups(0, NULL) < 0 || setns(c->pidfd, JOIN_NS) < 0) {
		ad_err_sys(&e, "setns");
		fail(c->report_fd, "join", &e);
	}
	if (sandbox_ids_become_root(&e) < 0)
		fail(c->report_fd, "user namespace", &e);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() == 1)
		_exit(125);
	/* the agent's socket onto 4, /dev/null onto 0-2, the report pipe kept, the rest closed */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int pass = fcntl(spec->pass_fd, F_DUPFD_CLOEXEC, 64);
	int rep = fcntl(c->report_fd, F_DUPFD_CLOEXEC, 64);
	int exe = fcntl(c->exe_fd, F_DUPFD_CLOEXEC, 64);
	int errfd = spec->err_fd >= 0 ? fcntl(spec->err_fd, F_DUPFD_CLOEXEC, 64) : null;
	if (null < 0 || pass < 0 || rep < 0 || exe < 0 || errfd < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(errfd, 2) < 0 || dup2(pass, SANDBOX_PASS_FD) < 0 || dup3(rep, 5, O_CLOEXEC) < 0 ||
	    dup3(exe, 6, O_CLOEXEC) < 0 || close_range(7, ~0U, 0) < 0) {
		ad_err_sys(&e, "descriptors");
		fail(c->report_fd, "process", &e);
	}
	if (sandbox_reset_signals(&e) < 0 || sandbox_process_setup(&e) < 0)
		fail(5, "process", &e);
	if (sandbox_set_rlimits(spec->policy, false, &e) < 0)
		fail(5, "rlimits", &e);
	if (sandbox_caps_drop_all(&e) < 0)
		fail(5, "capabilities", &e);
	if (seccomp_filter_load(spec->seccomp, &e) < 0)
		fail(5, "seccomp", &e);
	char *argv[] = { (char *)"agentd", (char *)SANDBOX_AGENT_CMD, NULL };
	execveat(6, "", argv, spec->env, AT_EMPTY_PATH);
	ad_err_sys(&e, "exec agentd as the member's agent");
	fail(5, "init", &e);
}

/* v1: the target's "tasks" files (the child writes "0" to them); v2: the directory. */
static int open_cgroup(const cJSON *cg, struct join_child *c, int *v2_fd, struct ad_err *err)
{
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(cg, "version");
	*v2_fd = -1;
	if (!cJSON_IsNumber(version) || version->valueint == 0)
		return 0;
	if (version->valueint == 2) {
		const cJSON *dir = cJSON_GetObjectItemCaseSensitive(cg, "dir");
		if (!cJSON_IsString(dir) || (*v2_fd = open(dir->valuestring, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return ad_err_sys(err, "cgroup %s", cJSON_IsString(dir) ? dir->valuestring : "?");
		return 0;
	}
	for (unsigned i = 0; i < CG_NCTL; i++) {
		const cJSON *dir = cJSON_GetObjectItemCaseSensitive(cg, cgroup_ctl_names[i]);
		char path[PATH_MAX + 16];
		if (!cJSON_IsString(dir))
			continue;
		snprintf(path, sizeof(path), "%s/tasks", dir->valuestring);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return ad_err_sys(err, "open %s", path);
		c->join_fds[c->njoin++] = fd;
	}
	return 0;
}

int sandbox_join(const struct sandbox_join_spec *spec, struct sandbox **out, struct ad_err *err)
{
	struct join_child c = { .spec = spec, .pidfd = -1, .exe_fd = -1 };
	int v2_fd = -1, rep[2] = { -1, -1 }, rc = -1;
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (sb == NULL)
		return ad_err_set(err, ENOMEM, "sandbox");
	sb->pidfd = sb->report_fd = sb->sync_fd = -1;
	sb->timeout_s = spec->timeout_s;
	c.pidfd = (int)syscall(SYS_pidfd_open, spec->target, 0);
	c.exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (c.pidfd < 0 || c.exe_fd < 0) {
		ad_err_sys(err, "the shared sandbox (pid %d)", (int)spec->target);
		goto out;
	}
	if (open_cgroup(spec->cgroup, &c, &v2_fd, err) < 0) {
		ad_err_prefix(err, "cgroup");
		goto out;
	}
	if (pipe2(rep, O_CLOEXEC) < 0) {
		ad_err_sys(err, "pipe");
		goto out;
	}
	/* our next child is born in the sandbox's pid namespace */
	if (setns(c.pidfd, CLONE_NEWPID) < 0) {
		ad_err_sys(err, "setns the pid namespace");
		goto out;
	}
	c.report_fd = rep[1];
	struct clone_args ca = { .flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&sb->pidfd,
				 .exit_signal = SIGCHLD };
	if (v2_fd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)v2_fd;
	}
	pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(rep[0]);
		join_child_main(&c);
	}
	if (pid < 0) {
		ad_err_sys(err, "clone3");
		goto out;
	}
	sb->pid = pid;
	sb->report_fd = rep[0];
	rep[0] = -1;
	sb->deadline_ns = clock_mono_ns() + (uint64_t)sb->timeout_s * 1000000000u;
	*out = sb;
	sb = NULL;
	rc = 0;
out:
	for (int i = 0; i < 2; i++)
		if (rep[i] >= 0)
			close(rep[i]);
	for (unsigned i = 0; i < c.njoin; i++)
		close(c.join_fds[i]);
	if (v2_fd >= 0)
		close(v2_fd);
	if (c.pidfd >= 0)
		close(c.pidfd);
	if (c.exe_fd >= 0)
		close(c.exe_fd);
	if (sb != NULL) {
		sb->reaped = true;
		sandbox_destroy(sb);
	}
	return rc;
}

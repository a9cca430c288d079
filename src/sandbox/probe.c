/* The start-up self-check: see include/sandbox/probe.h. */
#include "sandbox/probe.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/cleanup.h"

static const struct {
	const char *name;
	int flag;
} ns_table[NS_COUNT] = {
	[NS_USER] = { "user", CLONE_NEWUSER },   [NS_PID] = { "pid", CLONE_NEWPID },
	[NS_MOUNT] = { "mount", CLONE_NEWNS },   [NS_NET] = { "net", CLONE_NEWNET },
	[NS_IPC] = { "ipc", CLONE_NEWIPC },      [NS_UTS] = { "uts", CLONE_NEWUTS },
	[NS_CGROUP] = { "cgroup", CLONE_NEWCGROUP },
};

/* Run fn in a child and return its exit status (or -errno when it could not run). The
 * child writes nothing back but its status: an errno value, 0 for success. */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn(arg) & 0xff);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

/* A user namespace first, then the others inside it, as the sandbox will do. */
static int try_namespace(void *arg)
{
	int which = *(int *)arg;
	if (unshare(CLONE_NEWUSER) < 0)
		return errno;
	if (which != NS_USER && unshare(ns_table[which].flag) < 0)
		return errno;
	return 0;
}

static int try_seccomp(void *arg)
{
	(void)arg;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errno;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return ENOMEM;
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(getppid), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return -rc;
	/* The filter must bite: getppid cannot fail otherwise. The raw syscall, because
	 * glibc's wrapper assumes it cannot fail and leaves errno alone. */
	errno = 0;
	return syscall(SYS_getppid) == -1 && errno == EPERM ? 0 : 255;
}

static long read_long(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	long v;
	return f != NULL && fscanf(f, "%ld", &v) == 1 ? v : -1;
}

void sandbox_probe_run(struct sandbox_probe *p, bool allow_no_cgroup)
{
	memset(p, 0, sizeof(*p));
	p->allow_no_cgroup = allow_no_cgroup;
	p->max_user_namespaces = read_long("/proc/sys/user/max_user_namespaces");
	for (int i = 0; i < NS_COUNT; i++) {
		int rc = in_child(try_namespace, &i);
		p->ns_errno[i] = rc < 0 ? -rc : rc;
	}
	int rc = in_child(try_seccomp, NULL);
	p->seccomp = rc == 0;
	if (rc == 255)
		snprintf(p->seccomp_detail, sizeof(p->seccomp_detail), "filter loaded but did not take effect");
	else if (rc != 0)
		snprintf(p->seccomp_detail, sizeof(p->seccomp_detail), "loading a filter failed: %s",
			 strerror(rc < 0 ? -rc : rc));
	p->seccomp_api = (unsigned)seccomp_api_get();

	struct ad_err e;
	if (cgroup_host_detect(&p->cgroup, true, &e) < 0)
		snprintf(p->cgroup.detail, sizeof(p->cgroup.detail), "%s", e.msg);

	p->ready = true;
	for (int i = 0; i < NS_COUNT && p->ready; i++)
		if (p->ns_errno[i] != 0) {
			p->ready = false;
			snprintf(p->reason, sizeof(p->reason), "cannot create a %s namespace: %s",
				 ns_table[i].name, strerror(p->ns_errno[i]));
		}
	if (p->ready && !p->seccomp) {
		p->ready = false;
		snprintf(p->reason, sizeof(p->reason), "seccomp: %s", p->seccomp_detail);
	}
	p->limits = true;
	for (int i = 0; i < CG_NCTL && p->limits; i++)
		if (!p->cgroup.ctl[i].writable) {
			p->limits = false;
			if (p->ready && !allow_no_cgroup) {
				p->ready = false;
				snprintf(p->reason, sizeof(p->reason), "cgroup controller %s is %s",
					 cgroup_ctl_names[i], p->cgroup.ctl[i].available ? "not writable" : "not available");
			}
		}
}

struct cJSON *sandbox_probe_json(const struct sandbox_probe *p)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "ready", p->ready);
	if (!p->ready)
		cJSON_AddStringToObject(root, "reason", p->reason);
	/* false: sandboxes run without memory, pids and CPU limits (allowed by the policy) */
	cJSON_AddBoolToObject(root, "limits", p->limits);
	if (!p->limits && p->allow_no_cgroup)
		cJSON_AddStringToObject(root, "warning", "no usable cgroup: sandboxes run WITHOUT memory, "
					"pids and CPU limits (sandbox.allow_no_cgroup is true)");

	cJSON *ns = cJSON_AddObjectToObject(root, "namespaces");
	for (int i = 0; i < NS_COUNT; i++)
		cJSON_AddBoolToObject(ns, ns_table[i].name, p->ns_errno[i] == 0);
	cJSON_AddNumberToObject(root, "max_user_namespaces", (double)p->max_user_namespaces);

	cJSON *sc = cJSON_AddObjectToObject(root, "seccomp");
	cJSON_AddBoolToObject(sc, "available", p->seccomp);
	cJSON_AddNumberToObject(sc, "api_level", p->seccomp_api);
	if (!p->seccomp)
		cJSON_AddStringToObject(sc, "detail", p->seccomp_detail);

	cJSON *cg = cJSON_AddObjectToObject(root, "cgroup");
	const char *version = p->cgroup.version == 2 ? "v2" : p->cgroup.version == 1 ? "v1" : "none";
	cJSON_AddStringToObject(cg, "version", version);
	cJSON_AddBoolToObject(cg, "hybrid", p->cgroup.hybrid);
	cJSON *ctls = cJSON_AddArrayToObject(cg, "controllers");
	cJSON *wr = cJSON_AddArrayToObject(cg, "writable");
	for (int i = 0; i < CG_NCTL; i++) {
		if (p->cgroup.ctl[i].available)
			cJSON_AddItemToArray(ctls, cJSON_CreateString(cgroup_ctl_names[i]));
		if (p->cgroup.ctl[i].writable)
			cJSON_AddItemToArray(wr, cJSON_CreateString(cgroup_ctl_names[i]));
	}
	if (p->cgroup.version == 0)
		cJSON_AddStringToObject(cg, "detail", p->cgroup.detail);
	return root;
}

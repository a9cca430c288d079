/* The sandbox's first process: it takes the setup steps in the order DESIGN.md section 2
 * gives, then stays as PID 1 (reaping, so that nothing lingers as a zombie) while the
 * command runs as its child. When it exits, the kernel kills whatever else is left in
 * the pid namespace. */
#include "child.h"
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
#include "sandbox/proc_setup.h"
#include "sandbox/rootfs.h"
#include "sandbox/steptime.h"
#include "sandbox/userns.h"

#define REPORT_FD CHILD_REPORT_FD
#define FIRST_FREE_FD 4


struct child_ctx {
	const struct sandbox_spec *spec;
	bool have_cgroup;
	int usr_tree;                /* the idmapped /usr for the overlay, or -1 */
	int ws_tree;                 /* the workspace's tree (spec->workspace), or -1 */
	int sync_fd;                 /* to the parent: the listeners go back on it */
	int api_unix;                /* the API's socket, made with the root file system */
};

/* The report pipe's number: where the parent left it until fds() moves it to 3. */
static int report_to = -1;

void child_report_write(int fd, const struct child_report *r)
{
	ssize_t n;
	do
		n = write(fd, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
}

_Noreturn void child_report_fail(int fd, const char *step, const struct ad_err *e, int code)
{
	struct child_report r = { .kind = REPORT_ERROR };
	snprintf(r.step, sizeof(r.step), "%s", step);
	r.err = *e;
	child_report_write(fd, &r);
	_exit(code);
}

static _Noreturn void fail(const char *step, const struct ad_err *e, int code)
{
	child_report_fail(report_to, step, e, code);
}

/* stdio onto 0, 1, 2, the report pipe onto 3, the descriptors in keep[] (those >= 0)
 * onto 4, 5, ..., every other descriptor closed: nothing the parent holds open leaks
 * into the sandbox. */
static int fds(const struct sandbox_spec *spec, int report_fd, int *keep[], unsigned nkeep,
	       struct ad_err *err)
{
	int hi[4];
	for (int i = 0; i < 3; i++) {
		int src = spec->stdio[i] >= 0 ? spec->stdio[i] : open("/dev/null", O_RDWR | O_CLOEXEC);
		hi[i] = src < 0 ? -1 : fcntl(src, F_DUPFD_CLOEXEC, 64);
		if (hi[i] < 0)
			return ad_err_sys(err, "stdio %d", i);
	}
	hi[3] = fcntl(report_fd, F_DUPFD_CLOEXEC, 64);
	if (hi[3] < 0)
		return ad_err_sys(err, "report pipe");
	for (int i = 0; i < 4; i++)
		if (dup3(hi[i], i, i == REPORT_FD ? O_CLOEXEC : 0) < 0)
			return ad_err_sys(err, "dup3 %d", i);
	report_to = REPORT_FD;
	int high[8];
	unsigned first_free = FIRST_FREE_FD;
	for (unsigned i = 0; i < nkeep && i < ARRAY_SIZE(high); i++)
		if (*keep[i] >= 0 && (high[i] = fcntl(*keep[i], F_DUPFD_CLOEXEC, 64)) < 0)
			return ad_err_sys(err, "keep descriptor %d", *keep[i]);
	for (unsigned i = 0; i < nkeep && i < ARRAY_SIZE(high); i++) {
		if (*keep[i] < 0)
			continue;
		if (dup3(high[i], (int)first_free, O_CLOEXEC) < 0)
			return ad_err_sys(err, "dup3 %u", first_free);
		*keep[i] = (int)first_free++;
	}
	if (close_range(first_free, ~0U, 0) < 0)
		return ad_err_sys(err, "close_range");
	return 0;
}

static int step_cgroupns(struct child_ctx *c, struct ad_err *err)
{
	/* now that the parent has put us in our cgroup, it becomes our cgroup root */
	if (c->have_cgroup && unshare(CLONE_NEWCGROUP) < 0)
		return ad_err_sys(err, "unshare CLONE_NEWCGROUP");
	return 0;
}

static int step_rootfs(struct child_ctx *c, struct ad_err *err)
{
	struct rootfs_trees t = { .usr = c->usr_tree, .workspace = c->ws_tree };
	return sandbox_rootfs_build(c->spec->policy, &t, c->spec->api_socket ? &c->api_unix : NULL, err);
}

static int listen_tcp(uint16_t port, int *out, struct ad_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
		ad_err_sys(err, "listen on 127.0.0.1:%u", port);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

/* Only lo. The sockets the parent serves from outside (the egress proxy, the Messages
 * API) listen in this network namespace and go to the parent before anything of the
 * sandbox's own runs; the tag's bits say which came (sandbox_take_listeners). */
static int step_network(struct child_ctx *c, struct ad_err *err)
{
	if (sandbox_net_lo_up(err) < 0)
		return -1;
	int fds[3] = { -1, -1, c->api_unix };
	char tag = c->api_unix >= 0 ? 4 : 0;
	int rc = 0;
	if (c->spec->listen_port != 0 && (rc = listen_tcp(c->spec->listen_port, &fds[0], err)) == 0)
		tag |= 1;
	if (rc == 0 && c->spec->api_port != 0 && (rc = listen_tcp(c->spec->api_port, &fds[1], err)) == 0)
		tag |= 2;
	if (rc == 0 && tag != 0)
		rc = handoff_send(c->sync_fd, tag, fds, 3, err);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	c->api_unix = -1;
	return rc;
}

static int step_hostname(struct child_ctx *c, struct ad_err *err)
{
	return sandbox_set_hostname(c->spec->policy, err);
}

static int step_rlimits(struct child_ctx *c, struct ad_err *err)
{
	return sandbox_set_rlimits(c->spec->policy, !c->have_cgroup, err);
}

static int step_process(struct child_ctx *c, struct ad_err *err)
{
	/* init holds the report pipe: no one may read its memory or ptrace it */
	return sandbox_process_setup(err);
}

static int step_caps(struct child_ctx *c, struct ad_err *err)
{
	return sandbox_caps_drop_all(err);
}

static int step_seccomp(struct child_ctx *c, struct ad_err *err)
{
	return seccomp_filter_load(c->spec->seccomp, err);
}

/* The order matters: privileged steps, then the drop, seccomp last. */
static const struct {
	const char *name;
	int (*fn)(struct child_ctx *c, struct ad_err *err);
	const char *mark;            /* its sandbox_steptime_mark */
} steps[] = {
	{ "cgroup", step_cgroupns, "child-cgroupns" },
	{ "rootfs", step_rootfs, "child-rootfs" },
	{ "network", step_network, "child-network" },
	{ "hostname", step_hostname, "child-hostname" },
	{ "rlimits", step_rlimits, "child-rlimits" },
	{ "process", step_process, "child-process" },
	{ "capabilities", step_caps, "child-capabilities" },
	{ "seccomp", step_seccomp, "child-seccomp" },
};

const char *sandbox_failed_step(const char *message)
{
	/* the parent's own steps, then the child's, then what runs last */
	static const char *const more[] = { "cgroup", "user namespace", "exec" };
	for (size_t i = 0; i < ARRAY_SIZE(more) + ARRAY_SIZE(steps); i++) {
		const char *name = i < ARRAY_SIZE(more) ? more[i] : steps[i - ARRAY_SIZE(more)].name;
		size_t n = strlen(name);
		if (strncmp(message, name, n) == 0 && message[n] == ':')
			return i == 1 ? "namespaces" : name;
	}
	return "other";
}

_Noreturn void sandbox_child_main(const struct child_args *a)
{
	const struct sandbox_spec *spec = a->spec;
	struct ad_err e;
	report_to = a->report_fd;
	sandbox_steptime_mark("child-start");
	/* First of all, so that every process after this one is born in the cgroup. */
	if (sandbox_cgroup_join_self(a->join_fds, a->njoin, &e) < 0)
		fail("cgroup", &e, 125);
	for (unsigned i = 0; i < a->njoin; i++)
		close(a->join_fds[i]);
	sandbox_steptime_mark("child-cgroup-join");
	/* The parent writes our id maps first; EOF means it gave up. */
	int trees[2], usr_tree = -1, ws_tree = -1;
	char go;
	unsigned got, k = 0;
	if (handoff_recv(a->sync_fd, &go, trees, 2, &got, &e) < 0)
		_exit(125);
	if ((go & HANDOFF_USR) && k < got)
		usr_tree = trees[k++];
	if ((go & HANDOFF_WORKSPACE) && k < got)
		ws_tree = trees[k++];
	if (k != got || (spec->workspace_tree > 0 && ws_tree < 0)) {
		ad_err_set(&e, 0, "the parent's trees did not come");
		fail("rootfs", &e, 125);
	}
	sandbox_steptime_mark("child-go");
	if (sandbox_ids_become_root(&e) < 0)
		fail("user namespace", &e, 125);
	/* Die with the parent. Set after the uid change, which clears it; the parent
	 * keeps the sync pipe open, so a hang-up means it died before this point. */
	struct pollfd pfd = { a->sync_fd, POLLIN, 0 };
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || poll(&pfd, 1, 0) != 0)
		_exit(125);
	int exe_fd = a->exe_fd, init_fd = a->init_fd, pass_fd = spec->pass_fd, sync_fd = a->sync_fd;
	/* pass_fd first: it lands on 4, then the agent's binary on 5; the rest close at the exec */
	int *keep[] = { &pass_fd, &exe_fd, &init_fd, &usr_tree, &ws_tree, &sync_fd };
	if (sandbox_reset_signals(&e) < 0 || fds(spec, a->report_fd, keep, ARRAY_SIZE(keep), &e) < 0)
		fail("process", &e, 125);
	if (pass_fd >= 0 && (pass_fd != SANDBOX_PASS_FD || fcntl(pass_fd, F_SETFD, 0) < 0)) {
		ad_err_sys(&e, "pass descriptor %d", pass_fd);
		fail("process", &e, 125);
	}
	/* init execs the agent from it, and closes it */
	if (exe_fd >= 0 && (exe_fd != INIT_EXE_FD || fcntl(exe_fd, F_SETFD, 0) < 0)) {
		ad_err_sys(&e, "agentd's descriptor %d", exe_fd);
		fail("process", &e, 125);
	}
	sandbox_steptime_mark("child-fds");
	struct child_ctx ctx = { .spec = spec, .have_cgroup = a->have_cgroup, .usr_tree = usr_tree, .ws_tree = ws_tree,
				 .sync_fd = sync_fd, .api_unix = -1 };
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
		if (steps[i].fn(&ctx, &e) < 0)
			fail(steps[i].name, &e, 125);
		else
			sandbox_steptime_mark(steps[i].mark);
	/* A fresh image for PID 1: the sealed memfd of init, only the command's
	 * environment, nothing of this process's memory. */
	if (fcntl(REPORT_FD, F_SETFD, 0) < 0) {   /* the report pipe crosses into init */
		ad_err_sys(&e, "report pipe");
		fail("init", &e, 125);
	}
	sandbox_steptime_mark("child-exec-init");
	execveat(init_fd, "", a->init_argv, spec->env, AT_EMPTY_PATH);
	ad_err_sys(&e, "exec the sandbox's init");
	fail("init", &e, 125);
}

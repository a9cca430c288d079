/* Starting, watching and tearing down one sandbox: the parent's side. See
 * include/sandbox/sandbox.h; the child's side is child.c. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "sandbox_int.h"
#include "handoff.h"
#include "core/cleanup.h"
#include "core/clock.h"
#include "core/log.h"
#include "sandbox/cgroup.h"
#include "sandbox/init_image.h"
#include "sandbox/steptime.h"
#include "sandbox/userns.h"

#define NS_FLAGS (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

pid_t sandbox_init_pid(const struct sandbox *sb)
{
	return sb->pid;
}

const struct sandbox_cgroup *sandbox_cgroup_of(const struct sandbox *sb)
{
	return &sb->cg;
}

/* Kill everything: through the cgroup first (it holds whatever double-forked away),
 * then init, whose death takes the whole pid namespace with it; reap init. */
static void kill_all(struct sandbox *sb)
{
	if (sb->reaped)
		return;
	sandbox_cgroup_kill(&sb->cg);
	kill(sb->pid, SIGKILL);
	while (waitpid(sb->pid, &sb->init_status, 0) < 0 && errno == EINTR)
		;
	sb->reaped = true;
}

static void close_all(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int sandbox_start(const struct sandbox_spec *spec, struct sandbox **out, struct ad_err *err)
{
	static unsigned long serial;
	int rc;
	struct sandbox *sb = calloc(1, sizeof(*sb));
	int sync[2] = { -1, -1 }, rep[2] = { -1, -1 };
	char name[64];
	if (sb == NULL)
		return ad_err_set(err, ENOMEM, "sandbox");
	sb->pidfd = sb->report_fd = sb->sync_fd = sb->ids_lock = -1;
	sb->timeout_s = spec->timeout_s ? spec->timeout_s : spec->policy->command_timeout_s;
	if (sb->timeout_s > spec->policy->session_timeout_s)
		sb->timeout_s = spec->policy->session_timeout_s;
	sb->memory_max = spec->policy->memory_max;

	snprintf(name, sizeof(name), "agentd-%d-%lu", (int)getpid(), ++serial);
	if (sandbox_cgroup_create(&sb->cg, spec->cgroups, name, spec->policy, err) < 0) {
		ad_err_prefix(err, "cgroup");
		free(sb);
		return -1;
	}
	sandbox_steptime_mark("cgroup-create");
	struct child_args args = { .spec = spec, .have_cgroup = sb->cg.version != 0 };
	/* PID 1 will be init from its memfd, with this command line; the built-in agent,
	 * agentd anew from a descriptor opened before pivot_root (not a path the sandbox
	 * could change). */
	size_t argc = 0;
	while (spec->argv[argc] != NULL)
		argc++;
	_cleanup_free_ char **init_argv = calloc(argc + 3, sizeof(char *));
	bool agent = strcmp(spec->argv[0], SANDBOX_AGENT_ARGV0) == 0;
	_cleanup_close_ int exe_fd = agent ? open("/proc/self/exe", O_PATH | O_CLOEXEC) : -1;
	args.init_fd = sandbox_init_image_fd(err);
	if (args.init_fd < 0)
		goto fail;
	if (init_argv == NULL || (agent && exe_fd < 0)) {
		ad_err_sys(err, "prepare the sandbox's init");
		goto fail;
	}
	init_argv[0] = (char *)"agentd";
	init_argv[1] = (char *)"sandbox-init";
	memcpy(init_argv + 2, spec->argv, argc * sizeof(char *));
	args.exe_fd = exe_fd;
	args.init_argv = init_argv;
	int njoin = sandbox_cgroup_open_join(&sb->cg, args.join_fds, err);
	if (njoin < 0) {
		ad_err_prefix(err, "cgroup");
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
		ad_err_sys(err, "pipe");
		close_all(args.join_fds, (unsigned)njoin);
		goto fail;
	}
	/* fork-like clone3 (no stack given: the child goes on from here on a copy of
	 * ours); on v2 straight into the sandbox's cgroup */
	struct clone_args ca = {
		.flags = NS_FLAGS | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&sb->pidfd,
		.exit_signal = SIGCHLD,
	};
	if (sb->cg.version == 2) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)args.join_fds[0];
	} else {
		args.njoin = (unsigned)njoin;
	}
	args.sync_fd = sync[0];
	args.report_fd = rep[1];
	pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(sync[1]);
		close(rep[0]);
		sandbox_child_main(&args);
	}
	close_all(args.join_fds, (unsigned)njoin);
	if (pid < 0) {
		ad_err_sys(err, "clone3");
		goto fail;
	}
	sb->pid = pid;
	sandbox_steptime_mark("clone");
	close(sync[0]);
	close(rep[1]);
	sync[0] = rep[1] = -1;
	sb->report_fd = rep[0];
	rep[0] = -1;

	struct sandbox_ids ids;
	if (sandbox_ids_choose(&ids, spec->policy, (unsigned long)pid, &sb->ids_lock, err) < 0 ||
	    sandbox_ids_write_maps(pid, &ids, err) < 0) {
		ad_err_prefix(err, "user namespace");
		goto fail;
	}
	sandbox_steptime_mark("id-maps");
	/* the go, with the trees the child mounts: the idmapped /usr, the workspace */
	int trees[2] = { -1, -1 };
	if (spec->policy->usr_overlay && handoff_usr_tree(pid, &trees[0], err) < 0) {
		ad_err_prefix(err, "rootfs");
		goto fail;
	}
	if (spec->workspace_tree > 0)
		trees[1] = spec->workspace_tree;      /* the caller's: passed on, not closed */
	rc = handoff_send(sync[1], HANDOFF_GO | (trees[0] >= 0 ? HANDOFF_USR : 0) | (trees[1] >= 0 ? HANDOFF_WORKSPACE : 0),
			  trees, 2, err);
	if (trees[0] >= 0)
		close(trees[0]);
	if (rc < 0)
		goto fail;
	sandbox_steptime_mark("go");
	sb->sync_fd = sync[1];
	sb->deadline_ns = clock_mono_ns() + (uint64_t)sb->timeout_s * 1000000000u;
	*out = sb;
	return 0;
fail:
	/* closing sync[1] ends a waiting child's wait for the go: it exits */
	for (int i = 0; i < 2; i++) {
		if (sync[i] >= 0)
			close(sync[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	if (sb->pid > 0)
		kill_all(sb);
	else
		sb->reaped = true;
	sandbox_destroy(sb);
	return -1;
}

int sandbox_take_listeners(struct sandbox *sb, int timeout_ms, struct sandbox_listeners *out,
			   struct ad_err *err)
{
	struct pollfd p = { sb->sync_fd, POLLIN, 0 };
	int n, fds[3];
	unsigned got;
	char tag;
	*out = (struct sandbox_listeners){ -1, -1, -1 };
	if (sb->sync_fd < 0)
		return ad_err_set(err, 0, "this sandbox has no listeners of its own");
	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return ad_err_set(err, ETIMEDOUT, "the sandbox's listeners did not come");
	if (n < 0 || handoff_recv(sb->sync_fd, &tag, fds, 3, &got, err) < 0)
		return ad_err_set(err, n < 0 ? errno : 0, "the sandbox ended before its listeners came");
	/* in the order of the tag's bits: proxy, api_tcp, api_unix */
	int *slot[] = { &out->proxy, &out->api_tcp, &out->api_unix };
	unsigned k = 0;
	for (unsigned bit = 0; bit < 3; bit++)
		if ((tag & (1 << bit)) && k < got)
			*slot[bit] = fds[k++];
	if (k != got || got == 0) {
		for (unsigned i = 0; i < got; i++)
			close(fds[i]);
		*out = (struct sandbox_listeners){ -1, -1, -1 };
		return ad_err_set(err, 0, "the sandbox sent no listeners");
	}
	return 0;
}

static void human_size(uint64_t bytes, char *buf, size_t size)
{
	if (bytes % (1u << 30) == 0)
		snprintf(buf, size, "%llu GiB", (unsigned long long)(bytes >> 30));
	else if (bytes % (1u << 20) == 0)
		snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
}

/* Turn init's reports and the cgroup's counters into a result. */
static void conclude(struct sandbox *sb, struct sandbox_result *res)
{
	struct child_report r;
	bool have_status = false, failed = false;
	int wstatus = sb->init_status;
	fcntl(sb->report_fd, F_SETFL, O_NONBLOCK);
	while (read(sb->report_fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		r.step[sizeof(r.step) - 1] = '\0';
		r.err.msg[sizeof(r.err.msg) - 1] = '\0';
		if (r.kind == REPORT_ERRNO) {   /* init's: the errno's words are ours to add */
			char what[sizeof(r.err.msg)];
			memcpy(what, r.err.msg, sizeof(what));
			ad_err_set(&r.err, r.err.errnum, "%s", what);
		}
		if ((r.kind == REPORT_ERROR || r.kind == REPORT_ERRNO) && !failed) {
			failed = true;
			snprintf(res->message, sizeof(res->message), "%s: %s", r.step, r.err.msg);
			res->status = strcmp(r.step, "exec") == 0 ? (r.err.errnum == ENOENT ? 127 : 126) : 125;
		} else if (r.kind == REPORT_STATUS) {
			have_status = true;
			wstatus = r.wstatus;
		}
	}
	if (failed) {
		res->outcome = SANDBOX_FAILED;
		return;
	}
	if (!have_status)
		wstatus = sb->init_status;   /* init itself was killed */
	long ooms = sandbox_cgroup_oom_kills(&sb->cg);
	if (WIFSIGNALED(wstatus)) {
		res->outcome = SANDBOX_SIGNALED;
		res->status = WTERMSIG(wstatus);
		snprintf(res->message, sizeof(res->message), "killed by signal %d (%s)", res->status,
			 strsignal(res->status));
	} else {
		res->outcome = SANDBOX_EXITED;
		res->status = WEXITSTATUS(wstatus);
		snprintf(res->message, sizeof(res->message), "exited with status %d", res->status);
	}
	if (ooms > 0) {
		/* The OOM killer struck. It is the outcome when the command died of it (killed,
		 * or a shell passing on 128+SIGKILL); a command that coped keeps its status. */
		char limit[32];
		human_size(sb->memory_max, limit, sizeof(limit));
		bool died = res->outcome == SANDBOX_SIGNALED || res->status >= 128;
		if (died)
			res->outcome = SANDBOX_OOM;
		snprintf(res->message, sizeof(res->message),
			 "out of memory: the sandbox reached its memory limit of %s and the kernel killed "
			 "a process (%ld OOM kill%s)%s", limit, ooms, ooms == 1 ? "" : "s",
			 died ? "" : "; the command went on and exited by itself");
		res->oom_kills = ooms;
	}
}

int sandbox_event_fd(const struct sandbox *sb)
{
	return sb->pidfd;
}

uint64_t sandbox_deadline_ns(const struct sandbox *sb)
{
	return sb->deadline_ns;
}

void sandbox_finish(struct sandbox *sb, struct sandbox_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!sb->reaped) {
		while (waitpid(sb->pid, &sb->init_status, 0) < 0 && errno == EINTR)
			;
		sb->reaped = true;
	}
	conclude(sb, res);
}

void sandbox_stop(struct sandbox *sb, enum sandbox_outcome why, struct sandbox_result *res)
{
	memset(res, 0, sizeof(*res));
	kill_all(sb);
	res->outcome = why;
	res->status = SIGKILL;
	if (why == SANDBOX_TIMED_OUT)
		snprintf(res->message, sizeof(res->message),
			 "timed out after %u s: the command and all its processes were killed", sb->timeout_s);
	else
		snprintf(res->message, sizeof(res->message), "cancelled: the sandbox was killed");
}

int sandbox_wait(struct sandbox *sb, int cancel_fd, struct sandbox_result *res)
{
	for (;;) {
		uint64_t now = clock_mono_ns();
		if (now >= sb->deadline_ns) {
			sandbox_stop(sb, SANDBOX_TIMED_OUT, res);
			return 0;
		}
		struct pollfd pfd[2] = { { sb->pidfd, POLLIN, 0 }, { cancel_fd, POLLIN, 0 } };
		uint64_t left_ms = (sb->deadline_ns - now) / 1000000u + 1;
		int n = poll(pfd, cancel_fd >= 0 ? 2 : 1, left_ms > 60000 ? 60000 : (int)left_ms);
		if (n < 0 && errno != EINTR)
			return ad_err_sys(NULL, "poll");
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			sandbox_finish(sb, res);
			return 0;
		}
		if (n > 0 && cancel_fd >= 0 && pfd[1].revents) {
			sandbox_stop(sb, SANDBOX_CANCELLED, res);
			return 0;
		}
	}
}

void sandbox_destroy(struct sandbox *sb)
{
	if (sb == NULL)
		return;
	kill_all(sb);
	struct ad_err e;
	if (sandbox_cgroup_remove(&sb->cg, &e) < 0)
		log_warn("sandbox: %s", e.msg);
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	if (sb->report_fd >= 0)
		close(sb->report_fd);
	if (sb->sync_fd >= 0)
		close(sb->sync_fd);
	if (sb->ids_lock >= 0)          /* after the kill: nothing of it runs as that id now */
		close(sb->ids_lock);
	free(sb);
}

int sandbox_result_exit_code(const struct sandbox_result *res)
{
	switch (res->outcome) {
	case SANDBOX_EXITED: return res->status;
	case SANDBOX_SIGNALED: return 128 + res->status;
	case SANDBOX_OOM: return 137;
	case SANDBOX_TIMED_OUT: return 124;
	case SANDBOX_CANCELLED: return 130;
	case SANDBOX_FAILED: return res->status;
	}
	return 125;
}

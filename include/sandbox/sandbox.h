/* One sandbox: a command run under agentd's init in new user, pid, mount, net, ipc, uts
 * and cgroup namespaces, in its own cgroup, without capabilities, under seccomp.
 *
 *     sandbox_start()    the parent (supervisor or CLI) makes the cgroup, clones the
 *                        child, writes its id maps, puts it in the cgroup, lets it go;
 *                        the child takes the steps of DESIGN.md section 2 in order
 *     sandbox_wait()     until the command ends, its deadline passes or cancel_fd fires
 *     sandbox_destroy()  kills whatever is left through the cgroup, reaps, removes it
 *
 * A step that fails in the child comes back as "step: call: ERRNO", never as a bare
 * exit status. Call from a single-threaded process: it forks. */
#ifndef AGENTD_SANDBOX_SANDBOX_H
#define AGENTD_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "sandbox/cgroup_host.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp_filter.h"

struct sandbox;

struct sandbox_spec {
	const struct sandbox_policy *policy;
	const struct seccomp_prog *seccomp;     /* compiled before: seccomp_filter_build */
	const struct cgroup_host *cgroups;      /* found before: cgroup_host_detect */
	char *const *argv;                      /* the command; argv[0] looked up in PATH */
	char **env;                             /* its environment: sandbox_env_build */
	int stdio[3];                           /* its stdin, stdout, stderr; -1: /dev/null */
	int pass_fd;                            /* -1, or a descriptor the command gets as
						   SANDBOX_PASS_FD (the agent's socket) */
	unsigned timeout_s;                     /* 0: the policy's command timeout */
	/* Sockets the sandbox listens on for the parent, made before anything of the
	 * sandbox's own runs (sandbox_take_listeners()): */
	uint16_t listen_port;                   /* 0, or a port on its 127.0.0.1 (the
						   egress proxy) */
	uint16_t api_port;                      /* 0, or another (the Messages API) */
	bool api_socket;                        /* a Unix socket at SANDBOX_API_SOCKET,
						   which the sandbox cannot remove */
	int workspace_tree;                     /* a detached mount tree of the host's
						   workspace (sandbox/workspace.h), put at
						   /workspace read-write, owned by the
						   policy's host_uid; 0 (never such a
						   tree): a tmpfs of the workspace size */
};

/* Where the Messages API is served inside every sandbox that asks for it. */
#define SANDBOX_API_SOCKET "/run/agentd/api.sock"

struct sandbox_listeners {
	int proxy, api_tcp, api_unix;           /* -1: not asked for */
};

#define SANDBOX_PASS_FD 4

/* argv[0] that runs the built-in agent (agent_main) instead of a program: init execs
 * agentd afresh ("agentd sandbox-agent") from a descriptor opened before pivot_root,
 * nothing looked up inside the sandbox. The same word as src/sandbox/init_wire.h's
 * INIT_AGENT_ARG. */
#define SANDBOX_AGENT_ARGV0 "--agent"
/* argv[1] of agentd that runs the agent on SANDBOX_PASS_FD: init's agent, and a
 * process that joins a running sandbox (sandbox_join). */
#define SANDBOX_AGENT_CMD "sandbox-agent"

enum sandbox_outcome {
	SANDBOX_EXITED,       /* status: the exit code */
	SANDBOX_SIGNALED,     /* status: the signal */
	SANDBOX_OOM,          /* the memory limit was hit and the OOM killer struck */
	SANDBOX_TIMED_OUT,    /* killed at its deadline, with everything it started */
	SANDBOX_CANCELLED,    /* killed because cancel_fd fired */
	SANDBOX_FAILED,       /* a setup step or the exec failed: message says which */
};

struct sandbox_result {
	enum sandbox_outcome outcome;
	int status;
	long oom_kills;                 /* > 0: the OOM killer struck, whatever the outcome */
	char message[AD_ERR_MSG_MAX];   /* for a person: what happened */
};

/* The step a failure's message ("rootfs: mount /proc: EPERM") names, as one word for
 * metrics: cgroup, namespaces, rootfs, network, ..., seccomp, exec; else "other". */
const char *sandbox_failed_step(const char *message);
int sandbox_start(const struct sandbox_spec *spec, struct sandbox **out, struct ad_err *err);
/* With spec.listen_port, api_port or api_socket: the sockets listening inside the
 * sandbox (accept() on them from outside takes the sandbox's connections), waited for
 * up to timeout_ms. Fails when the child failed before (the sandbox's end then says
 * why). Once. */
int sandbox_take_listeners(struct sandbox *sb, int timeout_ms, struct sandbox_listeners *out,
			   struct ad_err *err);
pid_t sandbox_init_pid(const struct sandbox *sb);
struct sandbox_cgroup;
const struct sandbox_cgroup *sandbox_cgroup_of(const struct sandbox *sb);
/* cancel_fd: -1, or an fd whose readability ends the wait with SANDBOX_CANCELLED. */
int sandbox_wait(struct sandbox *sb, int cancel_fd, struct sandbox_result *res);
void sandbox_destroy(struct sandbox *sb);

/* A process that joins a running sandbox (a shared session's): target is its init as
 * the host sees it, cgroup where its cgroup is (sandbox_cgroup_json); the process runs
 * the agent on pass_fd. The result is waited for and torn down like a sandbox of its
 * own, but tearing it down ends only this process: the sandbox stays. The caller's
 * later children are born in the sandbox's pid namespace: call from a process that
 * makes no other (a supervisor). */
struct sandbox_join_spec {
	const struct sandbox_policy *policy;
	const struct seccomp_prog *seccomp;
	pid_t target;
	const struct cJSON *cgroup;
	char **env;
	int pass_fd;
	int err_fd;                             /* its stderr; -1: /dev/null */
	unsigned timeout_s;
};
int sandbox_join(const struct sandbox_join_spec *spec, struct sandbox **out, struct ad_err *err);

/* For callers with an event loop of their own: the pidfd of init (readable once the
 * sandbox has ended: then sandbox_finish), and the wall-clock deadline. */
int sandbox_event_fd(const struct sandbox *sb);
uint64_t sandbox_deadline_ns(const struct sandbox *sb);
void sandbox_finish(struct sandbox *sb, struct sandbox_result *res);
/* Kill everything now; res says why (SANDBOX_TIMED_OUT or SANDBOX_CANCELLED). */
void sandbox_stop(struct sandbox *sb, enum sandbox_outcome why, struct sandbox_result *res);

/* The command's environment: PATH, HOME=/workspace, USER, LOGNAME, SHELL, the policy's
 * env_allow names copied from ours, then extra ("K=V"). NULL-terminated; free with
 * sandbox_env_free. */
char **sandbox_env_build(const struct sandbox_policy *p, char *const *extra);
void sandbox_env_free(char **env);

/* The CLI's exit code for a result: the command's code, 128+signal, 124 timed out,
 * 125 setup failed, 126/127 exec failed (not executable / not found). */
int sandbox_result_exit_code(const struct sandbox_result *res);

#endif

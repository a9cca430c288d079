/* The spawner: see include/session/spawner.h.
 *
 * Requests come over a SOCK_SEQPACKET socket, one message each: the session id, a
 * newline and the session's options (JSON), with the supervisor's end of the session
 * socket as SCM_RIGHTS. The spawner forks,
 * the child becomes the supervisor; children are reaped by the kernel (SA_NOCLDWAIT). */
#include "session/spawner.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "claude/curl_loader.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/log.h"
#include "ipc/link.h"
#include "sandbox/cgroup.h"
#include "sandbox/seccomp_filter.h"
#include "session/supervisor.h"

#define SESSION_ID_MAX 64
#define REQUEST_MAX (64u << 10)           /* the id, a newline, the session's options (JSON) */

struct spawner {
	int sock;          /* the gateway's end */
	pid_t pid;
};

/* What went wrong making the supervisors' common ground, told to each session. */
static void refuse(int fd, const struct ad_err *why)
{
	cJSON *ev = json_error("sandbox_error", why->msg);
	cJSON_AddStringToObject(ev, "type", "error");
	struct ad_err ignored;
	link_send_take(fd, FRAME_RUN_EVENT, ev, &ignored);
}

static int recv_request(int sock, char *req, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { req, REQUEST_MAX - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	while ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return n == 0 ? 1 : -1;
	*fd = -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	req[n] = '\0';
	if (*fd >= 0 && strchr(req, '\n') == NULL) {
		close(*fd);
		*fd = -1;
	}
	return *fd >= 0 ? 0 : -1;
}

static _Noreturn void spawner_main(int sock, const struct config *cfg, const struct sandbox_policy *policy,
				   const struct cgroup_host *host)
{
	prctl(PR_SET_NAME, "agentd-spawner", 0, 0, 0);
	struct sigaction sa = { .sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT };
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the gateway takes SIGINT/SIGTERM and ends us by closing the socket */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);

	struct ad_err setup = { 0 };
	struct seccomp_prog *prog = NULL;
	if (seccomp_filter_build(&prog, &setup) < 0 || curl_load(&setup) < 0)
		ad_err_prefix(&setup, "preparing sandboxes");
	sandbox_cgroup_sweep(host);   /* what supervisors killed with SIGKILL left behind */
	struct supervisor_env env = { .cfg = cfg, .policy = policy, .seccomp = prog, .cgroups = host };

	char *req = malloc(REQUEST_MAX);
	if (req == NULL)
		_exit(1);
	for (;;) {
		int fd;
		int rc = recv_request(sock, req, &fd);
		if (rc == 1)
			_exit(0);        /* the gateway closed its end */
		if (rc < 0)
			continue;
		if (setup.msg[0]) {
			refuse(fd, &setup);
			close(fd);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(sock);
			struct sigaction dfl = { .sa_handler = SIG_DFL };
			sigaction(SIGCHLD, &dfl, NULL);
			prctl(PR_SET_NAME, "agentd-session", 0, 0, 0);
			char *opts = strchr(req, '\n');
			*opts++ = '\0';
			_exit(supervisor_main(&env, fd, req, opts));
		}
		if (pid < 0) {
			struct ad_err e;
			ad_err_sys(&e, "fork a supervisor");
			log_error("spawner: %s", e.msg);
			refuse(fd, &e);
		}
		close(fd);
	}
}

int spawner_start(struct spawner **out, const struct config *cfg, const struct sandbox_policy *policy,
		  const struct cgroup_host *host, struct ad_err *err)
{
	int sv[2];
	struct spawner *sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return ad_err_set(err, ENOMEM, "spawner");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		free(sp);
		return ad_err_sys(err, "socketpair");
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		free(sp);
		return ad_err_sys(err, "fork the spawner");
	}
	if (pid == 0) {
		close(sv[0]);
		spawner_main(sv[1], cfg, policy, host);
	}
	close(sv[1]);
	sp->sock = sv[0];
	sp->pid = pid;
	*out = sp;
	return 0;
}

int spawner_spawn(struct spawner *sp, const char *session_id, const char *opts, struct ad_err *err)
{
	char *req = NULL;
	int len = asprintf(&req, "%.*s\n%s", SESSION_ID_MAX - 1, session_id, opts);
	if (len < 0)
		return ad_err_set(err, ENOMEM, "spawn request");
	if ((size_t)len >= REQUEST_MAX) {
		free(req);
		return ad_err_set(err, 0, "the session's options take %d bytes; the limit is %u", len, REQUEST_MAX - 1);
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(req);
		return ad_err_sys(err, "socketpair");
	}
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { req, (size_t)len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
	ssize_t n;
	while ((n = sendmsg(sp->sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	close(sv[1]);
	free(req);
	if (n < 0) {
		ad_err_sys(err, "hand the session to the spawner");
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

void spawner_stop(struct spawner *sp)
{
	if (sp == NULL)
		return;
	close(sp->sock);
	/* it exits at once on the hang-up; it was forked by us, so reap it */
	while (waitpid(sp->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(sp);
}

/* The spawner: see include/supervisor/spawner.h.
 *
 * Requests come over a SOCK_SEQPACKET socket, one message each: the session id, a
 * newline and the session's options (JSON), with the supervisor's end of the session
 * socket as SCM_RIGHTS. The spawner forks, the child becomes the supervisor. A message
 * without a descriptor that starts with KEY_REQUEST carries a new API key (SIGHUP): the
 * supervisors forked from then on inherit it (those running get it from the gateway).
 *
 * Lifetimes: the spawner dies with the gateway (SIGKILL), and a supervisor is told to
 * end when the spawner goes (SIGTERM: it tears its sandbox down and exits; it also sees
 * the gateway's hang-up), so that no session outlives a daemon killed with SIGKILL. When
 * the gateway closes the socket (a clean stop), the spawner waits for its supervisors,
 * which are tearing their sandboxes down, before it exits. It reaps them as they end,
 * and a supervisor killed by a signal (it could not clean up) has its sandbox's cgroup
 * killed and removed here. */
#include "supervisor/spawner.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor/curl_loader.h"
#include "core/cleanup.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/log.h"
#include "ipc/link.h"
#include "sandbox/cgroup.h"
#include "sandbox/init_image.h"
#include "sandbox/seccomp_filter.h"
#include "supervisor/supervisor.h"
#include "spawner_int.h"

#define SESSION_ID_MAX 64
#define REQUEST_MAX (64u << 10)           /* the id, a newline, the session's options (JSON) */
#define KEY_REQUEST "!api_key\n"           /* then the key: never a session id */
#define END_REQUEST "!end\n"               /* then a session socket's inode number */
/* At a clean stop, how long supervisors get to end their sessions before SIGKILL. */
#define DRAIN_MS 20000u

struct spawner {
	int sock;          /* the gateway's end */
	pid_t pid;
};

/* What went wrong making the supervisors' common ground, told to each session. */
static void refuse(int fd, const struct ad_err *why)
{
	cJSON *ev = json_error("sandbox_error", why->msg);
	cJSON_AddStringToObject(ev, "type", "error");
	cJSON_AddStringToObject(ev, "step", "spawn");
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
	if (*fd < 0 && strncmp(req, KEY_REQUEST, strlen(KEY_REQUEST)) == 0)
		return 2;
	if (*fd < 0 && strncmp(req, END_REQUEST, strlen(END_REQUEST)) == 0)
		return 3;
	if (*fd >= 0 && strchr(req, '\n') == NULL) {
		close(*fd);
		*fd = -1;
	}
	return *fd >= 0 ? 0 : -1;
}

/* The spawner's copy of the settings (its own memory since the fork) takes the key
 * that req carries; the old one and the request are wiped. */
static void take_key(struct config *cfg, char *req)
{
	char *key = strdup(req + strlen(KEY_REQUEST));
	if (key != NULL && cfg->anthropic.api_key != NULL) {
		explicit_bzero(cfg->anthropic.api_key, strlen(cfg->anthropic.api_key));
		free(cfg->anthropic.api_key);
	}
	if (key != NULL)
		cfg->anthropic.api_key = key;
	else
		log_error("spawner: out of memory for the new API key; new sessions keep the old one");
	explicit_bzero(req, strlen(req));
}

/* Whether the gateway has let go of a session's socket while its request waited in
 * the queue: a burst of sessions made and deleted faster than supervisors are forked,
 * or agentd stopping, then costs no fork. */
static bool session_gone(int fd)
{
	struct pollfd p = { fd, POLLRDHUP, 0 };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/* Until a child has ended or wait_ms is over (-1: for ever): the signalfd of SIGCHLD,
 * and sock (or -1); then the ended are reaped. Whether sock is readable. */
static bool wait_children(const struct cgroup_host *host, struct kids *k, int sfd, int sock, int wait_ms)
{
	struct pollfd p[2] = { { sfd, POLLIN, 0 }, { sock, POLLIN, 0 } };
	int n = poll(p, sock >= 0 ? 2 : 1, wait_ms);
	if (n > 0 && p[0].revents) {
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
	}
	kids_reap(host, k);
	return n > 0 && sock >= 0 && p[1].revents;
}

/* The gateway has gone: its supervisors end their sessions (they saw the hang-up);
 * those that take longer than DRAIN_MS are killed, and their cgroups removed. */
static _Noreturn void drain_and_exit(const struct cgroup_host *host, struct kids *k, int sfd)
{
	uint64_t until = clock_mono_ms() + DRAIN_MS;
	for (uint64_t now = clock_mono_ms(); k->n > 0 && now < until; now = clock_mono_ms())
		wait_children(host, k, sfd, -1, (int)(until - now));
	if (k->n > 0)
		log_warn("spawner: %zu supervisors still running after %u s; killing them", k->n, DRAIN_MS / 1000);
	for (size_t i = 0; i < k->n; i++)
		kill(k->kid[i].pid, SIGKILL);
	while (k->n > 0) {
		int status;
		pid_t pid = waitpid(k->kid[0].pid, &status, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			kids_remove(k, k->kid[0].pid);
		else
			kids_ended(host, k, pid, status);
	}
	_exit(0);
}

/* sig when the parent dies; and if it died already, go now. */
static void die_with_parent(pid_t parent, int sig)
{
	prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0);
	if (getppid() != parent)          /* the parent died before the line above */
		_exit(1);
}

static _Noreturn void spawner_main(int sock, struct config *cfg, const struct sandbox_policy *policy,
				   const struct cgroup_host *host, pid_t gateway)
{
	prctl(PR_SET_NAME, "agentd-spawner", 0, 0, 0);
	die_with_parent(gateway, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	/* the gateway takes SIGINT/SIGTERM and ends us by closing the socket */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);

	struct ad_err setup = { 0 };
	/* the seccomp program was compiled with agentd; the init's memfd is made before
	 * the first fork, so that every supervisor shares this one */
	const struct seccomp_prog *prog = seccomp_filter_builtin();
	if (sandbox_init_image_fd(&setup) < 0 || curl_load(&setup) < 0)
		ad_err_prefix(&setup, "preparing sandboxes");
	sandbox_cgroup_sweep(host);   /* what supervisors killed with SIGKILL left behind */
	struct supervisor_env env = { .cfg = cfg, .policy = policy, .seccomp = prog, .cgroups = host };
	struct kids kids = { 0 };
	pid_t self = getpid();
	/* a supervisor's end wakes us (to reap it, and remove what a killed one left) */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		_exit(1);

	char *req = malloc(REQUEST_MAX);
	if (req == NULL)
		_exit(1);
	for (;;) {
		if (!wait_children(host, &kids, sfd, sock, -1))
			continue;
		int fd;
		int rc = recv_request(sock, req, &fd);
		if (rc == 1)
			drain_and_exit(host, &kids, sfd);   /* the gateway closed its end */
		if (rc == 2) {
			take_key(cfg, req);
			continue;
		}
		if (rc == 3) {
			kids_end(&kids, strtoul(req + strlen(END_REQUEST), NULL, 10));
			continue;
		}
		if (rc < 0)
			continue;
		if (session_gone(fd)) {
			close(fd);          /* deleted, or agentd stops: no supervisor for it */
			continue;
		}
		if (setup.msg[0]) {
			refuse(fd, &setup);
			close(fd);
			continue;
		}
		struct stat st;
		unsigned long ino = fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
		pid_t pid = fork();
		if (pid == 0) {
			close(sock);
			close(sfd);
			sigprocmask(SIG_UNBLOCK, &chld, NULL);
			/* SIGTERM, not SIGKILL: a supervisor killed in the middle of its
			 * sandbox's teardown (the cgroup frozen) would leave it frozen */
			die_with_parent(self, SIGTERM);
			prctl(PR_SET_NAME, "agentd-session", 0, 0, 0);
			char *opts = strchr(req, '\n');
			*opts++ = '\0';
			_exit(supervisor_main(&env, fd, req, opts));
		}
		if (pid < 0) {
			struct ad_err e;
			ad_err_sys(&e, "fork a supervisor");
			limits_explain(&e, host->ctl[CG_PIDS].available ? host->ctl[CG_PIDS].dir : NULL);
			log_error("spawner: %s", e.msg);
			refuse(fd, &e);
		} else {
			kids_add(&kids, pid, ino);
		}
		close(fd);
	}
}

int spawner_start(struct spawner **out, struct config *cfg, const struct sandbox_policy *policy,
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
	pid_t gateway = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		free(sp);
		return ad_err_sys(err, "fork the spawner");
	}
	if (pid == 0) {
		close(sv[0]);
		spawner_main(sv[1], cfg, policy, host, gateway);   /* cfg: its own copy now */
	}
	close(sv[1]);
	sp->sock = sv[0];
	sp->pid = pid;
	*out = sp;
	return 0;
}

int spawner_spawn(struct spawner *sp, const char *session_id, const char *opts, unsigned long *peer,
		  struct ad_err *err)
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
	struct stat st;
	*peer = fstat(sv[1], &st) == 0 ? (unsigned long)st.st_ino : 0;
	/* never waits: a spawner whose queue is full (sessions asked for faster than this
	 * host forks supervisors) makes the request fail with EAGAIN, a 503 with Retry-After
	 * for its client, rather than hold an HTTP thread, and every request it serves */
	ssize_t n;
	while ((n = sendmsg(sp->sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	int saved = errno;
	close(sv[1]);
	free(req);
	if (n < 0) {
		if (saved == EAGAIN || saved == EWOULDBLOCK)
			ad_err_code(err, EAGAIN, "sandboxes are asked for faster than this host starts them (the "
				    "spawner's queue is full); try again in a moment");
		else
			ad_err_set(err, saved, "hand the session to the spawner");
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

int spawner_end(struct spawner *sp, unsigned long peer, struct ad_err *err)
{
	char req[48];
	int n = snprintf(req, sizeof(req), END_REQUEST "%lu", peer);
	ssize_t sent;
	while ((sent = send(sp->sock, req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	return sent < 0 ? ad_err_sys(err, "ask the spawner to end a supervisor") : 0;
}

int spawner_set_key(struct spawner *sp, const char *key, struct ad_err *err)
{
	size_t n = strlen(KEY_REQUEST) + strlen(key);
	if (n >= REQUEST_MAX)
		return ad_err_set(err, 0, "the key is too long");
	char *req = malloc(n + 1);
	if (req == NULL)
		return ad_err_set(err, ENOMEM, "the key");
	snprintf(req, n + 1, "%s%s", KEY_REQUEST, key);
	ssize_t sent;
	while ((sent = send(sp->sock, req, n, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	int e = errno;
	explicit_bzero(req, n);
	free(req);
	if (sent < 0) {
		errno = e;
		return ad_err_sys(err, "hand the key to the spawner");
	}
	return 0;
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

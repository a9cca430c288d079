/* Loopback, host name, rlimits, signals, the process: see include/sandbox/proc_setup.h. */
#include "sandbox/proc_setup.h"

#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cleanup.h"

int sandbox_net_lo_up(struct ad_err *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ad_err_sys(err, "socket");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return ad_err_sys(err, "SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return ad_err_sys(err, "SIOCSIFFLAGS lo up");
	return 0;
}

int sandbox_set_hostname(const struct sandbox_policy *p, struct ad_err *err)
{
	if (sethostname(p->hostname, strlen(p->hostname)) < 0)
		return ad_err_sys(err, "sethostname %s", p->hostname);
	return 0;
}

static int set_limit(int resource, const char *name, rlim_t value, struct ad_err *err)
{
	struct rlimit rl = { value, value };
	struct rlimit cur;
	/* never raise: a lower limit inherited from the host stays */
	if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < value)
		rl.rlim_cur = rl.rlim_max = cur.rlim_max;
	if (setrlimit(resource, &rl) < 0)
		return ad_err_sys(err, "setrlimit %s", name);
	return 0;
}

int sandbox_set_rlimits(const struct sandbox_policy *p, bool with_pids_rlimit, struct ad_err *err)
{
	uint64_t biggest = p->workspace_size > p->tmp_size ? p->workspace_size : p->tmp_size;
	if (set_limit(RLIMIT_NOFILE, "NOFILE", (rlim_t)p->nofile, err) < 0 ||
	    set_limit(RLIMIT_CORE, "CORE", 0, err) < 0 ||
	    set_limit(RLIMIT_FSIZE, "FSIZE", (rlim_t)biggest, err) < 0)
		return -1;
	if (with_pids_rlimit && set_limit(RLIMIT_NPROC, "NPROC", (rlim_t)p->pids_max, err) < 0)
		return -1;
	return 0;
}

int sandbox_reset_signals(struct ad_err *err)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		return ad_err_sys(err, "sigprocmask");
	return 0;
}

int sandbox_process_setup(struct ad_err *err)
{
	if (chdir("/workspace") < 0)
		return ad_err_sys(err, "chdir /workspace");
	if (setsid() < 0)
		return ad_err_sys(err, "setsid");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return ad_err_sys(err, "prctl PR_SET_DUMPABLE");
	return 0;
}

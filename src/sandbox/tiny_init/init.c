/* The sandbox's PID 1: a small static program without libc, run from a sealed memfd
 * (sandbox/init_image.c), so that nothing of the launcher's memory is in the sandbox
 * and no dynamic linking of agentd is paid per sandbox. Its memory holds its own few
 * pages, its arguments and the command's environment; nothing else.
 *
 *     agentd sandbox-init COMMAND ARGS...    COMMAND looked up in PATH, as execvp does
 *     agentd sandbox-init --agent            agentd itself from INIT_EXE_FD, a fresh
 *                                            image: "agentd sandbox-agent"
 *
 * It runs the command as its child, reaps every orphan, and when the command ends
 * reports its status on the report pipe and exits, upon which the kernel kills
 * whatever is left in the pid namespace. It is not dumpable: no one in the sandbox may
 * read its memory or its descriptors. Exit codes: the command's (128+N when killed by
 * signal N); 126/127 it could not be run / was not found; 125 init itself failed; 2
 * started other than by agentd. */
#include <asm-generic/errno.h>
#include <linux/fcntl.h>
#include <linux/prctl.h>

#include "sys.h"
#include "sandbox/init_wire.h"

#define SIGCHLD 17
#define PATH_MAX 4096

/* The compiler may call these for struct copies and zeroing. */
void *memset(void *s, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *s, int c, unsigned long n)
{
	unsigned char *p = s;
	while (n--)
		*p++ = (unsigned char)c;
	return s;
}
void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

static unsigned long len(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

static int eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static __attribute__((noreturn)) void quit(int code)
{
	for (;;)
		sys1(__NR_exit_group, code);
}

static void report(const struct init_report *r)
{
	while (sys3(__NR_write, INIT_REPORT_FD, r, sizeof(*r)) == -EINTR)
		;
}

/* A failure of step ("init" or "exec") with errnum, what says of what; then exit. */
static __attribute__((noreturn)) void fail(const char *step, long errnum, const char *what, int code)
{
	struct init_report r = { .kind = INIT_REPORT_ERRNO, .errnum = (int)-errnum };
	memcpy(r.step, step, len(step) + 1);
	unsigned long n = len(what);
	memcpy(r.msg, what, n < INIT_MSG_MAX - 1 ? n : INIT_MSG_MAX - 1);
	report(&r);
	quit(code);
}

static const char *env_path(char **envp)
{
	for (; *envp; envp++)
		if ((*envp)[0] == 'P' && (*envp)[1] == 'A' && (*envp)[2] == 'T' && (*envp)[3] == 'H' &&
		    (*envp)[4] == '=')
			return *envp + 5;
	return "/bin:/usr/bin";      /* glibc's execvp without PATH */
}

/* execve, or a file without a #! line run by /bin/sh, as execvp does; returns -errno.
 * argv[-1] is ours to overwrite (init's own argument before the command). */
static long exec_one(const char *path, char **argv, char **envp)
{
	long rc = sys3(__NR_execve, path, argv, envp);
	if (rc == -ENOEXEC) {
		argv[-1] = (char *)"/bin/sh";
		const char *cmd = argv[0];
		argv[0] = (char *)path;
		sys3(__NR_execve, "/bin/sh", argv - 1, envp);
		argv[0] = (char *)cmd;
	}
	return rc;
}

/* execvp: the name as a path when it has a '/', else each PATH entry in turn; EACCES
 * from one entry is remembered, other "not here" answers go on to the next. */
static long exec_path(char **argv, char **envp)
{
	const char *name = argv[0];
	for (const char *s = name; *s; s++)
		if (*s == '/')
			return exec_one(name, argv, envp);
	unsigned long n = len(name);
	if (n == 0)
		return -ENOENT;
	char buf[PATH_MAX];
	long err = -ENOENT, eacces = 0;
	for (const char *p = env_path(envp);; p++) {
		const char *end = p;
		while (*end && *end != ':')
			end++;
		unsigned long dl = (unsigned long)(end - p);
		if (dl + 1 + n + 1 <= sizeof(buf)) {
			memcpy(buf, p, dl);          /* an empty entry: the working directory */
			unsigned long k = dl;
			if (dl > 0)
				buf[k++] = '/';
			memcpy(buf + k, name, n + 1);
			err = exec_one(buf, argv, envp);
			if (err == -EACCES)
				eacces = err;
			else if (err != -ENOENT && err != -ENOTDIR && err != -ESTALE && err != -ENODEV &&
				 err != -ETIMEDOUT)
				return err;
		}
		if (*end == '\0')
			break;
		p = end;
	}
	return eacces ? eacces : err;
}

static long fork_child(void)
{
	return sys5(__NR_clone, SIGCHLD, 0, 0, 0, 0);
}

__attribute__((used, noreturn)) void init_start(long *sp);
__attribute__((used, noreturn)) void init_start(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
	/* only ever started by the sandbox, as PID 1 with the report pipe on its descriptor */
	if (argc < 3 || sys2(__NR_fcntl, INIT_REPORT_FD, F_GETFD) < 0 || sys0(__NR_getpid) != 1) {
		static const char msg[] = "agentd: sandbox-init is started by agentd inside a sandbox\n";
		sys3(__NR_write, 2, msg, sizeof(msg) - 1);
		quit(2);
	}
	/* exec made us dumpable again: no one in the sandbox may read our memory; and the
	 * report pipe is ours alone, not the command's */
	long rc = sys5(__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (rc < 0)
		fail("init", rc, "prctl PR_SET_DUMPABLE", 125);
	if ((rc = sys3(__NR_fcntl, INIT_REPORT_FD, F_SETFD, FD_CLOEXEC)) < 0)
		fail("init", rc, "report pipe", 125);
	int agent = eq(argv[2], INIT_AGENT_ARG);
	long cmd = fork_child();
	if (cmd == 0) {
		if (agent) {
			/* a fresh agentd, from the descriptor opened before pivot_root; it must
			 * not keep that descriptor */
			char *av[] = { argv[0], (char *)INIT_AGENT_ARGV1, 0 };
			rc = sys3(__NR_fcntl, INIT_EXE_FD, F_SETFD, FD_CLOEXEC);
			if (rc >= 0)
				rc = sys5(__NR_execveat, INIT_EXE_FD, "", av, envp, AT_EMPTY_PATH);
			fail("init", rc, "exec agentd as the agent", 125);
		}
		rc = exec_path(argv + 2, envp);
		fail("exec", rc, argv[2], rc == -ENOENT ? 127 : 126);
	}
	if (cmd < 0)
		fail("init", cmd, "fork the command", 125);
	/* the passed descriptor is the command's: its peer must see EOF when the command
	 * ends; agentd's binary was for the agent alone */
	sys1(__NR_close, INIT_PASS_FD);
	if (agent)
		sys1(__NR_close, INIT_EXE_FD);
	for (;;) {
		int st = 0;
		long w = sys4(__NR_wait4, -1, &st, 0, 0);
		if (w == cmd) {
			struct init_report r = { .kind = INIT_REPORT_STATUS, .wstatus = st };
			report(&r);
			/* WIFEXITED: the low 7 bits are 0; then WEXITSTATUS, else 128 + WTERMSIG */
			quit((st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f));
		}
		if (w < 0 && w != -EINTR)
			quit(125);
	}
}

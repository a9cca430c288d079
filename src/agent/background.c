/* The agent's background processes: see include/agent/background.h; the keeper's own
 * life is in keeper.c, the records' format in ipc/bgproc.h. */
#include "agent/background.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/sha256.h"
#include "ipc/bgproc.h"

/* The most a session may have running at once (its "max"), and as many ended kept. */
#define BG_MAX 256
/* How long a new keeper may take to say that its command started. */
#define KEEPER_START_MS 10000

struct bg_proc {
	char id[BGPROC_ID_LEN + 1];
	pid_t keeper;             /* 0 once it is reaped: the process has ended */
};

struct bg {
	const char *workspace;
	char tag[BGPROC_TAG_LEN + 1];
	int dir;                  /* the session's folder, -1 until the first process */
	struct bg_proc procs[2 * BG_MAX];    /* oldest first */
	size_t n;
};

struct bg *bg_new(const char *workspace)
{
	struct bg *b = calloc(1, sizeof(*b));
	if (b != NULL) {
		b->workspace = workspace;
		b->dir = -1;
	}
	return b;
}

/* Keepers that ended are reaped (none of them is waited for). */
static void reap(struct bg *b)
{
	for (size_t i = 0; i < b->n; i++) {
		pid_t w = b->procs[i].keeper > 0 ? waitpid(b->procs[i].keeper, NULL, WNOHANG) : 0;
		if (w == b->procs[i].keeper || (w < 0 && errno == ECHILD))
			b->procs[i].keeper = 0;
	}
}

/* A keeper told to kill its process (and let run, if someone stopped it), and waited for. */
static void stop(struct bg_proc *p)
{
	if (p->keeper <= 0)
		return;
	kill(p->keeper, SIGTERM);
	kill(p->keeper, SIGCONT);
	while (waitpid(p->keeper, NULL, 0) < 0 && errno == EINTR)
		;
	p->keeper = 0;
}

void bg_free(struct bg *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)       /* all told at once, then waited for */
		if (b->procs[i].keeper > 0)
			kill(b->procs[i].keeper, SIGTERM);
	for (size_t i = 0; i < b->n; i++)
		stop(&b->procs[i]);
	if (b->dir >= 0) {
		char name[32];
		struct ad_err ignored;
		bgproc_dir_name(b->tag, name);
		_cleanup_close_ int root = open(BGPROC_ROOT, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (root >= 0)
			fs_remove_tree(root, name, &ignored);
		close(b->dir);
	}
	free(b);
}

/* The op's "procs" (the session's tag): 0, or -1 (why). */
static int tag_of(const struct bg *b, const cJSON *req, const char **tag, struct ad_err *why)
{
	*tag = json_str(req, "procs");
	if (!bgproc_tag_ok(*tag))
		return ad_err_set(why, 0, "a background op needs \"procs\": %d hex digits", BGPROC_TAG_LEN);
	if (b->dir >= 0 && strcmp(b->tag, *tag) != 0)
		return ad_err_set(why, 0, "this agent's background processes are procs-%s, not procs-%s", b->tag, *tag);
	return 0;
}

/* The session's folder, made when its first process starts. */
static int open_folder(struct bg *b, const char *tag, struct ad_err *why)
{
	char name[32];
	if (b->dir >= 0)
		return 0;
	bgproc_dir_name(tag, name);
	if (mkdir(BGPROC_ROOT, 0700) < 0 && errno != EEXIST)
		return ad_err_sys(why, "background: mkdir %s", BGPROC_ROOT);
	_cleanup_close_ int root = open(BGPROC_ROOT, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0 || (mkdirat(root, name, 0700) < 0 && errno != EEXIST) ||
	    (b->dir = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return ad_err_sys(why, "background: %s/%s", BGPROC_ROOT, name);
	snprintf(b->tag, sizeof(b->tag), "%s", tag);
	return 0;
}

static struct tree folder(const struct bg *b)
{
	return (struct tree){ .top = b->dir, .flags = 0, .name = "the background processes" };
}

/* Ended processes forgotten, oldest first, until at most keep are left. */
static void forget_ended(struct bg *b, size_t keep)
{
	size_t ended = 0;
	for (size_t i = 0; i < b->n; i++)
		ended += b->procs[i].keeper == 0;
	for (size_t i = 0; i < b->n && ended > keep;) {
		struct ad_err ignored;
		if (b->procs[i].keeper != 0) {
			i++;
			continue;
		}
		fs_remove_tree(b->dir, b->procs[i].id, &ignored);
		memmove(&b->procs[i], &b->procs[i + 1], (b->n - i - 1) * sizeof(b->procs[0]));
		b->n--;
		ended--;
	}
}

/* The keeper's word: 0 and the command's pid, or -1 (why). */
static int await_keeper(int rd, struct ad_err *why)
{
	struct keeper_report r = { 0 };
	struct pollfd f = { rd, POLLIN, 0 };
	int ready;
	while ((ready = poll(&f, 1, KEEPER_START_MS)) < 0 && errno == EINTR)
		;
	ssize_t n = ready > 0 ? read(rd, &r, sizeof(r)) : 0;
	if (n == (ssize_t)sizeof(r) && r.pid > 0)
		return 0;
	r.why[sizeof(r.why) - 1] = '\0';
	return ad_err_set(why, 0, "%s", n == (ssize_t)sizeof(r) ? r.why : "background: the keeper did not start");
}

/* id's folder made and its keeper started: the keeper's pid, or -1 (why). */
static pid_t start_keeper(struct bg *b, const char *id, const char *command, struct ad_err *why)
{
	if (mkdirat(b->dir, id, 0700) < 0)
		return ad_err_sys(why, "background: mkdir %s", id);
	_cleanup_close_ int dir = openat(b->dir, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int pipefd[2];
	if (dir < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		return ad_err_sys(why, "background: %s", id);
	_cleanup_close_ int rd = pipefd[0];
	const struct keeper k = { .agent = getpid(), .dir = dir, .report = pipefd[1], .id = id,
				  .command = command, .workspace = b->workspace };
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(rd);
		keeper_main(&k);
	}
	close(pipefd[1]);
	if (pid < 0 || await_keeper(rd, why) < 0) {
		if (pid < 0)
			ad_err_sys(why, "background: fork");
		struct bg_proc failed = { .keeper = pid };
		stop(&failed);
		struct ad_err ignored;
		fs_remove_tree(b->dir, id, &ignored);
		return -1;
	}
	return pid;
}

int op_bg_exec(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	struct bg *b = o->bg;
	const char *command = json_op_string(req, "command", why), *tag;
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(req, "max");
	if (command == NULL || tag_of(b, req, &tag, why) < 0)
		return OP_FAILED;
	if (!cJSON_IsNumber(max) || max->valuedouble < 1 || max->valuedouble > BG_MAX) {
		ad_err_set(why, 0, "a background exec needs \"max\": 1 to %d", BG_MAX);
		return OP_FAILED;
	}
	size_t most = (size_t)max->valuedouble, running = 0;
	if (open_folder(b, tag, why) < 0)
		return OP_FAILED;
	reap(b);
	for (size_t i = 0; i < b->n; i++)
		running += b->procs[i].keeper > 0;
	if (running >= most) {
		ad_err_code(why, EAGAIN, "%zu background processes are running, the most a session may have "
			    "(sandbox.max_background); stop one first", running);
		return OP_FAILED;
	}
	forget_ended(b, most);      /* then at most 2 * most - 1 are kept, the new one aside */
	unsigned char raw[(BGPROC_ID_LEN - 5) / 2];
	char hex[sizeof(raw) * 2 + 1];
	struct bg_proc *p = &b->procs[b->n];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		ad_err_sys(why, "background: getrandom");
		return OP_FAILED;
	}
	hex_encode(raw, sizeof(raw), hex);
	snprintf(p->id, sizeof(p->id), "proc_%s", hex);
	if ((p->keeper = start_keeper(b, p->id, command, why)) < 0)
		return OP_FAILED;
	b->n++;
	const struct tree t = folder(b);
	cJSON *rec = bgproc_read(&t, p->id, false, why);
	if (rec == NULL)
		return OP_FAILED;
	cJSON_AddItemToObject(end, "process", rec);
	return OP_DONE;
}

int op_bg_procs(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	const char *tag;
	if (tag_of(o->bg, req, &tag, why) < 0)
		return OP_FAILED;
	const struct tree t = folder(o->bg);
	return bgproc_answer(o->bg->dir >= 0 ? &t : NULL, req, end, why) < 0 ? OP_FAILED : OP_DONE;
}

int op_bg_kill(const struct op *o, const cJSON *req, cJSON *end, struct ad_err *why, struct ad_err *err)
{
	struct bg *b = o->bg;
	const char *tag, *id = json_op_string(req, "proc", why);
	if (id == NULL || tag_of(b, req, &tag, why) < 0)
		return OP_FAILED;
	size_t i = 0;
	while (i < b->n && strcmp(b->procs[i].id, id) != 0)
		i++;
	if (i == b->n) {
		ad_err_code(why, ENOENT, "no background process %s", id);
		return OP_FAILED;
	}
	stop(&b->procs[i]);
	const struct tree t = folder(b);
	cJSON *rec = bgproc_read(&t, id, false, why);
	if (rec == NULL)
		return OP_FAILED;
	cJSON_AddItemToObject(end, "process", rec);
	return OP_DONE;
}

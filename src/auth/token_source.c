/* The daemon's API tokens, kept in step with the store: see include/auth/token_source.h. */
#include "auth/token_source.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/tokens.h"
#include "core/clock.h"
#include "core/log.h"

/* What tells one version of the store from the next: it is replaced by rename(2), so
 * its inode changes; size and change time catch an edit in place. */
struct store_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
};

struct token_source {
	char state_dir[PATH_MAX];
	char path[PATH_MAX + 32];
	unsigned recheck_ms;
	_Atomic uint64_t next_check_ms;
	pthread_mutex_t reload;        /* one reader of the store at a time */
	pthread_rwlock_t lock;         /* over store, seen, failed */
	struct token_set *store, *env;
	struct store_id seen;          /* the version the tokens came from */
	struct store_id failed;        /* a version that could not be read, reported once */
	bool failing;
	int follow_fd;                 /* holds the lock that says a daemon follows the store */
};

static int identify(const char *path, struct store_id *id, struct ad_err *err)
{
	struct stat st;
	memset(id, 0, sizeof(*id));
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : ad_err_sys(err, "token store %s", path);
	*id = (struct store_id){ true, st.st_dev, st.st_ino, st.st_size, st.st_ctim };
	return 0;
}

static bool same(const struct store_id *a, const struct store_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

int token_source_open(struct token_source **out, const char *state_dir, const char *env_list,
		      unsigned recheck_ms, struct ad_err *err)
{
	struct token_source *src = calloc(1, sizeof(*src));
	if (src == NULL)
		return ad_err_set(err, ENOMEM, "tokens");
	snprintf(src->state_dir, sizeof(src->state_dir), "%s", state_dir);
	snprintf(src->path, sizeof(src->path), "%s/%s", state_dir, TOKEN_STORE_FILE);
	src->recheck_ms = recheck_ms;
	src->follow_fd = -1;
	pthread_mutex_init(&src->reload, NULL);
	pthread_rwlock_init(&src->lock, NULL);
	atomic_init(&src->next_check_ms, clock_mono_ms() + recheck_ms);
	src->env = token_set_new();
	if (src->env == NULL) {
		token_source_free(src);
		return ad_err_set(err, ENOMEM, "tokens");
	}
	if (identify(src->path, &src->seen, err) < 0 || token_store_load(&src->store, state_dir, err) < 0 ||
	    (env_list != NULL && token_set_add_env(src->env, env_list, err) < 0)) {
		token_source_free(src);
		return -1;
	}
	struct ad_err e;
	if ((src->follow_fd = token_follow_mark(state_dir, &e)) < 0)
		log_warn("auth: %s: `agentd token` cannot tell that this agentd follows its store", e.msg);
	*out = src;
	return 0;
}

void token_source_free(struct token_source *src)
{
	if (src == NULL)
		return;
	token_set_free(src->store);
	token_set_free(src->env);
	if (src->follow_fd >= 0)
		close(src->follow_fd);
	pthread_rwlock_destroy(&src->lock);
	pthread_mutex_destroy(&src->reload);
	free(src);
}

/* Read the store again if it changed since it was last read. */
static void refresh(struct token_source *src)
{
	uint64_t now = clock_mono_ms(), due = atomic_load(&src->next_check_ms);
	if (now < due || !atomic_compare_exchange_strong(&src->next_check_ms, &due, now + src->recheck_ms))
		return;                        /* not yet, or another request is at it */
	pthread_mutex_lock(&src->reload);
	struct store_id id;
	struct ad_err e;
	pthread_rwlock_rdlock(&src->lock);
	bool changed = identify(src->path, &id, &e) == 0 && !same(&id, &src->seen) &&
		       !(src->failing && same(&id, &src->failed));
	pthread_rwlock_unlock(&src->lock);
	struct token_set *fresh = NULL;
	if (changed && token_store_load(&fresh, src->state_dir, &e) < 0) {
		log_error("auth: %s; the %zu tokens read before stay valid until it can be read",
			  e.msg, token_set_count(src->store));
		pthread_rwlock_wrlock(&src->lock);
		src->failed = id;
		src->failing = true;
		pthread_rwlock_unlock(&src->lock);
	} else if (changed) {
		pthread_rwlock_wrlock(&src->lock);
		struct token_set *old = src->store;
		src->store = fresh;
		src->seen = id;
		src->failing = false;
		pthread_rwlock_unlock(&src->lock);
		log_info("auth: the token store changed: %zu tokens now (%zu before)", token_set_count(fresh),
			 token_set_count(old));
		token_set_free(old);
	}
	pthread_mutex_unlock(&src->reload);
}

void token_source_count(struct token_source *src, size_t *stored, size_t *env)
{
	refresh(src);
	pthread_rwlock_rdlock(&src->lock);
	*stored = token_set_count(src->store);
	*env = token_set_count(src->env);
	pthread_rwlock_unlock(&src->lock);
}

int token_source_match(struct token_source *src, const char *token, size_t len, char *name, size_t size,
		       bool *admin)
{
	refresh(src);
	pthread_rwlock_rdlock(&src->lock);
	/* both sets, always: the time taken must not say which one holds the token. Only a
	 * stored token may be an admin's (AGENTD_TOKENS never are). */
	bool stored_admin = false;
	const char *in_store = token_set_match(src->store, token, len, &stored_admin);
	const char *in_env = token_set_match(src->env, token, len, NULL);
	const char *hit = in_store != NULL ? in_store : in_env;
	if (hit != NULL)
		snprintf(name, size, "%s", hit);
	*admin = in_store != NULL && stored_admin;
	pthread_rwlock_unlock(&src->lock);
	return hit != NULL ? 0 : -1;
}

/* One error convention for all of agentd.
 *
 * A function that can fail returns 0 on success or a negative value on failure and
 * fills a caller-provided struct ad_err: the errno that caused it (0 when none) and a
 * message. Callers add context on the way up with ad_err_prefix(), so the user reads
 * "config: http.max_body_bytes: must be at least 1024", not "invalid argument".
 *
 * The struct is fixed-size and allocation-free on purpose: it is filled in forked
 * children and sent whole over a pipe to the parent.
 */
#ifndef AGENTD_CORE_ERR_H
#define AGENTD_CORE_ERR_H

#include <errno.h>   /* ad_err_sys() reads errno */
#include <stddef.h>

#define AD_ERR_MSG_MAX 512

struct ad_err {
	int errnum;                 /* errno behind the failure, 0 when not a system error */
	char msg[AD_ERR_MSG_MAX];   /* human-readable, without a trailing newline */
};

/* Fill err (if not NULL) and return -1. errnum is an errno value or 0; when it is
 * not 0, ": strerror(errnum)" is appended to the message. */
int ad_err_set(struct ad_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fill err with a failure that is not a system call's: code (an errno value) only
 * classifies it for the caller (EBUSY: try later, ENOENT: gone, ...); the message is
 * the sentence alone. Returns -1. */
int ad_err_code(struct ad_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same as ad_err_set, with errno taken from the current errno. */
#define ad_err_sys(err, ...) ad_err_set((err), errno, __VA_ARGS__)

/* For messages people read (a file's path and what went wrong): like ad_err_sys, with
 * the kernel's words ("No such file or directory") where ad_err_sys puts the errno's
 * name; errnum is errno's all the same. */
int ad_err_words(struct ad_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prepend "context: " to the message. Returns -1 so that it can end a failure path:
 *     if (step(&e) < 0) return ad_err_prefix(&e, "cgroup");              */
int ad_err_prefix(struct ad_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void ad_err_clear(struct ad_err *err);

/* Short symbolic errno name ("EACCES"), or NULL when unknown. */
const char *ad_errno_name(int errnum);

#endif

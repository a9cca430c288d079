/* The error object: see include/core/err.h. */
#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The message from fmt, then ": suffix" when suffix is not NULL; errnum as given. */
static int fill(struct ad_err *err, int errnum, const char *suffix, const char *fmt, va_list ap)
{
	if (err == NULL)
		return -1;
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		err->msg[0] = '\0';
	err->errnum = errnum;
	if (suffix != NULL) {
		size_t len = strlen(err->msg);
		snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", suffix);
	}
	return -1;
}

int ad_err_code(struct ad_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fill(err, code, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

int ad_err_set(struct ad_err *err, int errnum, const char *fmt, ...)
{
	const char *name = errnum == 0 ? NULL : ad_errno_name(errnum);
	va_list ap;
	va_start(ap, fmt);
	fill(err, errnum, errnum == 0 ? NULL : name ? name : strerror(errnum), fmt, ap);
	va_end(ap);
	return -1;
}

int ad_err_words(struct ad_err *err, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	fill(err, e, strerror(e), fmt, ap);
	va_end(ap);
	return -1;
}

int ad_err_prefix(struct ad_err *err, const char *fmt, ...)
{
	if (err == NULL)
		return -1;
	char ctx[AD_ERR_MSG_MAX];
	char old[AD_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old);
	return -1;
}

void ad_err_clear(struct ad_err *err)
{
	if (err != NULL) {
		err->errnum = 0;
		err->msg[0] = '\0';
	}
}

/* The names a reader of a log knows; strerror() text is the fallback. */
const char *ad_errno_name(int errnum)
{
	switch (errnum) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case E2BIG: return "E2BIG";
	case ENOEXEC: return "ENOEXEC";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case EMLINK: return "EMLINK";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ELOOP: return "ELOOP";
	case EOVERFLOW: return "EOVERFLOW";
	case EADDRINUSE: return "EADDRINUSE";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return NULL;
	}
}

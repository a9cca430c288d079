/* Serving static/: see include/http/static_files.h. */
#include "http/static_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "http/path.h"

#define STATIC_PATH_MAX 1024

struct static_files {
	int dirfd;
	bool have_openat2;
};

static const struct {
	const char *ext;
	const char *type;
} mime_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "wasm", "application/wasm" },
};

const char *static_mime_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	const char *slash = strrchr(name, '/');
	if (dot != NULL && (slash == NULL || dot > slash))
		for (size_t i = 0; i < ARRAY_SIZE(mime_types); i++)
			if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
				return mime_types[i].type;
	return "application/octet-stream";
}

int static_files_open(struct static_files **out, const char *dir, struct ad_err *err)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ad_err_sys(err, "static directory %s", dir);
	struct static_files *sf = calloc(1, sizeof(*sf));
	if (sf == NULL) {
		close(fd);
		return ad_err_set(err, ENOMEM, "static files");
	}
	sf->dirfd = fd;
	int probe = fs_openat2(fd, ".", O_PATH, RESOLVE_BENEATH);
	sf->have_openat2 = probe >= 0 || errno != ENOSYS;
	if (probe >= 0)
		close(probe);
	*out = sf;
	return 0;
}

/* Open rel beneath the directory: the kernel refuses any resolution (symlink, "..",
 * mount crossing through a magic link) that would leave it. Without openat2 (before
 * Linux 5.6), walk the components refusing every symlink. */
static int open_beneath(struct static_files *sf, const char *rel)
{
	const char *p = rel[0] ? rel : ".";
	if (sf->have_openat2)
		return fs_openat2(sf->dirfd, p, O_RDONLY | O_NOCTTY, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
	char buf[STATIC_PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", p);
	int fd = dup(sf->dirfd);
	for (char *save = NULL, *seg = strtok_r(buf, "/", &save); fd >= 0 && seg;
	     seg = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, seg, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		close(fd);
		fd = next;
	}
	return fd;
}

enum MHD_Result static_files_reply(struct static_files *sf, struct http_req *req)
{
	char rel[STATIC_PATH_MAX];
	if (http_path_sanitise(req->path, rel, sizeof(rel) - sizeof("/index.html")) < 0)
		return http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "no such file");
	_cleanup_close_ int fd = open_beneath(sf, rel);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* a directory is served as its index.html */
		size_t n = strlen(rel);
		snprintf(rel + n, sizeof(rel) - n, "%sindex.html", n ? "/" : "");
		close(fd);
		fd = open_beneath(sf, rel);
	}
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != EXDEV)
			log_debug("static: %s: %s", rel, strerror(errno));
		return http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "no such file");
	}
	return http_reply_fd(req, 200, steal_fd(&fd), (uint64_t)st.st_size, static_mime_type(rel));
}

void static_files_free(struct static_files *sf)
{
	if (sf == NULL)
		return;
	close(sf->dirfd);
	free(sf);
}

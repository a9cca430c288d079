/* Files from one directory (static/): sanitised paths, no symlink leading out of the
 * directory, regular files only, a MIME type by extension. Anything else is a 404. */
#ifndef AGENTD_HTTP_STATIC_FILES_H
#define AGENTD_HTTP_STATIC_FILES_H

#include "core/err.h"
#include "http/http.h"

struct static_files;

int static_files_open(struct static_files **out, const char *dir, struct ad_err *err);
enum MHD_Result static_files_reply(struct static_files *sf, struct http_req *req);
void static_files_free(struct static_files *sf);

/* "text/html; charset=utf-8" for "index.html"; application/octet-stream when unknown. */
const char *static_mime_type(const char *name);

#endif

/* URL paths from clients, turned into something safe to use.
 *
 * Decoding refuses what has no business in a path: %00 and control bytes, encoded
 * '/' or '\' (%2F, %5C: a second way to spell a separator), bad %-escapes. */
#ifndef AGENTD_HTTP_PATH_H
#define AGENTD_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Percent-decode s[0..n). A raw '/' is kept only when allow_slash. Returns a new string,
 * or NULL when the text is refused (or memory ran out). */
char *http_path_decode_segment(const char *s, size_t n, bool allow_slash);

/* A request path ("/css/app.css", still percent-encoded) to a path relative to a served
 * directory ("css/app.css"; "" for "/"). Refused, returning -1: no leading '/', any
 * segment that is "." or ".." or starts with '.', anything http_path_decode_segment
 * refuses, a result longer than size - 1. Empty segments ("//") are dropped. */
int http_path_sanitise(const char *path, char *out, size_t size);

#endif

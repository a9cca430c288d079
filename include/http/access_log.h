/* The access log line of a request: method, path, status, bytes, duration, client.
 *
 * The query string's values are not logged: a client may put a secret there
 * (?access_token=...), and the log is read by more people than the secret's owner.
 * Names stay, each value is written as ACCESS_LOG_REDACTED. */
#ifndef AGENTD_HTTP_ACCESS_LOG_H
#define AGENTD_HTTP_ACCESS_LOG_H

#include <stddef.h>

#include "http/http.h"

#define ACCESS_LOG_REDACTED "***"

/* target with every query value replaced; a new string, or NULL (out of memory). */
char *access_log_target(const char *target);
void access_log_request(const struct http_req *req);

#endif

/* Access log lines: see include/http/access_log.h. */
#include "http/access_log.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

char *access_log_target(const char *target)
{
	size_t n = strlen(target), values = 0;
	for (const char *p = target; *p; p++)
		values += *p == '=';
	char *out = malloc(n + values * strlen(ACCESS_LOG_REDACTED) + 1);
	if (out == NULL)
		return NULL;
	size_t path = strcspn(target, "?#"), o = path;
	memcpy(out, target, path);
	/* "?a=1&b&c=2#f" becomes "?a=***&b&c=***": names kept, values and fragment gone */
	const char *p = target + path;
	if (*p == '?') {
		out[o++] = *p++;
		while (*p && *p != '#') {
			size_t name = strcspn(p, "=&#");
			memcpy(out + o, p, name);
			o += name;
			p += name;
			if (*p == '=') {
				memcpy(out + o, "=" ACCESS_LOG_REDACTED, strlen(ACCESS_LOG_REDACTED) + 1);
				o += strlen(ACCESS_LOG_REDACTED) + 1;
				p += 1 + strcspn(p + 1, "&#");
			}
			if (*p == '&')
				out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

void access_log_request(const struct http_req *req)
{
	char *target = req->target ? access_log_target(req->target) : NULL;
	struct log_access_rec rec = {
		.method = req->method_name,
		.path = target ? target : "-",
		.remote = req->remote[0] ? req->remote : NULL,
		.status = req->status,
		.bytes = req->bytes_out,
		.duration_ms = (double)(clock_mono_ns() - req->start_ns) / 1e6,
		.route = req->route ? req->route->pattern : NULL,
		.token = strcmp(req->principal, HTTP_PRINCIPAL_ANONYMOUS) != 0 ? req->principal : NULL,
		.session = req->session,
	};
	log_access(&rec);
	free(target);
}

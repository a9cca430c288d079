/* Each request in the metrics (core/metrics.h): by method, route template and status,
 * and its duration by route. The route is the table's pattern, never the path: a path
 * carries ids, and a label per id would grow without bound. */
#include "http/http_metrics.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/metrics.h"

void http_metrics_request(const struct http_req *req)
{
	const char *method = http_method_name(req->method);
	/* no route: refused before routing (a bad head, too large); the fallback to the page's files: "static" */
	const char *route = req->route == NULL ? "none" : strcmp(req->route->pattern, "/*") == 0 ? "static"
											     : req->route->pattern;
	char code[16];
	snprintf(code, sizeof(code), "%u", req->status);
	metric_add(METRIC_HTTP_REQUESTS, METRIC_L(method, route, code), 1);
	metric_observe(METRIC_HTTP_SECONDS, METRIC_L(route), (double)(clock_mono_ns() - req->start_ns) / 1e9);
}

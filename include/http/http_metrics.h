/* A request as the metrics count it (http_metrics.c), at its end. */
#ifndef AGENTD_HTTP_HTTP_METRICS_H
#define AGENTD_HTTP_HTTP_METRICS_H

#include "http/http.h"

void http_metrics_request(const struct http_req *req);

#endif

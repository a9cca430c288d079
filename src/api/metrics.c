/* GET /metrics: the gateway's metrics (core/metrics.h) in Prometheus' text format, for
 * loopback clients and for holders of metrics.token, a bearer token of its own so that
 * a scraper needs no API token (and an API token gets no metrics). Gauges that describe
 * the present (sessions, the pool, workspaces, the process) are read at each scrape. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/app.h"
#include "core/metrics.h"
#include "core/sha256.h"
#include "session/session.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_BYTES (8u << 20)

/* The process' own figures, as /proc tells them; with start, also when it started (once:
 * that does not change). */
static void process_metrics(bool start_time)
{
	char buf[2048];
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long utime, stime, start, vsize;
	long long rss, threads;
	/* after ")": state (3), then fields 4..13, utime stime (14, 15), 16..19, threads
	 * (20), 21, starttime (22), vsize (23), rss (24) */
	if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %lld "
				"%*d %llu %llu %lld", &utime, &stime, &threads, &start, &vsize, &rss) == 6) {
		double hz = (double)sysconf(_SC_CLK_TCK);
		metric_set(METRIC_PROC_CPU, NULL, (double)(utime + stime) / hz);
		metric_set(METRIC_PROC_THREADS, NULL, (double)threads);
		metric_set(METRIC_PROC_VSIZE, NULL, (double)vsize);
		metric_set(METRIC_PROC_RSS, NULL, (double)rss * (double)sysconf(_SC_PAGESIZE));
		/* starttime counts from boot: the boot's time is in /proc/stat */
		FILE *st = start_time ? fopen("/proc/stat", "re") : NULL;
		char line[256];
		unsigned long long btime = 0;
		while (st != NULL && fgets(line, sizeof(line), st) != NULL)
			if (sscanf(line, "btime %llu", &btime) == 1)
				break;
		if (st != NULL)
			fclose(st);
		if (btime != 0)
			metric_set(METRIC_PROC_START, NULL, (double)btime + (double)start / hz);
	}
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		unsigned fds = 0;
		while (readdir(d) != NULL)
			fds++;
		closedir(d);
		metric_set(METRIC_PROC_FDS, NULL, fds > 3 ? fds - 3 : 0);   /* ".", ".." and d's own */
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		metric_set(METRIC_PROC_MAX_FDS, NULL, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
}

void api_metrics_setup(const char *node)
{
	metric_set(METRIC_BUILD_INFO, METRIC_L(AGENTD_VERSION), 1);
	metric_set(METRIC_NODE_INFO, METRIC_L(node), 1);   /* join on it: on(instance) group_left(node) */
	/* families without labels show a zero from the first scrape on */
	for (unsigned id = 0; id < METRIC_COUNT; id++)
		if (metric_defs[id].labels[0] == NULL)
			metric_touch(id, NULL);
	process_metrics(true);
}

/* Compared by their hashes, so that the time taken says nothing of the token. */
static bool token_matches(const char *want, const char *got, size_t len)
{
	uint8_t a[SHA256_LEN], b[SHA256_LEN];
	sha256(want, strlen(want), a);
	sha256(got, len, b);
	unsigned diff = 0;
	for (size_t i = 0; i < SHA256_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* Who may read: NULL, or the refusal's message (*status set). A request that brings
 * credentials must bring the right ones, also from loopback: a scraper set up wrongly
 * hears so at once. */
static const char *refusal(struct app *app, struct http_req *req, unsigned *status)
{
	const char *token = app->cfg.metrics.token;
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	*status = 401;
	if (h != NULL) {
		if (strncasecmp(h, "Bearer ", 7) != 0)
			return "the Authorization header must be \"Bearer <metrics.token>\"";
		if (token[0] == '\0' || !token_matches(token, h + 7, strlen(h + 7)))
			return "the bearer token is not this agentd's metrics.token (an API token does not read "
			       "metrics)";
		return NULL;
	}
	if (api_remote_is_loopback(req->remote))
		return NULL;
	if (token[0] != '\0')
		return "GET /metrics needs \"Authorization: Bearer <metrics.token>\" from beyond loopback";
	*status = 403;
	return "GET /metrics is served to loopback clients only: set metrics.token (AGENTD_METRICS_TOKEN) to let "
	       "a scraper elsewhere in";
}

enum MHD_Result api_metrics(struct http_req *req)
{
	struct app *app = req->app;
	if (!app->cfg.metrics.enabled)
		return http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "metrics are off here (metrics.enabled)");
	unsigned status;
	const char *no = refusal(app, req, &status);
	if (no != NULL)
		return http_reply_error_header(req, status, status == 401 ? HTTP_ERR_AUTH : "permission_error",
					       "WWW-Authenticate", "Bearer realm=\"agentd metrics\"", "%s", no);
	sessions_metrics(app->sessions);
	metric_set(METRIC_NODE_DRAINING, NULL, sessions_draining(app->sessions));
	process_metrics(false);
	struct buf out;
	buf_init(&out, METRICS_MAX_BYTES);
	metrics_format(&out);
	if (out.oom || out.dropped) {
		buf_free(&out);
		return http_reply_error(req, 500, HTTP_ERR_INTERNAL, "the metrics did not fit in memory");
	}
	size_t len = out.len;
	return http_reply_buffer(req, 200, METRICS_CONTENT_TYPE, out.data, len);
}

/* The families agentd exports: see include/core/metrics.h. Names and labels follow
 * Prometheus' conventions (base units, _total for counters); the process_* families
 * are the ones every Prometheus client library exports under those names. */
#include "core/metrics.h"

/* Seconds: from a pooled sandbox taken (about a millisecond) to a cold start with a
 * workspace made (tens of ms) and a slow host. */
static const double start_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
/* A model call: the first byte within a second or two, the whole in up to minutes. */
static const double api_buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
/* A tool call: a shell builtin to a build. */
static const double tool_buckets[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300 };
/* An HTTP request: most are answered at once; a turn or an event stream lasts. */
static const double http_buckets[] = { 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120 };

#define BUCKETS(b) b, sizeof(b) / sizeof((b)[0])
#define L(...) { __VA_ARGS__, NULL }
#define NONE { NULL }

const struct metric_def metric_defs[METRIC_COUNT] = {
	[METRIC_BUILD_INFO] = { "agentd_build_info", METRIC_GAUGE, "agentd's version, as a label; always 1.",
				L("version"), NULL, 0, 1 },
	[METRIC_NODE_INFO] = { "agentd_node_info", METRIC_GAUGE,
			       "This agentd's node name (node.name), as a label; always 1.", L("node"), NULL, 0, 1 },
	[METRIC_NODE_DRAINING] = { "agentd_node_draining", METRIC_GAUGE,
				   "1 while this node is drained (POST /api/admin/drain): it takes no new sessions.",
				   NONE, NULL, 0, 1 },
	[METRIC_SESSIONS] = { "agentd_sessions", METRIC_GAUGE,
			      "Sessions now, by state and lifecycle pattern (not the warm pool's sandboxes).",
			      L("state", "pattern"), NULL, 0, 64 },
	[METRIC_SESSIONS_CREATED] = { "agentd_sessions_created_total", METRIC_COUNTER, "Sessions created, by pattern.",
				      L("pattern"), NULL, 0, 8 },
	[METRIC_POOL_SIZE] = { "agentd_pool_size", METRIC_GAUGE, "Sandboxes the warm pool keeps (session.pool_size).",
			       NONE, NULL, 0, 1 },
	[METRIC_POOL_READY] = { "agentd_pool_ready", METRIC_GAUGE, "Sandboxes in the warm pool, ready to be taken.",
				NONE, NULL, 0, 1 },
	[METRIC_POOL_BUILDING] = { "agentd_pool_building", METRIC_GAUGE, "Sandboxes for the warm pool being built.",
				   NONE, NULL, 0, 1 },
	[METRIC_POOL_HITS] = { "agentd_pool_hits_total", METRIC_COUNTER, "New sessions that took a pooled sandbox.",
			       NONE, NULL, 0, 1 },
	[METRIC_POOL_MISSES] = { "agentd_pool_misses_total", METRIC_COUNTER,
				 "New sessions that found the pool empty and built their own sandbox.", NONE, NULL, 0, 1 },
	[METRIC_SANDBOX_START] = { "agentd_sandbox_start_seconds", METRIC_HISTOGRAM,
				   "Time from a sandbox asked for (a session, the pool, a resume) until its agent is up.",
				   NONE, BUCKETS(start_buckets), 1 },
	[METRIC_SANDBOX_FAILURES] = { "agentd_sandbox_failures_total", METRIC_COUNTER,
				      "Sandboxes that could not be built, by the step that failed.", L("step"), NULL, 0, 32 },
	[METRIC_API_REQUESTS] = { "agentd_api_requests_total", METRIC_COUNTER,
				  "Messages API calls, by model and outcome (ok, rate_limited, overloaded, server_error, "
				  "client_error, connection_error, cancelled, refused, budget_exceeded).",
				  L("model", "outcome"), NULL, 0, 200 },
	[METRIC_API_SECONDS] = { "agentd_api_request_seconds", METRIC_HISTOGRAM,
				 "Messages API calls: time to the first byte of the answer, and in all (retries included).",
				 L("model", "phase"), BUCKETS(api_buckets), 40 },
	[METRIC_API_TOKENS] = { "agentd_api_tokens_total", METRIC_COUNTER,
				"Tokens the Messages API counted, by model and kind (input, output, cache_write, cache_read).",
				L("model", "kind"), NULL, 0, 80 },
	[METRIC_API_COST] = { "agentd_api_cost_usd_total", METRIC_COUNTER,
			      "What the Messages API calls cost in US dollars at the configured prices, by model "
			      "(and token, with metrics.per_token).", L("model", "token"), NULL, 0, 1000 },
	[METRIC_API_RETRIES] = { "agentd_api_retries_total", METRIC_COUNTER,
				 "Messages API calls tried again, by reason (rate_limited, overloaded, server_error, timeout, "
				 "connection_error, other).", L("reason"), NULL, 0, 8 },
	[METRIC_TOOL_CALLS] = { "agentd_tool_calls_total", METRIC_COUNTER, "Tool calls, by tool and outcome (ok, error).",
				L("tool", "outcome"), NULL, 0, 300 },
	[METRIC_TOOL_SECONDS] = { "agentd_tool_seconds", METRIC_HISTOGRAM, "How long tool calls took, by tool.",
				  L("tool"), BUCKETS(tool_buckets), 150 },
	[METRIC_HTTP_REQUESTS] = { "agentd_http_requests_total", METRIC_COUNTER,
				   "HTTP requests answered, by method, route (its template) and status code.",
				   L("method", "route", "code"), NULL, 0, 600 },
	[METRIC_HTTP_SECONDS] = { "agentd_http_request_seconds", METRIC_HISTOGRAM,
				  "HTTP requests from their head to their answer's end (an event stream lasts), by route.",
				  L("route"), BUCKETS(http_buckets), 64 },
	[METRIC_EGRESS] = { "agentd_egress_total", METRIC_COUNTER,
			    "Connections of the egress proxy and the fetch tools, by decision (allowed, refused, failed).",
			    L("decision"), NULL, 0, 8 },
	[METRIC_OOM_KILLS] = { "agentd_oom_kills_total", METRIC_COUNTER,
			       "Processes the kernel killed in sandboxes for want of memory (the sandbox's memory limit).",
			       NONE, NULL, 0, 1 },
	[METRIC_WS_DISK_BYTES] = { "agentd_workspaces_disk_bytes", METRIC_GAUGE,
				   "Bytes the sessions' workspaces hold on disk.", NONE, NULL, 0, 1 },
	[METRIC_WS_DISK_FILES] = { "agentd_workspaces_disk_files", METRIC_GAUGE,
				   "Files the sessions' workspaces hold on disk.", NONE, NULL, 0, 1 },
	[METRIC_PROC_RSS] = { "process_resident_memory_bytes", METRIC_GAUGE, "Resident memory of the agentd gateway.",
			      NONE, NULL, 0, 1 },
	[METRIC_PROC_VSIZE] = { "process_virtual_memory_bytes", METRIC_GAUGE, "Virtual memory of the agentd gateway.",
				NONE, NULL, 0, 1 },
	[METRIC_PROC_FDS] = { "process_open_fds", METRIC_GAUGE, "File descriptors the gateway has open.",
			      NONE, NULL, 0, 1 },
	[METRIC_PROC_MAX_FDS] = { "process_max_fds", METRIC_GAUGE, "The gateway's limit of open file descriptors.",
				  NONE, NULL, 0, 1 },
	[METRIC_PROC_THREADS] = { "process_threads", METRIC_GAUGE, "Threads of the gateway.", NONE, NULL, 0, 1 },
	[METRIC_PROC_START] = { "process_start_time_seconds", METRIC_GAUGE,
				"When the gateway started, in seconds since the Unix epoch.", NONE, NULL, 0, 1 },
	[METRIC_PROC_CPU] = { "process_cpu_seconds_total", METRIC_COUNTER, "CPU time of the gateway (user and system).",
			      NONE, NULL, 0, 1 },
};

/* The gateway's metrics, for GET /metrics in Prometheus' text format (version 0.0.4).
 *
 * Every family agentd exports is a row of one table (core/metrics_table.c): its name,
 * type, help, label names and, for histograms, bucket bounds. A series is made the first
 * time its label values are used. Label sets stay bounded whatever clients send: a
 * family holds at most its max_series series, and past that every new combination of
 * values counts in one series whose values are all "other"; values are cut to
 * METRIC_VALUE_MAX bytes and made valid UTF-8 without control characters. Callers pass
 * templates (a route, never a path with an id), and ids never become labels.
 *
 * Thread-safe: each family has its lock; an update is a lookup and an add. */
#ifndef AGENTD_CORE_METRICS_H
#define AGENTD_CORE_METRICS_H

#include <stddef.h>

#include "core/buf.h"

enum metric_id {
	METRIC_BUILD_INFO,
	METRIC_NODE_INFO,          /* {node}: node.name, always 1 */
	METRIC_NODE_DRAINING,      /* 1 while drained (POST /api/admin/drain) */
	METRIC_SESSIONS,           /* gauge {state, pattern}: set at each scrape */
	METRIC_SESSIONS_CREATED,   /* {pattern} */
	METRIC_POOL_SIZE,
	METRIC_POOL_READY,
	METRIC_POOL_BUILDING,
	METRIC_POOL_HITS,
	METRIC_POOL_MISSES,
	METRIC_SANDBOX_START,      /* histogram, seconds: a sandbox asked for until it is up */
	METRIC_SANDBOX_FAILURES,   /* {step} */
	METRIC_API_REQUESTS,       /* {model, outcome} */
	METRIC_API_SECONDS,        /* histogram {model, phase}: first_byte, total */
	METRIC_API_TOKENS,         /* {model, kind} */
	METRIC_API_COST,           /* {model, token}: token only with metrics.per_token */
	METRIC_API_RETRIES,        /* {reason} */
	METRIC_TOOL_CALLS,         /* {tool, outcome} */
	METRIC_TOOL_SECONDS,       /* histogram {tool} */
	METRIC_HTTP_REQUESTS,      /* {method, route, code} */
	METRIC_HTTP_SECONDS,       /* histogram {route} */
	METRIC_EGRESS,             /* {decision} */
	METRIC_OOM_KILLS,
	METRIC_WS_DISK_BYTES,
	METRIC_WS_DISK_FILES,
	METRIC_PROC_RSS,
	METRIC_PROC_VSIZE,
	METRIC_PROC_FDS,
	METRIC_PROC_MAX_FDS,
	METRIC_PROC_THREADS,
	METRIC_PROC_START,
	METRIC_PROC_CPU,
	METRIC_COUNT
};

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_LABELS_MAX 3
#define METRIC_VALUE_MAX 128
/* What a label value that would make one series too many is counted as. */
#define METRIC_OVERFLOW "other"

struct metric_def {
	const char *name;
	enum metric_type type;
	const char *help;
	const char *labels[METRIC_LABELS_MAX + 1];   /* NULL-terminated */
	const double *buckets;                       /* histograms: upper bounds, ascending */
	unsigned nbuckets;
	unsigned max_series;
};

/* The table (metrics_table.c), indexed by enum metric_id. */
extern const struct metric_def metric_defs[METRIC_COUNT];

/* labels: the values, in the order of the family's label names (NULL when it has
 * none); an empty value is a label left out, as Prometheus reads it. */
void metric_add(enum metric_id id, const char *const *labels, double v);      /* counters */
void metric_set(enum metric_id id, const char *const *labels, double v);      /* gauges; counters
										 kept elsewhere */
void metric_observe(enum metric_id id, const char *const *labels, double v);  /* histograms */
/* The series of labels made, at zero, if it is not there: so that a scrape shows a
 * family's series before anything happened. */
void metric_touch(enum metric_id id, const char *const *labels);
#define METRIC_L(...) ((const char *const[]){ __VA_ARGS__ })

/* Every family, in the table's order, as the text format (# HELP, # TYPE, samples). */
void metrics_format(struct buf *out);
/* How many series a family holds now (tests, and the cardinality check). */
size_t metric_series(enum metric_id id);
/* Free every series (at exit, so that leak checks see nothing). */
void metrics_free(void);

#endif

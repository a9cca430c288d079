/* Counters, gauges and histograms: see include/core/metrics.h. */
#include "core/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

/* One combination of label values. key holds the values one after another, each ended
 * by a NUL (the values never contain one), so two series compare with one memcmp. */
struct series {
	uint64_t hash;
	char *key;
	size_t key_len;
	double value;                 /* counters and gauges; a histogram's sum */
	uint64_t count;               /* histograms: observations */
	uint64_t *buckets;            /* histograms: per bucket (not cumulative) */
};

struct family {
	pthread_mutex_t lock;
	struct series **series;
	size_t n, cap;
};

static struct family families[METRIC_COUNT] = {
	[0 ... METRIC_COUNT - 1] = { .lock = PTHREAD_MUTEX_INITIALIZER },
};

static unsigned label_count(const struct metric_def *d)
{
	unsigned n = 0;
	while (n < METRIC_LABELS_MAX && d->labels[n] != NULL)
		n++;
	return n;
}

/* The key of labels (sanitised, cut) into out; its length. */
static size_t make_key(const struct metric_def *d, const char *const *labels, char *out)
{
	size_t len = 0;
	for (unsigned i = 0; i < label_count(d); i++) {
		const char *v = labels != NULL && labels[i] != NULL ? labels[i] : "";
		char clean[METRIC_VALUE_MAX + 1];
		utf8_sanitise(v, clean, sizeof(clean));
		size_t n = strlen(clean);
		memcpy(out + len, clean, n + 1);
		len += n + 1;
	}
	return len;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
	return h;
}

static struct series *series_new(const struct metric_def *d, const char *key, size_t len, uint64_t hash)
{
	struct series *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->key = malloc(len ? len : 1);
	s->buckets = d->type == METRIC_HISTOGRAM ? calloc(d->nbuckets, sizeof(*s->buckets)) : NULL;
	if (s->key == NULL || (d->type == METRIC_HISTOGRAM && s->buckets == NULL)) {
		free(s->key);
		free(s->buckets);
		free(s);
		return NULL;
	}
	memcpy(s->key, key, len);
	s->key_len = len;
	s->hash = hash;
	return s;
}

/* Under f->lock: the series of key, made if need be; past max_series, the overflow
 * series. NULL only when out of memory. */
static struct series *series_get(const struct metric_def *d, struct family *f, const char *key, size_t len)
{
	char other[METRIC_LABELS_MAX * sizeof(METRIC_OVERFLOW)];
	for (int pass = 0; pass < 2; pass++) {
		uint64_t hash = fnv1a(key, len);
		for (size_t i = 0; i < f->n; i++)
			if (f->series[i]->hash == hash && f->series[i]->key_len == len &&
			    memcmp(f->series[i]->key, key, len) == 0)
				return f->series[i];
		/* the overflow series may be the one past the limit */
		if (f->n < d->max_series || pass == 1) {
			if (f->n == f->cap) {
				size_t cap = f->cap ? 2 * f->cap : 8;
				struct series **grown = realloc(f->series, cap * sizeof(*grown));
				if (grown == NULL)
					return NULL;
				f->series = grown;
				f->cap = cap;
			}
			struct series *s = series_new(d, key, len, hash);
			if (s != NULL)
				f->series[f->n++] = s;
			return s;
		}
		len = 0;
		for (unsigned i = 0; i < label_count(d); i++) {
			memcpy(other + len, METRIC_OVERFLOW, sizeof(METRIC_OVERFLOW));
			len += sizeof(METRIC_OVERFLOW);
		}
		key = other;
	}
	return NULL;
}

/* Under its family's lock, the series of labels; NULL with the lock let go. */
static struct series *lock_series(enum metric_id id, const char *const *labels)
{
	const struct metric_def *d = &metric_defs[id];
	char key[METRIC_LABELS_MAX * (METRIC_VALUE_MAX + 1)];
	size_t len = make_key(d, labels, key);
	struct family *f = &families[id];
	pthread_mutex_lock(&f->lock);
	struct series *s = series_get(d, f, key, len);
	if (s == NULL)
		pthread_mutex_unlock(&f->lock);
	return s;
}

static void unlock_series(enum metric_id id)
{
	pthread_mutex_unlock(&families[id].lock);
}

void metric_add(enum metric_id id, const char *const *labels, double v)
{
	struct series *s;
	if (!(v >= 0) || (s = lock_series(id, labels)) == NULL)
		return;                     /* a counter never goes down */
	s->value += v;
	unlock_series(id);
}

void metric_set(enum metric_id id, const char *const *labels, double v)
{
	struct series *s = lock_series(id, labels);
	if (s == NULL)
		return;
	s->value = v;
	unlock_series(id);
}

void metric_observe(enum metric_id id, const char *const *labels, double v)
{
	const struct metric_def *d = &metric_defs[id];
	struct series *s;
	if (isnan(v) || (s = lock_series(id, labels)) == NULL)
		return;
	unsigned b = 0;
	while (b < d->nbuckets && v > d->buckets[b])
		b++;
	if (b < d->nbuckets)
		s->buckets[b]++;
	s->count++;
	s->value += v;
	unlock_series(id);
}

void metric_touch(enum metric_id id, const char *const *labels)
{
	if (lock_series(id, labels) != NULL)
		unlock_series(id);
}

size_t metric_series(enum metric_id id)
{
	struct family *f = &families[id];
	pthread_mutex_lock(&f->lock);
	size_t n = f->n;
	pthread_mutex_unlock(&f->lock);
	return n;
}

void metrics_free(void)
{
	for (unsigned id = 0; id < METRIC_COUNT; id++) {
		struct family *f = &families[id];
		pthread_mutex_lock(&f->lock);
		for (size_t i = 0; i < f->n; i++) {
			free(f->series[i]->key);
			free(f->series[i]->buckets);
			free(f->series[i]);
		}
		free(f->series);
		f->series = NULL;
		f->n = f->cap = 0;
		pthread_mutex_unlock(&f->lock);
	}
}

/* The text format: a number as Prometheus reads it. */
static void number_text(double v, char *out, size_t size)
{
	if (isinf(v))
		snprintf(out, size, "%s", v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, size, "%.0f", v);
	else
		snprintf(out, size, "%.15g", v);
}

static void put_number(struct buf *out, double v)
{
	char t[40];
	number_text(v, t, sizeof(t));
	buf_puts(out, t);
}

/* {a="x",b="y"} (labels with an empty value left out), with le="..." last when le is
 * not NULL; nothing when no label is left. */
static void put_labels(struct buf *out, const struct metric_def *d, const struct series *s, const char *le)
{
	const char *v = s->key;
	bool any = false;
	for (unsigned i = 0; i < label_count(d); i++, v += strlen(v) + 1) {
		if (*v == '\0')
			continue;
		buf_printf(out, "%s%s=\"", any ? "," : "{", d->labels[i]);
		for (const char *p = v; *p; p++) {
			if (*p == '\\' || *p == '"')
				buf_append(out, "\\", 1);
			buf_append(out, p, 1);
		}
		buf_puts(out, "\"");
		any = true;
	}
	if (le != NULL) {
		buf_printf(out, "%sle=\"%s\"", any ? "," : "{", le);
		any = true;
	}
	if (any)
		buf_puts(out, "}");
}

static void put_histogram(struct buf *out, const struct metric_def *d, const struct series *s)
{
	uint64_t cum = 0;
	for (unsigned b = 0; b <= d->nbuckets; b++) {
		char le[40];
		cum = b < d->nbuckets ? cum + s->buckets[b] : s->count;
		number_text(b < d->nbuckets ? d->buckets[b] : INFINITY, le, sizeof(le));
		buf_printf(out, "%s_bucket", d->name);
		put_labels(out, d, s, le);
		buf_printf(out, " %llu\n", (unsigned long long)cum);
	}
	buf_printf(out, "%s_sum", d->name);
	put_labels(out, d, s, NULL);
	buf_puts(out, " ");
	put_number(out, s->value);
	buf_printf(out, "\n%s_count", d->name);
	put_labels(out, d, s, NULL);
	buf_printf(out, " %llu\n", (unsigned long long)s->count);
}

void metrics_format(struct buf *out)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	for (unsigned id = 0; id < METRIC_COUNT; id++) {
		const struct metric_def *d = &metric_defs[id];
		struct family *f = &families[id];
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, types[d->type]);
		pthread_mutex_lock(&f->lock);
		for (size_t i = 0; i < f->n; i++) {
			if (d->type == METRIC_HISTOGRAM) {
				put_histogram(out, d, f->series[i]);
				continue;
			}
			buf_puts(out, d->name);
			put_labels(out, d, f->series[i], NULL);
			buf_puts(out, " ");
			put_number(out, f->series[i]->value);
			buf_puts(out, "\n");
		}
		pthread_mutex_unlock(&f->lock);
	}
}

/*
 * metrics.h - a fixed registry of Prometheus counters, gauges and
 * histograms, rendered in the text exposition format.
 *
 * Series are registered by (name, labels) and live until metrics_reset();
 * registering the same pair twice returns the same series.  Updates are
 * relaxed atomics, safe from any thread and free on the hot path: look
 * the series up once and keep the pointer.  The registry holds at most
 * METRICS_MAX series; past that, registration returns a shared overflow
 * series and counts the refusal in ugallu_dns_metrics_overflow_total.
 */
#ifndef DD_METRICS_H
#define DD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX 512
#define METRICS_BUCKETS 12

enum metrics_type {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
};

struct metrics_series {
    _Atomic uint64_t value;   /* counter total or gauge value (signed
                                 gauges store two's complement) */
    _Atomic uint64_t buckets[METRICS_BUCKETS]; /* histogram counts */
    _Atomic uint64_t sum_ns;  /* histogram sum, nanoseconds */
};

/*
 * Find or create a series.  labels is the text between the braces, such
 * as source="dnstap", or "" for none; help describes the family (the
 * first registration's help wins).  Never returns NULL.
 */
struct metrics_series *metrics_counter(const char *name, const char *labels,
                                       const char *help);
struct metrics_series *metrics_gauge(const char *name, const char *labels,
                                     const char *help);
/* Histogram over seconds with fixed bounds from 10 us to 10 s. */
struct metrics_series *metrics_histogram(const char *name,
                                         const char *labels,
                                         const char *help);

static inline void
metrics_add(struct metrics_series *s, uint64_t n)
{
    atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

static inline void
metrics_inc(struct metrics_series *s)
{
    metrics_add(s, 1);
}

static inline void
metrics_set(struct metrics_series *s, int64_t v)
{
    atomic_store_explicit(&s->value, (uint64_t)v, memory_order_relaxed);
}

static inline uint64_t
metrics_get(const struct metrics_series *s)
{
    return atomic_load_explicit(&s->value, memory_order_relaxed);
}

/* Record one duration in a histogram. */
void metrics_observe_ns(struct metrics_series *s, uint64_t ns);

/*
 * Count one malformed input of the given kind in
 * ugallu_dns_malformed_total{kind=...}.  kind must be a string literal or
 * otherwise outlive the registry.  Cheap enough for error paths.
 */
void metrics_malformed(const char *kind);

/* Count one dropped event in ugallu_dns_events_dropped_total{reason}. */
void metrics_dropped(const char *reason);

/* Current value of a registered series, 0 when absent. */
uint64_t metrics_value(const char *name, const char *labels);

/* Sum of every series of a family (all label sets). */
uint64_t metrics_family_sum(const char *name);

/*
 * Render every series.  Returns a malloc'ed NUL-terminated string the
 * caller frees, or NULL when out of memory.
 */
char *metrics_render(void);

/* Forget every series (tests). Not safe while other threads update. */
void metrics_reset(void);

#endif

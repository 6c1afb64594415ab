/*
 * metrics.c - fixed registry of Prometheus series.
 */
#include "core/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics_entry {
    const char *name;
    char labels[128];
    const char *help;
    enum metrics_type type;
    struct metrics_series series;
};

static struct metrics_entry metrics_table[METRICS_MAX];
static _Atomic size_t metrics_used;
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_series metrics_spill;
/* Refused registrations; kept outside the table so it always renders. */
static struct metrics_series metrics_overflow;
#define METRICS_OVERFLOW_NAME "ugallu_dns_metrics_overflow_total"

/* Upper bounds of histogram buckets, nanoseconds; the last is +Inf. */
static const uint64_t metrics_bounds_ns[METRICS_BUCKETS - 1] = {
    10000ull, 50000ull, 100000ull, 500000ull, 1000000ull, 5000000ull,
    10000000ull, 50000000ull, 100000000ull, 1000000000ull, 10000000000ull,
};

static struct metrics_entry *
metrics_find(const char *name, const char *labels, size_t used)
{
    for (size_t i = 0; i < used; i++) {
        struct metrics_entry *e = &metrics_table[i];
        if (strcmp(e->name, name) == 0 && strcmp(e->labels, labels) == 0) {
            return e;
        }
    }
    return NULL;
}

static struct metrics_series *
metrics_register(const char *name, const char *labels, const char *help,
                 enum metrics_type type)
{
    struct metrics_entry *e;
    size_t used;

    pthread_mutex_lock(&metrics_lock);
    used = atomic_load(&metrics_used);
    e = metrics_find(name, labels, used);
    if (e == NULL && used < METRICS_MAX && strlen(labels) < 128) {
        e = &metrics_table[used];
        e->name = name;
        snprintf(e->labels, sizeof(e->labels), "%s", labels);
        e->help = help;
        e->type = type;
        atomic_store(&metrics_used, used + 1);
    }
    pthread_mutex_unlock(&metrics_lock);

    if (e == NULL) {
        metrics_inc(&metrics_overflow);
        return &metrics_spill;
    }
    return &e->series;
}

struct metrics_series *
metrics_counter(const char *name, const char *labels, const char *help)
{
    return metrics_register(name, labels, help, METRICS_COUNTER);
}

struct metrics_series *
metrics_gauge(const char *name, const char *labels, const char *help)
{
    return metrics_register(name, labels, help, METRICS_GAUGE);
}

struct metrics_series *
metrics_histogram(const char *name, const char *labels, const char *help)
{
    return metrics_register(name, labels, help, METRICS_HISTOGRAM);
}

void
metrics_observe_ns(struct metrics_series *s, uint64_t ns)
{
    size_t i = 0;

    while (i < METRICS_BUCKETS - 1 && ns > metrics_bounds_ns[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->value, 1, memory_order_relaxed);
}

void
metrics_malformed(const char *kind)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "kind=\"%s\"", kind);
    metrics_inc(metrics_counter("ugallu_dns_malformed_total", labels,
                                "Malformed input dropped, by kind."));
}

void
metrics_dropped(const char *reason)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
    metrics_inc(metrics_counter("ugallu_dns_events_dropped_total", labels,
                                "Events dropped, by reason."));
}

uint64_t
metrics_value(const char *name, const char *labels)
{
    struct metrics_entry *e;

    if (strcmp(name, METRICS_OVERFLOW_NAME) == 0) {
        return metrics_get(&metrics_overflow);
    }
    pthread_mutex_lock(&metrics_lock);
    e = metrics_find(name, labels, atomic_load(&metrics_used));
    pthread_mutex_unlock(&metrics_lock);
    return e == NULL ? 0 : metrics_get(&e->series);
}

uint64_t
metrics_family_sum(const char *name)
{
    size_t used = atomic_load(&metrics_used);
    uint64_t sum = 0;

    for (size_t i = 0; i < used; i++) {
        if (strcmp(metrics_table[i].name, name) == 0) {
            sum += metrics_get(&metrics_table[i].series);
        }
    }
    return sum;
}

/* Growable output buffer for rendering. */
struct metrics_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

static void
metrics_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed) {
        return;
    }
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *grown = realloc(b->data, b->cap * 2 + (size_t)n);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

static void
metrics_render_histogram(struct metrics_buf *b, const struct metrics_entry *e)
{
    const char *sep = e->labels[0] != '\0' ? "," : "";
    uint64_t cum = 0;

    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        cum += atomic_load(&e->series.buckets[i]);
        if (i < METRICS_BUCKETS - 1) {
            metrics_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", e->name,
                           e->labels, sep, metrics_bounds_ns[i] / 1e9,
                           (unsigned long long)cum);
        } else {
            metrics_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", e->name,
                           e->labels, sep, (unsigned long long)cum);
        }
    }
    metrics_printf(b, "%s_sum%s%s%s %.9f\n", e->name, *sep ? "{" : "",
                   e->labels, *sep ? "}" : "",
                   atomic_load(&e->series.sum_ns) / 1e9);
    metrics_printf(b, "%s_count%s%s%s %llu\n", e->name, *sep ? "{" : "",
                   e->labels, *sep ? "}" : "", (unsigned long long)cum);
}

static void
metrics_render_entry(struct metrics_buf *b, const struct metrics_entry *e)
{
    uint64_t v = metrics_get(&e->series);
    int has = e->labels[0] != '\0';
    const char *open = has ? "{" : "", *close = has ? "}" : "";

    if (e->type == METRICS_HISTOGRAM) {
        metrics_render_histogram(b, e);
    } else if (e->type == METRICS_GAUGE) {
        metrics_printf(b, "%s%s%s%s %lld\n", e->name, open, e->labels,
                       close, (long long)(int64_t)v);
    } else {
        metrics_printf(b, "%s%s%s%s %llu\n", e->name, open, e->labels,
                       close, (unsigned long long)v);
    }
}

/* True when an earlier entry than i has the same family name. */
static int
metrics_family_seen(size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (strcmp(metrics_table[j].name, metrics_table[i].name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* HELP and TYPE of the family of entry i, then all of its series. */
static void
metrics_render_family(struct metrics_buf *b, size_t i, size_t used)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    const struct metrics_entry *head = &metrics_table[i];

    metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", head->name,
                   head->help, head->name, types[head->type]);
    for (size_t j = i; j < used; j++) {
        if (strcmp(metrics_table[j].name, head->name) == 0) {
            metrics_render_entry(b, &metrics_table[j]);
        }
    }
}

char *
metrics_render(void)
{
    struct metrics_buf b = {malloc(4096), 0, 4096, 0};
    size_t used = atomic_load(&metrics_used);

    if (b.data == NULL) {
        return NULL;
    }
    b.data[0] = '\0';
    for (size_t i = 0; i < used; i++) {
        if (!metrics_family_seen(i)) {
            metrics_render_family(&b, i, used);
        }
    }
    metrics_printf(&b, "# HELP %s Series refused: registry full.\n"
                   "# TYPE %s counter\n%s %llu\n", METRICS_OVERFLOW_NAME,
                   METRICS_OVERFLOW_NAME, METRICS_OVERFLOW_NAME,
                   (unsigned long long)metrics_get(&metrics_overflow));
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

void
metrics_reset(void)
{
    pthread_mutex_lock(&metrics_lock);
    memset(metrics_table, 0, sizeof(metrics_table));
    atomic_store(&metrics_used, 0);
    metrics_set(&metrics_overflow, 0);
    pthread_mutex_unlock(&metrics_lock);
}

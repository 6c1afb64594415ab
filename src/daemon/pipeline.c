/*
 * pipeline.c - transactions, detectors, dedup and sinks.
 */
#include "daemon/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/ring.h"
#include "detectors/blocklist.h"
#include "detectors/chain.h"
#include "enrich/podattr.h"
#include "event/txn.h"
#include "output/evjson.h"

#define PIPELINE_DEDUP_SLOTS 4096
#define PIPELINE_BATCH 256

/* One remembered finding: the first of its (detector, subject, key). */
struct pipeline_dedup {
    uint64_t hash;       /* 0 when empty */
    struct finding f;
};

struct pipeline {
    struct config cfg;
    struct pipeline_options opt;
    struct txn *txn;
    struct chain *chain;
    struct ring *ring;
    struct pipeline_dedup *dedup;

    pthread_t thread;
    _Atomic int running;
    pthread_mutex_t out_lock;  /* the pipeline thread's state: held while
                                  a batch runs, so a chain swap falls
                                  between batches */
    pthread_mutex_t control_lock; /* serialises control threads: config
                                     applies, reloads, list feeds; never
                                     taken by the pipeline thread */

    pipeline_sink_fn *sink;
    void *sink_ctx;
    pipeline_anomaly_fn *anomaly_fn;
    void *anomaly_ctx;
    struct podattr *podattr;       /* pod attribution, or NULL */
    struct metrics_series *generation;

    struct pipeline_counts counts;
    struct metrics_series *events_total[EVENT_SOURCE_COUNT];
    struct metrics_series *msg_query[EVENT_SOURCE_COUNT];
    struct metrics_series *msg_response[EVENT_SOURCE_COUNT];
    struct metrics_series *queue_full;
    struct metrics_series *queue_depth;
    struct metrics_series *dedup_evicted;
    struct metrics_series *written;
    struct metrics_series *stage_cost;
};

static void pipeline_on_event(void *ctx, const struct event *ev);

/*
 * Series of the lookups that leave the event path (pod attribution, RDAP).
 * They are registered up front so dashboards find them in every mode.
 */
static void
pipeline_lookup_metrics(void)
{
    podattr_register_metrics();
}

static void
pipeline_metrics(struct pipeline *p)
{
    char labels[64];

    for (unsigned s = 0; s < EVENT_SOURCE_COUNT; s++) {
        const char *name = event_source_name(s);
        snprintf(labels, sizeof(labels), "source=\"%s\"", name);
        p->events_total[s] = metrics_counter("ugallu_dns_events_total",
            labels, "DNS transactions and flows seen, by source.");
        snprintf(labels, sizeof(labels), "source=\"%s\",side=\"query\"",
                 name);
        p->msg_query[s] = metrics_counter("ugallu_dns_messages_total",
            labels, "DNS messages decoded, by source and side.");
        snprintf(labels, sizeof(labels), "source=\"%s\",side=\"response\"",
                 name);
        p->msg_response[s] = metrics_counter("ugallu_dns_messages_total",
            labels, "DNS messages decoded, by source and side.");
    }
    p->queue_full = metrics_counter("ugallu_dns_events_dropped_total",
        "reason=\"queue_full\"", "Events dropped, by reason.");
    p->dedup_evicted = metrics_counter("ugallu_dns_dedup_evictions_total",
        "", "Findings forgotten early by the dedup table (a repeat may be"
        " written again).");
    p->queue_depth = metrics_gauge("ugallu_dns_queue_depth",
        "queue=\"events\"", "Items waiting, by queue.");
    p->written = metrics_counter("ugallu_dns_securityevent_writes_total",
        "sink=\"jsonl\",outcome=\"ok\"", "SecurityEvents written.");
    p->stage_cost = metrics_histogram("ugallu_dns_stage_seconds",
        "stage=\"detect\"", "Time spent per event, by stage.");
    p->generation = metrics_gauge("ugallu_dns_config_generation", "",
        "metadata.generation of the configuration in force.");
    pipeline_lookup_metrics();
}

struct pipeline *
pipeline_create(const struct pipeline_options *opt, char *err,
                size_t errlen)
{
    struct pipeline *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->cfg = *opt->config;
    p->opt = *opt;
    p->opt.config = &p->cfg;
    pthread_mutex_init(&p->out_lock, NULL);
    pthread_mutex_init(&p->control_lock, NULL);
    pipeline_metrics(p);

    p->chain = chain_create(&p->cfg, err, errlen);
    p->txn = txn_create(opt->txn_capacity, opt->txn_hold_ns,
                        pipeline_on_event, p);
    p->ring = ring_create(opt->queue_capacity);
    p->dedup = calloc(PIPELINE_DEDUP_SLOTS, sizeof(*p->dedup));
    if (p->chain == NULL || p->txn == NULL || p->ring == NULL ||
        p->dedup == NULL) {
        if (p->chain != NULL) {
            snprintf(err, errlen, "out of memory");
        }
        pipeline_free(p);
        return NULL;
    }
    return p;
}

void
pipeline_free(struct pipeline *p)
{
    if (p == NULL) {
        return;
    }
    chain_free(p->chain);
    txn_free(p->txn);
    ring_free(p->ring);
    free(p->dedup);
    pthread_mutex_destroy(&p->out_lock);
    pthread_mutex_destroy(&p->control_lock);
    free(p);
}

/* Write obj as one compact JSON line; flushed when the sink is live. */
static void
pipeline_write_json(struct pipeline *p, FILE *out, json_t *obj)
{
    char buf[8192];
    size_t n = json_dumpb(obj, buf, sizeof(buf) - 1,
                          JSON_COMPACT | JSON_REAL_PRECISION(9));

    if (n < sizeof(buf) - 1) {
        buf[n++] = '\n';
        fwrite(buf, 1, n, out);
    } else {
        json_dumpf(obj, out, JSON_COMPACT | JSON_REAL_PRECISION(9));
        fputc('\n', out);
    }
    if (p->opt.live) {
        fflush(out);
    }
}

/* Write one SecurityEvent line. */
static void
pipeline_write(struct pipeline *p, const struct finding *f)
{
    json_t *obj = secevent_build(f, &p->opt.identity);

    if (obj == NULL) {
        metrics_dropped("out_of_memory");
        return;
    }
    pipeline_write_json(p, p->opt.findings, obj);
    if (p->sink != NULL) {
        p->sink(p->sink_ctx, obj, f);
    }
    json_decref(obj);
    metrics_inc(p->written);
}

static uint64_t
pipeline_dedup_hash(const struct finding *f)
{
    uint64_t h = HASH_FNV_OFFSET;
    const char *parts[4] = {f->detector, f->subject_namespace, f->subject,
                            f->key};

    for (size_t i = 0; i < 4; i++) {
        h = hash_field(h, parts[i]);
    }
    return h | 1;
}

/* Re-emit a remembered finding whose repeats were merged into it. */
static void
pipeline_dedup_close(struct pipeline *p, struct pipeline_dedup *d)
{
    if (d->hash != 0 && d->f.merged > 0) {
        pipeline_write(p, &d->f);
    }
    d->hash = 0;
}

static int
pipeline_dedup_same(const struct pipeline_dedup *d, const struct finding *f,
                    uint64_t h)
{
    return d->hash == h && strcmp(d->f.detector, f->detector) == 0 &&
           strcmp(d->f.subject, f->subject) == 0 &&
           strcmp(d->f.subject_namespace, f->subject_namespace) == 0 &&
           strcmp(d->f.key, f->key) == 0;
}

static void
pipeline_report(void *ctx, const struct finding *f)
{
    struct pipeline *p = ctx;
    uint64_t h = pipeline_dedup_hash(f);
    struct pipeline_dedup *d = &p->dedup[h % PIPELINE_DEDUP_SLOTS];

    if (pipeline_dedup_same(d, f, h) &&
        f->detected_ns < d->f.detected_ns + p->opt.dedup_window_ns) {
        d->f.merged++;
        p->counts.merged++;
        return;
    }
    if (d->hash != 0 && !pipeline_dedup_same(d, f, h)) {
        metrics_inc(p->dedup_evicted);
    }
    pipeline_dedup_close(p, d);
    d->hash = h;
    d->f = *f;
    p->counts.findings++;
    pipeline_write(p, f);
}

/*
 * Whether the detectors see an event.  A resolver's or forwarder's own
 * upstream queries (dnstap RESOLVER_* and FORWARDER_*) repeat what its
 * clients asked, with the resolver as the client: they are counted and
 * written to the event sink, but raising findings on them would blame
 * the resolver for its clients' queries.
 */
static int
pipeline_detects(const struct event *ev)
{
    return ev->role != EVENT_ROLE_RESOLVER &&
           ev->role != EVENT_ROLE_FORWARDER;
}

/* A completed transaction or flow: detectors, then sinks. */
static void
pipeline_on_event(void *ctx, const struct event *ev)
{
    struct pipeline *p = ctx;
    int timed = (p->counts.events & 63) == 0;
    uint64_t t0 = timed ? clock_ns(CLOCK_MONOTONIC) : 0;
    struct event attributed;

    if (p->podattr != NULL && pipeline_detects(ev)) {
        attributed = *ev;
        podattr_enrich(p->podattr, &attributed);
        ev = &attributed;
    }

    p->counts.events++;
    metrics_inc(p->events_total[ev->source % EVENT_SOURCE_COUNT]);
    if (p->opt.events != NULL) {
        json_t *o = evjson_build(ev);
        if (o != NULL) {
            pipeline_write_json(p, p->opt.events, o);
            json_decref(o);
        }
    }
    if (pipeline_detects(ev)) {
        chain_run(p->chain, ev, pipeline_report, p);
    }
    if (timed) {
        metrics_observe_ns(p->stage_cost,
                           clock_ns(CLOCK_MONOTONIC) - t0);
    }
}

void
pipeline_process(struct pipeline *p, const struct event *ev)
{
    unsigned src = ev->source % EVENT_SOURCE_COUNT;

    if ((++p->counts.messages & 255) == 0) {
        chain_poll(p->chain, 0, pipeline_report, p);
    }
    if (ev->kind == EVENT_KIND_FLOW) {
        p->counts.flows++;
    } else if (ev->flags & EVENT_F_RESPONSE) {
        p->counts.responses++;
        metrics_inc(p->msg_response[src]);
    } else {
        p->counts.queries++;
        metrics_inc(p->msg_query[src]);
    }
    txn_add(p->txn, ev);
}

void
pipeline_process_cb(void *ctx, const struct event *ev)
{
    pipeline_process(ctx, ev);
}

void
pipeline_submit(struct pipeline *p, const struct event *ev)
{
    if (ring_push(p->ring, ev) != 0) {
        metrics_inc(p->queue_full);
    }
}

void
pipeline_submit_cb(void *ctx, const struct event *ev)
{
    pipeline_submit(ctx, ev);
}

void
pipeline_submit_wait_cb(void *ctx, const struct event *ev)
{
    struct pipeline *p = ctx;

    if (ring_push_wait(p->ring, ev, 1000) != 0) {
        metrics_inc(p->queue_full);
    }
}

/*
 * Pending transactions expire against event time (txn_add keeps the
 * newest time seen), so a sender whose clock differs from ours still
 * pairs.  When no message has come for the hold time, what waits can
 * only be unanswered: it is flushed.
 */
static void
pipeline_idle(struct pipeline *p, size_t n, uint64_t *busy_at)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);

    if (n > 0) {
        *busy_at = now;
    } else if (now - *busy_at > p->opt.txn_hold_ns &&
               txn_pending(p->txn) > 0) {
        txn_flush(p->txn);
    }
}

static void *
pipeline_main(void *arg)
{
    struct pipeline *p = arg;
    struct event *batch = malloc(PIPELINE_BATCH * sizeof(*batch));
    uint64_t busy_at = clock_ns(CLOCK_MONOTONIC);
    size_t n;

    if (batch == NULL) {
        log_error("pipeline thread out of memory", "%s", "");
        return NULL;
    }
    for (;;) {
        n = ring_pop(p->ring, batch, PIPELINE_BATCH, 200);
        pthread_mutex_lock(&p->out_lock);
        for (size_t i = 0; i < n; i++) {
            pipeline_process(p, &batch[i]);
        }
        pipeline_idle(p, n, &busy_at);
        chain_poll(p->chain, 0, pipeline_report, p);
        pthread_mutex_unlock(&p->out_lock);
        metrics_set(p->queue_depth, (int64_t)ring_depth(p->ring));
        if (n == 0 && !atomic_load(&p->running)) {
            break;
        }
    }
    free(batch);
    return NULL;
}

int
pipeline_start(struct pipeline *p)
{
    p->running = 1;
    if (pthread_create(&p->thread, NULL, pipeline_main, p) != 0) {
        p->running = 0;
        return -errno;
    }
    return 0;
}

void
pipeline_stop(struct pipeline *p)
{
    if (!p->running) {
        return;
    }
    atomic_store(&p->running, 0);
    ring_close(p->ring);
    pthread_join(p->thread, NULL);
}

void
pipeline_flush(struct pipeline *p)
{
    pthread_mutex_lock(&p->out_lock);
    txn_flush(p->txn);
    chain_poll(p->chain, p->opt.drain_ms, pipeline_report, p);
    for (size_t i = 0; i < PIPELINE_DEDUP_SLOTS; i++) {
        pipeline_dedup_close(p, &p->dedup[i]);
    }
    if (p->opt.events != NULL) {
        fflush(p->opt.events);
    }
    fflush(p->opt.findings);
    pthread_mutex_unlock(&p->out_lock);
}

void
pipeline_report_anomaly(struct pipeline *p, const char *type,
                        const char *severity, const char *reason,
                        const char *message)
{
    const char *node = p->opt.identity.node;
    struct finding f;
    uint64_t before;
    int first;

    memset(&f, 0, sizeof(f));
    f.detector = "sourceSupervisor";
    f.class_ = "Anomaly";
    f.type = type;
    f.severity = severity;
    snprintf(f.key, sizeof(f.key), "%s", reason);
    snprintf(f.subject, sizeof(f.subject), "%s",
             node != NULL && node[0] != '\0' ? node : "unknown");
    f.detected_ns = clock_ns(CLOCK_REALTIME);
    finding_signal(&f, "reason", "%s", reason);
    finding_signal(&f, "message", "%s", message);
    pthread_mutex_lock(&p->out_lock);
    before = p->counts.findings;
    pipeline_report(p, &f);
    first = p->counts.findings != before;
    pthread_mutex_unlock(&p->out_lock);
    if (first && p->anomaly_fn != NULL) {
        p->anomaly_fn(p->anomaly_ctx, type, message);
    }
}

void
pipeline_set_anomaly_hook(struct pipeline *p, pipeline_anomaly_fn *fn,
                          void *ctx)
{
    p->anomaly_fn = fn;
    p->anomaly_ctx = ctx;
}

void
pipeline_set_sink(struct pipeline *p, pipeline_sink_fn *fn, void *ctx)
{
    p->sink = fn;
    p->sink_ctx = ctx;
}

void
pipeline_set_podattr(struct pipeline *p, struct podattr *pa)
{
    p->podattr = pa;
}

int
pipeline_apply_config(struct pipeline *p, const struct config *cfg,
                      char *err, size_t errlen)
{
    struct chain *next, *old;

    pthread_mutex_lock(&p->control_lock);
    next = chain_create(cfg, err, errlen);
    if (next == NULL) {
        pthread_mutex_unlock(&p->control_lock);
        return -EINVAL;
    }
    pthread_mutex_lock(&p->out_lock);
    old = p->chain;
    p->chain = next;
    p->cfg = *cfg;
    metrics_set(p->generation, (int64_t)cfg->generation);
    pthread_mutex_unlock(&p->out_lock);

    chain_free(old);
    pthread_mutex_unlock(&p->control_lock);
    return 0;
}

int
pipeline_feed_blocklist(struct pipeline *p, int kind, const char *namespace_,
                        const char *name, const char *text, size_t len,
                        char *err, size_t errlen)
{
    struct detector *d;
    int rc;

    pthread_mutex_lock(&p->control_lock);
    d = chain_find(p->chain, "blocklist");
    rc = d == NULL ? -ENOENT : blocklist_feed(d, kind, namespace_, name,
                                               text, len, err, errlen);
    pthread_mutex_unlock(&p->control_lock);
    if (rc == -ENOENT && d == NULL) {
        snprintf(err, errlen, "blocklist detector disabled");
    }
    return rc;
}

int
pipeline_detector_enabled(struct pipeline *p, const char *name)
{
    int on;

    pthread_mutex_lock(&p->out_lock);
    on = config_detector_enabled(&p->cfg, name) == 1;
    pthread_mutex_unlock(&p->out_lock);
    return on;
}

uint64_t
pipeline_config_generation(struct pipeline *p)
{
    uint64_t g;

    pthread_mutex_lock(&p->out_lock);
    g = p->cfg.generation;
    pthread_mutex_unlock(&p->out_lock);
    return g;
}

int
pipeline_reload(struct pipeline *p, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&p->control_lock);
    rc = chain_reload(p->chain, err, errlen);
    pthread_mutex_unlock(&p->control_lock);
    return rc;
}

void
pipeline_explain(struct pipeline *p, const char *qname, FILE *out)
{
    json_t *o = chain_explain(p->chain, qname);

    json_dumpf(o, out, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', out);
    json_decref(o);
}

void
pipeline_counts(struct pipeline *p, struct pipeline_counts *out)
{
    pthread_mutex_lock(&p->out_lock);
    *out = p->counts;
    pthread_mutex_unlock(&p->out_lock);
}

/*
 * chain.c - building and running the detector chain.
 */
#include "core/clock.h"
#include "detectors/chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAIN_MAX 16

/* One event in CHAIN_SAMPLE is timed per detector, to keep clocks cheap. */
#define CHAIN_SAMPLE 64

struct chain {
    size_t n;
    uint64_t runs;
    struct detector *d[CHAIN_MAX];
};

typedef struct detector *chain_ctor_fn(const struct config *cfg, char *err,
                                       size_t errlen);

static int
chain_add(struct chain *c, chain_ctor_fn *ctor, const struct config *cfg,
          char *err, size_t errlen)
{
    struct detector *d = ctor(cfg, err, errlen);
    char labels[64];

    if (d == NULL) {
        return -1;
    }
    snprintf(labels, sizeof(labels), "detector=\"%s\"", d->name);
    d->fires = metrics_counter("ugallu_dns_detector_fires_total", labels,
                               "Findings raised, by detector.");
    d->cost = metrics_histogram("ugallu_dns_detector_seconds", labels,
                                "Time spent per event, by detector.");
    c->d[c->n++] = d;
    return 0;
}

struct chain *
chain_create(const struct config *cfg, char *err, size_t errlen)
{
    struct chain *c = calloc(1, sizeof(*c));
    int rc = 0;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (cfg->blocklist.enabled) {
        rc = rc ? rc : chain_add(c, blocklist_create, cfg, err, errlen);
    }
    if (cfg->dga.enabled) {
        rc = rc ? rc : chain_add(c, dga_create, cfg, err, errlen);
    }
    if (cfg->tunneling.enabled || cfg->exfiltration.enabled) {
        rc = rc ? rc : chain_add(c, tunnel_create, cfg, err, errlen);
    }
    if (cfg->doh.enabled || cfg->dot.enabled) {
        rc = rc ? rc : chain_add(c, doh_create, cfg, err, errlen);
    }
    if (cfg->anomalous_port.enabled) {
        rc = rc ? rc : chain_add(c, anomport_create, cfg, err, errlen);
    }
    if (cfg->slow_query.enabled) {
        rc = rc ? rc : chain_add(c, slowq_create, cfg, err, errlen);
    }
    if (cfg->young_domain.enabled) {
        rc = rc ? rc : chain_add(c, young_create, cfg, err, errlen);
    }
    if (rc != 0) {
        chain_free(c);
        return NULL;
    }
    return c;
}

void
chain_free(struct chain *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        c->d[i]->free(c->d[i]);
    }
    free(c);
}

struct detector *
chain_find(struct chain *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->d[i]->name, name) == 0) {
            return c->d[i];
        }
    }
    return NULL;
}

size_t
chain_size(const struct chain *c)
{
    return c->n;
}

/* Counts each finding against its detector before passing it on. */
struct chain_tap {
    struct detector *d;
    chain_report_fn *report;
    void *ctx;
};

static void
chain_count(void *ctx, const struct finding *f)
{
    struct chain_tap *tap = ctx;

    metrics_inc(tap->d->fires);
    tap->report(tap->ctx, f);
}

void
chain_run(struct chain *c, const struct event *ev, chain_report_fn *report,
          void *ctx)
{
    int timed = c->runs++ % CHAIN_SAMPLE == 0;

    for (size_t i = 0; i < c->n; i++) {
        struct chain_tap tap = {c->d[i], report, ctx};
        uint64_t t0 = timed ? clock_ns(CLOCK_MONOTONIC) : 0;

        c->d[i]->check(c->d[i], ev, chain_count, &tap);
        if (timed) {
            metrics_observe_ns(c->d[i]->cost, clock_ns(CLOCK_MONOTONIC) - t0);
        }
    }
}

void
chain_poll(struct chain *c, int wait_ms, chain_report_fn *report,
           void *ctx)
{
    for (size_t i = 0; i < c->n; i++) {
        struct chain_tap tap = {c->d[i], report, ctx};

        if (c->d[i]->poll != NULL) {
            c->d[i]->poll(c->d[i], wait_ms, chain_count, &tap);
        }
    }
}

int
chain_reload(struct chain *c, char *err, size_t errlen)
{
    int first = 0;
    char msg[512];

    for (size_t i = 0; i < c->n; i++) {
        int rc = c->d[i]->reload != NULL
                     ? c->d[i]->reload(c->d[i], msg, sizeof(msg)) : 0;
        if (rc != 0 && first == 0) {
            first = rc;
            snprintf(err, errlen, "%s: %s", c->d[i]->name, msg);
        }
    }
    return first;
}

json_t *
chain_explain(struct chain *c, const char *qname)
{
    json_t *obj = json_object();

    json_object_set_new(obj, "name", json_string(qname));
    for (size_t i = 0; i < c->n; i++) {
        if (c->d[i]->explain != NULL) {
            c->d[i]->explain(c->d[i], qname, obj);
        }
    }
    return obj;
}

/*
 * bench_detectors.c - what each detector costs per event.
 *
 * Decodes a dnstap capture once into an in-memory array of transactions
 * (the reader, decoder and txn table the daemon uses, query and response
 * paired), then for each detector alone, and for all of them together,
 * builds a chain from the given config with only that detector enabled
 * and times chain_run() over every event, in CPU time.  Prints one line
 * per chain: events, nanoseconds per event, events per second, findings.
 *
 * youngDomain is left out: it sends names to RDAP servers, which a
 * benchmark should not do.
 *
 * Usage: bench_detectors CAPTURE.dnstap [CONFIG.yaml [MAX_EVENTS]]
 * (MAX_EVENTS default 500000; the data files are found as the daemon
 * finds them, so run with UGALLU_DATA_DIR=data from the repository).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "detectors/chain.h"
#include "event/txn.h"
#include "sources/dnstap_listen.h"

#define BENCH_SECOND 1000000000ull
#define BENCH_TXN_CAPACITY 16384
#define BENCH_TXN_HOLD (5 * BENCH_SECOND)

/* The decoded transactions; grows by doubling up to max. */
struct bench_events {
    struct event *v;
    size_t n;
    size_t cap;
    size_t max;
    int oom;
};

/* The chains measured: one detector each, then "all". */
static const char *const bench_names[] = {
    "blocklist", "dga", "tunneling", "exfiltration", "doh", "dot",
    "anomalousPort", "slowQuery", "all",
};

static double
bench_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* txn's emit: keep a copy of every finished transaction. */
static void
bench_keep(void *ctx, const struct event *ev)
{
    struct bench_events *e = ctx;

    if (e->n == e->max || e->oom) {
        return;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap != 0 ? e->cap * 2 : 65536;
        struct event *v = realloc(e->v, cap * sizeof(*v));
        if (v == NULL) {
            e->oom = 1;
            return;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = *ev;
}

/* The decoder's emit: offer each message to the txn table. */
static void
bench_pair(void *ctx, const struct event *ev)
{
    txn_add(ctx, ev);
}

/* Decode path into e, pairing queries and responses. */
static int
bench_load(const char *path, struct bench_events *e)
{
    struct txn *t = txn_create(BENCH_TXN_CAPACITY, BENCH_TXN_HOLD,
                               bench_keep, e);
    char err[256];
    int rc;

    if (t == NULL) {
        fprintf(stderr, "out of memory\n");
        return -1;
    }
    rc = dnstap_listen_read_file(path, bench_pair, t, NULL,
                                 err, sizeof(err));
    txn_flush(t);
    txn_free(t);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    if (e->oom || e->n == 0) {
        fprintf(stderr, "%s: %s\n", path, e->oom ? "out of memory"
                                                 : "no events");
        return -1;
    }
    return 0;
}

/* Turn every detector off, then which on ("all": every one measured). */
static void
bench_only(struct config *c, const char *which)
{
    int all = strcmp(which, "all") == 0;

    c->blocklist.enabled = all || strcmp(which, "blocklist") == 0;
    c->dga.enabled = all || strcmp(which, "dga") == 0;
    c->tunneling.enabled = all || strcmp(which, "tunneling") == 0;
    c->exfiltration.enabled = all || strcmp(which, "exfiltration") == 0;
    c->doh.enabled = all || strcmp(which, "doh") == 0;
    c->dot.enabled = all || strcmp(which, "dot") == 0;
    c->anomalous_port.enabled = all ||
                                strcmp(which, "anomalousPort") == 0;
    c->slow_query.enabled = all || strcmp(which, "slowQuery") == 0;
    c->young_domain.enabled = 0;
}

static void
bench_count(void *ctx, const struct finding *f)
{
    (void)f;
    ++*(unsigned long *)ctx;
}

/* Time one chain over every event and print its line. */
static int
bench_chain(const struct config *base, const char *which,
            const struct bench_events *e)
{
    struct config c = *base;
    unsigned long findings = 0;
    struct chain *ch;
    char err[256];
    double t0, secs;

    bench_only(&c, which);
    ch = chain_create(&c, err, sizeof(err));
    if (ch == NULL) {
        fprintf(stderr, "%s: %s\n", which, err);
        return -1;
    }
    t0 = bench_cpu();
    for (size_t i = 0; i < e->n; i++) {
        chain_run(ch, &e->v[i], bench_count, &findings);
    }
    chain_poll(ch, 0, bench_count, &findings);
    secs = bench_cpu() - t0;
    chain_free(ch);
    printf("detector=%-13s events=%zu ns_per_event=%.1f "
           "events_per_second=%.0f findings=%lu\n", which, e->n,
           secs * 1e9 / (double)e->n, (double)e->n / secs, findings);
    return 0;
}

static int
bench_config(const char *path, struct config *c)
{
    char err[256];

    if (path == NULL) {
        config_defaults(c);
        return 0;
    }
    if (config_load_file(path, c, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct bench_events e = {NULL, 0, 0, 500000, 0};
    static struct config cfg;
    int rc = 0;

    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s CAPTURE.dnstap [CONFIG [MAX_EVENTS]]\n",
                argv[0]);
        return 2;
    }
    if (argc == 4) {
        e.max = strtoul(argv[3], NULL, 10);
    }
    if (bench_config(argc > 2 ? argv[2] : NULL, &cfg) != 0 ||
        bench_load(argv[1], &e) != 0) {
        free(e.v);
        return 1;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(bench_names) /
                                       sizeof(bench_names[0]); i++) {
        rc = bench_chain(&cfg, bench_names[i], &e);
    }
    free(e.v);
    return rc == 0 ? 0 : 1;
}

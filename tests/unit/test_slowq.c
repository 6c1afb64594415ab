/*
 * test_slowq.c - the slowQuery detector: the floor before a resolver has
 * been learnt, the learnt p99 (and its error on a known distribution),
 * outliers against normal traffic, ageing, the resolver table's
 * eviction, and the slow padded answers rule (DNSExfiltration).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "detectors/chain.h"
#include "detectors/detector.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)

/* ---- helpers --------------------------------------------------------- */

struct sink {
    size_t n;
    struct finding f[64];
};

static void
sink_report(void *ctx, const struct finding *f)
{
    struct sink *s = ctx;

    if (s->n < sizeof(s->f) / sizeof(s->f[0])) {
        s->f[s->n] = *f;
    }
    s->n++;
}

/* Findings of one type in the sink. */
static size_t
sink_count(const struct sink *s, const char *type)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n && i < 64; i++) {
        n += strcmp(s->f[i].type, type) == 0;
    }
    return n;
}

static void
addr(struct event_addr *a, const char *text)
{
    unsigned char raw[16];

    if (inet_pton(AF_INET, text, raw) == 1) {
        event_addr_set(a, raw, 4);
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, raw), 1);
        event_addr_set(a, raw, 16);
    }
}

/* An answered A query from client to resolver:53 with a latency. */
static void
answered(struct event *ev, const char *client, const char *resolver,
         const char *qname, uint64_t latency_ns)
{
    event_reset(ev);
    ev->kind = EVENT_KIND_DNS;
    ev->role = EVENT_ROLE_CLIENT;
    ev->flags = EVENT_F_QUERY | EVENT_F_RESPONSE | EVENT_F_LATENCY |
                EVENT_F_QUESTION;
    ev->time_ns = T0;
    ev->latency_ns = latency_ns;
    ev->response_ns = T0 + latency_ns;
    ev->qtype = 1;
    ev->qclass = 1;
    ev->query_size = 40;
    ev->response_size = 56;
    ev->answer_bytes = 4;
    addr(&ev->client, client);
    addr(&ev->server, resolver);
    ev->client_port = 40000;
    ev->server_port = 53;
    snprintf(ev->qname, sizeof(ev->qname), "%s", qname);
    ev->qname_len = (uint8_t)strlen(ev->qname);
}

static struct detector *
make(uint64_t floor_ns, int exfil)
{
    struct config cfg;
    char err[256] = "";
    struct detector *d;

    config_defaults(&cfg);
    cfg.slow_query.latency_p99_ns = floor_ns;
    cfg.exfiltration.enabled = exfil;
    cfg.exfiltration.window_ns = 60 * SEC;
    d = slowq_create(&cfg, err, sizeof(err));
    assert_non_null(d);
    assert_string_equal(d->name, "slowQuery");
    return d;
}

/* Run one event; returns the number of findings it raised. */
static size_t
run(struct detector *d, const struct event *ev, struct sink *s)
{
    size_t before = s->n;

    d->check(d, ev, sink_report, s);
    return s->n - before;
}

/* n fast answers (1 to 2 ms) from client to resolver, one per 10 ms. */
static void
learn(struct detector *d, const char *client, const char *resolver,
      size_t n, uint64_t start_ns)
{
    struct sink s = {0};
    struct event ev;

    for (size_t i = 0; i < n; i++) {
        answered(&ev, client, resolver, "www.fast.example.com",
                 MS + (i % 100) * 10000);
        ev.time_ns = start_ns + i * 10 * MS;
        run(d, &ev, &s);
    }
    assert_int_equal(s.n, 0);
}

/* ---- the floor and the learnt p99 ------------------------------------ */

static void
test_floor_before_learning(void **state)
{
    struct detector *d = make(500 * MS, 0);
    struct sink s = {0};
    struct event ev;
    const struct finding *f;

    (void)state;
    answered(&ev, "10.0.0.1", "10.96.0.10", "a.b.slow.example.org",
             400 * MS);
    assert_int_equal(run(d, &ev, &s), 0);
    answered(&ev, "10.0.0.1", "10.96.0.10", "a.b.slow.example.org",
             600 * MS);
    assert_int_equal(run(d, &ev, &s), 1);

    f = &s.f[0];
    assert_string_equal(f->type, "DNSSlowQuery");
    assert_string_equal(f->severity, "low");
    assert_int_equal(f->experimental, 1);
    assert_string_equal(f->key, "example.org");
    assert_string_equal(f->subject, "ip-10.0.0.1");
    assert_string_equal(finding_get(f, "qname"), "a.b.slow.example.org");
    assert_string_equal(finding_get(f, "zone"), "example.org");
    assert_string_equal(finding_get(f, "latency_ms"), "600.000");
    assert_string_equal(finding_get(f, "resolver"), "10.96.0.10:53");
    assert_string_equal(finding_get(f, "resolver_p99_ms"), "learning");
    assert_string_equal(finding_get(f, "floor_ms"), "500.000");
    assert_string_equal(finding_get(f, "samples"), "1");
    d->free(d);
}

static void
test_zero_floor_waits_for_learning(void **state)
{
    struct detector *d = make(0, 0);
    struct sink s = {0};
    struct event ev;

    (void)state;
    for (int i = 0; i < 50; i++) {
        answered(&ev, "10.0.0.1", "10.96.0.10", "x.example.com",
                 (uint64_t)(1 + i) * MS);
        assert_int_equal(run(d, &ev, &s), 0);
    }
    answered(&ev, "10.0.0.1", "10.96.0.10", "x.example.com", 900 * MS);
    assert_int_equal(run(d, &ev, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "samples"), "50");
    assert_string_not_equal(finding_get(&s.f[0], "resolver_p99_ms"),
                            "learning");
    d->free(d);
}

/* A deterministic log-normal sample: median 20 ms, the given sigma. */
static uint64_t
lognormal_ns(uint64_t *seed, double sigma)
{
    double u1, u2, z;

    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    u1 = ((double)(*seed >> 11) + 1.0) / 9007199254740993.0;
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    u2 = (double)(*seed >> 11) / 9007199254740992.0;
    z = sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
    return (uint64_t)(20e6 * exp(sigma * z));
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* The p99 a finding reports against the exact p99 of what was fed. */
static void
test_p99_error_lognormal(void **state)
{
    enum { N = 20000 };
    static uint64_t lat[N];
    struct detector *d = make(MS, 0);
    struct sink s = {0};
    struct event ev;
    uint64_t seed = 42;
    double exact, got, err;

    (void)state;
    for (size_t i = 0; i < N; i++) {
        lat[i] = lognormal_ns(&seed, 0.8);
        answered(&ev, "10.0.0.2", "10.96.0.10", "n.example.com", lat[i]);
        ev.time_ns = T0 + i * MS;
        d->check(d, &ev, sink_report, &s);
    }
    s.n = 0;
    answered(&ev, "10.0.0.2", "10.96.0.10", "n.example.com", 60 * SEC);
    ev.time_ns = T0 + N * MS;
    assert_int_equal(run(d, &ev, &s), 1);

    qsort(lat, N, sizeof(lat[0]), cmp_u64);
    exact = (double)lat[(size_t)(0.99 * N) - 1] / 1e6;
    got = strtod(finding_get(&s.f[0], "resolver_p99_ms"), NULL);
    err = fabs(got - exact) / exact;
    print_message("p99 exact %.3f ms, sketch %.3f ms, error %.2f%%\n",
                  exact, got, err * 100.0);
    assert_true(err < 0.02);
    assert_string_equal(finding_get(&s.f[0], "samples"), "20000");
    d->free(d);
}

/* ---- outliers and normal traffic ------------------------------------- */

static void
test_outlier_fires(void **state)
{
    struct detector *d = make(500 * MS, 0);
    struct sink s = {0};
    struct event ev;
    double p99;

    (void)state;
    learn(d, "10.0.0.3", "10.96.0.10", 200, T0);
    answered(&ev, "10.0.0.4", "10.96.0.10", "q1.slowzone.com", 800 * MS);
    ev.time_ns = T0 + 3 * SEC;
    assert_int_equal(run(d, &ev, &s), 1);
    assert_string_equal(s.f[0].key, "slowzone.com");
    assert_string_equal(s.f[0].subject, "ip-10.0.0.4");
    assert_string_equal(finding_get(&s.f[0], "samples"), "200");
    p99 = strtod(finding_get(&s.f[0], "resolver_p99_ms"), NULL);
    assert_true(p99 > 1.9 && p99 < 2.05);

    /* Another resolver has its own sketch: still learning. */
    answered(&ev, "10.0.0.4", "10.96.0.11", "q2.slowzone.com", 800 * MS);
    ev.time_ns = T0 + 4 * SEC;
    assert_int_equal(run(d, &ev, &s), 1);
    assert_string_equal(finding_get(&s.f[1], "resolver_p99_ms"),
                        "learning");
    d->free(d);
}

/* A resolver slow for everyone: above the floor, but not outliers. */
static void
test_slow_resolver_mostly_quiet(void **state)
{
    struct detector *d = make(500 * MS, 0);
    struct sink s = {0};
    struct event ev;
    size_t fired = 0;

    (void)state;
    for (size_t i = 0; i < 2000; i++) {
        answered(&ev, "10.0.0.5", "192.0.2.53", "x.example.net",
                 600 * MS + (i * 7919 % 1000) * 100000);
        ev.time_ns = T0 + i * 100 * MS;
        fired += run(d, &ev, &s) > 0 && i >= 50;
    }
    print_message("slow resolver: %zu of 1950 above its p99\n", fired);
    assert_true(fired < 40);

    /* What is slow for this resolver still stands out. */
    answered(&ev, "10.0.0.5", "192.0.2.53", "x.example.net", 900 * MS);
    ev.time_ns = T0 + 200 * SEC;
    assert_int_equal(run(d, &ev, &s), 1);
    assert_true(strtod(finding_get(&s.f[s.n - 1], "resolver_p99_ms"),
                       NULL) > 690.0);
    d->free(d);
}

static void
test_normal_traffic_quiet(void **state)
{
    struct detector *d = make(500 * MS, 1);
    struct sink s = {0};
    struct event ev;
    uint64_t seed = 7;

    (void)state;
    for (size_t i = 0; i < 50000; i++) {
        answered(&ev, "10.0.1.1", "10.96.0.10", "www.example.com",
                 lognormal_ns(&seed, 0.6));
        ev.response_size = 900;
        ev.time_ns = T0 + i * MS;
        run(d, &ev, &s);
    }
    /* Median 20 ms, sigma 0.6: 500 ms is 5.4 sigma out. */
    assert_int_equal(s.n, 0);
    d->free(d);
}

static void
test_ignores_unanswered_and_flows(void **state)
{
    struct detector *d = make(500 * MS, 0);
    struct sink s = {0};
    struct event ev;

    (void)state;
    answered(&ev, "10.0.0.6", "10.96.0.10", "x.example.com", 900 * MS);
    ev.flags = EVENT_F_QUERY | EVENT_F_UNANSWERED | EVENT_F_QUESTION;
    assert_int_equal(run(d, &ev, &s), 0);
    answered(&ev, "10.0.0.6", "10.96.0.10", "x.example.com", 900 * MS);
    ev.flags &= ~EVENT_F_LATENCY;
    assert_int_equal(run(d, &ev, &s), 0);
    answered(&ev, "10.0.0.6", "10.96.0.10", "x.example.com", 900 * MS);
    ev.kind = EVENT_KIND_FLOW;
    assert_int_equal(run(d, &ev, &s), 0);

    /* None of them was a sample. */
    answered(&ev, "10.0.0.6", "10.96.0.10", "x.example.com", 900 * MS);
    assert_int_equal(run(d, &ev, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "samples"), "0");
    d->free(d);
}

/* ---- forgetting ------------------------------------------------------ */

static void
test_sketch_ages_out(void **state)
{
    struct detector *d = make(500 * MS, 0);
    struct sink s = {0};
    struct event ev;

    (void)state;
    learn(d, "10.0.0.7", "10.96.0.10", 400, T0);
    answered(&ev, "10.0.0.7", "10.96.0.10", "q.slow.example.com",
             700 * MS);
    ev.time_ns = T0 + 5 * SEC + 300 * SEC;   /* one half-life on */
    assert_int_equal(run(d, &ev, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "samples"), "200");

    ev.time_ns = T0 + 3 * 3600 * SEC;         /* far later */
    assert_int_equal(run(d, &ev, &s), 1);
    assert_string_equal(finding_get(&s.f[1], "samples"), "0");
    assert_string_equal(finding_get(&s.f[1], "resolver_p99_ms"),
                        "learning");
    d->free(d);
}

static void
test_counts_bounded(void **state)
{
    struct detector *d = make(500 * MS, 0);
    struct sink s = {0};
    struct event ev;
    unsigned long samples;

    (void)state;
    /* 70000 answers in 70 s: no half-life passes, the cap halves. */
    for (unsigned i = 0; i < 70000; i++) {
        answered(&ev, "10.0.0.8", "10.96.0.10", "a.example.com",
                 MS + (i % 100) * 10000);
        ev.time_ns = T0 + i * MS;
        assert_int_equal(run(d, &ev, &s), 0);
    }
    answered(&ev, "10.0.0.8", "10.96.0.10", "q.slow.example.com",
             700 * MS);
    ev.time_ns = T0 + 70 * SEC;
    assert_int_equal(run(d, &ev, &s), 1);
    samples = strtoul(finding_get(&s.f[0], "samples"), NULL, 10);
    print_message("samples after 70000 answers: %lu\n", samples);
    assert_true(samples > 30000 && samples < 65536);
    d->free(d);
}

static void
test_resolver_table_eviction(void **state)
{
    struct detector *d = make(500 * MS, 0);
    struct sink s = {0};
    struct event ev;
    char resolver[32];
    uint64_t before = metrics_value("ugallu_dns_events_dropped_total",
                                    "reason=\"slowq_table_full\"");
    uint64_t after;

    (void)state;
    learn(d, "10.0.0.9", "10.96.0.10", 100, T0);
    for (unsigned i = 0; i < 2048; i++) {
        snprintf(resolver, sizeof(resolver), "10.%u.%u.1", 100 + i / 250,
                 i % 250);
        answered(&ev, "10.0.0.9", resolver, "a.example.com", MS);
        ev.time_ns = T0 + 2 * SEC + i * MS;
        assert_int_equal(run(d, &ev, &s), 0);
    }
    after = metrics_value("ugallu_dns_events_dropped_total",
                          "reason=\"slowq_table_full\"");
    assert_true(after - before >= 1500);

    /* The first resolver was the least recently used: it starts over. */
    answered(&ev, "10.0.0.9", "10.96.0.10", "q.slow.example.com",
             700 * MS);
    ev.time_ns = T0 + 10 * SEC;
    assert_int_equal(run(d, &ev, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "samples"), "0");
    d->free(d);
}

/* ---- slow padded answers --------------------------------------------- */

/* One slow answer from zone slowzone.com to client; padded or not. */
static size_t
slow_answer(struct detector *d, struct sink *s, const char *client,
            unsigned i, uint32_t response_size, uint64_t at_ns)
{
    struct event ev;
    char qname[64];

    snprintf(qname, sizeof(qname), "c%u.slowzone.com", i);
    answered(&ev, client, "10.96.0.10", qname, 900 * MS);
    ev.response_size = response_size;
    ev.qtype = 16;
    ev.time_ns = at_ns;
    return run(d, &ev, s);
}

static void
test_exfil_slow_padded(void **state)
{
    struct detector *d = make(500 * MS, 1);
    struct sink s = {0};
    const struct finding *f = NULL;

    (void)state;
    learn(d, "10.0.2.1", "10.96.0.10", 5000, T0);
    for (unsigned i = 0; i < 4; i++) {
        slow_answer(d, &s, "10.0.2.2", i, 700, T0 + 60 * SEC + i * SEC);
    }
    assert_int_equal(sink_count(&s, "DNSExfiltration"), 0);
    assert_int_equal(sink_count(&s, "DNSSlowQuery"), 4);
    slow_answer(d, &s, "10.0.2.2", 4, 700, T0 + 65 * SEC);
    assert_int_equal(sink_count(&s, "DNSExfiltration"), 1);
    for (size_t i = 0; i < s.n; i++) {
        f = strcmp(s.f[i].type, "DNSExfiltration") == 0 ? &s.f[i] : f;
    }
    assert_string_equal(f->severity, "high");
    assert_string_equal(f->key, "slowzone.com");
    assert_string_equal(f->subject, "ip-10.0.2.2");
    assert_string_equal(finding_get(f, "slow_padded_count"), "5");
    assert_string_equal(finding_get(f, "zone"), "slowzone.com");
    assert_string_equal(finding_get(f, "window_seconds"), "60.000");

    /* Once per window. */
    slow_answer(d, &s, "10.0.2.2", 5, 700, T0 + 66 * SEC);
    assert_int_equal(sink_count(&s, "DNSExfiltration"), 1);
    d->free(d);
}

static void
test_exfil_needs_padding_window_and_config(void **state)
{
    struct detector *d = make(500 * MS, 1);
    struct detector *off = make(500 * MS, 0);
    struct sink s = {0};

    (void)state;
    learn(d, "10.0.2.1", "10.96.0.10", 5000, T0);
    learn(off, "10.0.2.1", "10.96.0.10", 5000, T0);
    for (unsigned i = 0; i < 10; i++) {
        slow_answer(d, &s, "10.0.3.1", i, 120, T0 + 60 * SEC + i * SEC);
        slow_answer(off, &s, "10.0.3.2", i, 900, T0 + 60 * SEC + i * SEC);
    }
    /* Four padded in one window, the fifth after it has run out. */
    for (unsigned i = 0; i < 4; i++) {
        slow_answer(d, &s, "10.0.3.3", i, 600, T0 + 60 * SEC + i * SEC);
    }
    slow_answer(d, &s, "10.0.3.3", 4, 600, T0 + 121 * SEC);
    assert_int_equal(sink_count(&s, "DNSExfiltration"), 0);
    assert_int_equal(sink_count(&s, "DNSSlowQuery"), 25);
    d->free(d);
    off->free(off);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floor_before_learning),
        cmocka_unit_test(test_zero_floor_waits_for_learning),
        cmocka_unit_test(test_p99_error_lognormal),
        cmocka_unit_test(test_outlier_fires),
        cmocka_unit_test(test_slow_resolver_mostly_quiet),
        cmocka_unit_test(test_normal_traffic_quiet),
        cmocka_unit_test(test_ignores_unanswered_and_flows),
        cmocka_unit_test(test_sketch_ages_out),
        cmocka_unit_test(test_counts_bounded),
        cmocka_unit_test(test_resolver_table_eviction),
        cmocka_unit_test(test_exfil_slow_padded),
        cmocka_unit_test(test_exfil_needs_padding_window_and_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

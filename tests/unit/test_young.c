/*
 * test_young.c - the youngDomain detector's parts: RFC 3339 dates, RFC
 * 9083 answers, the bootstrap table, the token bucket, the verdict cache,
 * and the detector's refusals and queue overflow.  The lookups against a
 * live RDAP server are in tests/system/test_young_domain.py.
 *
 * Data files are read from $SRCDIR/data (meson sets SRCDIR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "detectors/chain.h"
#include "detectors/young.h"

#define SEC 1000000000ull

/* ---- helpers --------------------------------------------------------- */

/* Write text to a new temporary file; its path goes to path (64 bytes). */
static void
temp_file(char *path, const char *text)
{
    int fd;

    snprintf(path, 64, "/tmp/test_young_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static const char test_bootstrap[] =
    "{\"version\": \"1.0\", \"services\": ["
    "[[\"uk\"], [\"https://uk.example/rdap\"]],"
    "[[\"co.uk\", \"ORG.UK\"], [\"http://co.example/\","
    " \"https://co.example/\"]],"
    "[[\"test\"], [\"http://127.0.0.1:9/\"]],"
    "[[\"nourl\"], []],"
    "[[\"uk\"], [\"https://second.example/\"]]]}";

/* ---- RFC 3339 ---------------------------------------------------------- */

static void
test_rfc3339_valid(void **state)
{
    int64_t t = -1;

    (void)state;
    assert_int_equal(young_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(young_rfc3339("2000-03-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 951868800);
    assert_int_equal(young_rfc3339("2024-02-29T12:00:00.123+02:00", &t), 0);
    assert_int_equal(t, 1709200800);
    assert_int_equal(young_rfc3339("1999-12-31t23:59:59-05:30", &t), 0);
    assert_int_equal(t, 946704599);
    assert_int_equal(young_rfc3339("2000-03-01 00:00:00z", &t), 0);
    assert_int_equal(t, 951868800);
}

static void
test_rfc3339_invalid(void **state)
{
    static const char *const bad[] = {
        "", "2024-01-01", "2024-01-01T00:00:00", "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z",
        "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z",
        "2024-01-01T00:00:00Zjunk", "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00+0200", "2024-1-01T00:00:00Z",
        "2024-01-01X00:00:00Z", "2024-01-01T00:00:00+24:00",
    };
    int64_t t = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(young_rfc3339(bad[i], &t), -EINVAL);
    }
    assert_int_equal(t, 42);
}

/* ---- RFC 9083 ---------------------------------------------------------- */

static int
registration(const char *json, int64_t *t)
{
    return young_rdap_registration(json, strlen(json), t);
}

static void
test_rdap_answers(void **state)
{
    int64_t t = 0;

    (void)state;
    assert_int_equal(registration(
        "{\"objectClassName\":\"domain\",\"ldhName\":\"EXAMPLE.COM\","
        "\"events\":[{\"eventAction\":\"last changed\","
        "\"eventDate\":\"2024-01-01T00:00:00Z\"},"
        "{\"eventAction\":\"Registration\","
        "\"eventDate\":\"2000-03-01T00:00:00Z\"}]}", &t), 0);
    assert_int_equal(t, 951868800);
    assert_int_equal(registration("{\"events\":[]}", &t), -ENOENT);
    assert_int_equal(registration("{\"ldhName\":\"x.com\"}", &t), -ENOENT);
    assert_int_equal(registration(
        "{\"events\":[{\"eventAction\":\"registration\","
        "\"eventDate\":\"yesterday\"}]}", &t), -ENOENT);
    assert_int_equal(registration(
        "{\"events\":[{\"eventAction\":\"registration\"}]}", &t), -ENOENT);
    assert_int_equal(registration(
        "{\"objectClassName\":\"entity\",\"events\":[]}", &t), -EINVAL);
    assert_int_equal(registration("[1,2]", &t), -EINVAL);
    assert_int_equal(registration("<html>busy</html>", &t), -EINVAL);
    assert_int_equal(young_rdap_registration("{\"events\"", 9, &t),
                     -EINVAL);
}

/* ---- bootstrap ---------------------------------------------------------- */

static void
test_bootstrap_match(void **state)
{
    char path[64], err[256];
    struct young_bootstrap *b;

    (void)state;
    temp_file(path, test_bootstrap);
    b = young_bootstrap_load(path, err, sizeof(err));
    unlink(path);
    assert_non_null(b);
    assert_int_equal(young_bootstrap_size(b), 4); /* uk once */
    assert_string_equal(young_bootstrap_url(b,
        young_bootstrap_find(b, "example.co.uk")), "https://co.example/");
    assert_string_equal(young_bootstrap_url(b,
        young_bootstrap_find(b, "example.org.uk")), "https://co.example/");
    assert_string_equal(young_bootstrap_url(b,
        young_bootstrap_find(b, "example.uk")), "https://uk.example/rdap/");
    assert_string_equal(young_bootstrap_url(b,
        young_bootstrap_find(b, "a.test")), "http://127.0.0.1:9/");
    assert_int_equal(young_bootstrap_find(b, "example.nourl"), -1);
    assert_int_equal(young_bootstrap_find(b, "example.com"), -1);
    assert_int_equal(young_bootstrap_find(b, "xuk"), -1);
    assert_string_equal(young_bootstrap_url(b, -1), "");
    young_bootstrap_free(b);
}

static void
test_bootstrap_errors(void **state)
{
    char path[64], err[256] = "";

    (void)state;
    assert_null(young_bootstrap_load("/nonexistent/rdap.json", err,
                                     sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/rdap.json"));
    temp_file(path, "{\"services\": [[[\"x\"], []]]}");
    assert_null(young_bootstrap_load(path, err, sizeof(err)));
    assert_non_null(strstr(err, "no usable services"));
    unlink(path);
    temp_file(path, "not json");
    assert_null(young_bootstrap_load(path, err, sizeof(err)));
    unlink(path);
}

static void
test_bootstrap_shipped(void **state)
{
    char path[512], err[256];
    const char *src = getenv("SRCDIR");
    struct young_bootstrap *b;

    (void)state;
    snprintf(path, sizeof(path), "%s/data/rdap-dns.json",
             src != NULL ? src : ".");
    b = young_bootstrap_load(path, err, sizeof(err));
    assert_non_null(b);
    assert_true(young_bootstrap_size(b) > 1000);
    assert_string_equal(young_bootstrap_url(b,
        young_bootstrap_find(b, "example.com")),
        "https://rdap.verisign.com/com/v1/");
    assert_true(young_bootstrap_find(b, "example.org") >= 0);
    assert_int_equal(young_bootstrap_find(b, "x.cluster.local"), -1);
    young_bootstrap_free(b);
}

/* ---- token bucket ------------------------------------------------------- */

static void
test_bucket_rate(void **state)
{
    struct young_bucket b;
    uint64_t t = 1000 * SEC;

    (void)state;
    young_bucket_init(&b, 10.0, 2.0, t);
    assert_int_equal(young_bucket_take(&b, t), 1);
    assert_int_equal(young_bucket_take(&b, t), 1);
    assert_int_equal(young_bucket_take(&b, t), 0);
    assert_in_range(young_bucket_wait_ns(&b, t), SEC / 10 - 10,
                    SEC / 10 + 10);
    assert_int_equal(young_bucket_take(&b, t + SEC / 20), 0);
    assert_int_equal(young_bucket_take(&b, t + SEC / 10), 1);
    assert_int_equal(young_bucket_wait_ns(&b, t + 100 * SEC), 0);
    /* a long idle refills to the burst, not beyond */
    assert_int_equal(young_bucket_take(&b, t + 100 * SEC), 1);
    assert_int_equal(young_bucket_take(&b, t + 100 * SEC), 1);
    assert_int_equal(young_bucket_take(&b, t + 100 * SEC), 0);
}

/* Trying every millisecond for 10 s takes at most rate * 10 + burst. */
static void
test_bucket_flood(void **state)
{
    struct young_bucket b;
    uint64_t t0 = 5 * SEC;
    unsigned took = 0;

    (void)state;
    young_bucket_init(&b, 50.0, 50.0, t0);
    for (uint64_t ms = 0; ms <= 10000; ms++) {
        while (young_bucket_take(&b, t0 + ms * 1000000ull)) {
            took++;
        }
    }
    assert_in_range(took, 549, 550);
    young_bucket_init(&b, 0.5, 0.5, t0);  /* burst is at least one */
    assert_int_equal(young_bucket_take(&b, t0), 1);
    assert_int_equal(young_bucket_take(&b, t0 + SEC), 0);
    assert_int_equal(young_bucket_take(&b, t0 + 2 * SEC), 1);
}

/* ---- cache -------------------------------------------------------------- */

static void
test_cache_expiry(void **state)
{
    struct young_cache *c = young_cache_create(64, NULL);
    struct young_verdict v = {YOUNG_REGISTERED, 12345, 3}, out;
    char longname[YOUNG_NAME_MAX + 8];

    (void)state;
    assert_non_null(c);
    assert_int_equal(young_cache_get(c, "a.com", 10, &out), 0);
    young_cache_put(c, "a.com", &v, 10, 100);
    assert_int_equal(young_cache_get(c, "a.com", 99, &out), 1);
    assert_int_equal(out.registered_s, 12345);
    assert_int_equal(out.server, 3);
    assert_int_equal(young_cache_get(c, "a.co", 99, &out), 0);
    assert_int_equal(young_cache_get(c, "a.com", 100, &out), 0);
    v.outcome = YOUNG_NOTFOUND;
    young_cache_put(c, "a.com", &v, 100, 200);
    assert_int_equal(young_cache_get(c, "a.com", 150, &out), 1);
    assert_int_equal(out.outcome, YOUNG_NOTFOUND);
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    young_cache_put(c, longname, &v, 100, 200);
    assert_int_equal(young_cache_get(c, longname, 150, &out), 0);
    assert_int_equal(young_cache_evictions(c), 0);
    young_cache_free(c);
}

/* One set of four: the fifth name evicts the least recently used. */
static void
test_cache_lru(void **state)
{
    struct metrics_series *ev = metrics_counter("test_young_evictions",
                                                "", "test");
    struct young_cache *c = young_cache_create(4, ev);
    struct young_verdict v = {YOUNG_NOTFOUND, 0, -1}, out;
    const char *names[] = {"a.com", "b.com", "c.com", "d.com", "e.com"};

    (void)state;
    for (int i = 0; i < 4; i++) {
        young_cache_put(c, names[i], &v, 10 + i, 1000);
    }
    assert_int_equal(young_cache_get(c, "a.com", 20, &out), 1);
    young_cache_put(c, "e.com", &v, 21, 1000);
    assert_int_equal(young_cache_evictions(c), 1);
    assert_int_equal(metrics_get(ev), 1);
    assert_int_equal(young_cache_get(c, "b.com", 22, &out), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(young_cache_get(c, names[i], 22, &out), i != 1);
    }
    /* an expired entry is reused without counting an eviction */
    young_cache_put(c, "c.com", &v, 23, 30);
    young_cache_put(c, "f.com", &v, 31, 1000);
    assert_int_equal(young_cache_evictions(c), 1);
    assert_int_equal(young_cache_get(c, "f.com", 32, &out), 1);
    young_cache_free(c);
}

/* ---- the detector ------------------------------------------------------- */

static void
young_config(struct config *cfg, const char *bootstrap, double rate)
{
    config_defaults(cfg);
    cfg->young_domain.enabled = 1;
    cfg->young_domain.rate_limit = rate;
    snprintf(cfg->young_domain.rdap_bootstrap,
             sizeof(cfg->young_domain.rdap_bootstrap), "%s", bootstrap);
}

static void
test_create_refusals(void **state)
{
    struct config cfg;
    char err[256] = "";

    (void)state;
    young_config(&cfg, "/nonexistent/boot.json", 5);
    assert_null(young_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/boot.json"));
    young_config(&cfg, "https://data.iana.org/rdap/dns.json", 5);
    assert_null(young_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "must be a file"));
    young_config(&cfg, "", 0);
    assert_null(young_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "rateLimit"));
}

static void
set_query(struct event *ev, const char *qname)
{
    event_reset(ev);
    ev->kind = EVENT_KIND_DNS;
    ev->flags = EVENT_F_QUESTION;
    ev->qtype = 1;
    ev->time_ns = 1700000000ull * SEC;
    ev->qname_len = (uint8_t)snprintf(ev->qname, sizeof(ev->qname), "%s",
                                      qname);
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void
no_report(void *ctx, const struct finding *f)
{
    (void)f;
    (*(int *)ctx)++;
}

/*
 * With one token, a full queue drops and counts, and check() returns at
 * once: 3000 misses in well under a second.  Repeats of a pending name
 * and names under TLDs without a server are not queued.
 */
static void
test_queue_overflow(void **state)
{
    struct config cfg;
    char path[64], err[256], name[64];
    struct detector *d;
    struct event ev;
    int reports = 0;
    uint64_t t0, dropped0 = metrics_value("ugallu_dns_lookups_dropped_total",
                                      "reason=\"young_queue_full\"");

    (void)state;
    temp_file(path, test_bootstrap);
    young_config(&cfg, path, 0.001);
    d = young_create(&cfg, err, sizeof(err));
    unlink(path);
    assert_non_null(d);
    t0 = now_ns();
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "www.n%d.test", i);
        set_query(&ev, name);
        d->check(d, &ev, no_report, &reports);
        d->check(d, &ev, no_report, &reports);
    }
    set_query(&ev, "www.example.com");
    d->check(d, &ev, no_report, &reports);
    d->poll(d, 0, no_report, &reports);
    assert_int_equal(reports, 0);
    /* a dropped name is not remembered: its repeat is dropped again */
    assert_in_range(metrics_value("ugallu_dns_lookups_dropped_total",
                                  "reason=\"young_queue_full\"") - dropped0,
                    2 * (3000 - 1025), 2 * (3000 - 1024));
    assert_true(now_ns() - t0 < SEC);
    assert_true(metrics_value("ugallu_dns_rdap_lookups_total",
                              "outcome=\"unsupported\"") >= 1);
    d->free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_valid),
        cmocka_unit_test(test_rfc3339_invalid),
        cmocka_unit_test(test_rdap_answers),
        cmocka_unit_test(test_bootstrap_match),
        cmocka_unit_test(test_bootstrap_errors),
        cmocka_unit_test(test_bootstrap_shipped),
        cmocka_unit_test(test_bucket_rate),
        cmocka_unit_test(test_bucket_flood),
        cmocka_unit_test(test_cache_expiry),
        cmocka_unit_test(test_cache_lru),
        cmocka_unit_test(test_create_refusals),
        cmocka_unit_test(test_queue_overflow),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_detectors.c - the per-event detectors: blocklist (and its index),
 * dga, tunneling and exfiltration, doh/dot, anomalousPort, and the chain
 * that runs them.
 *
 * Data files are read from $SRCDIR/data (meson sets SRCDIR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/metrics.h"
#include "detectors/blocklist.h"
#include "detectors/chain.h"
#include "detectors/detector.h"
#include "detectors/dgaburst.h"

#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)

/* ---- helpers --------------------------------------------------------- */

/* Findings collected from one or more check() calls. */
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

static const struct finding *
sink_find(const struct sink *s, const char *type)
{
    for (size_t i = 0; i < s->n && i < 64; i++) {
        if (strcmp(s->f[i].type, type) == 0) {
            return &s->f[i];
        }
    }
    return NULL;
}

static void
set_datadir(void)
{
    const char *src = getenv("SRCDIR");
    char path[1024];

    snprintf(path, sizeof(path), "%s/data", src != NULL ? src : "..");
    setenv("UGALLU_DATA_DIR", path, 1);
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

static void
dns_event(struct event *ev, const char *qname, uint16_t qtype,
          const char *client, uint64_t t)
{
    event_reset(ev);
    ev->kind = EVENT_KIND_DNS;
    ev->transport = EVENT_TRANSPORT_UDP;
    ev->flags = EVENT_F_QUERY | EVENT_F_QUESTION;
    ev->time_ns = t;
    ev->qtype = qtype;
    ev->qclass = 1;
    ev->server_port = 53;
    ev->client_port = 40000;
    addr(&ev->client, client);
    addr(&ev->server, "10.96.0.10");
    snprintf(ev->qname, sizeof(ev->qname), "%s", qname);
    ev->qname_len = (uint8_t)strlen(ev->qname);
}

static void
flow_event(struct event *ev, const char *server, uint16_t port)
{
    event_reset(ev);
    ev->kind = EVENT_KIND_FLOW;
    ev->transport = EVENT_TRANSPORT_TCP;
    ev->flags = EVENT_F_FLOW_SYN;
    ev->time_ns = T0;
    ev->server_port = port;
    addr(&ev->client, "10.0.0.5");
    addr(&ev->server, server);
}

/* Run detector d over one DNS query for qname; returns findings. */
static size_t
run_name(struct detector *d, const char *qname, uint16_t qtype,
         struct sink *s)
{
    struct event ev;

    dns_event(&ev, qname, qtype, "10.0.0.5", T0);
    memset(s, 0, sizeof(*s));
    d->check(d, &ev, sink_report, s);
    return s->n;
}

/* Write text to a new temporary file; path gets its name. */
static void
temp_list(char path[64], const char *text)
{
    int fd;

    snprintf(path, 64, "/tmp/ugallu-test-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void
base_config(struct config *c)
{
    config_defaults(c);
    c->blocklist.default_allowlist = 0;
}

static json_t *
explain_one(struct detector *d, const char *qname, const char *key)
{
    json_t *obj = json_object();
    json_t *v;

    d->explain(d, qname, obj);
    v = json_object_get(obj, key);
    assert_non_null(v);
    json_incref(v);
    json_decref(obj);
    return v;
}

/* ---- blocklist index ------------------------------------------------- */

static const char *const formats_list =
    "# a comment line\n"
    "\n"
    "example.com\n"
    "deep.example.com   # inline comment\n"
    "*.wild.org\n"
    "0.0.0.0 ads.one.net ads.two.net\n"
    "127.0.0.1 localhost\n"
    "::1 ip6-localhost ip6-loopback\n"
    "TRACKER.Example.NET.\r\n"
    "*.both.com\n"
    "both.com\n"
    "  \t  \n"
    "_dmarc-style_.under-score.io\n";

static void
test_index_formats(void **state)
{
    char path[64], err[256] = "";
    const char *paths[1] = {path};
    struct blocklist_index *ix;

    (void)state;
    temp_list(path, formats_list);
    ix = blocklist_index_load(paths, 1, err, sizeof(err));
    unlink(path);
    assert_non_null(ix);
    assert_int_equal(blocklist_index_size(ix), 8);
    assert_true(blocklist_index_bytes(ix) > 0);

    assert_string_equal(blocklist_index_match(ix, "example.com", 11),
                        "example.com");
    assert_string_equal(blocklist_index_match(ix, "a.b.example.com", 15),
                        "example.com");
    assert_string_equal(blocklist_index_match(ix, "x.deep.example.com", 18),
                        "deep.example.com");
    assert_null(blocklist_index_match(ix, "notexample.com", 14));
    assert_null(blocklist_index_match(ix, "com", 3));
    assert_null(blocklist_index_match(ix, "wild.org", 8));
    assert_string_equal(blocklist_index_match(ix, "x.wild.org", 10),
                        "*.wild.org");
    assert_string_equal(blocklist_index_match(ix, "ads.two.net", 11),
                        "ads.two.net");
    assert_string_equal(blocklist_index_match(ix, "ads.one.net", 11),
                        "ads.one.net");
    assert_null(blocklist_index_match(ix, "localhost", 9));
    assert_string_equal(blocklist_index_match(ix, "tracker.example.net",
                                              19),
                        "tracker.example.net");
    assert_string_equal(blocklist_index_match(ix, "both.com", 8),
                        "both.com");
    assert_string_equal(blocklist_index_match(ix,
                                              "x._dmarc-style_.under-score.io",
                                              30),
                        "_dmarc-style_.under-score.io");
    assert_null(blocklist_index_match(ix, "a.under-score.io", 16));
    blocklist_index_free(ix);
}

static void
test_index_lists_and_empty(void **state)
{
    char p1[64], p2[64], err[256] = "";
    const char *paths[2] = {p1, p2};
    struct blocklist_index *ix;
    struct blocklist_hit hit;

    (void)state;
    temp_list(p1, "first.com\nshared.com\n");
    temp_list(p2, "second.com\nshared.com\n");
    ix = blocklist_index_load(paths, 2, err, sizeof(err));
    assert_non_null(ix);
    assert_int_equal(blocklist_index_size(ix), 3);
    assert_int_equal(blocklist_index_lookup(ix, "a.second.com", 12, &hit),
                     1);
    assert_string_equal(hit.list, p2);
    assert_int_equal(blocklist_index_lookup(ix, "shared.com", 10, &hit), 1);
    assert_string_equal(hit.list, p1);
    assert_int_equal(blocklist_index_lookup(ix, "first.com", 9, &hit), 1);
    assert_string_equal(hit.list, p1);
    blocklist_index_free(ix);
    unlink(p1);
    unlink(p2);

    ix = blocklist_index_load(NULL, 0, err, sizeof(err));
    assert_non_null(ix);
    assert_int_equal(blocklist_index_size(ix), 0);
    assert_null(blocklist_index_match(ix, "example.com", 11));
    blocklist_index_free(ix);
    assert_null(blocklist_index_match(NULL, "example.com", 11));
}

static void
test_index_builder(void **state)
{
    struct blocklist_builder *b = blocklist_builder_new();
    struct blocklist_index *ix;
    struct blocklist_hit hit;
    char err[256] = "";
    const char *one = "a.com\n", *two = "b.com\n*.c.org\na.com\n";

    (void)state;
    assert_non_null(b);
    assert_int_equal(blocklist_builder_add_text(b, "ops/list-1", one,
                                                strlen(one), err,
                                                sizeof(err)), 0);
    assert_int_equal(blocklist_builder_add_text(b, "dev/list-2", two,
                                                strlen(two), err,
                                                sizeof(err)), 0);
    ix = blocklist_builder_finish(b);
    assert_int_equal(blocklist_index_size(ix), 3);
    assert_int_equal(blocklist_index_lookup(ix, "x.c.org", 7, &hit), 1);
    assert_string_equal(hit.entry, "*.c.org");
    assert_string_equal(hit.list, "dev/list-2");
    assert_int_equal(blocklist_index_lookup(ix, "a.com", 5, &hit), 1);
    assert_string_equal(hit.list, "ops/list-1");
    blocklist_index_free(ix);

    b = blocklist_builder_new();
    assert_int_equal(blocklist_builder_add_text(b, "ops/bad", "x y\n", 4,
                                                err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "ops/bad:1: more than one name 'y'");
    blocklist_builder_free(b);
}

/* A list with bad line 'line' must fail with "path:line:" and why. */
static void
expect_bad(const char *text, int line, const char *why)
{
    char path[64], err[256] = "", want[128];
    const char *paths[1] = {path};

    temp_list(path, text);
    assert_null(blocklist_index_load(paths, 1, err, sizeof(err)));
    unlink(path);
    snprintf(want, sizeof(want), "%s:%d: ", path, line);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, why));
}

static void
test_index_rejects(void **state)
{
    char err[256] = "";
    const char *missing[1] = {"/nonexistent/list.txt"};
    char label64[128];

    (void)state;
    expect_bad("good.com\nbad name\n", 2, "more than one name");
    expect_bad("a.com\nb.com\nfoo..bar\n", 3, "invalid name");
    expect_bad("ok.com\n||ads.example.com^\n", 2, "invalid name");
    expect_bad("a*.example.com\n", 1, "invalid name");
    expect_bad("*.\n", 1, "invalid name");
    expect_bad("0.0.0.0 bad!name.com\n", 1, "invalid name");
    expect_bad("0.0.0.0 *.wild.com\n", 1, "invalid name");
    expect_bad("x.com\n0.0.0.0   # nothing\n", 2, "address without a name");
    memset(label64, 'a', 64);
    snprintf(label64 + 64, sizeof(label64) - 64, ".com\n");
    expect_bad(label64, 1, "invalid name");

    assert_null(blocklist_index_load(missing, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/list.txt"));
}

/* ---- blocklist detector ---------------------------------------------- */

static struct detector *
blocklist_with(const char *block, const char *allow, int def_allow,
               char bpath[64], char apath[64])
{
    struct config c;
    char err[256] = "";
    struct detector *d;

    base_config(&c);
    temp_list(bpath, block);
    temp_list(apath, allow);
    c.blocklist.nfiles = 1;
    snprintf(c.blocklist.files[0].name, CONFIG_NAME_MAX, "%s", bpath);
    c.blocklist.nallow = 1;
    snprintf(c.blocklist.allow[0].name, CONFIG_NAME_MAX, "%s", apath);
    c.blocklist.default_allowlist = def_allow;
    d = blocklist_create(&c, err, sizeof(err));
    assert_non_null(d);
    unlink(bpath);
    unlink(apath);
    return d;
}

static void
test_blocklist_detector(void **state)
{
    char bp[64], ap[64];
    struct detector *d = blocklist_with("evil.com\nads.example.com\nk8s.io\n",
                                        "example.com\n", 1, bp, ap);
    struct sink s;
    const struct finding *f;

    (void)state;
    assert_int_equal(run_name(d, "c2.evil.com", 1, &s), 1);
    f = &s.f[0];
    assert_string_equal(f->type, "DNSToBlocklistedFQDN");
    assert_string_equal(f->severity, "high");
    assert_string_equal(f->detector, "blocklist");
    assert_int_equal(f->experimental, 0);
    assert_string_equal(f->key, "evil.com");
    assert_string_equal(f->subject, "ip-10.0.0.5");
    assert_string_equal(finding_get(f, "qname"), "c2.evil.com");
    assert_string_equal(finding_get(f, "qtype"), "A");
    assert_string_equal(finding_get(f, "entry"), "evil.com");
    assert_string_equal(finding_get(f, "list"), bp);

    /* The allowlist covers example.com and everything under it. */
    assert_int_equal(run_name(d, "ads.example.com", 1, &s), 0);
    assert_int_equal(run_name(d, "x.ads.example.com", 28, &s), 0);
    /* The shipped default allowlist holds registry.k8s.io. */
    assert_int_equal(run_name(d, "registry.k8s.io", 1, &s), 0);
    assert_int_equal(run_name(d, "evil.k8s.io", 1, &s), 1);
    assert_int_equal(run_name(d, "good.org", 1, &s), 0);
    d->free(d);
}

static void
test_blocklist_explain(void **state)
{
    char bp[64], ap[64];
    struct detector *d = blocklist_with("*.evil.com\nads.example.com\n",
                                        "safe.ads.example.com\n", 0, bp, ap);
    json_t *v;

    (void)state;
    v = explain_one(d, "X.Evil.COM.", "blocklist");
    assert_true(json_is_true(json_object_get(v, "blocked")));
    assert_string_equal(json_string_value(json_object_get(v, "entry")),
                        "*.evil.com");
    assert_string_equal(json_string_value(json_object_get(v, "list")), bp);
    assert_true(json_is_null(json_object_get(v, "allowed_by")));
    json_decref(v);

    v = explain_one(d, "safe.ads.example.com", "blocklist");
    assert_true(json_is_false(json_object_get(v, "blocked")));
    assert_string_equal(json_string_value(json_object_get(v, "entry")),
                        "ads.example.com");
    assert_string_equal(json_string_value(json_object_get(v, "allowed_by")),
                        "safe.ads.example.com");
    json_decref(v);

    v = explain_one(d, "fine.org", "blocklist");
    assert_true(json_is_false(json_object_get(v, "blocked")));
    assert_true(json_is_null(json_object_get(v, "entry")));
    json_decref(v);
    d->free(d);
}

static void
test_blocklist_bad_list_fails_create(void **state)
{
    struct config c;
    char path[64], err[256] = "", want[96];

    (void)state;
    base_config(&c);
    temp_list(path, "ok.com\nnot a name\n");
    c.blocklist.nfiles = 1;
    snprintf(c.blocklist.files[0].name, CONFIG_NAME_MAX, "%s", path);
    assert_null(blocklist_create(&c, err, sizeof(err)));
    assert_null(chain_create(&c, err, sizeof(err)));
    unlink(path);
    snprintf(want, sizeof(want), "%s:2:", path);
    assert_non_null(strstr(err, want));
}

/* ---- dga ------------------------------------------------------------- */

static struct detector *
dga_default(void)
{
    struct config c;
    char err[256] = "";
    struct detector *d;

    base_config(&c);
    d = dga_create(&c, err, sizeof(err));
    assert_non_null(d);
    return d;
}

static void
test_dga_random_names(void **state)
{
    static const char *const names[] = {
        "xjw3k9q2l0ab.com", "q8z7x6w5v4u3t2.net", "kd93jf82hs71b.info",
        "www.zx8qv3mk1p7tgw.org", "p0o9i8u7y6t5r4e.biz",
    };
    struct detector *d = dga_default();
    struct sink s;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(run_name(d, names[i], 1, &s), 1);
        assert_string_equal(s.f[0].type, "DNSDomainGenerationAlgorithm");
        assert_string_equal(s.f[0].severity, "medium");
        assert_int_equal(s.f[0].experimental, 1);
        assert_non_null(finding_get(&s.f[0], "ngram_score"));
        assert_non_null(finding_get(&s.f[0], "max_ngram_score"));
        assert_non_null(finding_get(&s.f[0], "entropy"));
    }
    assert_int_equal(run_name(d, "www.zx8qv3mk1p7tgw.org", 1, &s), 1);
    assert_string_equal(s.f[0].key, "zx8qv3mk1p7tgw.org");
    assert_string_equal(finding_get(&s.f[0], "label"), "zx8qv3mk1p7tgw");
    assert_string_equal(finding_get(&s.f[0], "length"), "14");
    d->free(d);
}

/* Real names long and varied enough that only the n-gram score clears
 * them. */
static void
test_dga_real_names(void **state)
{
    static const char *const names[] = {
        "akamaitechnologies.com", "cloudflare-dns.com",
        "cambridgeenglish.org", "salesforceliveagent.com",
    };
    struct detector *d = dga_default();
    struct sink s;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *v = explain_one(d, names[i], "dga");

        assert_true(json_integer_value(json_object_get(v, "length")) >= 12);
        assert_true(json_real_value(json_object_get(v, "entropy")) >= 3.5);
        assert_true(json_real_value(json_object_get(v, "ngram_score")) >
                    json_real_value(json_object_get(v, "max_ngram_score")));
        assert_true(json_is_false(json_object_get(v, "verdict")));
        json_decref(v);
        assert_int_equal(run_name(d, names[i], 1, &s), 0);
    }
    assert_int_equal(run_name(d, "google.com", 1, &s), 0);
    assert_int_equal(run_name(d, "com", 1, &s), 0);
    assert_int_equal(run_name(d, "xn--4gbrim1a2b3c4d5e6f7g8.com", 1, &s),
                     0);
    d->free(d);
}

static void
test_dga_explain_and_config(void **state)
{
    struct config c;
    char err[256] = "";
    struct detector *d = dga_default();
    struct sink s;
    json_t *v;

    (void)state;
    v = explain_one(d, "CDN.XJW3K9Q2L0AB.COM.", "dga");
    assert_string_equal(json_string_value(json_object_get(v, "label")),
                        "xjw3k9q2l0ab");
    assert_string_equal(json_string_value(json_object_get(v, "registrable")),
                        "xjw3k9q2l0ab.com");
    assert_int_equal(json_integer_value(json_object_get(v, "length")), 12);
    assert_int_equal(json_integer_value(json_object_get(v, "min_length")),
                     12);
    assert_true(json_is_real(json_object_get(v, "min_entropy")));
    assert_true(json_real_value(json_object_get(v, "max_ngram_score")) < 0);
    assert_true(json_is_true(json_object_get(v, "verdict")));
    json_decref(v);
    d->free(d);

    base_config(&c);
    c.dga.max_ngram = -10.0;
    d = dga_create(&c, err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(run_name(d, "xjw3k9q2l0ab.com", 1, &s), 0);
    d->free(d);

    setenv("UGALLU_DATA_DIR", "/nonexistent", 1);
    assert_null(dga_create(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "ngram-model.txt"));
    set_datadir();
}

/* dga with the shipped model at minLength 6, minEntropy 2.5. */
static struct detector *
dga_short(void)
{
    struct config c;
    char err[256] = "";
    struct detector *d;

    base_config(&c);
    c.dga.min_length = 6;
    c.dga.min_entropy = 2.5;
    d = dga_create(&c, err, sizeof(err));
    assert_non_null(d);
    return d;
}

/* A short label needs a lower score than a long one: the threshold the
 * model ships for 6 characters is below that for 16.  A label of
 * letters seldom seen together ("qzxkvj") fires at 6: each unseen
 * context costs its back-off weight on top of the lower order's
 * surprise.  One of common letters in a rare order ("cdtrbg") does not:
 * real six-letter names (acronyms run together) score as badly. */
static void
test_dga_length_thresholds(void **state)
{
    static const char *const benign[] = {
        "google.com", "debian.org", "github.com", "kernel.org",
        "wikipedia.org", "stackoverflow.com", "cdtrbg.com",
    };
    struct detector *d = dga_short();
    struct sink s;
    json_t *a, *b;

    (void)state;
    a = explain_one(d, "qzxkvj.com", "dga");
    b = explain_one(d, "qzxkvjwpfmtbhgnr.com", "dga");
    assert_true(json_real_value(json_object_get(a, "max_ngram_score")) <
                json_real_value(json_object_get(b, "max_ngram_score")));
    assert_true(json_is_true(json_object_get(a, "verdict")));
    assert_true(json_is_true(json_object_get(b, "verdict")));
    json_decref(a);
    json_decref(b);
    assert_int_equal(run_name(d, "qzxkvj.com", 1, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "length"), "6");
    for (size_t i = 0; i < sizeof(benign) / sizeof(benign[0]); i++) {
        assert_int_equal(run_name(d, benign[i], 1, &s), 0);
    }
    /* Shorter than minLength: never, however random. */
    assert_int_equal(run_name(d, "qzxkv.com", 1, &s), 0);
    d->free(d);
}

/* A DNS event for qname from client at t, answered with rcode. */
static void
answered(struct event *ev, const char *qname, const char *client,
         uint64_t t, uint16_t rcode)
{
    dns_event(ev, qname, 1, client, t);
    ev->flags |= EVENT_F_RESPONSE;
    ev->rcode = rcode;
}

/* Number of dga findings in s whose key is name. */
static size_t
dga_count(const struct sink *s, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n && i < 64; i++) {
        n += strcmp(s->f[i].key, name) == 0;
    }
    return n;
}

/* Five-letter random labels never fire alone at minLength 6, but do at
 * the burst bar: once a client has had four of them answered NXDOMAIN
 * within the window, the four are reported (the earlier three with
 * seen_before_s), and so is every later name of that client that
 * passes the burst bar, answered or not, until the window runs out.
 * Another client is not affected. */
static void
test_dga_burst(void **state)
{
    static const char *const names[] = {"qzxkv.com", "wbxqj.net",
                                        "jkvzq.org", "xqwvk.info"};
    struct detector *d = dga_short();
    struct sink s = {0};
    struct event ev;
    const struct finding *f;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        answered(&ev, names[i], "10.0.0.7", T0 + i * SEC, 3);
        d->check(d, &ev, sink_report, &s);
        answered(&ev, names[i], "10.0.0.7", T0 + i * SEC, 3);
        d->check(d, &ev, sink_report, &s);
    }
    assert_int_equal(s.n, 0);
    answered(&ev, names[3], "10.0.0.7", T0 + 3 * SEC, 3);
    d->check(d, &ev, sink_report, &s);
    assert_int_equal(s.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(dga_count(&s, names[i]), 1);
        assert_string_equal(finding_get(&s.f[i], "bar"), "burst");
        assert_string_equal(finding_get(&s.f[i], "nxdomain_names"), "4");
        assert_string_equal(finding_get(&s.f[i], "min_length"), "4");
    }
    f = &s.f[1];
    assert_string_equal(f->key, names[0]);
    assert_string_equal(finding_get(f, "seen_before_s"), "3.000");
    assert_string_equal(finding_get(f, "rcode"), "NXDOMAIN");

    /* The domain that resolves, from the client in its burst. */
    s.n = 0;
    answered(&ev, "fzjqk.com", "10.0.0.7", T0 + 5 * SEC, 0);
    d->check(d, &ev, sink_report, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(finding_get(&s.f[0], "qname"), "fzjqk.com");
    /* Not from another client, nor after the window. */
    answered(&ev, "fzjqk.com", "10.0.0.8", T0 + 5 * SEC, 0);
    d->check(d, &ev, sink_report, &s);
    answered(&ev, "fzjqk.com", "10.0.0.7", T0 + 700 * SEC, 0);
    d->check(d, &ev, sink_report, &s);
    assert_int_equal(s.n, 1);
    /* Real names stay quiet inside a burst. */
    answered(&ev, "github.com", "10.0.0.7", T0 + 6 * SEC, 0);
    d->check(d, &ev, sink_report, &s);
    assert_int_equal(s.n, 1);
    d->free(d);
}

/* What a real client's NXDOMAIN answers look like never makes a burst:
 * search-path expansions sit under one registrable domain whose label is
 * an ordinary word.  nxdomainBurst 0 turns bursts off. */
static void
test_dga_burst_quiet(void **state)
{
    static const char *const names[] = {"qzxkv.com", "wbxqj.net",
                                        "jkvzq.org", "xqwvk.info",
                                        "fzjqk.com"};
    struct detector *d = dga_short();
    struct sink s = {0};
    struct event ev;
    struct config c;
    char err[256] = "", name[64];

    (void)state;
    for (size_t i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "h%zuqzxkv.default.svc.cluster.local",
                 i);
        answered(&ev, name, "10.0.0.9", T0 + i * SEC, 3);
        d->check(d, &ev, sink_report, &s);
    }
    assert_int_equal(s.n, 0);
    d->free(d);
    base_config(&c);
    c.dga.min_length = 6;
    c.dga.min_entropy = 2.5;
    c.dga.nxdomain_burst = 0;
    d = dga_create(&c, err, sizeof(err));
    assert_non_null(d);
    for (size_t i = 0; i < 5; i++) {
        answered(&ev, names[i], "10.0.0.7", T0 + i * SEC, 3);
        d->check(d, &ev, sink_report, &s);
    }
    assert_int_equal(s.n, 0);
    d->free(d);
}

/* Collects the names dgaburst_take() hands out. */
struct taken {
    size_t n;
    char names[DGABURST_NAMES][DGABURST_NAME_MAX];
};

static void
taken_add(void *ctx, const char *name, uint64_t seen_ns)
{
    struct taken *t = ctx;

    (void)seen_ns;
    assert_true(t->n < DGABURST_NAMES);
    snprintf(t->names[t->n++], DGABURST_NAME_MAX, "%s", name);
}

/* The burst table: a name counts once, a reported or too-long one is
 * never handed out, names leave with the window, and a full set pushes
 * out its stalest client and counts it. */
static void
test_dgaburst_table(void **state)
{
    struct metrics_series *evicted = metrics_counter(
        "test_dgaburst_evicted_total", "", "test");
    struct dgaburst *b = dgaburst_create(10 * SEC, evicted);
    struct event_addr a, other;
    struct taken t = {0};
    char longname[200];

    (void)state;
    assert_non_null(b);
    addr(&a, "10.0.0.1");
    assert_int_equal(dgaburst_count(b, &a, T0), 0);
    assert_int_equal(dgaburst_note(b, &a, "one.com", 0, T0), 1);
    assert_int_equal(dgaburst_note(b, &a, "one.com", 0, T0 + SEC), 1);
    assert_int_equal(dgaburst_note(b, &a, "two.com", 1, T0 + 2 * SEC), 2);
    memset(longname, 'x', sizeof(longname) - 5);
    memcpy(longname + sizeof(longname) - 5, ".com", 5);
    assert_int_equal(dgaburst_note(b, &a, longname, 0, T0 + 3 * SEC), 3);
    dgaburst_take(b, &a, T0 + 3 * SEC, taken_add, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.names[0], "one.com");
    dgaburst_take(b, &a, T0 + 3 * SEC, taken_add, &t);
    assert_int_equal(t.n, 1);
    assert_int_equal(dgaburst_count(b, &a, T0 + 11 * SEC), 2);
    assert_int_equal(dgaburst_count(b, &a, T0 + 14 * SEC), 0);

    /* New clients, one second later, until a is pushed out. */
    assert_int_equal(dgaburst_note(b, &a, "one.com", 0, T0 + 3 * SEC), 3);
    for (uint32_t i = 1; dgaburst_count(b, &a, T0 + 4 * SEC) != 0 &&
                         i < 1u << 20; i++) {
        other.family = 6;
        memset(other.bytes, 0, sizeof(other.bytes));
        memcpy(other.bytes, &i, sizeof(i));
        dgaburst_note(b, &other, "z.com", 0, T0 + 4 * SEC);
    }
    assert_int_equal(dgaburst_count(b, &a, T0 + 4 * SEC), 0);
    assert_true(metrics_get(evicted) >= 1);
    dgaburst_free(b);
}

/* Labels under a listed provider are judged, other platforms are not. */
static void
test_dga_providers(void **state)
{
    struct detector *d = dga_default();
    struct sink s;
    json_t *v;

    (void)state;
    assert_int_equal(run_name(d, "www.x8f2k9q1z7w3v5b6.co.cc", 1, &s), 1);
    assert_string_equal(s.f[0].key, "x8f2k9q1z7w3v5b6.co.cc");
    assert_string_equal(finding_get(&s.f[0], "label"), "x8f2k9q1z7w3v5b6");
    assert_string_equal(finding_get(&s.f[0], "provider"), "co.cc");
    assert_int_equal(run_name(d, "x8f2k9q1z7w3v5b6.duckdns.org", 1, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "provider"), "duckdns.org");
    assert_int_equal(run_name(d, "x8f2k9q1z7w3v5b6.cloudfront.net", 1, &s),
                     0);
    assert_int_equal(run_name(d, "co.cc", 1, &s), 0);
    assert_int_equal(run_name(d, "myhomeserver.duckdns.org", 1, &s), 0);
    v = explain_one(d, "x8f2k9q1z7w3v5b6.cloudfront.net", "dga");
    assert_string_equal(json_string_value(json_object_get(v, "skipped")),
                        "platform suffix");
    assert_true(json_is_false(json_object_get(v, "provider")));
    json_decref(v);
    d->free(d);
}

/* Write model text to a fresh data directory; return its path. */
static void
dga_model_dir(char dir[64], const char *text)
{
    char path[128];
    FILE *fp;

    snprintf(dir, 64, "/tmp/dga-model-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ngram-model.txt", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    setenv("UGALLU_DATA_DIR", dir, 1);
}

static void
dga_model_dir_remove(const char *dir)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/ngram-model.txt", dir);
    unlink(path);
    rmdir(dir);
    set_datadir();
}

/* The mean log-probability of name by explain, of a detector d. */
static double
dga_explained_score(struct detector *d, const char *name)
{
    json_t *v = explain_one(d, name, "dga");
    double score = json_real_value(json_object_get(v, "ngram_score"));

    json_decref(v);
    return score;
}

/* A threshold line serves its length and longer; none below the first.
 * The score follows the back-off arithmetic of the model's lines. */
static void
test_dga_model_file(void **state)
{
    const double ln38 = 3.6375861597263857;
    struct config c;
    char err[256] = "", dir[64];
    struct detector *d;
    struct sink s;

    (void)state;
    base_config(&c);
    c.dga.min_length = 1;
    c.dga.min_entropy = 0;
    dga_model_dir(dir, "# test\nngram-order 2\nthreshold 8 -1 -1\n"
                       "threshold 10 -100 -100\nprovider ex.example\n"
                       "^ x -0.25\na -1 -0.5\nab -0.125\n");
    d = dga_create(&c, err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(run_name(d, "abcdefg.com", 1, &s), 0);
    assert_int_equal(run_name(d, "abcdefgh.com", 1, &s), 1);
    assert_int_equal(run_name(d, "abcdefghi.com", 1, &s), 1);
    assert_int_equal(run_name(d, "abcdefghij.com", 1, &s), 0);
    assert_int_equal(run_name(d, "abcdefgh.ex.example", 1, &s), 1);
    assert_string_equal(s.f[0].key, "abcdefgh.ex.example");
    /* ^a: backoff of '^' and P(a); ab listed; b$ not at all. */
    assert_true(fabs(dga_explained_score(d, "ab.com") -
                     (-0.25 - 1.0 - 0.125 - ln38) / 3) < 1e-6);
    /* ac: backoff of 'a', then c unknown. */
    assert_true(fabs(dga_explained_score(d, "ac.com") -
                     (-0.25 - 1.0 - 0.5 - 2 * ln38) / 3) < 1e-6);
    d->free(d);
    dga_model_dir_remove(dir);
}

/* Labels with a digit or '-' have thresholds of their own.  An n-gram
 * may spell a word ("order") without being taken for a directive. */
static void
test_dga_model_classes(void **state)
{
    struct config c;
    char err[256] = "", dir[64];
    struct detector *d;
    struct sink s;
    json_t *v;

    (void)state;
    base_config(&c);
    c.dga.min_length = 1;
    c.dga.min_entropy = 0;
    dga_model_dir(dir, "ngram-order 5\nthreshold 2 -1 -100\na -1\n"
                       "order -0.5\n");
    d = dga_create(&c, err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(run_name(d, "qq.com", 1, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "max_ngram_score"), "-1.000");
    assert_string_equal(finding_get(&s.f[0], "label_class"), "letters");
    assert_int_equal(run_name(d, "q1.com", 1, &s), 0);
    assert_int_equal(run_name(d, "q-q.com", 1, &s), 0);
    v = explain_one(d, "q1.com", "dga");
    assert_true(json_real_value(json_object_get(v, "max_ngram_score")) ==
                -100.0);
    assert_string_equal(json_string_value(json_object_get(v, "label_class")),
                        "digit-or-hyphen");
    json_decref(v);
    d->free(d);
    dga_model_dir_remove(dir);
}

/* Each bad model is refused with the line or the reason. */
static void
test_dga_model_errors(void **state)
{
    static const char *const bad[][2] = {
        {"ngram-order 2\nthreshold 64 -1 -1\n", ":2: bad model line"},
        {"ngram-order 2\nthreshold 8 -1\n", ":2: bad model line"},
        {"ngram-order 2\nthreshold 8 -1 -1\nprovider a b\n",
         ":3: bad model line"},
        {"threshold 8 -1 -1\nab -1\n", ":2: bad model line"},
        {"ngram-order 2\nngram-order 2\n", ":2: bad model line"},
        {"ngram-order 6\n", ":1: bad model line"},
        {"ngram-order 2\nabc -1\n", ":2: bad model line"},
        {"ngram-order 3\na$b -1\n", ":2: bad model line"},
        {"ngram-order 3\na^b -1\n", ":2: bad model line"},
        {"ngram-order 2\nab 0.5\n", ":2: bad model line"},
        {"ngram-order 2\nab -1 -2 -3\n", ":2: bad model line"},
        {"ngram-order 2\nab -1x\n", ":2: bad model line"},
        {"ngram-order 2\nab\n", ":2: bad model line"},
        {"ngram-order 2\nthreshold 8 -1 -1\nab -1\nab -2\n",
         "listed twice"},
        {"threshold 8 -1 -1\n", "no 'ngram-order' line"},
        {"ngram-order 2\nab -1\n", "no 'ngram-order' line"},
    };
    struct config c;
    char err[256] = "", dir[64];

    (void)state;
    base_config(&c);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dga_model_dir(dir, bad[i][0]);
        assert_null(dga_create(&c, err, sizeof(err)));
        if (strstr(err, bad[i][1]) == NULL) {
            fail_msg("model %zu: '%s' lacks '%s'", i, err, bad[i][1]);
        }
        dga_model_dir_remove(dir);
    }
}

/* ---- tunneling and exfiltration -------------------------------------- */

static struct detector *
tunnel_with(int tunneling, int exfil)
{
    struct config c;
    char err[256] = "";
    struct detector *d;

    base_config(&c);
    c.tunneling.enabled = tunneling;
    c.exfiltration.enabled = exfil;
    d = tunnel_create(&c, err, sizeof(err));
    assert_non_null(d);
    return d;
}

static void
test_tunnel_per_name(void **state)
{
    struct detector *d = tunnel_with(1, 0);
    struct sink s;
    const char *hex = "4a6f686e20446f6520736563726574206b6579.t.example.com";
    const char *b32 = "mzxw6ytboi2dsnrtgq3tmobzgeydcmrt.example.com";
    const char *lng = "q9x8w7v6u5t4s3r2p1o0n-zyxwvutsrqponmlkjihgfedcba0123"
                      ".tunnel.example.net";

    (void)state;
    assert_int_equal(run_name(d, hex, 16, &s), 1);
    assert_string_equal(s.f[0].type, "DNSTunneling");
    assert_string_equal(s.f[0].severity, "high");
    assert_string_equal(s.f[0].key, "example.com");
    assert_string_equal(finding_get(&s.f[0], "reason"), "hex");
    assert_string_equal(finding_get(&s.f[0], "qtype"), "TXT");
    assert_int_equal(run_name(d, b32, 1, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "reason"), "base32");
    assert_int_equal(run_name(d, lng, 1, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "reason"), "long-label");
    assert_string_equal(finding_get(&s.f[0], "max_label_length"), "40");
    d->free(d);
}

static void
test_tunnel_quiet(void **state)
{
    static const char *const names[] = {
        "d1a2b3c4d5e6f7.cloudfront.net",
        "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6.cloudfront.net",
        "my-service.my-namespace.svc.cluster.local",
        "3f9a2b7c1d8e4f6a0b5c9d2e7f1a3b8c.headless.ns.svc.cluster.local",
        "10-244-1-5.default.pod.cluster.local",
        "4.3.2.1.in-addr.arpa",
        ("b.a.9.8.7.6.5.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
         ".ip6.arpa"),
        "_acme-challenge.q8z7x6w5v4u3t2s1r0q9p8o7n6m5l4k3.example.com",
        "s1k7h3j9d2f8g4a6z0x5c1v7b3n9m2q4w8e6._domainkey.example.com",
        "xn--4gbrim1a2b3c4d5e6f7g8h9i0j.example.com",
        "www.example.com", "vpce-0a1b2c3d4e5f6a7b8-abcdefgh.s3.example.com",
        "r3---sn-4g5e6nz7.googlevideo.com",
    };
    struct detector *d = tunnel_with(1, 1);
    struct sink s;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (run_name(d, names[i], 16, &s) != 0) {
            fail_msg("tunnel fired on %s", names[i]);
        }
    }
    d->free(d);
}

/* Query n distinct subdomains of parent from client at time t. */
static size_t
query_distinct(struct detector *d, const char *client, const char *parent,
               int from, int n, uint64_t t, struct sink *s)
{
    struct event ev;
    char name[128];

    memset(s, 0, sizeof(*s));
    for (int i = from; i < from + n; i++) {
        snprintf(name, sizeof(name), "w%d.%s", i, parent);
        dns_event(&ev, name, 1, client, t + (uint64_t)i * 1000);
        d->check(d, &ev, sink_report, s);
    }
    return s->n;
}

static void
test_tunnel_unique_window(void **state)
{
    struct detector *d = tunnel_with(1, 0);
    struct sink s;

    (void)state;
    assert_int_equal(query_distinct(d, "10.0.0.7", "tun.example.org", 0, 49,
                                    T0, &s), 0);
    /* Repeats do not count. */
    assert_int_equal(query_distinct(d, "10.0.0.7", "tun.example.org", 0, 49,
                                    T0, &s), 0);
    /* Another client has its own count. */
    assert_int_equal(query_distinct(d, "10.0.0.8", "tun.example.org", 100,
                                    49, T0, &s), 0);
    assert_int_equal(query_distinct(d, "10.0.0.7", "tun.example.org", 49, 1,
                                    T0, &s), 1);
    assert_string_equal(s.f[0].type, "DNSTunneling");
    assert_string_equal(s.f[0].key, "example.org");
    assert_string_equal(finding_get(&s.f[0], "reason"), "unique-subdomains");
    assert_string_equal(finding_get(&s.f[0], "unique_subdomains"), "50");
    assert_string_equal(finding_get(&s.f[0], "threshold"), "50");
    assert_string_equal(finding_get(&s.f[0], "window_seconds"), "60.000");
    /* Once per window. */
    assert_int_equal(query_distinct(d, "10.0.0.7", "tun.example.org", 50,
                                    20, T0, &s), 0);
    /* A new window starts from zero. */
    assert_int_equal(query_distinct(d, "10.0.0.7", "tun.example.org", 200,
                                    49, T0 + 61 * SEC, &s), 0);
    assert_int_equal(query_distinct(d, "10.0.0.7", "tun.example.org", 249,
                                    1, T0 + 61 * SEC, &s), 1);
    d->free(d);
}

static void
test_tunnel_window_exclusions(void **state)
{
    struct detector *d = tunnel_with(1, 1);
    struct sink s;

    (void)state;
    assert_int_equal(query_distinct(d, "10.0.0.9", "10.in-addr.arpa", 0, 200,
                                     T0, &s), 0);
    assert_int_equal(query_distinct(d, "10.0.0.9", "ns.svc.cluster.local",
                                    0, 200, T0, &s), 0);
    d->free(d);
}

static void
test_tunnel_txt_volume(void **state)
{
    struct detector *d = tunnel_with(1, 0);
    struct sink s;
    struct event ev;

    (void)state;
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 48; i++) {
        dns_event(&ev, "t.txt.example.net", 16, "10.0.0.3", T0 + i);
        d->check(d, &ev, sink_report, &s);
    }
    assert_int_equal(s.n, 0);
    /* 1 distinct subdomain + 49 TXT queries reaches 50. */
    dns_event(&ev, "t.txt.example.net", 16, "10.0.0.3", T0 + 100);
    d->check(d, &ev, sink_report, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(finding_get(&s.f[0], "txt_null_queries"), "49");
    assert_string_equal(finding_get(&s.f[0], "unique_subdomains"), "1");
    d->free(d);
}

static size_t
send_bytes(struct detector *d, int n, struct sink *s)
{
    struct event ev;

    memset(s, 0, sizeof(*s));
    for (int i = 0; i < n; i++) {
        dns_event(&ev, "www.exfil.example.com", 1, "10.0.0.4",
                  T0 + (uint64_t)i * SEC / 10);
        ev.flags |= EVENT_F_RESPONSE;
        ev.response_size = 1000;
        d->check(d, &ev, sink_report, s);
    }
    return s->n;
}

static void
test_tunnel_exfiltration(void **state)
{
    struct detector *d = tunnel_with(0, 1);
    struct sink s;

    (void)state;
    /* 65 * (21 + 1000) = 66365 > 65536. */
    assert_int_equal(send_bytes(d, 64, &s), 0);
    d->free(d);
    d = tunnel_with(0, 1);
    assert_int_equal(send_bytes(d, 100, &s), 1);
    assert_string_equal(s.f[0].type, "DNSExfiltration");
    assert_string_equal(s.f[0].severity, "high");
    assert_string_equal(s.f[0].key, "example.com");
    assert_string_equal(finding_get(&s.f[0], "bytes"), "66365");
    assert_string_equal(finding_get(&s.f[0], "queries"), "65");
    assert_string_equal(finding_get(&s.f[0], "bytes_per_window"), "65536");
    /* Tunneling off: the per-name checks stay quiet. */
    assert_int_equal(run_name(d, "4a6f686e20446f6520736563726574206b6579"
                                 ".example.com", 1, &s), 0);
    d->free(d);
    d = tunnel_with(1, 0);
    assert_int_equal(send_bytes(d, 100, &s), 0);
    d->free(d);
}

static void
test_tunnel_eviction(void **state)
{
    struct detector *d = tunnel_with(1, 1);
    const char *labels = "reason=\"tunnel_table_full\"";
    uint64_t before = metrics_value("ugallu_dns_events_dropped_total",
                                    labels);
    struct event ev;
    struct sink s;
    char name[64];

    (void)state;
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 6000; i++) {
        snprintf(name, sizeof(name), "a.p%d.example", i);
        dns_event(&ev, name, 1, "10.0.0.6", T0 + (uint64_t)i);
        d->check(d, &ev, sink_report, &s);
    }
    assert_int_equal(s.n, 0);
    assert_true(metrics_value("ugallu_dns_events_dropped_total", labels) >=
                before + 6000 - 4096);
    d->free(d);
}

static void
test_tunnel_explain(void **state)
{
    struct detector *d = tunnel_with(1, 1);
    json_t *v;

    (void)state;
    v = explain_one(d, "mzxw6ytboi2dsnrtgq3tmobzgeydcmrt.Example.com",
                    "tunneling");
    assert_true(json_is_true(json_object_get(v, "verdict")));
    assert_string_equal(json_string_value(json_object_get(v, "reason")),
                        "base32");
    assert_string_equal(json_string_value(json_object_get(v, "parent")),
                        "example.com");
    assert_int_equal(json_integer_value(json_object_get(v, "length")), 32);
    json_decref(v);
    v = explain_one(d, "1.0.0.10.in-addr.arpa", "tunneling");
    assert_string_equal(json_string_value(json_object_get(v, "excluded")),
                        "reverse-dns");
    assert_true(json_is_false(json_object_get(v, "verdict")));
    json_decref(v);
    d->free(d);
}

/* ---- doh / dot ------------------------------------------------------- */

static struct detector *
doh_with(int doh, int dot)
{
    struct config c;
    char err[256] = "";
    struct detector *d;

    base_config(&c);
    c.doh.enabled = doh;
    c.dot.enabled = dot;
    d = doh_create(&c, err, sizeof(err));
    if (d == NULL) {
        fail_msg("doh_create: %s", err);
    }
    return d;
}

static void
test_doh_names(void **state)
{
    struct detector *d = doh_with(1, 0);
    struct sink s;

    (void)state;
    assert_int_equal(run_name(d, "dns.google", 1, &s), 1);
    assert_string_equal(s.f[0].type, "DNSOverHTTPSBypass");
    assert_string_equal(s.f[0].severity, "medium");
    assert_int_equal(s.f[0].experimental, 1);
    assert_string_equal(s.f[0].key, "dns.google");
    assert_non_null(strstr(finding_get(&s.f[0], "list"),
                           "doh-resolvers.txt"));
    assert_int_equal(run_name(d, "mozilla.cloudflare-dns.com", 28, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "entry"), "cloudflare-dns.com");
    assert_int_equal(run_name(d, "use-application-dns.net", 1, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "canary"), "true");
    assert_int_equal(run_name(d, "www.google.com", 1, &s), 0);
    assert_int_equal(run_name(d, "google", 1, &s), 0);
    d->free(d);

    d = doh_with(1, 1);
    assert_int_equal(run_name(d, "dns.google", 1, &s), 2);
    assert_non_null(sink_find(&s, "DNSOverTLSBypass"));
    assert_int_equal(run_name(d, "abc123.dns.nextdns.io", 1, &s), 2);
    assert_int_equal(run_name(d, "dot.sb", 1, &s), 1);
    assert_string_equal(s.f[0].type, "DNSOverTLSBypass");
    d->free(d);
}

static size_t
run_flow(struct detector *d, const char *server, uint16_t port,
         struct sink *s)
{
    struct event ev;

    flow_event(&ev, server, port);
    memset(s, 0, sizeof(*s));
    d->check(d, &ev, sink_report, s);
    return s->n;
}

static void
test_doh_flows(void **state)
{
    struct detector *d = doh_with(1, 1);
    struct sink s;

    (void)state;
    assert_int_equal(run_flow(d, "8.8.8.8", 443, &s), 1);
    assert_string_equal(s.f[0].type, "DNSOverHTTPSBypass");
    assert_string_equal(s.f[0].key, "8.8.8.8");
    assert_string_equal(finding_get(&s.f[0], "known_resolver"), "true");
    assert_int_equal(run_flow(d, "2606:4700:4700::1111", 443, &s), 1);
    assert_int_equal(run_flow(d, "203.0.113.9", 443, &s), 0);
    assert_int_equal(run_flow(d, "8.8.8.8", 80, &s), 0);
    assert_int_equal(run_flow(d, "203.0.113.9", 853, &s), 1);
    assert_string_equal(s.f[0].type, "DNSOverTLSBypass");
    assert_string_equal(finding_get(&s.f[0], "known_resolver"), "false");
    assert_string_equal(finding_get(&s.f[0], "server_port"), "853");
    d->free(d);

    d = doh_with(1, 0);
    assert_int_equal(run_flow(d, "203.0.113.9", 853, &s), 0);
    assert_int_equal(run_flow(d, "1.1.1.1", 443, &s), 1);
    d->free(d);
}

static void
test_doh_explain(void **state)
{
    struct detector *d = doh_with(1, 0);
    json_t *v;

    (void)state;
    v = explain_one(d, "Use-Application-DNS.net.", "doh");
    assert_true(json_is_true(json_object_get(v, "doh")));
    assert_true(json_is_true(json_object_get(v, "canary")));
    assert_string_equal(json_string_value(json_object_get(v, "doh_entry")),
                        "use-application-dns.net");
    assert_true(json_is_false(json_object_get(v, "dot")));
    assert_true(json_is_false(json_object_get(v, "dot_enabled")));
    json_decref(v);
    d->free(d);
}

/* ---- anomalousPort --------------------------------------------------- */

static size_t
run_port(struct detector *d, uint8_t transport, uint16_t port,
         struct sink *s)
{
    struct event ev;

    dns_event(&ev, "www.example.com", 1, "10.0.0.5", T0);
    ev.transport = transport;
    ev.server_port = port;
    memset(s, 0, sizeof(*s));
    d->check(d, &ev, sink_report, s);
    return s->n;
}

static void
test_anomport(void **state)
{
    struct config c;
    char err[256] = "";
    struct detector *d;
    struct sink s;
    struct event ev;

    (void)state;
    base_config(&c);
    d = anomport_create(&c, err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(run_port(d, EVENT_TRANSPORT_UDP, 5353, &s), 1);
    assert_string_equal(s.f[0].type, "DNSAnomalousPort");
    assert_string_equal(s.f[0].severity, "medium");
    assert_string_equal(s.f[0].key, "port-5353");
    assert_string_equal(finding_get(&s.f[0], "qname"), "www.example.com");
    assert_string_equal(finding_get(&s.f[0], "server_port"), "5353");
    assert_int_equal(run_port(d, EVENT_TRANSPORT_UDP, 53, &s), 0);
    assert_int_equal(run_port(d, EVENT_TRANSPORT_TCP, 53, &s), 0);
    assert_int_equal(run_port(d, EVENT_TRANSPORT_UDP, 0, &s), 0);
    assert_int_equal(run_port(d, EVENT_TRANSPORT_DOT, 853, &s), 0);
    assert_int_equal(run_port(d, EVENT_TRANSPORT_UDP, 853, &s), 1);
    assert_int_equal(run_port(d, EVENT_TRANSPORT_DOT, 8853, &s), 1);
    assert_string_equal(finding_get(&s.f[0], "expected_port"), "853");
    flow_event(&ev, "10.0.0.1", 4444);
    memset(&s, 0, sizeof(s));
    d->check(d, &ev, sink_report, &s);
    assert_int_equal(s.n, 0);
    d->free(d);
}

/* ---- the chain ------------------------------------------------------- */

static void
test_chain_all(void **state)
{
    struct config c;
    char err[256] = "";
    struct chain *ch;
    struct event ev;
    struct sink s;
    json_t *o;

    (void)state;
    config_defaults(&c);
    ch = chain_create(&c, err, sizeof(err));
    if (ch == NULL) {
        fail_msg("chain_create: %s", err);
    }
    assert_int_equal(chain_size(ch), 6);
    assert_non_null(chain_find(ch, "blocklist"));
    assert_non_null(chain_find(ch, "slowQuery"));
    assert_null(chain_find(ch, "youngDomain"));
    o = chain_explain(ch, "xjw3k9q2l0ab.com");
    assert_string_equal(json_string_value(json_object_get(o, "name")),
                        "xjw3k9q2l0ab.com");
    assert_non_null(json_object_get(o, "blocklist"));
    assert_non_null(json_object_get(o, "dga"));
    assert_non_null(json_object_get(o, "tunneling"));
    assert_non_null(json_object_get(o, "doh"));
    json_decref(o);

    dns_event(&ev, "xjw3k9q2l0ab.com", 1, "10.0.0.5", T0);
    ev.server_port = 5353;
    memset(&s, 0, sizeof(s));
    chain_run(ch, &ev, sink_report, &s);
    assert_int_equal(s.n, 2);
    assert_non_null(sink_find(&s, "DNSDomainGenerationAlgorithm"));
    assert_non_null(sink_find(&s, "DNSAnomalousPort"));
    chain_free(ch);
}

static int
setup(void **state)
{
    (void)state;
    set_datadir();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_formats),
        cmocka_unit_test(test_index_lists_and_empty),
        cmocka_unit_test(test_index_rejects),
        cmocka_unit_test(test_index_builder),
        cmocka_unit_test(test_blocklist_detector),
        cmocka_unit_test(test_blocklist_explain),
        cmocka_unit_test(test_blocklist_bad_list_fails_create),
        cmocka_unit_test(test_dga_random_names),
        cmocka_unit_test(test_dga_real_names),
        cmocka_unit_test(test_dga_explain_and_config),
        cmocka_unit_test(test_dga_length_thresholds),
        cmocka_unit_test(test_dga_providers),
        cmocka_unit_test(test_dga_burst),
        cmocka_unit_test(test_dga_burst_quiet),
        cmocka_unit_test(test_dgaburst_table),
        cmocka_unit_test(test_dga_model_file),
        cmocka_unit_test(test_dga_model_classes),
        cmocka_unit_test(test_dga_model_errors),
        cmocka_unit_test(test_tunnel_per_name),
        cmocka_unit_test(test_tunnel_quiet),
        cmocka_unit_test(test_tunnel_unique_window),
        cmocka_unit_test(test_tunnel_window_exclusions),
        cmocka_unit_test(test_tunnel_txt_volume),
        cmocka_unit_test(test_tunnel_exfiltration),
        cmocka_unit_test(test_tunnel_eviction),
        cmocka_unit_test(test_tunnel_explain),
        cmocka_unit_test(test_doh_names),
        cmocka_unit_test(test_doh_flows),
        cmocka_unit_test(test_doh_explain),
        cmocka_unit_test(test_anomport),
        cmocka_unit_test(test_chain_all),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * test_podattr.c - pod attribution: the table, the resolver's wire format
 * (checked against protobuf-c's code for proto/ugallu_resolver.proto),
 * Pod objects, and podattr's index, cache, queue and down state with a
 * stand-in lookup function.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "enrich/podattr.h"
#include "enrich/podtable.h"
#include "enrich/podwatch.h"
#include "enrich/resolver.h"
#include "ugallu_resolver.pb-c.h"

static struct event_addr
addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct event_addr x;
    const uint8_t raw[4] = {a, b, c, d};

    memset(&x, 0, sizeof(x));
    event_addr_set(&x, raw, 4);
    return x;
}

static struct podtable_pod
pod(const char *ns, const char *name, const char *uid)
{
    struct podtable_pod p;

    memset(&p, 0, sizeof(p));
    snprintf(p.namespace_, sizeof(p.namespace_), "%s", ns);
    snprintf(p.name, sizeof(p.name), "%s", name);
    snprintf(p.uid, sizeof(p.uid), "%s", uid);
    return p;
}

static uint64_t
outcome(const char *name)
{
    char labels[64];

    snprintf(labels, sizeof(labels), "outcome=\"%s\"", name);
    return metrics_value("ugallu_dns_resolver_lookups_total", labels);
}

/* ---- podtable ------------------------------------------------------- */

static void
test_table_get_put_expire(void **state)
{
    struct podtable *t = podtable_create(64);
    struct event_addr a = addr4(10, 0, 0, 1);
    struct podtable_pod p = pod("shop", "web-1", "u1");
    struct podtable_key k, kc;
    const struct podtable_entry *e;

    (void)state;
    assert_int_equal(podtable_key_ip(&k, &a), 0);
    assert_int_equal(podtable_key_cgroup(&kc, 0), -EINVAL);
    assert_int_equal(podtable_key_cgroup(&kc, 77), 0);
    assert_false(podtable_key_eq(&k, &kc));
    assert_null(podtable_get(t, &k, 1));

    assert_int_equal(podtable_put(t, &k, PODTABLE_POD, &p, 100, 1, 0), 0);
    e = podtable_get(t, &k, 50);
    assert_non_null(e);
    assert_string_equal(e->pod.name, "web-1");
    assert_null(podtable_get(t, &k, 100));     /* expired */
    assert_null(podtable_get(t, &kc, 50));

    assert_int_equal(podtable_del_uid(t, "u1"), 1);
    assert_int_equal(podtable_count(t), 0);
    podtable_free(t);
}

/* Fill one bucket: without eviction the ninth key is refused, with it
 * the oldest goes. */
static void
test_table_full_bucket(void **state)
{
    struct podtable *t = podtable_create(1);   /* one bucket */
    struct podtable_pod p = pod("ns", "p", "u");
    struct podtable_key k[PODTABLE_WAYS + 1];

    (void)state;
    assert_int_equal(podtable_capacity(t), PODTABLE_WAYS);
    for (unsigned i = 0; i <= PODTABLE_WAYS; i++) {
        podtable_key_cgroup(&k[i], i + 1);
    }
    for (unsigned i = 0; i < PODTABLE_WAYS; i++) {
        assert_int_equal(podtable_put(t, &k[i], PODTABLE_POD, &p, 0, 0, 0),
                         0);
    }
    assert_int_equal(podtable_put(t, &k[PODTABLE_WAYS], PODTABLE_POD, &p,
                                  0, 0, 0), -ENOSPC);
    assert_int_equal(podtable_put(t, &k[PODTABLE_WAYS], PODTABLE_POD, &p,
                                  0, 0, 1), 1);
    assert_null(podtable_get(t, &k[0], 0));     /* the oldest went */
    assert_non_null(podtable_get(t, &k[PODTABLE_WAYS], 0));
    assert_int_equal(podtable_count(t), PODTABLE_WAYS);
    podtable_free(t);
}

/* ---- the resolver's wire format -------------------------------------- */

static void
test_encode_matches_protobuf_c(void **state)
{
    struct event_addr a = addr4(10, 244, 1, 7);
    struct podtable_key k;
    uint8_t buf[RESOLVER_REQUEST_MAX];
    const char *method;
    int n;
    Ugallu__Resolver__V1__PodIPRequest *ipr;
    Ugallu__Resolver__V1__CgroupIDRequest *cgr;

    (void)state;
    podtable_key_ip(&k, &a);
    n = resolver_encode(&k, buf, &method);
    assert_true(n > 0);
    assert_string_equal(method, "/ugallu.resolver.v1.Resolver/ResolveByPodIP");
    ipr = ugallu__resolver__v1__pod_iprequest__unpack(NULL, (size_t)n, buf);
    assert_non_null(ipr);
    assert_string_equal(ipr->ip, "10.244.1.7");
    ugallu__resolver__v1__pod_iprequest__free_unpacked(ipr, NULL);

    podtable_key_cgroup(&k, 0x123456789abcull);
    n = resolver_encode(&k, buf, &method);
    cgr = ugallu__resolver__v1__cgroup_idrequest__unpack(NULL, (size_t)n,
                                                         buf);
    assert_non_null(cgr);
    assert_true(cgr->cgroup_id == 0x123456789abcull);
    ugallu__resolver__v1__cgroup_idrequest__free_unpacked(cgr, NULL);
}

/* Pack a SubjectResponse with protobuf-c; returns its length. */
static size_t
pack_subject(const char *kind, const char *name, const char *ns,
             int unresolved, uint8_t *buf)
{
    Ugallu__Resolver__V1__SubjectResponse r =
        UGALLU__RESOLVER__V1__SUBJECT_RESPONSE__INIT;
    Ugallu__Resolver__V1__SubjectResponse__LabelsEntry l =
        UGALLU__RESOLVER__V1__SUBJECT_RESPONSE__LABELS_ENTRY__INIT;
    Ugallu__Resolver__V1__SubjectResponse__LabelsEntry *lp = &l;

    l.key = "app";
    l.value = "web";
    r.kind = (char *)kind;
    r.api_version = "v1";
    r.name = (char *)name;
    r.namespace_ = (char *)ns;
    r.uid = "5b6e8f2a-0c4d-4e1f-9a7b-3c2d1e0f9a8b";
    r.resource_version = "42";
    r.n_labels = 1;
    r.labels = &lp;
    r.tier1_json.data = (uint8_t *)"{}";
    r.tier1_json.len = 2;
    r.tombstone = 1;
    r.unresolved = unresolved;
    r.diagnostic = "why \"not\"";
    return ugallu__resolver__v1__subject_response__pack(&r, buf);
}

static void
test_decode_matches_protobuf_c(void **state)
{
    uint8_t buf[1024];
    struct resolver_answer ans;
    size_t n = pack_subject("Pod", "web-1", "shop", 0, buf);

    (void)state;
    assert_int_equal(resolver_decode(buf, n, &ans), 0);
    assert_false(ans.unresolved);
    assert_true(ans.tombstone);
    assert_string_equal(ans.pod.name, "web-1");
    assert_string_equal(ans.pod.namespace_, "shop");
    assert_string_equal(ans.pod.uid, "5b6e8f2a-0c4d-4e1f-9a7b-3c2d1e0f9a8b");
    assert_string_equal(ans.diagnostic, "why ?not?");

    n = pack_subject("Pod", "web-1", "shop", 1, buf);
    assert_int_equal(resolver_decode(buf, n, &ans), 0);
    assert_true(ans.unresolved);
    assert_string_equal(ans.pod.name, "");

    n = pack_subject("Node", "n1", "x", 0, buf);   /* not a pod */
    assert_int_equal(resolver_decode(buf, n, &ans), 0);
    assert_true(ans.unresolved);

    n = pack_subject("Pod", "Bad_Name", "shop", 0, buf);
    assert_int_equal(resolver_decode(buf, n, &ans), -EBADMSG);
    assert_int_equal(resolver_decode(buf, n - 1, &ans), -EBADMSG);
    assert_int_equal(resolver_decode((const uint8_t *)"\x18\x01", 2, &ans),
                     -EBADMSG);                      /* name as varint */
    assert_int_equal(resolver_decode(NULL, 0, &ans), 0);
    assert_true(ans.unresolved);                      /* empty reply */
}

/* ---- Pod objects ----------------------------------------------------- */

static void
test_parse_pod(void **state)
{
    json_error_t err;
    json_t *o = json_loads(
        "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\","
        "\"uid\":\"u-1\"},\"spec\":{\"nodeName\":\"n1\"},"
        "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.9\","
        "\"podIPs\":[{\"ip\":\"10.0.0.9\"},{\"ip\":\"fd00::9\"},"
        "{\"ip\":\"junk\"}]}}", 0, &err);
    struct podwatch_pod p;

    (void)state;
    assert_int_equal(podwatch_parse(o, &p), 0);
    assert_true(p.indexed);
    assert_int_equal(p.nips, 2);
    assert_int_equal(p.ips[1].family, 6);
    assert_string_equal(p.pod.uid, "u-1");

    json_object_set_new(json_object_get(o, "spec"), "hostNetwork",
                        json_true());
    assert_int_equal(podwatch_parse(o, &p), 0);
    assert_false(p.indexed);

    json_object_del(json_object_get(o, "metadata"), "uid");
    assert_int_equal(podwatch_parse(o, &p), -EBADMSG);
    json_decref(o);
}

/* ---- podattr with a stand-in resolver -------------------------------- */

struct fake {
    int calls;
    int rc;              /* what every call returns */
    int block_ms;        /* how long each call takes */
};

static int
fake_lookup(void *ctx, const struct podtable_key *k,
            struct resolver_answer *out, const char **via)
{
    struct fake *f = ctx;
    struct timespec ts = { 0, (long)f->block_ms * 1000000L };

    __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
    *via = "fake";
    if (f->block_ms > 0) {
        nanosleep(&ts, NULL);
    }
    memset(out, 0, sizeof(*out));
    if (k->kind == PODTABLE_IP && k->bytes[3] == 7) {
        out->pod = pod("shop", "web-7", "u-7");
    } else {
        out->unresolved = 1;
    }
    return f->rc;
}

static struct event
event_from(struct event_addr a)
{
    struct event ev;

    event_reset(&ev);
    ev.client = a;
    return ev;
}

/* Enrich until the event comes out attributed (the cache filled), at
 * most two seconds; returns the tries it took. */
static int
enrich_until(struct podattr *pa, struct event *ev, int want)
{
    struct timespec ts = { 0, 10 * 1000000L };

    for (int i = 1; i <= 200; i++) {
        ev->pod_name[0] = ev->pod_namespace[0] = '\0';
        podattr_enrich(pa, ev);
        if ((ev->pod_name[0] != '\0') == want && i > 1) {
            return i;
        }
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void
test_index_first(void **state)
{
    struct podattr_options o = { 0 };
    struct podattr *pa;
    struct event_addr ips[2] = { addr4(10, 1, 0, 1), addr4(10, 1, 0, 2) };
    struct podtable_pod p = pod("ops", "job-1", "u-j");
    struct event ev = event_from(ips[1]);

    (void)state;
    metrics_reset();
    assert_int_equal(podattr_create(&o, &pa), 0);
    assert_int_equal(podattr_index_set(pa, &p, ips, 2), 0);
    podattr_enrich(pa, &ev);
    assert_string_equal(ev.pod_namespace, "ops");
    assert_string_equal(ev.pod_name, "job-1");
    assert_string_equal(ev.pod_uid, "u-j");
    assert_int_equal(outcome("index_hit"), 1);

    /* The pod moves to one address: the other is forgotten. */
    assert_int_equal(podattr_index_set(pa, &p, ips, 1), 0);
    ev = event_from(ips[1]);
    podattr_enrich(pa, &ev);
    assert_string_equal(ev.pod_name, "");
    assert_int_equal(outcome("miss"), 1);
    podattr_index_remove(pa, "u-j");
    ev = event_from(ips[0]);
    podattr_enrich(pa, &ev);
    assert_string_equal(ev.pod_name, "");
    podattr_free(pa);
}

static void
test_cache_fill_and_negative(void **state)
{
    struct fake f = { 0, 0, 0 };
    struct podattr_options o = { .resolver = 1, .lookup = fake_lookup,
                                 .lookup_ctx = &f };
    struct podattr *pa;
    struct event ev = event_from(addr4(10, 2, 0, 7));
    struct event other = event_from(addr4(10, 2, 0, 8));

    (void)state;
    metrics_reset();
    assert_int_equal(podattr_create(&o, &pa), 0);
    podattr_enrich(pa, &ev);                 /* a miss queues a lookup */
    assert_string_equal(ev.pod_name, "");
    assert_true(enrich_until(pa, &ev, 1) > 0);
    assert_string_equal(ev.pod_name, "web-7");
    assert_true(outcome("cache_hit") >= 1);
    assert_int_equal(outcome("found"), 1);

    podattr_enrich(pa, &other);
    assert_int_equal(enrich_until(pa, &other, 0), 2);
    for (int i = 0; i < 50; i++) {
        podattr_enrich(pa, &other);          /* negative: no new call */
    }
    assert_int_equal(outcome("unresolved"), 1);
    assert_int_equal(__atomic_load_n(&f.calls, __ATOMIC_SEQ_CST), 2);
    assert_int_equal(metrics_value("ugallu_dns_inflight_lookups", ""), 0);
    podattr_free(pa);
}

/* A slow resolver: the queue fills, refusals are counted, and the event
 * path never waits for it. */
static void
test_queue_full_never_blocks(void **state)
{
    struct fake f = { 0, -ETIMEDOUT, 100 };
    struct podattr_options o = { .resolver = 1, .lookup = fake_lookup,
                                 .lookup_ctx = &f, .queue_capacity = 4 };
    struct podattr *pa;
    struct timespec t0, t1;
    double ms;

    (void)state;
    metrics_reset();
    assert_int_equal(podattr_create(&o, &pa), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < 1000; i++) {
        struct event ev = event_from(addr4(10, 3, (uint8_t)(i >> 8),
                                           (uint8_t)i));
        podattr_enrich(pa, &ev);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 100.0);                 /* one lookup takes 100 ms */
    assert_true(outcome("queue_full") >= 990);
    assert_true(metrics_value("ugallu_dns_inflight_lookups", "") <= 5);
    podattr_free(pa);
    assert_int_equal(metrics_value("ugallu_dns_inflight_lookups", ""), 0);
}

/* After three failures in a row the resolver is down: queued keys are
 * answered "down" without calls. */
static void
test_down_backoff(void **state)
{
    struct fake f = { 0, -ECONNREFUSED, 0 };
    struct podattr_options o = { .resolver = 1, .lookup = fake_lookup,
                                 .lookup_ctx = &f };
    struct podattr *pa;
    struct timespec ts = { 0, 20 * 1000000L };

    (void)state;
    metrics_reset();
    assert_int_equal(podattr_create(&o, &pa), 0);
    for (unsigned i = 0; i < 20; i++) {
        struct event ev = event_from(addr4(10, 4, 0, (uint8_t)i));
        podattr_enrich(pa, &ev);
        nanosleep(&ts, NULL);
    }
    assert_int_equal(outcome("error"), 3);
    assert_true(outcome("down") >= 15);
    assert_int_equal(__atomic_load_n(&f.calls, __ATOMIC_SEQ_CST), 3);
    podattr_free(pa);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_get_put_expire),
        cmocka_unit_test(test_table_full_bucket),
        cmocka_unit_test(test_encode_matches_protobuf_c),
        cmocka_unit_test(test_decode_matches_protobuf_c),
        cmocka_unit_test(test_parse_pod),
        cmocka_unit_test(test_index_first),
        cmocka_unit_test(test_cache_fill_and_negative),
        cmocka_unit_test(test_queue_full_never_blocks),
        cmocka_unit_test(test_down_backoff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_secevent.c - findings and the SecurityEvent objects made of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "detectors/finding.h"
#include "output/evjson.h"
#include "output/secevent.h"

#define SEC 1000000000ull

static struct event
sample_event(uint64_t t)
{
    struct event ev;
    const uint8_t ip[4] = {192, 0, 2, 10};

    event_reset(&ev);
    event_addr_set(&ev.client, ip, 4);
    ev.time_ns = t;
    snprintf(ev.qname, sizeof(ev.qname), "bad.example");
    ev.qname_len = 11;
    return ev;
}

static void
test_signals(void **state)
{
    struct event ev = sample_event(SEC);
    struct finding f;
    char big[600];

    finding_init(&f, "blocklist", "DNSToBlocklistedFQDN", "high",
                 "bad.example", &ev);
    assert_string_equal(f.subject, "ip-192.0.2.10");
    finding_signal(&f, "qname", "%s", "bad.example");
    finding_signal(&f, "entry", "%s", "example");
    finding_signal(&f, "qname", "%s", "replaced.example");
    assert_int_equal(f.nsignals, 2);
    assert_string_equal(finding_get(&f, "qname"), "replaced.example");
    assert_string_equal(finding_get(&f, "entry"), "example");

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        finding_signal(&f, key, "%s", big);
    }
    assert_true(f.nsignals <= FINDING_SIGNALS_MAX);
    assert_non_null(finding_get(&f, "signals_truncated"));
}

static void
test_name_is_deterministic(void **state)
{
    struct event a = sample_event(120 * SEC + 1);
    struct event b = sample_event(179 * SEC);
    struct event c = sample_event(180 * SEC);
    struct finding fa, fb, fc;
    char na[24], nb[24], nc[24];

    finding_init(&fa, "dga", "X", "low", "k", &a);
    finding_init(&fb, "dga", "X", "low", "k", &b);
    finding_init(&fc, "dga", "X", "low", "k", &c);
    secevent_name(&fa, na, sizeof(na));
    secevent_name(&fb, nb, sizeof(nb));
    secevent_name(&fc, nc, sizeof(nc));
    assert_int_equal(strlen(na), 19);
    assert_memory_equal(na, "se-", 3);
    assert_string_equal(na, nb);
    assert_string_not_equal(na, nc);
}

static void
test_object_shape(void **state)
{
    struct event ev = sample_event(1700000000ull * SEC + 5);
    struct secevent_identity id = {"prod", "c-1", "node-a", "0.1.0"};
    struct finding f;
    json_t *o, *spec;

    finding_init(&f, "doh", "DNSOverHTTPSBypass", "medium", "dns.google",
                 &ev);
    f.experimental = 1;
    finding_signal(&f, "qname", "dns.google");
    o = secevent_build(&f, &id);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "kind")),
                        "SecurityEvent");
    spec = json_object_get(o, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "type")),
                        "DNSOverHTTPSBypass");
    assert_string_equal(json_string_value(json_object_get(
        json_object_get(spec, "subject"), "name")), "192.0.2.10");
    assert_string_equal(json_string_value(json_object_get(spec,
                        "detectedAt")), "2023-11-14T22:13:20.000000005Z");
    assert_string_equal(json_string_value(json_object_get(json_object_get(
        json_object_get(o, "metadata"), "labels"),
        "ugallu.io/type-experimental")), "true");
    assert_string_equal(json_string_value(json_object_get(json_object_get(
        spec, "signals"), "qname")), "dns.google");
    assert_string_equal(json_string_value(json_object_get(json_object_get(
        spec, "clusterIdentity"), "clusterName")), "prod");
    json_decref(o);
}

static void
test_event_json(void **state)
{
    struct event ev = sample_event(SEC);
    json_t *o;

    ev.flags = EVENT_F_QUERY | EVENT_F_RESPONSE | EVENT_F_QUESTION |
               EVENT_F_LATENCY;
    ev.latency_ns = 1500000;
    ev.qtype = 65;
    ev.qclass = 1;
    ev.rcode = 3;
    o = evjson_build(&ev);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "qtype")),
                        "HTTPS");
    assert_string_equal(json_string_value(json_object_get(o, "rcode")),
                        "NXDOMAIN");
    assert_true(json_real_value(json_object_get(o, "latency_ms")) == 1.5);
    assert_string_equal(json_string_value(json_object_get(o, "client")),
                        "192.0.2.10");
    json_decref(o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_name_is_deterministic),
        cmocka_unit_test(test_object_shape),
        cmocka_unit_test(test_event_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

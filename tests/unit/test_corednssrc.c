/*
 * test_corednssrc.c - the coredns-ugallu source: DNSEvent decoding from
 * hand-built protobuf bytes, backoff math, endpoint set replacement.
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
#include "event/event.h"
#include "sources/corednssrc.h"
#include "sources/redial.h"
#include "pbw.h"

/* ---- more of the protobuf writer (pbw.h) ---------------------------- */

/* An Answer message as bytes of field 16. */
static void
pbw_answer(struct pbw *w, unsigned type, unsigned ttl, const void *data,
           size_t n)
{
    struct pbw a = { .len = 0 };

    pbw_uint(&a, 1, type);
    pbw_uint(&a, 2, ttl);
    pbw_bytes(&a, 3, data, n);
    pbw_bytes(w, 16, a.buf, a.len);
}

#define TS 1700000000123456789ull

/* Every field of DNSEvent, timestamp first. */
static void
build_full(struct pbw *w)
{
    static const uint8_t src[4] = { 10, 1, 2, 3 };
    static const uint8_t dst[16] = { 0xfd, 0, [15] = 0x35 };
    static const uint8_t a1[4] = { 192, 0, 2, 10 };
    static const uint8_t cname[10] = { 3, 'w', 'w', 'w', 4, 't', 'e', 's',
                                       't', 0 };

    memset(w, 0, sizeof(*w));
    pbw_uint(w, 1, TS);
    pbw_str(w, 2, "node-a");
    pbw_bytes(w, 3, src, sizeof(src));
    pbw_uint(w, 4, 4242);
    pbw_bytes(w, 5, dst, sizeof(dst));
    pbw_uint(w, 6, 53);
    pbw_str(w, 7, "Alias.Example.COM.");
    pbw_uint(w, 8, 1);
    pbw_uint(w, 9, 1);
    pbw_uint(w, 10, 3);
    pbw_uint(w, 11, 2);
    pbw_uint(w, 12, 1500000);
    pbw_uint(w, 13, 150);
    pbw_uint(w, 14, 40000);
    pbw_uint(w, 15, 2);
    pbw_answer(w, 5, 300, cname, sizeof(cname));
    pbw_answer(w, 1, 60, a1, sizeof(a1));
    pbw_uint(w, 17, 45);
    pbw_uint(w, 18, 150);
    pbw_uint(w, 19, 0xbeef);
    pbw_uint(w, 20, 0x8183 | 0x0200);
}

/* ---- decoding ------------------------------------------------------ */

static void
test_decode_every_field(void **state)
{
    struct pbw w;
    struct event ev;
    char buf[64];

    (void)state;
    build_full(&w);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);

    assert_int_equal(ev.kind, EVENT_KIND_DNS);
    assert_int_equal(ev.source, EVENT_SOURCE_COREDNS);
    assert_int_equal(ev.role, EVENT_ROLE_CLIENT);
    assert_int_equal(ev.flags, EVENT_F_QUERY | EVENT_F_RESPONSE |
                     EVENT_F_QUESTION | EVENT_F_LATENCY |
                     EVENT_F_TRUNCATED);
    assert_true(ev.time_ns == TS);
    assert_true(ev.latency_ns == 1500000);
    assert_true(ev.response_ns == TS + 1500000);
    assert_true(ev.cgroup_id == 4242);
    assert_string_equal(event_addr_format(&ev.client, buf, sizeof(buf)),
                        "10.1.2.3");
    assert_int_equal(ev.client_port, 40000);
    assert_string_equal(event_addr_format(&ev.server, buf, sizeof(buf)),
                        "fd00::35");
    assert_int_equal(ev.server_port, 53);
    assert_string_equal(ev.qname, "alias.example.com");
    assert_int_equal(ev.qname_len, strlen("alias.example.com"));
    assert_int_equal(ev.qtype, 1);
    assert_int_equal(ev.qclass, 1);
    assert_int_equal(ev.rcode, 3);
    assert_int_equal(ev.ancount, 2);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_TCP);
    assert_int_equal(ev.query_size, 45);
    assert_int_equal(ev.response_size, 150);
    assert_int_equal(ev.id, 0xbeef);
    assert_int_equal(ev.dns_flags, 0x8383);

    assert_int_equal(ev.answer_count, 2);
    assert_int_equal(ev.answers[0].type, 5);
    assert_int_equal(ev.answers[0].ttl, 300);
    assert_int_equal(ev.answers[0].rdlen, 10);
    assert_memory_equal(ev.answers[0].data, "\3www\4test\0", 10);
    assert_int_equal(ev.answers[1].type, 1);
    assert_int_equal(ev.answers[1].ttl, 60);
    assert_int_equal(ev.answers[1].rdlen, 4);
    assert_memory_equal(ev.answers[1].data, "\xc0\x00\x02\x0a", 4);
    assert_int_equal(ev.answer_bytes, 14);
}

static void
test_decode_minimal(void **state)
{
    struct pbw w = { .len = 0 };
    struct event ev;

    (void)state;
    pbw_uint(&w, 1, TS);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);
    assert_int_equal(ev.flags, EVENT_F_QUERY | EVENT_F_RESPONSE);
    assert_int_equal(ev.client.family, 0);
    assert_int_equal(ev.server.family, 0);
    assert_int_equal(ev.qname_len, 0);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_UNKNOWN);
    assert_int_equal(ev.answer_count, 0);

    /* No timestamp at all, or an empty message, is refused. */
    assert_int_equal(corednssrc_decode(w.buf, 0, &ev),
                     -COREDNSSRC_E_BAD_FIELD);
}

/* Decode a message with only a timestamp and the given qname. */
static int
decode_qname(const char *qname, struct event *ev)
{
    struct pbw w = { .len = 0 };

    pbw_uint(&w, 1, TS);
    pbw_str(&w, 7, qname);
    return corednssrc_decode(w.buf, w.len, ev);
}

static void
test_qname_forms(void **state)
{
    static const char *const good[][2] = {
        { "WWW.Example.COM.", "www.example.com" },
        { "www.example.com", "www.example.com" },
        { ".", "." },
        { "a\\.b.c.", "a\\046b.c" },
        { "\\065Bc.", "abc" },
        { "x\\032y.", "x\\032y" },
        { "x y.", "x\\032y" },
        { "_srv._tcp.Host-1.", "_srv._tcp.host-1" },
        { "\\\\.", "\\092" },
        { "\\(x\\).", "\\040x\\041" },
    };
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(decode_qname(good[i][0], &ev), 0);
        assert_string_equal(ev.qname, good[i][1]);
        assert_int_equal(ev.qname_len, strlen(good[i][1]));
        assert_true(ev.flags & EVENT_F_QUESTION);
    }
}

static void
test_qname_bad(void **state)
{
    static const char *const bad[] = {
        "a..b.", ".a.", "..", "a\\", "a\\2", "a\\25", "a\\256.", "a\\2x5.",
    };
    char label[80], name[400];
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(decode_qname(bad[i], &ev), -COREDNSSRC_E_QNAME);
    }

    /* A 63-byte label fits, 64 does not. */
    memset(label, 'a', 63);
    label[63] = '\0';
    assert_int_equal(decode_qname(label, &ev), 0);
    label[63] = 'a';
    label[64] = '\0';
    assert_int_equal(decode_qname(label, &ev), -COREDNSSRC_E_QNAME);

    /* 3 labels of 63 and one of 61: 255 wire bytes, 253 text chars,
       fits.  One more byte does not. */
    memset(name, 0, sizeof(name));
    for (int i = 0; i < 4; i++) {
        memset(name + i * 64, 'b', 63);
        name[i * 64 + 63] = '.';
    }
    name[3 * 64 + 61] = '.';
    name[3 * 64 + 62] = '\0';
    assert_int_equal(decode_qname(name, &ev), 0);
    assert_int_equal(ev.qname_len, 253);
    name[3 * 64 + 61] = 'c';
    name[3 * 64 + 62] = '.';
    assert_int_equal(decode_qname(name, &ev), -COREDNSSRC_E_QNAME);

    /* Escaped text that would pass 255 chars once written as \DDD. */
    memset(name, 0, sizeof(name));
    for (int i = 0; i < 100; i++) {
        memcpy(name + i * 2 + i / 50, "\\!", 2);
    }
    name[100] = '.';
    assert_int_equal(decode_qname(name, &ev), -COREDNSSRC_E_QNAME);
}

/* Every prefix of a valid message: at a field boundary it decodes,
   inside a field it is a protobuf error. */
static void
test_every_truncation(void **state)
{
    struct pbw w;
    struct event ev;
    size_t b = 0;

    (void)state;
    build_full(&w);
    for (size_t cut = 1; cut < w.len; cut++) {
        int rc = corednssrc_decode(w.buf, cut, &ev);

        while (b < w.nbounds && w.bounds[b] < cut) {
            b++;
        }
        if (b < w.nbounds && w.bounds[b] == cut) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -COREDNSSRC_E_PROTOBUF);
        }
    }
}

static void
test_wrong_wire_types(void **state)
{
    struct pbw w = { .len = 0 };
    struct pbw a = { .len = 0 };
    struct event ev;

    (void)state;
    pbw_uint(&w, 1, TS);
    pbw_str(&w, 8, "A");                    /* qtype as bytes */
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_PROTOBUF);

    memset(&w, 0, sizeof(w));
    pbw_uint(&w, 1, TS);
    pbw_uint(&w, 7, 5);                     /* qname as varint */
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_PROTOBUF);

    memset(&w, 0, sizeof(w));
    pbw_uint(&w, 1, TS);
    pbw_uint(&w, 16, 1);                    /* answers as varint */
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_PROTOBUF);

    memset(&w, 0, sizeof(w));
    pbw_uint(&w, 1, TS);
    pbw_str(&a, 1, "x");                    /* Answer.type as bytes */
    pbw_bytes(&w, 16, a.buf, a.len);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_PROTOBUF);
}

static void
test_protobuf_errors(void **state)
{
    static const uint8_t cases[][12] = {
        { 1, 0x00, 0x01 },                    /* field number 0 */
        { 2, 0x0b, 0x00 },                    /* group start, type 3 */
        { 2, 0x0c, 0x00 },                    /* group end, type 4 */
        { 2, 0x0e, 0x00 },                    /* reserved type 6 */
        { 2, 0x0f, 0x00 },                    /* reserved type 7 */
        { 11, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0x02 },                              /* varint over 64 bits */
        { 3, 0x3a, 0x05, 'a' },               /* length past the end */
        { 4, 0x0d, 0x00, 0x00, 0x00 },        /* short fixed32 */
        { 8, 0x09, 0, 0, 0, 0, 0, 0, 0 },     /* short fixed64 */
    };
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(corednssrc_decode(cases[i] + 1, cases[i][0], &ev),
                         -COREDNSSRC_E_PROTOBUF);
    }
}

static void
test_unknown_fields_skipped(void **state)
{
    static const uint8_t fixed32[] = { 0xfd, 0x02, 1, 2, 3, 4 };  /* 47 */
    static const uint8_t fixed64[] = { 0xf9, 0x02, 1, 2, 3, 4, 5, 6, 7,
                                       8 };                     /* 47 */
    struct pbw w = { .len = 0 };
    struct event ev;

    (void)state;
    pbw_uint(&w, 1, TS);
    pbw_uint(&w, 99, 7);
    pbw_str(&w, 200, "future");
    memcpy(w.buf + w.len, fixed32, sizeof(fixed32));
    w.len += sizeof(fixed32);
    memcpy(w.buf + w.len, fixed64, sizeof(fixed64));
    w.len += sizeof(fixed64);
    pbw_uint(&w, 8, 28);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);
    assert_int_equal(ev.qtype, 28);
}

/* A message with a timestamp and one more field (number, value). */
static int
decode_one(unsigned field, uint64_t v, struct event *ev)
{
    struct pbw w = { .len = 0 };

    pbw_uint(&w, 1, TS);
    pbw_uint(&w, field, v);
    return corednssrc_decode(w.buf, w.len, ev);
}

static void
test_ranges(void **state)
{
    static const struct {
        unsigned field;
        uint64_t ok, bad;
    } r[] = {
        { 6, 65535, 65536 }, { 14, 65535, 65536 }, { 8, 65535, 65536 },
        { 9, 65535, 65536 }, { 10, 4095, 4096 }, { 11, 65535, 65536 },
        { 19, 65535, 65536 }, { 20, 65535, 65536 },
        { 17, UINT32_MAX, (uint64_t)UINT32_MAX + 1 },
        { 18, UINT32_MAX, (uint64_t)UINT32_MAX + 1 },
        { 13, UINT32_MAX, (uint64_t)UINT32_MAX + 1 },
        { 12, 0, (uint64_t)-1 },              /* negative latency */
    };
    uint8_t five[5] = { 1, 2, 3, 4, 5 };
    struct pbw w = { .len = 0 };
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        assert_int_equal(decode_one(r[i].field, r[i].ok, &ev), 0);
        assert_int_equal(decode_one(r[i].field, r[i].bad, &ev),
                         -COREDNSSRC_E_BAD_FIELD);
    }

    pbw_uint(&w, 1, (uint64_t)-5);             /* negative timestamp */
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_BAD_FIELD);
    memset(&w, 0, sizeof(w));
    pbw_uint(&w, 1, 0);                        /* zero timestamp */
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_BAD_FIELD);
    memset(&w, 0, sizeof(w));
    pbw_uint(&w, 1, TS);
    pbw_bytes(&w, 3, five, sizeof(five));      /* 5-byte address */
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_BAD_FIELD);
    memset(&w, 0, sizeof(w));
    pbw_uint(&w, 1, INT64_MAX);
    pbw_uint(&w, 12, INT64_MAX);               /* response time past 2^64 */
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);
    assert_true(ev.response_ns == (uint64_t)INT64_MAX * 2);
}

static void
test_transports_and_sizes(void **state)
{
    static const uint8_t map[][2] = {
        { 0, EVENT_TRANSPORT_UNKNOWN }, { 1, EVENT_TRANSPORT_UDP },
        { 2, EVENT_TRANSPORT_TCP }, { 3, EVENT_TRANSPORT_DOT },
        { 4, EVENT_TRANSPORT_DOH }, { 5, EVENT_TRANSPORT_DOQ },
        { 6, EVENT_TRANSPORT_UNKNOWN }, { 99, EVENT_TRANSPORT_UNKNOWN },
    };
    struct pbw w = { .len = 0 };
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        assert_int_equal(decode_one(15, map[i][0], &ev), 0);
        assert_int_equal(ev.transport, map[i][1]);
    }

    /* payload_length stands in for a missing response_size. */
    pbw_uint(&w, 1, TS);
    pbw_uint(&w, 13, 321);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);
    assert_int_equal(ev.response_size, 321);
    pbw_uint(&w, 18, 123);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);
    assert_int_equal(ev.response_size, 123);

    /* A later copy of a scalar wins. */
    pbw_uint(&w, 8, 5);
    pbw_uint(&w, 8, 16);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);
    assert_int_equal(ev.qtype, 16);
}

static void
test_answers_bounded(void **state)
{
    uint8_t big[256];
    struct pbw w = { .len = 0 };
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)i;
    }
    pbw_uint(&w, 1, TS);
    for (unsigned i = 0; i < 6; i++) {
        pbw_answer(&w, 16, 10 + i, big, 100 + i);
    }
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev), 0);
    assert_int_equal(ev.answer_count, EVENT_ANSWERS_MAX);
    assert_int_equal(ev.answer_bytes, 6 * 100 + 15);
    assert_int_equal(ev.answers[3].ttl, 13);
    assert_int_equal(ev.answers[3].rdlen, 103);
    assert_memory_equal(ev.answers[3].data, big, 16);

    /* An answer with a bad type value spoils the event. */
    memset(&w, 0, sizeof(w));
    pbw_uint(&w, 1, TS);
    pbw_answer(&w, 70000, 1, big, 4);
    assert_int_equal(corednssrc_decode(w.buf, w.len, &ev),
                     -COREDNSSRC_E_BAD_FIELD);
}

static void
test_error_names(void **state)
{
    (void)state;
    assert_string_equal(corednssrc_error_name(-COREDNSSRC_E_PROTOBUF),
                        "coredns_protobuf");
    assert_string_equal(corednssrc_error_name(COREDNSSRC_E_BAD_FIELD),
                        "coredns_bad_field");
    assert_string_equal(corednssrc_error_name(-COREDNSSRC_E_QNAME),
                        "coredns_qname");
    assert_string_equal(corednssrc_error_name(-77), "coredns_unknown");
}

/* ---- backoff ------------------------------------------------------- */

static void
test_backoff_ceiling(void **state)
{
    static const uint64_t want[] = {
        500000000ull, 1000000000ull, 2000000000ull, 4000000000ull,
        8000000000ull, 16000000000ull, 30000000000ull, 30000000000ull,
    };

    (void)state;
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_true(redial_backoff_ceiling_ns(i) == want[i]);
    }
    assert_true(redial_backoff_ceiling_ns(64) == 30000000000ull);
    assert_true(redial_backoff_ceiling_ns(~0u) == 30000000000ull);
}

static void
test_backoff_jitter(void **state)
{
    uint64_t x = 88172645463325252ull;
    uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
    const unsigned n = 20000;

    (void)state;
    /* The ends of the range are reachable and never passed. */
    assert_true(redial_backoff_ns(0, 0) == 0);
    assert_true(redial_backoff_ns(0, 500000000ull) == 500000000ull);
    assert_true(redial_backoff_ns(0, 500000001ull) == 0);
    assert_true(redial_backoff_ns(3, UINT64_MAX) <= 4000000000ull);

    /* Uniform random input gives a spread over the whole range. */
    for (unsigned i = 0; i < n; i++) {
        uint64_t d;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d = redial_backoff_ns(2, x);
        assert_true(d <= 2000000000ull);
        sum += d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo < 100000000ull);
    assert_true(hi > 1900000000ull);
    assert_true(sum / n > 900000000ull && sum / n < 1100000000ull);
}

/* ---- the source ---------------------------------------------------- */

static void
ignore_event(void *ctx, const struct event *ev)
{
    (void)ctx;
    (void)ev;
}

static struct corednssrc *
open_with(const char *const *targets, size_t n)
{
    struct corednssrc_opts o;
    char err[128];

    memset(&o, 0, sizeof(o));
    o.endpoints = targets;
    o.nendpoints = n;
    o.token = "t0ken";
    o.subscriber_id = "node-1";
    return corednssrc_open(&o, ignore_event, NULL, err, sizeof(err));
}

static void
test_endpoint_replacement(void **state)
{
    const char *first[] = { "127.0.0.1:1", "127.0.0.2:1" };
    const char *second[] = { "127.0.0.2:1", "127.0.0.3:1", "127.0.0.2:1" };
    const char *empty[] = { "" };
    struct corednssrc_endpoint_info eps[COREDNSSRC_ENDPOINTS_MAX];
    struct corednssrc *s = open_with(first, 2);
    uint64_t kept;

    (void)state;
    assert_non_null(s);
    assert_int_equal(corednssrc_endpoint_list(s, eps, 16), 2);
    assert_string_equal(eps[0].target, "127.0.0.1:1");
    assert_string_equal(eps[1].target, "127.0.0.2:1");
    kept = eps[1].serial;

    assert_int_equal(corednssrc_set_endpoints(s, second, 3), 0);
    assert_int_equal(corednssrc_endpoint_list(s, eps, 16), 2);
    assert_string_equal(eps[0].target, "127.0.0.2:1");
    assert_true(eps[0].serial == kept);
    assert_string_equal(eps[1].target, "127.0.0.3:1");
    assert_true(eps[1].serial > kept);

    /* A bad list leaves the set as it was. */
    assert_int_equal(corednssrc_set_endpoints(s, empty, 1), -EINVAL);
    assert_int_equal(corednssrc_endpoint_list(s, eps, 16), 2);
    assert_true(eps[0].serial == kept);

    assert_int_equal(corednssrc_set_endpoints(s, NULL, 0), 0);
    assert_int_equal(corednssrc_endpoint_list(s, eps, 16), 0);
    corednssrc_free(s);
}

static void
test_endpoint_limits(void **state)
{
    const char *many[COREDNSSRC_ENDPOINTS_MAX + 1];
    char names[COREDNSSRC_ENDPOINTS_MAX + 1][32];
    char longname[COREDNSSRC_TARGET_MAX + 8];
    const char *one[] = { longname };
    struct corednssrc *s;

    (void)state;
    for (int i = 0; i <= COREDNSSRC_ENDPOINTS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "127.0.0.%d:1", i + 1);
        many[i] = names[i];
    }
    assert_null(open_with(many, COREDNSSRC_ENDPOINTS_MAX + 1));
    s = open_with(many, COREDNSSRC_ENDPOINTS_MAX);
    assert_non_null(s);

    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(corednssrc_set_endpoints(s, one, 1), -EINVAL);
    assert_int_equal(corednssrc_endpoint_list(s, NULL, 0),
                     COREDNSSRC_ENDPOINTS_MAX);
    corednssrc_free(s);
}

static void
test_open_needs_token(void **state)
{
    struct corednssrc_opts o;
    char err[128] = "";

    (void)state;
    memset(&o, 0, sizeof(o));
    o.subscriber_id = "n";
    assert_null(corednssrc_open(&o, ignore_event, NULL, err, sizeof(err)));
    assert_true(strstr(err, "token") != NULL);

    o.token = "x";
    o.tls = 1;
    o.ca_file = "/nonexistent/ca.pem";
    assert_null(corednssrc_open(&o, ignore_event, NULL, err, sizeof(err)));
    assert_true(strstr(err, "CA") != NULL);
}

/* Wait until every endpoint has failed at least n times, or 10 s. */
static int
wait_attempts(struct corednssrc *s, unsigned n)
{
    struct corednssrc_endpoint_info eps[COREDNSSRC_ENDPOINTS_MAX];
    struct timespec tick = { 0, 10000000 };

    for (int t = 0; t < 1000; t++) {
        size_t k = corednssrc_endpoint_list(s, eps, 16);
        size_t done = 0;

        for (size_t i = 0; i < k; i++) {
            done += eps[i].attempt >= n;
        }
        if (k > 0 && done == k) {
            return 0;
        }
        nanosleep(&tick, NULL);
    }
    return -1;
}

/* Live threads: nothing listens on port 1, so every dial fails at once;
   the set is replaced while they back off, and stop joins quickly. */
static void
test_live_replacement(void **state)
{
    const char *first[] = { "127.0.0.1:1", "127.0.0.2:1" };
    const char *second[] = { "127.0.0.2:1", "127.0.0.3:1" };
    struct corednssrc_endpoint_info eps[COREDNSSRC_ENDPOINTS_MAX];
    struct corednssrc_stats st;
    struct corednssrc *s = open_with(first, 2);
    struct timespec t0, t1;

    (void)state;
    assert_non_null(s);
    assert_int_equal(corednssrc_start(s), 0);
    assert_int_equal(wait_attempts(s, 1), 0);

    assert_int_equal(corednssrc_set_endpoints(s, second, 2), 0);
    assert_int_equal(corednssrc_endpoint_list(s, eps, 16), 2);
    assert_true(eps[0].attempt >= 1);          /* kept, still counting */
    assert_int_equal(wait_attempts(s, 2), 0);  /* the new one runs */

    clock_gettime(CLOCK_MONOTONIC, &t0);
    corednssrc_stop(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);    /* no waiting out backoff */

    assert_int_equal(corednssrc_start(s), -EALREADY);

    corednssrc_stats(s, &st);
    assert_true(st.reconnects >= 2);
    assert_true(st.streams_up == 0);
    assert_true(st.connects == 0);
    assert_true(corednssrc_last_event_ns(s) == 0);
    assert_true(metrics_value("ugallu_dns_coredns_reconnects_total", "") >=
                st.reconnects);
    assert_true(metrics_value("ugallu_dns_source_connected",
                              "source=\"coredns-ugallu\"") == 0);
    corednssrc_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_every_field),
        cmocka_unit_test(test_decode_minimal),
        cmocka_unit_test(test_qname_forms),
        cmocka_unit_test(test_qname_bad),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_wrong_wire_types),
        cmocka_unit_test(test_protobuf_errors),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_transports_and_sizes),
        cmocka_unit_test(test_answers_bounded),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_backoff_ceiling),
        cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_endpoint_replacement),
        cmocka_unit_test(test_endpoint_limits),
        cmocka_unit_test(test_open_needs_token),
        cmocka_unit_test(test_live_replacement),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

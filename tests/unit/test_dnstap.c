/*
 * test_dnstap.c - dnstap decoding, the Frame Streams listener and the
 * capture file reader.
 *
 * Dnstap messages are built with a tiny protobuf writer that lives only
 * here, following dnstap.proto field by field, so the decoder is checked
 * against an independent encoder.  The listener is driven over a real
 * unix socket and a real TCP socket by clients written in this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/metrics.h"
#include "event/dnswire.h"
#include "sources/dnstap.h"
#include "sources/dnstap_listen.h"
#include "sources/framestream.h"

/* ---- a test-only protobuf writer ---- */

struct pb {
    uint8_t b[4096];
    size_t len;
};

static void
pb_raw(struct pb *p, const void *d, size_t n)
{
    assert_true(p->len + n <= sizeof(p->b));
    memcpy(p->b + p->len, d, n);
    p->len += n;
}

static void
pb_varint(struct pb *p, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);

        v >>= 7;
        if (v != 0) {
            byte |= 0x80;
        }
        pb_raw(p, &byte, 1);
    } while (v != 0);
}

static void
pb_key(struct pb *p, uint32_t field, unsigned wire)
{
    pb_varint(p, (uint64_t)field << 3 | wire);
}

static void
pb_uint(struct pb *p, uint32_t field, uint64_t v)
{
    pb_key(p, field, 0);
    pb_varint(p, v);
}

static void
pb_bytes(struct pb *p, uint32_t field, const void *d, size_t n)
{
    pb_key(p, field, 2);
    pb_varint(p, n);
    pb_raw(p, d, n);
}

static void
pb_fixed(struct pb *p, uint32_t field, uint64_t v, unsigned size)
{
    pb_key(p, field, size == 4 ? 5 : 1);
    for (unsigned i = 0; i < size; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * i));

        pb_raw(p, &byte, 1);
    }
}

/* ---- dnstap messages ---- */

/* One Message; a negative number or a NULL pointer leaves a field out. */
struct tap {
    int64_t type;
    int64_t protocol;
    const uint8_t *qaddr;
    size_t qaddr_len;
    const uint8_t *raddr;
    size_t raddr_len;
    int64_t qport;
    int64_t rport;
    int64_t qsec;
    int64_t qnsec;
    int64_t rsec;
    int64_t rnsec;
    const uint8_t *qmsg;
    size_t qmsg_len;
    const uint8_t *rmsg;
    size_t rmsg_len;
    bool extras;          /* add unknown fields of every wire type */
};

static const uint8_t client4[4] = { 192, 0, 2, 10 };
static const uint8_t server4[4] = { 198, 51, 100, 53 };
static const uint8_t client6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

/* Query for www.Example.com A, id 0x1234, RD. */
static const uint8_t dns_query[] = {
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    3, 'w', 'w', 'w', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o',
    'm', 0, 0, 1, 0, 1,
};

/* Its answer: 192.0.2.1, TTL 300, and an OPT record (UDP size 1232). */
static const uint8_t dns_response[] = {
    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1,
    3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o',
    'm', 0, 0, 1, 0, 1,
    0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1,
    0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
};

/* A CLIENT_RESPONSE over UDP with everything in it. */
static struct tap
tap_full(void)
{
    struct tap t = {
        .type = 6, .protocol = 1,
        .qaddr = client4, .qaddr_len = 4,
        .raddr = server4, .raddr_len = 4,
        .qport = 40000, .rport = 53,
        .qsec = 1700000000, .qnsec = 100,
        .rsec = 1700000000, .rnsec = 2500100,
        .qmsg = dns_query, .qmsg_len = sizeof(dns_query),
        .rmsg = dns_response, .rmsg_len = sizeof(dns_response),
    };
    return t;
}

static void
tap_put_uint(struct pb *m, uint32_t field, int64_t v)
{
    if (v >= 0) {
        pb_uint(m, field, (uint64_t)v);
    }
}

static void
tap_put_bytes(struct pb *m, uint32_t field, const uint8_t *d, size_t n)
{
    if (d != NULL) {
        pb_bytes(m, field, d, n);
    }
}

static void
tap_message(const struct tap *t, struct pb *m)
{
    tap_put_uint(m, 1, t->type);
    pb_uint(m, 2, t->qaddr_len == 16 ? 2 : 1);
    tap_put_uint(m, 3, t->protocol);
    tap_put_bytes(m, 4, t->qaddr, t->qaddr_len);
    tap_put_bytes(m, 5, t->raddr, t->raddr_len);
    tap_put_uint(m, 6, t->qport);
    tap_put_uint(m, 7, t->rport);
    tap_put_uint(m, 8, t->qsec);
    if (t->qnsec >= 0) {
        pb_fixed(m, 9, (uint64_t)t->qnsec, 4);
    }
    tap_put_bytes(m, 10, t->qmsg, t->qmsg_len);
    pb_bytes(m, 11, "\7example\3com", 13);
    tap_put_uint(m, 12, t->rsec);
    if (t->rnsec >= 0) {
        pb_fixed(m, 13, (uint64_t)t->rnsec, 4);
    }
    tap_put_bytes(m, 14, t->rmsg, t->rmsg_len);
    if (t->extras) {
        pb_uint(m, 16, 2);               /* http_protocol (newer) */
        pb_fixed(m, 99, 0x1122334455667788ull, 8);
        pb_fixed(m, 100, 7, 4);
        pb_bytes(m, 15, "\x08\x01", 2);  /* policy (newer) */
    }
}

/* The outer Dnstap; type comes first so every prefix is incomplete. */
static void
tap_encode(const struct tap *t, struct pb *out)
{
    struct pb m = { .len = 0 };

    tap_message(t, &m);
    memset(out, 0, sizeof(*out));
    pb_uint(out, 15, 1);
    pb_bytes(out, 1, "ns1.test", 8);
    pb_bytes(out, 2, "test 1.0", 8);
    if (t->extras) {
        pb_uint(out, 1000, 5);
        pb_fixed(out, 4, 1, 8);
    }
    pb_bytes(out, 14, m.b, m.len);
}

static int
decode_tap(const struct tap *t, struct event *ev)
{
    struct pb frame;

    tap_encode(t, &frame);
    return dnstap_decode(frame.b, frame.len, ev);
}

/* ---- decoding ---- */

static void
test_full_response(void **state)
{
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.kind, EVENT_KIND_DNS);
    assert_int_equal(ev.source, EVENT_SOURCE_DNSTAP);
    assert_int_equal(ev.role, EVENT_ROLE_CLIENT);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_UDP);
    assert_int_equal(ev.client.family, 4);
    assert_memory_equal(ev.client.bytes, client4, 4);
    assert_int_equal(ev.client_port, 40000);
    assert_int_equal(ev.server.family, 4);
    assert_memory_equal(ev.server.bytes, server4, 4);
    assert_int_equal(ev.server_port, 53);
    assert_int_equal(ev.time_ns, 1700000000000000100ull);
    assert_int_equal(ev.response_ns, 1700000000002500100ull);
    assert_int_equal(ev.latency_ns, 2500000);
    assert_int_equal(ev.cgroup_id, 0);

    /* The DNS side, as filled by dnswire_parse() on both messages. */
    assert_int_equal(ev.flags & (EVENT_F_QUERY | EVENT_F_RESPONSE |
                                 EVENT_F_LATENCY | EVENT_F_QUESTION |
                                 EVENT_F_UNANSWERED),
                     EVENT_F_QUERY | EVENT_F_RESPONSE | EVENT_F_LATENCY |
                         EVENT_F_QUESTION);
    assert_string_equal(ev.qname, "www.example.com");
    assert_int_equal(ev.qname_len, 15);
    assert_int_equal(ev.qtype, 1);
    assert_int_equal(ev.qclass, 1);
    assert_int_equal(ev.id, 0x1234);
    assert_int_equal(ev.query_size, sizeof(dns_query));
    assert_int_equal(ev.response_size, sizeof(dns_response));
    assert_int_equal(ev.rcode, 0);
    assert_int_equal(ev.ancount, 1);
    assert_int_equal(ev.answer_count, 1);
    assert_int_equal(ev.answers[0].type, 1);
    assert_memory_equal(ev.answers[0].data, "\xc0\x00\x02\x01", 4);
}

static void
test_query_ipv6_tcp(void **state)
{
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    t.type = 5;                        /* CLIENT_QUERY */
    t.protocol = 2;
    t.qaddr = client6;
    t.qaddr_len = 16;
    t.raddr = NULL;
    t.rport = -1;
    t.rsec = t.rnsec = -1;
    t.rmsg = NULL;
    assert_int_equal(decode_tap(&t, &ev), 0);

    assert_int_equal(ev.role, EVENT_ROLE_CLIENT);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_TCP);
    assert_int_equal(ev.client.family, 6);
    assert_memory_equal(ev.client.bytes, client6, 16);
    assert_int_equal(ev.server.family, 0);
    assert_int_equal(ev.server_port, 0);
    assert_int_equal(ev.time_ns, 1700000000000000100ull);
    assert_int_equal(ev.response_ns, 0);
    assert_int_equal(ev.latency_ns, 0);
    assert_true(ev.flags & EVENT_F_QUERY);
    assert_true(ev.flags & EVENT_F_QUESTION);
    assert_false(ev.flags & (EVENT_F_RESPONSE | EVENT_F_LATENCY));
    assert_string_equal(ev.qname, "www.example.com");
}

static void
test_response_time_only(void **state)
{
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    t.type = 4;                        /* RESOLVER_RESPONSE, unbound-like */
    t.qsec = t.qnsec = -1;
    t.qmsg = NULL;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.role, EVENT_ROLE_RESOLVER);
    assert_int_equal(ev.time_ns, 1700000000002500100ull);
    assert_int_equal(ev.response_ns, 1700000000002500100ull);
    assert_false(ev.flags & (EVENT_F_LATENCY | EVENT_F_QUERY));
    assert_true(ev.flags & EVENT_F_RESPONSE);
    assert_int_equal(ev.query_size, 0);
}

static void
test_query_without_message(void **state)
{
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    t.type = 1;                        /* AUTH_QUERY */
    t.qmsg = NULL;
    t.rmsg = NULL;
    t.rsec = t.rnsec = -1;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.role, EVENT_ROLE_AUTH);
    assert_int_equal(ev.flags, EVENT_F_QUERY);
    assert_int_equal(ev.qname_len, 0);
    assert_string_equal(ev.qname, "");

    t.type = 2;                        /* AUTH_RESPONSE, nothing inside */
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.flags, 0);
}

static void
test_latency_rules(void **state)
{
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    t.rsec = t.qsec - 1;               /* out of order: no latency */
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_false(ev.flags & EVENT_F_LATENCY);
    assert_int_equal(ev.latency_ns, 0);
    assert_int_equal(ev.time_ns, 1700000000000000100ull);

    t.rsec = t.qsec;                   /* equal times: latency 0 */
    t.rnsec = t.qnsec;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_true(ev.flags & EVENT_F_LATENCY);
    assert_int_equal(ev.latency_ns, 0);

    t.qnsec = -1;                      /* seconds alone are a time */
    t.rnsec = 999999999;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.time_ns, 1700000000000000000ull);
    assert_int_equal(ev.latency_ns, 999999999);
}

static void
test_roles_and_types(void **state)
{
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    t.qmsg = t.rmsg = NULL;
    for (int64_t type = 1; type <= 14; type++) {
        t.type = type;
        assert_int_equal(decode_tap(&t, &ev), 0);
        assert_int_equal(ev.role, (type + 1) / 2);
        assert_int_equal((ev.flags & EVENT_F_QUERY) != 0, type % 2 == 1);
    }

    t.type = 0;
    assert_int_equal(decode_tap(&t, &ev), -DNSTAP_E_BAD_TYPE);
    t.type = 15;
    assert_int_equal(decode_tap(&t, &ev), -DNSTAP_E_BAD_TYPE);
    t.type = -1;                       /* required field missing */
    assert_int_equal(decode_tap(&t, &ev), -DNSTAP_E_BAD_TYPE);
}

static void
test_transports(void **state)
{
    static const int64_t proto[] = { 1, 2, 3, 4, 5, 6, 7, 8, 1000, -1 };
    static const uint8_t want[] = {
        EVENT_TRANSPORT_UDP, EVENT_TRANSPORT_TCP, EVENT_TRANSPORT_DOT,
        EVENT_TRANSPORT_DOH, EVENT_TRANSPORT_DNSCRYPT_UDP,
        EVENT_TRANSPORT_DNSCRYPT_TCP, EVENT_TRANSPORT_DOQ,
        EVENT_TRANSPORT_UNKNOWN, EVENT_TRANSPORT_UNKNOWN,
        EVENT_TRANSPORT_UNKNOWN,
    };
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(want); i++) {
        t.protocol = proto[i];
        assert_int_equal(decode_tap(&t, &ev), 0);
        assert_int_equal(ev.transport, want[i]);
    }
}

static void
test_unknown_fields_and_order(void **state)
{
    struct tap t = tap_full();
    struct pb m = { .len = 0 };
    struct pb f = { .len = 0 };
    struct event ev;

    (void)state;
    t.extras = true;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.client_port, 40000);
    assert_string_equal(ev.qname, "www.example.com");

    /* Message first, Dnstap.type last; a repeated field: last wins. */
    pb_uint(&m, 7, 5353);
    pb_bytes(&m, 14, dns_response, sizeof(dns_response));
    pb_uint(&m, 1, 8);                 /* FORWARDER_RESPONSE */
    pb_uint(&m, 7, 853);
    pb_uint(&m, 3, 3);
    pb_bytes(&f, 14, m.b, m.len);
    pb_uint(&f, 15, 1);
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), 0);
    assert_int_equal(ev.role, EVENT_ROLE_FORWARDER);
    assert_int_equal(ev.server_port, 853);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_DOT);
    assert_int_equal(ev.time_ns, 0);
    assert_true(ev.flags & EVENT_F_RESPONSE);
}

static void
test_address_lengths(void **state)
{
    static const uint8_t five[5] = { 1, 2, 3, 4, 5 };
    struct tap t = tap_full();
    struct event ev;

    (void)state;
    t.qaddr = five;
    t.qaddr_len = 5;
    t.raddr_len = 0;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.client.family, 0);
    assert_int_equal(ev.server.family, 0);
    assert_int_equal(ev.client_port, 40000);
}

static void
test_bad_fields(void **state)
{
    struct tap t;
    struct event ev;

    (void)state;
    t = tap_full();
    t.qport = 65536;
    assert_int_equal(decode_tap(&t, &ev), -DNSTAP_E_BAD_FIELD);
    t = tap_full();
    t.rport = 65535;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.server_port, 65535);

    t = tap_full();
    t.rnsec = 1000000000;
    assert_int_equal(decode_tap(&t, &ev), -DNSTAP_E_BAD_FIELD);
    t = tap_full();
    t.qsec = 18446744073ll;            /* nanoseconds overflow 64 bits */
    assert_int_equal(decode_tap(&t, &ev), -DNSTAP_E_BAD_FIELD);
    t.qsec = 18446744072ll;
    t.rsec = -1;
    assert_int_equal(decode_tap(&t, &ev), 0);
    assert_int_equal(ev.time_ns, 18446744072000000100ull);
}

static void
test_outer_errors(void **state)
{
    struct pb f = { .len = 0 };
    struct event ev;

    (void)state;
    assert_int_equal(dnstap_decode(f.b, 0, &ev), -DNSTAP_E_NO_MESSAGE);
    assert_int_equal(ev.source, EVENT_SOURCE_DNSTAP);

    pb_uint(&f, 15, 1);
    pb_bytes(&f, 1, "id", 2);
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), -DNSTAP_E_NO_MESSAGE);

    f.len = 0;
    pb_uint(&f, 15, 2);                /* not MESSAGE */
    pb_bytes(&f, 14, "\x08\x05", 2);
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), -DNSTAP_E_BAD_TYPE);

    f.len = 0;                         /* type left out: tolerated */
    pb_bytes(&f, 14, "\x08\x05", 2);
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), 0);
    assert_int_equal(ev.flags, EVENT_F_QUERY);
}

/* Decode raw bytes as the Message inside a frame. */
static void
expect_inner_error(const void *bytes, size_t len)
{
    struct pb f = { .len = 0 };
    struct event ev;

    pb_uint(&f, 15, 1);
    pb_bytes(&f, 14, bytes, len);
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), -DNSTAP_E_PROTOBUF);
}

/* Decode raw bytes as a whole frame and as the Message inside one. */
static void
expect_protobuf_error(const void *bytes, size_t len)
{
    struct pb f = { .len = 0 };
    struct event ev;

    assert_int_equal(dnstap_decode(bytes, len, &ev), -DNSTAP_E_PROTOBUF);
    pb_uint(&f, 15, 1);
    pb_bytes(&f, 14, bytes, len);
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), -DNSTAP_E_PROTOBUF);
}

static void
test_malformed_wire(void **state)
{
    static const uint8_t eleven[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    };
    static const uint8_t overflow[] = {
        0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
    };
    static const uint8_t cut_varint[] = { 0x08, 0x80 };
    static const uint8_t cut_tag[] = { 0x80 };
    static const uint8_t big_tag[] = { 0x80, 0x80, 0x80, 0x80, 0x10, 0 };
    static const uint8_t field0[] = { 0x02, 0x00 };
    static const uint8_t long_len[] = { 0x0a, 0x05, 'a', 'b' };
    static const uint8_t huge_len[] = {
        0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    };
    static const uint8_t cut_fixed32[] = { 0x4d, 1, 2 };
    static const uint8_t cut_fixed64[] = { 0x31, 1, 2, 3, 4, 5, 6, 7 };
    uint8_t wt[2] = { 0, 0 };

    (void)state;
    expect_protobuf_error(eleven, sizeof(eleven));
    expect_protobuf_error(overflow, sizeof(overflow));
    expect_protobuf_error(cut_varint, sizeof(cut_varint));
    expect_protobuf_error(cut_tag, sizeof(cut_tag));
    expect_protobuf_error(big_tag, sizeof(big_tag));
    expect_protobuf_error(field0, sizeof(field0));
    expect_protobuf_error(long_len, sizeof(long_len));
    expect_protobuf_error(huge_len, sizeof(huge_len));
    expect_protobuf_error(cut_fixed32, sizeof(cut_fixed32));
    expect_protobuf_error(cut_fixed64, sizeof(cut_fixed64));
    for (uint8_t wire = 3; wire <= 7; wire++) {
        if (wire == 5) {
            continue;
        }
        wt[0] = (uint8_t)(2 << 3 | wire);
        expect_protobuf_error(wt, sizeof(wt));
    }
}

static void
test_varint_limits(void **state)
{
    /* A 10-byte varint of 2^63 is valid, as is a padded small value. */
    static const uint8_t ten[] = {
        0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        0x08, 0x85, 0x80, 0x00,        /* type 5, in three bytes */
    };
    struct pb f = { .len = 0 };
    struct event ev;

    (void)state;
    pb_uint(&f, 15, 1);
    pb_bytes(&f, 14, ten, sizeof(ten));
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), 0);
    assert_int_equal(ev.role, EVENT_ROLE_CLIENT);
}

static void
test_wrong_wire_types(void **state)
{
    static const uint32_t fields[] = { 1, 3, 4, 6, 9, 10, 13, 14 };
    struct pb m;
    struct pb f;
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        memset(&m, 0, sizeof(m));
        if (fields[i] != 1) {
            pb_uint(&m, 1, 5);
        }
        if (fields[i] == 4 || fields[i] == 10 || fields[i] == 14) {
            pb_uint(&m, fields[i], 7);          /* bytes sent as varint */
        } else {
            pb_bytes(&m, fields[i], "\1\2\3\4", 4);
        }
        expect_inner_error(m.b, m.len);
    }

    memset(&f, 0, sizeof(f));
    pb_uint(&f, 14, 3);                /* outer message as varint */
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), -DNSTAP_E_PROTOBUF);
    memset(&f, 0, sizeof(f));
    pb_bytes(&f, 15, "\1", 1);         /* outer type as bytes */
    assert_int_equal(dnstap_decode(f.b, f.len, &ev), -DNSTAP_E_PROTOBUF);
}

static void
test_every_prefix_fails(void **state)
{
    struct tap t = tap_full();
    struct pb frame;
    struct event ev;

    (void)state;
    t.extras = true;
    tap_encode(&t, &frame);
    assert_int_equal(dnstap_decode(frame.b, frame.len, &ev), 0);
    for (size_t n = 0; n < frame.len; n++) {
        /* A copy of exactly n bytes, so ASan sees any overread. */
        uint8_t *copy = malloc(n > 0 ? n : 1);

        assert_non_null(copy);
        memcpy(copy, frame.b, n);
        assert_true(dnstap_decode(copy, n, &ev) < 0);
        free(copy);
    }
}

static void
test_dns_errors(void **state)
{
    static const uint8_t short_msg[5] = { 1, 2, 3, 4, 5 };
    struct tap t = tap_full();
    struct event ev;
    int rc;

    (void)state;
    t.qmsg = short_msg;
    t.qmsg_len = sizeof(short_msg);
    rc = decode_tap(&t, &ev);
    assert_int_equal(rc, -(DNSTAP_E_DNS_BASE + DNSWIRE_E_SHORT_HEADER));
    assert_string_equal(dnstap_error_name(rc),
                        dnswire_error_name(DNSWIRE_E_SHORT_HEADER));

    t = tap_full();
    t.rmsg_len = sizeof(dns_response) - 3;
    rc = decode_tap(&t, &ev);
    assert_true(rc <= -DNSTAP_E_DNS_BASE);
    assert_true(rc > -(DNSTAP_E_DNS_BASE + DNSWIRE_E_COUNT));
    assert_string_equal(dnstap_error_name(rc),
                        dnswire_error_name(-rc - DNSTAP_E_DNS_BASE));
}

static void
test_error_names(void **state)
{
    (void)state;
    assert_string_equal(dnstap_error_name(-DNSTAP_E_PROTOBUF),
                        "dnstap_protobuf");
    assert_string_equal(dnstap_error_name(-DNSTAP_E_NO_MESSAGE),
                        "dnstap_no_message");
    assert_string_equal(dnstap_error_name(DNSTAP_E_BAD_TYPE),
                        "dnstap_bad_type");
    assert_string_equal(dnstap_error_name(-DNSTAP_E_BAD_FIELD),
                        "dnstap_bad_field");
    assert_string_equal(dnstap_error_name(-DNSTAP_E_COUNT),
                        "dnstap_unknown_error");
    assert_string_equal(dnstap_error_name(-10000), "dnstap_unknown_error");
    assert_string_equal(dnstap_error_name(-2147483647 - 1),
                        "dnstap_unknown_error");
}

/* ---- Frame Streams bytes for the listener and file tests ---- */

struct wbuf {
    uint8_t b[400000];
    size_t len;
};

static void
w_raw(struct wbuf *w, const void *d, size_t n)
{
    assert_true(w->len + n <= sizeof(w->b));
    memcpy(w->b + w->len, d, n);
    w->len += n;
}

static void
w_be32(struct wbuf *w, uint32_t v)
{
    uint8_t b[4] = {
        (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
        (uint8_t)v,
    };

    w_raw(w, b, 4);
}

static void
w_control(struct wbuf *w, uint32_t type, const char *ct)
{
    w_be32(w, 0);
    w_be32(w, 4 + (ct != NULL ? 8 + (uint32_t)strlen(ct) : 0));
    w_be32(w, type);
    if (ct != NULL) {
        w_be32(w, 1);
        w_be32(w, (uint32_t)strlen(ct));
        w_raw(w, ct, strlen(ct));
    }
}

static void
w_frame(struct wbuf *w, const void *d, size_t n)
{
    w_be32(w, (uint32_t)n);
    w_raw(w, d, n);
}

/* A valid CLIENT_QUERY frame whose client port tags it. */
static void
w_tap(struct wbuf *w, uint16_t port)
{
    struct tap t = tap_full();
    struct pb frame;

    t.type = 5;
    t.qport = port;
    t.rmsg = NULL;
    tap_encode(&t, &frame);
    w_frame(w, frame.b, frame.len);
}

/* ---- collecting emitted events across threads ---- */

struct sink {
    pthread_mutex_t lock;
    size_t count;
    uint16_t ports[64];
    bool bad_event;
};

static void
sink_emit(void *ctx, const struct event *ev)
{
    struct sink *s = ctx;

    pthread_mutex_lock(&s->lock);
    if (ev->source != EVENT_SOURCE_DNSTAP ||
        strcmp(ev->qname, "www.example.com") != 0) {
        s->bad_event = true;
    }
    if (s->count < 64) {
        s->ports[s->count] = ev->client_port;
    }
    s->count++;
    pthread_mutex_unlock(&s->lock);
}

static size_t
sink_count(struct sink *s)
{
    size_t n;

    pthread_mutex_lock(&s->lock);
    n = s->count;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static bool
sink_has_port(struct sink *s, uint16_t port)
{
    bool found = false;

    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->count && i < 64; i++) {
        found = found || s->ports[i] == port;
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

static uint64_t
malformed(const char *kind)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "kind=\"%s\"", kind);
    return metrics_value("ugallu_dns_malformed_total", labels);
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Wait up to 10 s for the listener to reach a state. */
static bool
wait_for(struct dnstap_listen *l, struct sink *s, size_t events,
         uint64_t accepted, uint64_t active)
{
    for (int i = 0; i < 1000; i++) {
        struct dnstap_listen_stats st;

        dnstap_listen_stats(l, &st);
        if (sink_count(s) == events && st.accepted == accepted &&
            st.active == active) {
            return true;
        }
        sleep_ms(10);
    }
    return false;
}

/* ---- clients ---- */

static void
client_timeouts(int fd)
{
    struct timeval tv = { 10, 0 };

    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
                                sizeof(tv)), 0);
}

static int
client_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    client_timeouts(fd);
    return fd;
}

static int
client_tcp(int port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    client_timeouts(fd);
    return fd;
}

static void
client_send(int fd, const struct wbuf *w)
{
    size_t off = 0;

    while (off < w->len) {
        ssize_t n = send(fd, w->b + off, w->len - off, MSG_NOSIGNAL);

        assert_true(n > 0);
        off += (size_t)n;
    }
}

static void
client_read_exact(int fd, uint8_t *buf, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t got = read(fd, buf + off, n - off);

        assert_true(got > 0);
        off += (size_t)got;
    }
}

/* Read one control frame and check its type and content type. */
static void
client_expect(int fd, uint32_t type, const char *ct)
{
    uint8_t buf[FRAMESTREAM_ENCODED_CONTROL_MAX];
    uint8_t want[FRAMESTREAM_ENCODED_CONTROL_MAX];
    int n = framestream_encode_control(want, sizeof(want), type, ct);

    assert_true(n > 0);
    client_read_exact(fd, buf, (size_t)n);
    assert_memory_equal(buf, want, (size_t)n);
}

/* True when the server closed the connection. */
static bool
client_eof(int fd)
{
    uint8_t b;

    return read(fd, &b, 1) == 0;
}

/* ---- the listener ---- */

struct fixture {
    char dir[64];
    char path[128];
    struct sink sink;
    struct dnstap_listen *l;
};

static void
fixture_open(struct fixture *fx, const char *tcp)
{
    char err[256] = "";

    metrics_reset();
    memset(fx, 0, sizeof(*fx));
    pthread_mutex_init(&fx->sink.lock, NULL);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/dnstap-test-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/tap.sock", fx->dir);
    fx->l = dnstap_listen_open(fx->path, tcp, sink_emit, &fx->sink, err,
                               sizeof(err));
    if (fx->l == NULL) {
        fail_msg("open failed: %s", err);
    }
    assert_int_equal(dnstap_listen_start(fx->l), 0);
}

static void
fixture_close(struct fixture *fx)
{
    struct stat st;

    dnstap_listen_free(fx->l);
    assert_int_equal(stat(fx->path, &st), -1);   /* socket removed */
    rmdir(fx->dir);
    pthread_mutex_destroy(&fx->sink.lock);
}

static struct wbuf wa, wb, wc;

static void
test_listen_clients(void **state)
{
    static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0x01 };
    struct fixture fx;
    struct dnstap_listen_stats st;
    struct stat sst;
    int a, b, c, d;

    (void)state;
    fixture_open(&fx, "127.0.0.1:0");
    assert_true(dnstap_listen_tcp_port(fx.l) > 0);
    assert_int_equal(stat(fx.path, &sst), 0);
    assert_int_equal(sst.st_mode & 0777, 0666);

    /* A: bidirectional over unix, with bad frames among good ones. */
    a = client_unix(fx.path);
    wa.len = 0;
    w_control(&wa, FRAMESTREAM_CONTROL_READY, "protobuf:dnstap.Dnstap");
    client_send(a, &wa);
    client_expect(a, FRAMESTREAM_CONTROL_ACCEPT, "protobuf:dnstap.Dnstap");

    /* B: unidirectional over TCP, at the same time. */
    b = client_tcp(dnstap_listen_tcp_port(fx.l));
    wb.len = 0;
    w_control(&wb, FRAMESTREAM_CONTROL_START, "protobuf:dnstap.Dnstap");
    w_tap(&wb, 2001);
    client_send(b, &wb);

    wa.len = 0;
    w_control(&wa, FRAMESTREAM_CONTROL_START, "protobuf:dnstap.Dnstap");
    w_tap(&wa, 1001);
    w_frame(&wa, garbage, sizeof(garbage));
    w_tap(&wa, 1002);
    w_be32(&wa, FRAMESTREAM_DEFAULT_MAX_FRAME + 1);   /* oversized */
    for (size_t i = 0; i <= FRAMESTREAM_DEFAULT_MAX_FRAME; i++) {
        wa.b[wa.len++] = (uint8_t)i;
    }
    w_tap(&wa, 1003);
    client_send(a, &wa);

    wb.len = 0;
    w_tap(&wb, 2002);
    w_control(&wb, FRAMESTREAM_CONTROL_STOP, NULL);
    client_send(b, &wb);

    wa.len = 0;
    w_control(&wa, FRAMESTREAM_CONTROL_STOP, NULL);
    client_send(a, &wa);
    client_expect(a, FRAMESTREAM_CONTROL_FINISH, NULL);
    assert_true(client_eof(a));
    assert_true(client_eof(b));

    /* C: gone in the middle of a frame.  D: not Frame Streams at all. */
    c = client_unix(fx.path);
    wc.len = 0;
    w_control(&wc, FRAMESTREAM_CONTROL_START, NULL);
    w_tap(&wc, 3001);
    w_be32(&wc, 100);
    w_raw(&wc, "partial", 7);
    client_send(c, &wc);
    assert_true(wait_for(fx.l, &fx.sink, 6, 3, 1));
    close(c);

    d = client_tcp(dnstap_listen_tcp_port(fx.l));
    wc.len = 0;
    w_raw(&wc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    client_send(d, &wc);
    assert_true(client_eof(d));

    assert_true(wait_for(fx.l, &fx.sink, 6, 4, 0));
    assert_false(fx.sink.bad_event);
    for (uint16_t p = 1001; p <= 1003; p++) {
        assert_true(sink_has_port(&fx.sink, p));
    }
    assert_true(sink_has_port(&fx.sink, 2001));
    assert_true(sink_has_port(&fx.sink, 2002));
    assert_true(sink_has_port(&fx.sink, 3001));

    dnstap_listen_stats(fx.l, &st);
    assert_int_equal(st.frames, 7);
    assert_int_equal(st.events, 6);
    assert_int_equal(st.malformed, 4);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(malformed("dnstap_protobuf"), 1);
    assert_int_equal(malformed("fstrm_frame_too_big"), 1);
    assert_int_equal(malformed("fstrm_truncated"), 1);
    assert_int_equal(malformed("fstrm_unexpected_data"), 1);
    assert_int_equal(metrics_value("ugallu_dns_dnstap_frames_total", ""), 7);
    assert_int_equal(metrics_value("ugallu_dns_dnstap_connections_total",
                                   ""), 4);
    assert_int_equal(metrics_value("ugallu_dns_source_connected",
                                   "source=\"dnstap\""), 0);

    close(a);
    close(b);
    close(d);
    fixture_close(&fx);
}

static void
test_listen_bad_handshakes(void **state)
{
    struct fixture fx;
    struct wbuf *w = &wa;
    int a, b, c;

    (void)state;
    fixture_open(&fx, NULL);
    assert_int_equal(dnstap_listen_tcp_port(fx.l), -1);

    a = client_unix(fx.path);           /* READY for another protocol */
    w->len = 0;
    w_control(w, FRAMESTREAM_CONTROL_READY, "protobuf:other");
    client_send(a, w);
    assert_true(client_eof(a));

    b = client_unix(fx.path);           /* START for another protocol */
    w->len = 0;
    w_control(w, FRAMESTREAM_CONTROL_START, "protobuf:other");
    client_send(b, w);
    assert_true(client_eof(b));

    c = client_unix(fx.path);           /* a sender must not ACCEPT */
    w->len = 0;
    w_control(w, FRAMESTREAM_CONTROL_ACCEPT, NULL);
    client_send(c, w);
    assert_true(client_eof(c));

    assert_true(wait_for(fx.l, &fx.sink, 0, 3, 0));
    assert_int_equal(malformed("fstrm_bad_content_type"), 2);
    assert_int_equal(malformed("fstrm_unexpected_control"), 1);
    close(a);
    close(b);
    close(c);
    fixture_close(&fx);
}

static void
test_listen_connection_cap(void **state)
{
    struct fixture fx;
    struct dnstap_listen_stats st;
    int fds[DNSTAP_LISTEN_MAX_CONN + 1];

    (void)state;
    fixture_open(&fx, NULL);
    for (int i = 0; i < DNSTAP_LISTEN_MAX_CONN; i++) {
        fds[i] = client_unix(fx.path);
    }
    assert_true(wait_for(fx.l, &fx.sink, 0, DNSTAP_LISTEN_MAX_CONN,
                         DNSTAP_LISTEN_MAX_CONN));
    assert_int_equal(metrics_value("ugallu_dns_source_connected",
                                   "source=\"dnstap\""),
                     DNSTAP_LISTEN_MAX_CONN);

    fds[DNSTAP_LISTEN_MAX_CONN] = client_unix(fx.path);
    assert_true(client_eof(fds[DNSTAP_LISTEN_MAX_CONN]));
    dnstap_listen_stats(fx.l, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.active, DNSTAP_LISTEN_MAX_CONN);

    /* Stopping closes every sender. */
    dnstap_listen_stop(fx.l);
    dnstap_listen_stats(fx.l, &st);
    assert_int_equal(st.active, 0);
    for (int i = 0; i <= DNSTAP_LISTEN_MAX_CONN; i++) {
        assert_true(client_eof(fds[i]));
        close(fds[i]);
    }
    fixture_close(&fx);
}

static void
test_listen_open_errors(void **state)
{
    char dir[] = "/tmp/dnstap-test-XXXXXX";
    char path[64];
    char err[256] = "";
    struct dnstap_listen *l;
    struct sink sink = { .count = 0 };
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/file", dir);

    /* A regular file at the path is left alone. */
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    l = dnstap_listen_open(path, NULL, sink_emit, &sink, err, sizeof(err));
    assert_null(l);
    assert_non_null(strstr(err, "not a socket"));
    unlink(path);

    /* A stale socket is replaced. */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        memcpy(sa.sun_path, path, strlen(path) + 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    close(fd);
    l = dnstap_listen_open(path, NULL, sink_emit, &sink, err, sizeof(err));
    assert_non_null(l);
    dnstap_listen_free(l);

    assert_null(dnstap_listen_open(NULL, NULL, sink_emit, &sink, err,
                                   sizeof(err)));
    assert_null(dnstap_listen_open(NULL, "no-port", sink_emit, &sink, err,
                                   sizeof(err)));
    assert_null(dnstap_listen_open(NULL, "127.0.0.1:dns", sink_emit, &sink,
                                   err, sizeof(err)));
    assert_non_null(strstr(err, "bad TCP address"));
    l = dnstap_listen_open(NULL, "[::1]:0", sink_emit, &sink, err,
                           sizeof(err));
    if (l != NULL) {                   /* hosts without IPv6 skip this */
        assert_true(dnstap_listen_tcp_port(l) > 0);
        dnstap_listen_free(l);
    }
    rmdir(dir);
}

/* ---- files ---- */

static int
write_file(const char *path, const struct wbuf *w)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(w->b, 1, w->len, f), w->len);
    return fclose(f);
}

static void
test_read_file(void **state)
{
    char path[] = "/tmp/dnstap-file-XXXXXX";
    struct sink sink = { .count = 0 };
    char err[256] = "";
    uint64_t frames = 0;
    int fd;

    (void)state;
    metrics_reset();
    pthread_mutex_init(&sink.lock, NULL);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    wa.len = 0;
    w_control(&wa, FRAMESTREAM_CONTROL_START, "protobuf:dnstap.Dnstap");
    for (uint16_t p = 1; p <= 5; p++) {
        w_tap(&wa, p);
    }
    w_frame(&wa, "\x0a\x01", 2);
    w_control(&wa, FRAMESTREAM_CONTROL_STOP, NULL);
    assert_int_equal(write_file(path, &wa), 0);
    assert_int_equal(dnstap_listen_read_file(path, sink_emit, &sink,
                                             &frames, err, sizeof(err)), 0);
    assert_int_equal(frames, 6);
    assert_int_equal(sink.count, 5);
    assert_true(sink_has_port(&sink, 5));
    assert_int_equal(malformed("dnstap_protobuf"), 1);

    /* Drop STOP, the bad frame and 2 bytes of the fifth: the frames
       before the cut still count. */
    wa.len -= 12 + 6 + 2;
    assert_int_equal(write_file(path, &wa), 0);
    sink.count = 0;
    assert_int_equal(dnstap_listen_read_file(path, sink_emit, &sink,
                                             &frames, err, sizeof(err)), 0);
    assert_int_equal(frames, 4);
    assert_int_equal(sink.count, 4);
    assert_false(sink_has_port(&sink, 5));
    assert_int_equal(malformed("fstrm_truncated"), 1);

    unlink(path);
    pthread_mutex_destroy(&sink.lock);
}

static void
test_read_bad_files(void **state)
{
    static const uint8_t pcap[24] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0 };
    char path[] = "/tmp/dnstap-file-XXXXXX";
    struct sink sink = { .count = 0 };
    char err[256] = "";
    int fd;

    (void)state;
    pthread_mutex_init(&sink.lock, NULL);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    /* Empty. */
    assert_int_equal(dnstap_listen_read_file(path, sink_emit, &sink, NULL,
                                             err, sizeof(err)), -EBADMSG);
    /* A pcap file. */
    wa.len = 0;
    w_raw(&wa, pcap, sizeof(pcap));
    assert_int_equal(write_file(path, &wa), 0);
    assert_int_equal(dnstap_listen_read_file(path, sink_emit, &sink, NULL,
                                             err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "fstrm_unexpected_data"));
    /* Another content type. */
    wa.len = 0;
    w_control(&wa, FRAMESTREAM_CONTROL_START, "protobuf:other");
    w_tap(&wa, 1);
    assert_int_equal(write_file(path, &wa), 0);
    assert_int_equal(dnstap_listen_read_file(path, sink_emit, &sink, NULL,
                                             err, sizeof(err)), -EBADMSG);
    assert_int_equal(sink.count, 0);

    unlink(path);
    assert_int_equal(dnstap_listen_read_file(path, sink_emit, &sink, NULL,
                                             err, sizeof(err)), -ENOENT);
    pthread_mutex_destroy(&sink.lock);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_response),
        cmocka_unit_test(test_query_ipv6_tcp),
        cmocka_unit_test(test_response_time_only),
        cmocka_unit_test(test_query_without_message),
        cmocka_unit_test(test_latency_rules),
        cmocka_unit_test(test_roles_and_types),
        cmocka_unit_test(test_transports),
        cmocka_unit_test(test_unknown_fields_and_order),
        cmocka_unit_test(test_address_lengths),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_outer_errors),
        cmocka_unit_test(test_malformed_wire),
        cmocka_unit_test(test_varint_limits),
        cmocka_unit_test(test_wrong_wire_types),
        cmocka_unit_test(test_every_prefix_fails),
        cmocka_unit_test(test_dns_errors),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_listen_clients),
        cmocka_unit_test(test_listen_bad_handshakes),
        cmocka_unit_test(test_listen_connection_cap),
        cmocka_unit_test(test_listen_open_errors),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_read_bad_files),
    };

    log_threshold = LOG_WARN;   /* one line per connection is noise here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}

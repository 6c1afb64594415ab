/*
 * test_tcpreasm.c - DNS-over-TCP reassembly and DoT/DoH flow reports,
 * driven with hand-made segments.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "sources/netpkt.h"
#include "sources/tcpreasm.h"

#define SEC 1000000000ull
#define MAX_SEEN 16

/* What the callbacks saw. */
struct seen_msg {
    struct tcpreasm_dir dir;
    uint64_t time_ns;
    size_t len;
    uint8_t first;     /* first byte, 0 when empty */
    uint8_t last;      /* last byte */
    uint16_t id;       /* first two bytes */
};

struct seen {
    size_t nmsg;
    struct seen_msg msg[MAX_SEEN];
    size_t nflow;
    struct event flow[MAX_SEEN];
};

static void
on_msg(void *ctx, const struct tcpreasm_dir *dir, uint64_t time_ns,
       const uint8_t *msg, size_t len)
{
    struct seen *s = ctx;
    struct seen_msg *m;

    assert_true(s->nmsg < MAX_SEEN);
    m = &s->msg[s->nmsg++];
    m->dir = *dir;
    m->time_ns = time_ns;
    m->len = len;
    m->first = len > 0 ? msg[0] : 0;
    m->last = len > 0 ? msg[len - 1] : 0;
    m->id = len >= 2 ? (uint16_t)(msg[0] << 8 | msg[1]) : 0;
}

static void
on_flow(void *ctx, const struct event *ev)
{
    struct seen *s = ctx;

    assert_true(s->nflow < MAX_SEEN);
    s->flow[s->nflow++] = *ev;
}

/* The test connection: client 192.0.2.<n>:<cport>, server 192.0.2.53. */
struct conn {
    struct tcpreasm *r;
    uint8_t client_host;
    uint16_t cport;
    uint16_t sport;
    int v6;
};

static void
conn_addr(const struct conn *c, int client, struct event_addr *a)
{
    uint8_t v4[4] = {192, 0, 2, client ? c->client_host : 53};
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};

    v6[15] = client ? c->client_host : 0x53;
    if (c->v6) {
        event_addr_set(a, v6, 16);
    } else {
        event_addr_set(a, v4, 4);
    }
}

/* Feed one segment; from_client picks the direction. */
static int
seg(const struct conn *c, int from_client, uint8_t flags, uint32_t seq,
    const void *data, size_t len, uint64_t t)
{
    struct netpkt p;

    memset(&p, 0, sizeof(p));
    conn_addr(c, from_client, &p.src);
    conn_addr(c, !from_client, &p.dst);
    p.sport = from_client ? c->cport : c->sport;
    p.dport = from_client ? c->sport : c->cport;
    p.proto = NETPKT_PROTO_TCP;
    p.tcp_flags = flags;
    p.tcp_seq = seq;
    p.payload = data;
    p.payload_len = len;
    return tcpreasm_input(c->r, &p, t);
}

/* A fake DNS message of len bytes behind its 2-byte length: ID id,
   QDCOUNT 1, then filler ending in 0xee.  Returns the framed size. */
static size_t
framed(uint8_t *out, size_t len, uint16_t id)
{
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
    memset(out + 2, 0x11, len);
    out[2] = (uint8_t)(id >> 8);
    out[3] = (uint8_t)id;
    out[6] = 0;
    out[7] = 1;
    out[2 + len - 1] = 0xee;
    return len + 2;
}

static struct tcpreasm *
table(struct seen *s, uint32_t flows, uint32_t pending, uint64_t idle)
{
    struct tcpreasm_config cfg;
    struct tcpreasm *r;

    metrics_reset();
    memset(s, 0, sizeof(*s));
    tcpreasm_config_defaults(&cfg);
    if (flows != 0) {
        cfg.max_flows = flows;
        cfg.max_pending = pending;
    }
    if (idle != 0) {
        cfg.idle_ns = idle;
    }
    assert_int_equal(tcpreasm_init(&r, &cfg, on_msg, on_flow, s), 0);
    return r;
}

/* SYN from both sides; data then starts at seq 101 and 501. */
static void
handshake(const struct conn *c)
{
    assert_int_equal(seg(c, 1, NETPKT_TCP_SYN, 100, NULL, 0, SEC), 0);
    assert_int_equal(seg(c, 0, NETPKT_TCP_SYN | NETPKT_TCP_ACK, 500, NULL,
                         0, SEC), 0);
}

static void
test_in_order(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 0};
    uint8_t q[64];
    uint8_t a[128];
    size_t qn = framed(q, 40, 0x1234);
    size_t an = framed(a, 100, 0x1234);

    handshake(&c);
    assert_int_equal(seg(&c, 1, NETPKT_TCP_ACK, 101, q, qn, 2 * SEC), 0);
    assert_int_equal(seg(&c, 0, NETPKT_TCP_ACK, 501, a, an, 3 * SEC), 0);

    assert_int_equal(s.nmsg, 2);
    assert_int_equal(s.msg[0].len, 40);
    assert_int_equal(s.msg[0].id, 0x1234);
    assert_int_equal(s.msg[0].last, 0xee);
    assert_int_equal(s.msg[0].time_ns, 2 * SEC);
    assert_int_equal(s.msg[0].dir.sport, 40000);
    assert_int_equal(s.msg[0].dir.dport, 53);
    assert_int_equal(s.msg[0].dir.src.family, 4);
    assert_int_equal(s.msg[0].dir.src.bytes[3], 10);
    assert_int_equal(s.msg[0].dir.dst.bytes[3], 53);
    assert_int_equal(s.msg[1].len, 100);
    assert_int_equal(s.msg[1].dir.sport, 53);
    assert_int_equal(s.msg[1].dir.dport, 40000);
    assert_int_equal(s.msg[1].dir.src.bytes[3], 53);
    assert_int_equal(tcpreasm_flow_count(c.r), 1);
    assert_int_equal(tcpreasm_stats(c.r)->messages, 2);
    assert_int_equal(s.nflow, 0);
    tcpreasm_free(c.r);
}

static void
test_split_length_prefix(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 4, 1, 0), 10, 40000, 53, 0};
    uint8_t q[320];
    size_t qn = framed(q, 300, 0x0102);   /* both prefix bytes non-zero */

    handshake(&c);
    seg(&c, 1, NETPKT_TCP_ACK, 101, q, 1, 2 * SEC);
    assert_int_equal(s.nmsg, 0);
    seg(&c, 1, NETPKT_TCP_ACK, 102, q + 1, 1, 2 * SEC);
    seg(&c, 1, NETPKT_TCP_ACK, 103, q + 2, 20, 2 * SEC);
    assert_int_equal(s.nmsg, 0);
    seg(&c, 1, NETPKT_TCP_ACK, 123, q + 22, qn - 22, 3 * SEC);

    assert_int_equal(s.nmsg, 1);
    assert_int_equal(s.msg[0].len, 300);
    assert_int_equal(s.msg[0].id, 0x0102);
    assert_int_equal(s.msg[0].last, 0xee);
    assert_int_equal(s.msg[0].time_ns, 3 * SEC);

    /* The single buffer came back: a second split message works too. */
    seg(&c, 1, NETPKT_TCP_ACK, 101 + (uint32_t)qn, q, 30, 4 * SEC);
    seg(&c, 1, NETPKT_TCP_ACK, 131 + (uint32_t)qn, q + 30, qn - 30,
        4 * SEC);
    assert_int_equal(s.nmsg, 2);
    assert_int_equal(s.msg[1].len, 300);
    assert_int_equal(tcpreasm_stats(c.r)->no_buffer, 0);
    tcpreasm_free(c.r);
}

static void
test_several_messages_per_segment(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 0};
    uint8_t buf[512];
    size_t n = 0;

    handshake(&c);
    n += framed(buf + n, 20, 1);
    n += framed(buf + n, 30, 2);
    n += framed(buf + n, 40, 3);
    n += framed(buf + n, 50, 4);
    /* Three whole messages and the first 10 bytes of the fourth. */
    seg(&c, 0, NETPKT_TCP_ACK, 501, buf, 20 + 30 + 40 + 6 + 10, 2 * SEC);
    assert_int_equal(s.nmsg, 3);
    assert_int_equal(s.msg[0].id, 1);
    assert_int_equal(s.msg[1].id, 2);
    assert_int_equal(s.msg[2].id, 3);
    assert_int_equal(s.msg[2].len, 40);

    seg(&c, 0, NETPKT_TCP_ACK, 501 + 106, buf + 106, n - 106, 2 * SEC);
    assert_int_equal(s.nmsg, 4);
    assert_int_equal(s.msg[3].id, 4);
    assert_int_equal(s.msg[3].len, 50);
    assert_int_equal(s.msg[3].last, 0xee);
    tcpreasm_free(c.r);
}

static void
test_retransmission(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 0};
    uint8_t buf[256];
    size_t n = framed(buf, 40, 7);

    n += framed(buf + n, 40, 8);
    handshake(&c);
    seg(&c, 1, NETPKT_TCP_ACK, 101, buf, 10, 2 * SEC);
    seg(&c, 1, NETPKT_TCP_SYN, 100, NULL, 0, 2 * SEC);   /* a late SYN */
    seg(&c, 1, NETPKT_TCP_ACK, 111, buf + 10, 32, 2 * SEC);
    seg(&c, 1, NETPKT_TCP_ACK, 101, buf, 42, 2 * SEC);   /* duplicate */
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(tcpreasm_stats(c.r)->partial, 0);
    assert_int_equal(tcpreasm_stats(c.r)->retransmits, 1);

    /* Overlapping: the old first message again plus half the next. */
    seg(&c, 1, NETPKT_TCP_ACK, 101, buf, 42 + 20, 3 * SEC);
    assert_int_equal(s.nmsg, 1);
    seg(&c, 1, NETPKT_TCP_ACK, 101 + 42 + 10, buf + 52, n - 52, 3 * SEC);
    assert_int_equal(s.nmsg, 2);
    assert_int_equal(s.msg[1].id, 8);
    assert_int_equal(s.msg[1].len, 40);

    /* A SYN far from the stream: a new connection on the same ports. */
    seg(&c, 1, NETPKT_TCP_SYN, 0x50000000u, NULL, 0, 4 * SEC);
    seg(&c, 1, NETPKT_TCP_ACK, 0x50000001u, buf, 42, 4 * SEC);
    assert_int_equal(s.nmsg, 3);
    assert_int_equal(tcpreasm_stats(c.r)->out_of_order, 0);
    tcpreasm_free(c.r);
}

static void
test_out_of_order(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 0};
    uint8_t a[128];
    uint8_t b[64];
    size_t an = framed(a, 80, 1);
    size_t bn = framed(b, 30, 2);

    handshake(&c);
    /* The second half of a overtakes the first: a is lost. */
    seg(&c, 0, NETPKT_TCP_ACK, 501 + 40, a + 40, an - 40, 2 * SEC);
    seg(&c, 0, NETPKT_TCP_ACK, 501, a, 40, 2 * SEC);
    assert_int_equal(s.nmsg, 0);
    assert_int_equal(tcpreasm_stats(c.r)->out_of_order, 1);
    assert_int_equal(tcpreasm_stats(c.r)->resync_skipped, 1);
    assert_int_equal(tcpreasm_stats(c.r)->retransmits, 1);

    /* The next message in its own segment is found again. */
    seg(&c, 0, NETPKT_TCP_ACK, 501 + (uint32_t)an, b, bn, 3 * SEC);
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(s.msg[0].id, 2);

    /* A gap in the middle of a message drops the message in progress. */
    seg(&c, 0, NETPKT_TCP_ACK, 501 + (uint32_t)(an + bn), a, 20, 4 * SEC);
    seg(&c, 0, NETPKT_TCP_ACK, 501 + (uint32_t)(an + bn) + 30, b, bn,
        4 * SEC);
    assert_int_equal(tcpreasm_stats(c.r)->out_of_order, 2);
    assert_int_equal(tcpreasm_stats(c.r)->partial, 1);
    assert_int_equal(s.nmsg, 2);
    assert_int_equal(s.msg[1].id, 2);
    assert_int_equal(metrics_value("ugallu_dns_events_dropped_total",
                                   "reason=\"tcp_out_of_order\""), 2);
    tcpreasm_free(c.r);
}

static void
test_eviction_at_capacity(void **state)
{
    struct seen s;
    struct tcpreasm *r = table(&s, 2, 4, 0);
    struct conn c1 = {r, 1, 40001, 53, 0};
    struct conn c2 = {r, 2, 40002, 53, 0};
    struct conn c3 = {r, 3, 40003, 53, 0};
    uint8_t q[64];
    size_t qn = framed(q, 40, 9);

    handshake(&c1);
    handshake(&c2);
    seg(&c2, 1, NETPKT_TCP_ACK, 101, q, 10, 2 * SEC);  /* c2 pending */
    seg(&c1, 1, NETPKT_TCP_ACK, 101, q, 10, 3 * SEC);  /* c1 recent */
    assert_int_equal(tcpreasm_flow_count(r), 2);

    handshake(&c3);  /* evicts c2, the least recently active */
    assert_int_equal(tcpreasm_flow_count(r), 2);
    assert_int_equal(tcpreasm_stats(r)->evicted, 1);
    assert_int_equal(tcpreasm_stats(r)->partial, 1);
    assert_int_equal(metrics_value("ugallu_dns_events_dropped_total",
                                   "reason=\"tcp_flow_evicted\""), 1);

    seg(&c1, 1, NETPKT_TCP_ACK, 111, q + 10, qn - 10, 4 * SEC);
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(s.msg[0].dir.sport, 40001);
    /* c2's tail is now a fresh mid-stream flow that does not look like
       a message start: skipped.  It evicts c3, now the least recent. */
    seg(&c2, 1, NETPKT_TCP_ACK, 111, q + 10, qn - 10, 5 * SEC);
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(tcpreasm_stats(r)->evicted, 2);
    assert_int_equal(tcpreasm_stats(r)->resync_skipped, 1);
    tcpreasm_free(r);
}

static void
test_fin_and_rst(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 0};
    uint8_t q[64];
    size_t qn = framed(q, 40, 5);

    handshake(&c);
    /* The last message comes with the FIN. */
    seg(&c, 1, NETPKT_TCP_ACK | NETPKT_TCP_FIN, 101, q, qn, 2 * SEC);
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(tcpreasm_flow_count(c.r), 1);   /* half closed */
    seg(&c, 0, NETPKT_TCP_ACK | NETPKT_TCP_FIN, 501, NULL, 0, 2 * SEC);
    assert_int_equal(tcpreasm_flow_count(c.r), 0);
    assert_int_equal(tcpreasm_stats(c.r)->closed, 1);
    /* The last ACK does not bring it back. */
    seg(&c, 1, NETPKT_TCP_ACK, 102 + (uint32_t)qn, NULL, 0, 2 * SEC);
    assert_int_equal(tcpreasm_flow_count(c.r), 0);

    /* RST with half a message pending. */
    handshake(&c);
    seg(&c, 1, NETPKT_TCP_ACK, 101, q, 10, 3 * SEC);
    seg(&c, 0, NETPKT_TCP_RST, 501, NULL, 0, 3 * SEC);
    assert_int_equal(tcpreasm_flow_count(c.r), 0);
    assert_int_equal(tcpreasm_stats(c.r)->partial, 1);
    assert_int_equal(tcpreasm_stats(c.r)->closed, 2);
    assert_int_equal(s.nmsg, 1);
    tcpreasm_free(c.r);
}

static void
test_idle_expiry(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 10 * SEC), 10, 40000, 53, 0};
    struct conn d = {c.r, 11, 40001, 53, 0};
    uint8_t q[64];

    framed(q, 40, 5);
    handshake(&c);
    seg(&c, 1, NETPKT_TCP_ACK, 101, q, 10, 2 * SEC);
    tcpreasm_expire(c.r, 12 * SEC);   /* exactly idle: kept */
    assert_int_equal(tcpreasm_flow_count(c.r), 1);

    seg(&d, 1, NETPKT_TCP_SYN, 100, NULL, 0, 5 * SEC);
    tcpreasm_expire(c.r, 12 * SEC + 1);   /* c goes, d stays */
    assert_int_equal(tcpreasm_flow_count(c.r), 1);
    assert_int_equal(tcpreasm_stats(c.r)->expired, 1);
    assert_int_equal(tcpreasm_stats(c.r)->partial, 1);

    /* tcpreasm_input() expires by packet time on its own. */
    seg(&d, 1, NETPKT_TCP_ACK, 101, q, 42, 30 * SEC);
    assert_int_equal(tcpreasm_stats(c.r)->expired, 2);
    assert_int_equal(s.nmsg, 1);   /* d came back mid-stream, in sync */
    tcpreasm_free(c.r);
}

static void
test_buffer_exhausted(void **state)
{
    struct seen s;
    struct tcpreasm *r = table(&s, 8, 1, 0);
    struct conn a = {r, 1, 40001, 53, 0};
    struct conn b = {r, 2, 40002, 53, 0};
    uint8_t q[64];
    size_t qn = framed(q, 40, 3);

    handshake(&a);
    handshake(&b);
    seg(&a, 1, NETPKT_TCP_ACK, 101, q, 20, 2 * SEC);   /* takes it */
    seg(&b, 1, NETPKT_TCP_ACK, 101, q, 20, 2 * SEC);   /* none left */
    assert_int_equal(tcpreasm_stats(r)->no_buffer, 1);
    seg(&b, 1, NETPKT_TCP_ACK, 121, q + 20, qn - 20, 2 * SEC);
    seg(&a, 1, NETPKT_TCP_ACK, 121, q + 20, qn - 20, 2 * SEC);
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(s.msg[0].dir.sport, 40001);

    /* b stays in step: its next whole message is delivered. */
    seg(&b, 1, NETPKT_TCP_ACK, 101 + (uint32_t)qn, q, qn, 3 * SEC);
    assert_int_equal(s.nmsg, 2);
    assert_int_equal(s.msg[1].dir.sport, 40002);
    assert_int_equal(tcpreasm_stats(r)->partial, 0);
    tcpreasm_free(r);
}

static void
test_zero_length_and_wrap(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 1};
    uint8_t buf[128] = {0, 0};
    size_t n = 2 + framed(buf + 2, 60, 0x4242);
    uint32_t isn = 0xffffffe0u;

    seg(&c, 1, NETPKT_TCP_SYN, isn, NULL, 0, SEC);
    /* 31 bytes before the wrap, the rest after it. */
    seg(&c, 1, NETPKT_TCP_ACK, isn + 1, buf, 31, SEC);
    seg(&c, 1, NETPKT_TCP_ACK, isn + 32, buf + 31, n - 31, SEC);
    assert_int_equal(tcpreasm_stats(c.r)->zero_length, 1);
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(s.msg[0].id, 0x4242);
    assert_int_equal(s.msg[0].len, 60);
    assert_int_equal(s.msg[0].dir.src.family, 6);
    assert_int_equal(s.msg[0].dir.src.bytes[15], 10);
    tcpreasm_free(c.r);
}

static void
test_largest_message(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 0};
    uint8_t *buf = malloc(TCPREASM_MSG_MAX + 2);
    uint32_t seq = 501;
    size_t off = 0;

    assert_non_null(buf);
    framed(buf, TCPREASM_MSG_MAX, 0x7777);
    handshake(&c);
    while (off < TCPREASM_MSG_MAX + 2) {
        size_t k = TCPREASM_MSG_MAX + 2 - off < 1448 ?
                   TCPREASM_MSG_MAX + 2 - off : 1448;

        seg(&c, 0, NETPKT_TCP_ACK, seq, buf + off, k, 2 * SEC);
        seq += (uint32_t)k;
        off += k;
    }
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(s.msg[0].len, TCPREASM_MSG_MAX);
    assert_int_equal(s.msg[0].id, 0x7777);
    assert_int_equal(s.msg[0].last, 0xee);
    free(buf);
    tcpreasm_free(c.r);
}

static void
test_midstream_start(void **state)
{
    struct seen s;
    struct conn c = {table(&s, 0, 0, 0), 10, 40000, 53, 0};
    uint8_t a[128];
    uint8_t b[64];
    size_t an = framed(a, 80, 1);
    size_t bn = framed(b, 30, 2);

    /* No SYN seen: the first segment is the tail of a message. */
    seg(&c, 0, NETPKT_TCP_ACK, 9000, a + 40, an - 40, 2 * SEC);
    assert_int_equal(s.nmsg, 0);
    assert_int_equal(tcpreasm_flow_count(c.r), 1);
    seg(&c, 0, NETPKT_TCP_ACK, 9000 + (uint32_t)(an - 40), b, bn, 2 * SEC);
    assert_int_equal(s.nmsg, 1);
    assert_int_equal(s.msg[0].id, 2);
    /* Orientation came from the port: the sender is the server. */
    assert_int_equal(s.msg[0].dir.sport, 53);
    assert_int_equal(s.msg[0].dir.dport, 40000);
    tcpreasm_free(c.r);
}

static void
test_flow_events(void **state)
{
    struct seen s;
    struct tcpreasm *r = table(&s, 0, 0, 0);
    struct conn dot = {r, 10, 40853, 853, 0};
    struct conn doh = {r, 11, 40443, 443, 1};
    struct conn mid = {r, 12, 40854, 853, 0};

    handshake(&dot);
    seg(&dot, 1, NETPKT_TCP_SYN, 100, NULL, 0, 2 * SEC);  /* again */
    seg(&dot, 1, NETPKT_TCP_ACK, 101, "hello", 5, 2 * SEC);
    assert_int_equal(s.nflow, 1);
    assert_int_equal(s.flow[0].kind, EVENT_KIND_FLOW);
    assert_int_equal(s.flow[0].transport, EVENT_TRANSPORT_DOT);
    assert_int_equal(s.flow[0].source, EVENT_SOURCE_PCAP);
    assert_int_equal(s.flow[0].role, EVENT_ROLE_WIRE);
    assert_int_equal(s.flow[0].flags, EVENT_F_FLOW_SYN);
    assert_int_equal(s.flow[0].client_port, 40853);
    assert_int_equal(s.flow[0].server_port, 853);
    assert_int_equal(s.flow[0].client.bytes[3], 10);
    assert_int_equal(s.flow[0].server.bytes[3], 53);
    assert_int_equal(s.flow[0].time_ns, SEC);

    seg(&doh, 1, NETPKT_TCP_SYN, 1, NULL, 0, 3 * SEC);
    seg(&mid, 0, NETPKT_TCP_ACK, 77, "data", 4, 4 * SEC);
    assert_int_equal(s.nflow, 3);
    assert_int_equal(s.flow[1].transport, EVENT_TRANSPORT_TCP);
    assert_int_equal(s.flow[1].server_port, 443);
    assert_int_equal(s.flow[1].client.family, 6);
    assert_int_equal(s.flow[2].flags, 0);      /* no SYN seen */
    assert_int_equal(s.flow[2].client_port, 40854);
    assert_int_equal(s.flow[2].server_port, 853);

    assert_int_equal(s.nmsg, 0);
    tcpreasm_free(r);
}

static void
test_flow_close_and_ports(void **state)
{
    struct seen s;
    struct tcpreasm *r = table(&s, 0, 0, 0);
    struct conn dot = {r, 10, 40853, 853, 0};
    struct conn web = {r, 13, 40080, 80, 0};

    handshake(&dot);
    seg(&dot, 1, NETPKT_TCP_ACK, 101, "hello", 5, 2 * SEC);
    assert_int_equal(s.nflow, 1);

    /* Closed by both FINs; a new connection on the same ports counts. */
    seg(&dot, 1, NETPKT_TCP_FIN | NETPKT_TCP_ACK, 106, NULL, 0, 5 * SEC);
    seg(&dot, 0, NETPKT_TCP_FIN | NETPKT_TCP_ACK, 501, NULL, 0, 5 * SEC);
    seg(&dot, 1, NETPKT_TCP_ACK, 107, NULL, 0, 5 * SEC);
    assert_int_equal(s.nflow, 1);
    assert_int_equal(tcpreasm_flow_count(r), 0);
    seg(&dot, 1, NETPKT_TCP_SYN, 9999, NULL, 0, 6 * SEC);
    assert_int_equal(s.nflow, 2);
    assert_int_equal(s.flow[1].time_ns, 6 * SEC);

    /* A RST ends it too; a port that is not tracked is refused. */
    seg(&dot, 0, NETPKT_TCP_RST, 501, NULL, 0, 7 * SEC);
    assert_int_equal(tcpreasm_flow_count(r), 0);
    assert_int_equal(seg(&web, 1, NETPKT_TCP_SYN, 1, NULL, 0, 7 * SEC),
                     -EPROTONOSUPPORT);
    assert_int_equal(tcpreasm_flow_count(r), 0);
    assert_int_equal(s.nflow, 2);
    assert_int_equal(tcpreasm_stats(r)->flow_events, 2);
    tcpreasm_free(r);
}

static void
test_not_tcp_and_bad_config(void **state)
{
    struct seen s;
    struct tcpreasm *r = table(&s, 0, 0, 0);
    struct tcpreasm_config cfg;
    struct netpkt p;

    memset(&p, 0, sizeof(p));
    p.proto = NETPKT_PROTO_UDP;
    p.dport = 53;
    assert_int_equal(tcpreasm_input(r, &p, SEC), -EPROTONOSUPPORT);
    assert_int_equal(tcpreasm_stats(r)->segments, 0);
    tcpreasm_free(r);

    tcpreasm_config_defaults(&cfg);
    assert_int_equal(cfg.max_flows, 4096);
    cfg.max_flows = 0;
    r = (struct tcpreasm *)(void *)&cfg;   /* must be reset to NULL */
    assert_int_equal(tcpreasm_init(&r, &cfg, NULL, NULL, NULL), -EINVAL);
    assert_null(r);
    tcpreasm_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_split_length_prefix),
        cmocka_unit_test(test_several_messages_per_segment),
        cmocka_unit_test(test_retransmission),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_eviction_at_capacity),
        cmocka_unit_test(test_fin_and_rst),
        cmocka_unit_test(test_idle_expiry),
        cmocka_unit_test(test_buffer_exhausted),
        cmocka_unit_test(test_zero_length_and_wrap),
        cmocka_unit_test(test_largest_message),
        cmocka_unit_test(test_midstream_start),
        cmocka_unit_test(test_flow_events),
        cmocka_unit_test(test_flow_close_and_ports),
        cmocka_unit_test(test_not_tcp_and_bad_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

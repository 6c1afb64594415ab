/*
 * test_netpkt.c - the packet input: frame decoding (netpkt) on
 * hand-built frames of every link type, and the whole pcap source
 * (pcapsrc: netpkt, tcpreasm, dnswire) on the capture files in
 * tests/data/pcap, written by scripts/gen_test_pcaps.py and
 * scripts/capture_test_pcaps.sh, plus a short live capture on loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "event/event.h"
#include "sources/netpkt.h"
#include "sources/pcapsrc.h"

#define FRAME_MAX 512

/* A DNS query for "www" A, used as every payload. */
static const uint8_t payload[] = {
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    3, 'w', 'w', 'w', 0, 0, 1, 0, 1,
};

static const uint8_t ip4_client[4] = {192, 0, 2, 10};
static const uint8_t ip4_server[4] = {192, 0, 2, 53};
static const uint8_t ip6_client[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10};
static const uint8_t ip6_server[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x53};

/* ---- frame builders ---- */

static void
put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffffu);
}

/* UDP 40000 -> 53 carrying payload. */
static size_t
put_udp(uint8_t *p)
{
    put16(p, 40000);
    put16(p + 2, 53);
    put16(p + 4, 8 + sizeof(payload));
    put16(p + 6, 0);
    memcpy(p + 8, payload, sizeof(payload));
    return 8 + sizeof(payload);
}

/* TCP 40000 -> 53 with optlen bytes of options, carrying payload. */
static size_t
put_tcp(uint8_t *p, size_t optlen, uint8_t flags)
{
    size_t hlen = 20 + optlen;

    memset(p, 0, hlen);
    put16(p, 40000);
    put16(p + 2, 53);
    put32(p + 4, 0xdeadbeefu);
    put32(p + 8, 0x01020304u);
    p[12] = (uint8_t)(hlen / 4 << 4);
    p[13] = flags;
    memset(p + 20, 1, optlen);   /* NOP options */
    memcpy(p + hlen, payload, sizeof(payload));
    return hlen + sizeof(payload);
}

/* IPv4 with optlen bytes of options (a multiple of 4) around an L4
   header built by put_udp or put_tcp. */
static size_t
put_ipv4(uint8_t *p, size_t optlen, uint8_t proto)
{
    size_t hlen = 20 + optlen;
    size_t l4 = proto == 6 ? put_tcp(p + hlen, 0, 0x18) : put_udp(p + hlen);

    memset(p, 0, 20);
    p[0] = (uint8_t)(0x40 | hlen / 4);
    put16(p + 2, hlen + l4);
    p[8] = 64;
    p[9] = proto;
    memcpy(p + 12, ip4_client, 4);
    memcpy(p + 16, ip4_server, 4);
    memset(p + 20, 1, optlen);   /* NOP options */
    return hlen + l4;
}

/* IPv6 with the extension bytes ext (first next-header nh) before UDP. */
static size_t
put_ipv6(uint8_t *p, uint8_t nh, const uint8_t *ext, size_t extlen)
{
    size_t l4;

    memset(p, 0, 40);
    p[0] = 0x60;
    p[6] = nh;
    p[7] = 64;
    memcpy(p + 8, ip6_client, 16);
    memcpy(p + 24, ip6_server, 16);
    if (extlen > 0) {
        memcpy(p + 40, ext, extlen);
    }
    l4 = put_udp(p + 40 + extlen);
    put16(p + 4, extlen + l4);
    return 40 + extlen + l4;
}

/* Ethernet header with ntags VLAN tags (802.1ad outside) and type. */
static size_t
put_eth(uint8_t *p, int ntags, unsigned type)
{
    size_t off = 12;

    memset(p, 0x02, 12);
    for (int i = 0; i < ntags; i++) {
        put16(p + off, i == 0 && ntags > 1 ? 0x88a8 : 0x8100);
        put16(p + off + 2, 100u + (unsigned)i);   /* VLAN ID */
        off += 4;
    }
    put16(p + off, type);
    return off + 2;
}

/* Wrap an IP packet (l3, n bytes; v6 set for IPv6) in a link header. */
static size_t
wrap(int linktype, uint8_t *out, const uint8_t *l3, size_t n, int v6)
{
    unsigned type = v6 ? 0x86dd : 0x0800;
    size_t h = 0;

    switch (linktype) {
    case NETPKT_LINK_EN10MB:
        h = put_eth(out, 0, type);
        break;
    case NETPKT_LINK_LINUX_SLL:
        memset(out, 0, 16);
        put16(out + 2, 1);
        put16(out + 4, 6);
        put16(out + 14, type);
        h = 16;
        break;
    case NETPKT_LINK_LINUX_SLL2:
        memset(out, 0, 20);
        put16(out, type);
        put16(out + 8, 1);
        out[11] = 6;
        h = 20;
        break;
    case NETPKT_LINK_NULL:     /* little-endian family */
        memset(out, 0, 4);
        out[0] = v6 ? 24 : 2;
        h = 4;
        break;
    case NETPKT_LINK_LOOP:     /* network order family */
        memset(out, 0, 4);
        out[3] = v6 ? 30 : 2;
        h = 4;
        break;
    default:
        break;
    }
    memcpy(out + h, l3, n);
    return h + n;
}

/* ---- checks ---- */

static void
assert_udp_www(const struct netpkt *p, const uint8_t *frame, size_t len,
               int v6)
{
    assert_int_equal(p->proto, NETPKT_PROTO_UDP);
    assert_int_equal(p->sport, 40000);
    assert_int_equal(p->dport, 53);
    assert_int_equal(p->src.family, v6 ? 6 : 4);
    assert_int_equal(p->dst.family, v6 ? 6 : 4);
    assert_memory_equal(p->src.bytes, v6 ? ip6_client : ip4_client,
                        v6 ? 16 : 4);
    assert_memory_equal(p->dst.bytes, v6 ? ip6_server : ip4_server,
                        v6 ? 16 : 4);
    assert_int_equal(p->payload_len, sizeof(payload));
    assert_true(p->payload > frame);
    assert_true(p->payload + p->payload_len <= frame + len);
    assert_memory_equal(p->payload, payload, sizeof(payload));
}

/* ---- link types ---- */

static void
test_every_link_type(void **state)
{
    static const int links[] = {
        NETPKT_LINK_EN10MB, NETPKT_LINK_LINUX_SLL, NETPKT_LINK_LINUX_SLL2,
        NETPKT_LINK_NULL, NETPKT_LINK_LOOP, NETPKT_LINK_RAW,
        NETPKT_LINK_RAW_FILE,
    };
    uint8_t l3[FRAME_MAX];
    uint8_t f[FRAME_MAX];
    struct netpkt p;

    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        for (int v6 = 0; v6 <= 1; v6++) {
            size_t n = v6 ? put_ipv6(l3, 17, NULL, 0) : put_ipv4(l3, 0, 17);
            size_t len = wrap(links[i], f, l3, n, v6);

            assert_true(netpkt_link_supported(links[i]));
            assert_int_equal(netpkt_decode(links[i], f, len, &p), 0);
            assert_udp_www(&p, f, len, v6);
            assert_int_equal(p.vlan_depth, 0);
        }
    }
}

static void
test_raw_ipv4_ipv6_types(void **state)
{
    uint8_t v4[FRAME_MAX];
    uint8_t v6[FRAME_MAX];
    size_t n4 = put_ipv4(v4, 0, 17);
    size_t n6 = put_ipv6(v6, 17, NULL, 0);
    struct netpkt p;

    assert_int_equal(netpkt_decode(NETPKT_LINK_IPV4, v4, n4, &p), 0);
    assert_udp_www(&p, v4, n4, 0);
    assert_int_equal(netpkt_decode(NETPKT_LINK_IPV6, v6, n6, &p), 0);
    assert_udp_www(&p, v6, n6, 1);

    /* The link type insists on its version. */
    assert_int_equal(netpkt_decode(NETPKT_LINK_IPV4, v6, n6, &p),
                     -NETPKT_E_BAD_IP);
    assert_int_equal(netpkt_decode(NETPKT_LINK_IPV6, v4, n4, &p),
                     -NETPKT_E_BAD_IP);
    v4[0] = 0x55;   /* version 5 */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, v4, n4, &p),
                     -NETPKT_E_BAD_IP);
}

static void
test_loopback_families(void **state)
{
    static const uint32_t v6fam[] = {24, 28, 30};
    uint8_t l3[FRAME_MAX];
    uint8_t f[FRAME_MAX];
    size_t n = put_ipv6(l3, 17, NULL, 0);
    struct netpkt p;

    memcpy(f + 4, l3, n);
    for (size_t i = 0; i < 3; i++) {
        put32(f, v6fam[i]);                       /* big-endian */
        assert_int_equal(netpkt_decode(NETPKT_LINK_NULL, f, n + 4, &p), 0);
        assert_udp_www(&p, f, n + 4, 1);
        memset(f, 0, 4);
        f[0] = (uint8_t)v6fam[i];                 /* little-endian */
        assert_int_equal(netpkt_decode(NETPKT_LINK_LOOP, f, n + 4, &p), 0);
        assert_udp_www(&p, f, n + 4, 1);
    }
    put32(f, 10);   /* Linux AF_INET6 is not a BSD loopback value */
    assert_int_equal(netpkt_decode(NETPKT_LINK_NULL, f, n + 4, &p),
                     -NETPKT_E_NOT_IP);
    put32(f, 2);    /* AF_INET over an IPv6 packet */
    assert_int_equal(netpkt_decode(NETPKT_LINK_LOOP, f, n + 4, &p),
                     -NETPKT_E_BAD_IP);
}

static void
test_vlan_tags(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t h;
    size_t n;

    h = put_eth(f, 2, 0x0800);   /* QinQ: 802.1ad then 802.1Q */
    n = h + put_ipv4(f + h, 0, 17);
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, f, n, &p), 0);
    assert_udp_www(&p, f, n, 0);
    assert_int_equal(p.vlan_depth, 2);
    assert_int_equal(p.vlan_id, 100);

    h = put_eth(f, 1, 0x86dd);
    put16(f + 12, 0x9100);       /* the pre-standard QinQ type */
    n = h + put_ipv6(f + h, 17, NULL, 0);
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, f, n, &p), 0);
    assert_udp_www(&p, f, n, 1);
    assert_int_equal(p.vlan_depth, 1);

    h = put_eth(f, NETPKT_VLAN_MAX, 0x0800);
    n = h + put_ipv4(f + h, 0, 17);
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, f, n, &p), 0);
    assert_int_equal(p.vlan_depth, NETPKT_VLAN_MAX);

    h = put_eth(f, NETPKT_VLAN_MAX + 1, 0x0800);
    n = h + put_ipv4(f + h, 0, 17);
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, f, n, &p),
                     -NETPKT_E_VLAN_DEPTH);
}

static void
test_vlan_in_cooked(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n;

    memset(f, 0, 20);
    put16(f, 0x8100);            /* SLL2 protocol: a VLAN tag follows */
    put16(f + 20, 42);
    put16(f + 22, 0x0800);
    n = 24 + put_ipv4(f + 24, 0, 17);
    assert_int_equal(netpkt_decode(NETPKT_LINK_LINUX_SLL2, f, n, &p), 0);
    assert_udp_www(&p, f, n, 0);
    assert_int_equal(p.vlan_id, 42);
}

static void
test_not_ip(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t h = put_eth(f, 0, 0x0806);   /* ARP */

    memset(f + h, 0, 28);
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, f, h + 28, &p),
                     -NETPKT_E_NOT_IP);
    put16(f + 12, 46);                    /* an 802.3 length */
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, f, h + 28, &p),
                     -NETPKT_E_NOT_IP);
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, f, 13, &p),
                     -NETPKT_E_SHORT_LINK);
    assert_int_equal(netpkt_decode(147, f, h + 28, &p),
                     -NETPKT_E_UNSUPPORTED_LINK);
    assert_false(netpkt_link_supported(147));
    assert_int_equal(netpkt_decode(NETPKT_LINK_EN10MB, NULL, 0, &p),
                     -NETPKT_E_SHORT_LINK);
}

/* ---- IPv4 ---- */

static void
test_ipv4_options_and_lengths(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n;

    n = put_ipv4(f, 40, 17);   /* IHL 15, the largest */
    assert_int_equal(f[0], 0x4f);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    assert_udp_www(&p, f, n, 0);

    /* Link padding after the IP packet is not payload. */
    memset(f + n, 0xaa, 30);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n + 30, &p), 0);
    assert_udp_www(&p, f, n + 30, 0);

    n = put_ipv4(f, 4, 17);
    f[0] = 0x44;               /* IHL 4: shorter than the fixed header */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_IP);
    n = put_ipv4(f, 8, 17);
    put16(f + 2, 24);          /* total length inside the header */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_IP);
    n = put_ipv4(f, 0, 17);
    put16(f + 2, (unsigned)n + 1);   /* one byte was not captured */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_IP_TRUNCATED);
}

static void
test_ipv4_fragments(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n = put_ipv4(f, 0, 17);

    put16(f + 6, 0x4000);      /* DF only: a whole packet */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    put16(f + 6, 0x2000);      /* first fragment, MF */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_IP_FRAGMENT);
    put16(f + 6, 0x0010);      /* last fragment, offset 128 */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_IP_FRAGMENT);
    assert_int_equal(p.src.family, 4);   /* addresses still filled */
}

static void
test_ipv4_other_protocols(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n = put_ipv4(f, 0, 17);

    f[9] = 1;                  /* ICMP */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_NOT_UDP_TCP);
}

/* ---- IPv6 ---- */

static void
test_ipv6_extension_headers(void **state)
{
    /* hop-by-hop (8) -> routing (24) -> destination options (8) -> UDP,
       the options being one PadN each. */
    uint8_t ext[40] = {43, 0, 1, 4};
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n;

    ext[8] = 60;
    ext[9] = 2;                /* (2 + 1) * 8 bytes */
    ext[11] = 1;               /* segments left */
    ext[32] = 17;
    ext[34] = 1;
    ext[35] = 4;
    n = put_ipv6(f, 0, ext, 40);

    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    assert_udp_www(&p, f, n, 1);

    ext[9] = 200;              /* routing header longer than the packet */
    n = put_ipv6(f, 0, ext, 40);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_IP);
    ext[9] = 2;
    ext[32] = 59;              /* no next header */
    n = put_ipv6(f, 0, ext, 40);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_NOT_UDP_TCP);
}

static void
test_ipv6_fragment_header(void **state)
{
    uint8_t ext[8] = {17, 0, 0, 0, 0, 0, 0, 7};
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n = put_ipv6(f, 44, ext, 8);

    /* An atomic fragment (offset 0, no M) is a whole packet. */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    assert_udp_www(&p, f, n, 1);

    f[40 + 3] = 1;             /* M */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_IP_FRAGMENT);
    f[40 + 3] = 0x08;          /* offset 1, last fragment */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_IP_FRAGMENT);
}

static void
test_ipv6_chain_bound(void **state)
{
    uint8_t ext[8 * (NETPKT_IPV6_EXT_MAX + 1)];
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n;

    memset(ext, 0, sizeof(ext));
    for (int i = 0; i <= NETPKT_IPV6_EXT_MAX; i++) {
        ext[8 * i] = i == NETPKT_IPV6_EXT_MAX ? 17 : 60;
    }
    n = put_ipv6(f, 60, ext, sizeof(ext));
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_IP);
    n = put_ipv6(f, 60, ext + 8, sizeof(ext) - 8);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    assert_udp_www(&p, f, n, 1);

    n = put_ipv6(f, 17, NULL, 0);
    put16(f + 4, 0);           /* a jumbogram */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_IP);
}

/* ---- UDP and TCP ---- */

static void
test_udp_lengths(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n = put_ipv4(f, 0, 17);

    put16(f + 20 + 4, 8 + 12); /* UDP shorter than IP: the rest is not
                                  payload */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    assert_int_equal(p.payload_len, 12);
    put16(f + 20 + 4, 7);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_L4);
    put16(f + 20 + 4, (unsigned)n - 20 + 1);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_L4);
}

static void
test_tcp_header(void **state)
{
    uint8_t f[FRAME_MAX];
    struct netpkt p;
    size_t n = put_ipv4(f, 0, 6);

    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    assert_int_equal(p.proto, NETPKT_PROTO_TCP);
    assert_int_equal(p.tcp_flags, NETPKT_TCP_PSH | NETPKT_TCP_ACK);
    assert_int_equal(p.tcp_seq, 0xdeadbeefu);
    assert_int_equal(p.tcp_ack, 0x01020304u);
    assert_int_equal(p.payload_len, sizeof(payload));
    assert_memory_equal(p.payload, payload, sizeof(payload));

    /* Options are skipped by the data offset; ECN bits are not kept. */
    n = 20 + put_tcp(f + 20, 12, NETPKT_TCP_SYN | 0xc0);
    put16(f + 2, (unsigned)n);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p), 0);
    assert_int_equal(p.tcp_flags, NETPKT_TCP_SYN);
    assert_memory_equal(p.payload, payload, sizeof(payload));

    f[20 + 12] = 0x40;         /* data offset 4 words */
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, n, &p),
                     -NETPKT_E_BAD_L4);
    f[20 + 12] = 0xf0;         /* 60 bytes: past the packet */
    put16(f + 2, 20 + 40);
    assert_int_equal(netpkt_decode(NETPKT_LINK_RAW, f, 60, &p),
                     -NETPKT_E_BAD_L4);
}

/*
 * Every prefix of every well-formed frame: no read outside the copy
 * (ASan watches an exact-size heap buffer), an error for every cut
 * frame, and success only for the whole one.
 */
static void
test_truncated_at_every_offset(void **state)
{
    static const int links[] = {
        NETPKT_LINK_EN10MB, NETPKT_LINK_LINUX_SLL, NETPKT_LINK_LINUX_SLL2,
        NETPKT_LINK_NULL, NETPKT_LINK_LOOP, NETPKT_LINK_RAW,
    };
    uint8_t ext[16] = {60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0};
    uint8_t l3[4][FRAME_MAX];
    size_t l3n[4] = {
        put_ipv4(l3[0], 8, 17), put_ipv4(l3[1], 4, 6),
        put_ipv6(l3[2], 0, ext, 16), put_ipv6(l3[3], 17, NULL, 0),
    };
    uint8_t f[FRAME_MAX];
    struct netpkt p;

    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        for (int k = 0; k < 4; k++) {
            size_t len = wrap(links[i], f, l3[k], l3n[k], k >= 2);

            for (size_t cut = 0; cut <= len; cut++) {
                uint8_t *copy = malloc(cut > 0 ? cut : 1);
                int rc;

                assert_non_null(copy);
                memcpy(copy, f, cut);
                rc = netpkt_decode(links[i], copy, cut, &p);
                assert_int_equal(rc == 0, cut == len);
                free(copy);
            }
        }
    }
}

static void
test_error_names(void **state)
{
    const char *seen[NETPKT_E_COUNT];

    for (int i = 1; i < NETPKT_E_COUNT; i++) {
        seen[i] = netpkt_error_name(-i);
        assert_non_null(seen[i]);
        assert_memory_equal(seen[i], "pkt_", 4);
        assert_string_equal(seen[i], netpkt_error_name(i));
        for (int j = 1; j < i; j++) {
            assert_string_not_equal(seen[i], seen[j]);
        }
    }
    assert_string_equal(netpkt_error_name(-NETPKT_E_BAD_IP), "pkt_bad_ip");
    assert_string_equal(netpkt_error_name(-NETPKT_E_IP_FRAGMENT),
                        "pkt_ip_fragment");
    assert_string_equal(netpkt_error_name(-999), "pkt_unknown");
    assert_true(netpkt_error_is_malformed(-NETPKT_E_BAD_L4));
    assert_true(netpkt_error_is_malformed(-NETPKT_E_IP_TRUNCATED));
    assert_false(netpkt_error_is_malformed(-NETPKT_E_IP_FRAGMENT));
    assert_false(netpkt_error_is_malformed(-NETPKT_E_NOT_IP));
    assert_false(netpkt_error_is_malformed(0));
}

/* ---- pcapsrc over capture files ---- */

#define CAPTURE_MAX 32

struct capture {
    size_t n;
    struct event ev[CAPTURE_MAX];
    struct pcapsrc_stats st;
    volatile sig_atomic_t stop;   /* live test: set on the first event */
};

static void
capture_emit(void *ctx, const struct event *ev)
{
    struct capture *c = ctx;

    if (c->n < CAPTURE_MAX) {
        c->ev[c->n++] = *ev;
    }
    c->stop = 1;
}

static void
data_path(const char *name, char *path, size_t len)
{
    const char *root = getenv("SRCDIR");

    snprintf(path, len, "%s/tests/data/pcap/%s", root ? root : ".", name);
}

static void
run_file(const char *name, struct capture *c)
{
    struct pcapsrc *s;
    char path[1024];

    memset(c, 0, sizeof(*c));
    metrics_reset();
    data_path(name, path, sizeof(path));
    assert_int_equal(pcapsrc_open_file(&s, path, capture_emit, c), 0);
    assert_int_equal(pcapsrc_run(s, NULL), 0);
    pcapsrc_stats(s, &c->st);
    pcapsrc_close(s);
    assert_int_equal(c->st.dns_messages + c->st.flow_events, c->n);
}

/* Check one DNS event: qname, side, endpoints ("addr:port"). */
static void
assert_dns(const struct event *e, const char *qname, int response,
           const char *client, const char *server, int transport)
{
    char cbuf[64];
    char sbuf[64];
    char a[46];

    snprintf(cbuf, sizeof(cbuf), "%s:%u",
             event_addr_format(&e->client, a, sizeof(a)), e->client_port);
    snprintf(sbuf, sizeof(sbuf), "%s:%u",
             event_addr_format(&e->server, a, sizeof(a)), e->server_port);
    assert_int_equal(e->kind, EVENT_KIND_DNS);
    assert_int_equal(e->source, EVENT_SOURCE_PCAP);
    assert_int_equal(e->role, EVENT_ROLE_WIRE);
    assert_int_equal(e->transport, transport);
    assert_string_equal(e->qname, qname);
    assert_int_equal(!!(e->flags & EVENT_F_RESPONSE), response);
    assert_int_equal(!!(e->flags & EVENT_F_QUERY), !response);
    assert_int_equal(e->response_ns, response ? e->time_ns : 0);
    assert_string_equal(cbuf, client);
    assert_string_equal(sbuf, server);
}

#define C4 "192.0.2.10"
#define S4 "192.0.2.53:53"
#define C6 "2001:db8::10"
#define S6 "2001:db8::53:53"
#define UDP EVENT_TRANSPORT_UDP
#define TCP EVENT_TRANSPORT_TCP
#define T0 1700000000000000000ull

static uint64_t
skipped(const char *reason)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
    return metrics_value("ugallu_dns_pcap_skipped_total", labels);
}

static uint64_t
malformed(const char *kind)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "kind=\"%s\"", kind);
    return metrics_value("ugallu_dns_malformed_total", labels);
}

static void
test_file_ethernet_vlan(void **state)
{
    struct capture c;

    run_file("eth_vlan.pcap", &c);
    assert_int_equal(c.n, 3);
    assert_dns(&c.ev[0], "vlan.example", 0, C4 ":40000", S4, UDP);
    assert_int_equal(c.ev[0].time_ns, T0 + 123456789);   /* nanoseconds */
    assert_int_equal(c.ev[0].id, 1);
    assert_dns(&c.ev[1], "vlan.example", 1, C4 ":40000", S4, UDP);
    assert_int_equal(c.ev[1].time_ns, T0 + 200000000);
    assert_int_equal(c.ev[1].answer_count, 1);
    assert_dns(&c.ev[2], "qinq.example", 0, C4 ":40001", S4, UDP);
    assert_int_equal(c.ev[2].qtype, 28);

    assert_int_equal(c.st.packets, 10);
    assert_int_equal(c.st.skipped, 4);
    assert_int_equal(c.st.malformed, 3);
    assert_int_equal(skipped("pkt_not_ip"), 1);
    assert_int_equal(skipped("pkt_not_udp_tcp"), 1);
    assert_int_equal(skipped("pkt_ip_fragment"), 2);
    assert_int_equal(malformed("pkt_ip_truncated"), 1);
    assert_int_equal(malformed("pkt_vlan_depth"), 1);
    assert_int_equal(malformed("dns_short_header"), 1);
    assert_int_equal(metrics_value("ugallu_dns_pcap_packets_total", ""), 10);
}

static void
test_file_cooked(void **state)
{
    struct capture c;

    run_file("sll.pcap", &c);
    assert_int_equal(c.n, 2);
    assert_dns(&c.ev[0], "sll.example", 0, C4 ":40010", S4, UDP);
    assert_dns(&c.ev[1], "sll.example", 1, C4 ":40010", S4, UDP);
    assert_int_equal(c.ev[1].time_ns - c.ev[0].time_ns, 10000000);

    run_file("sll2.pcap", &c);
    assert_int_equal(c.n, 3);
    assert_dns(&c.ev[0], "sll2.example", 0, C4 ":40020", S4, UDP);
    assert_dns(&c.ev[1], "sll2.example", 1, C4 ":40020", S4, UDP);
    assert_dns(&c.ev[2], "sll2v6.example", 0, C6 ":40021", S6, UDP);
}

static void
test_file_raw_and_loopback(void **state)
{
    struct capture c;

    run_file("raw.pcap", &c);
    assert_int_equal(c.n, 2);
    assert_dns(&c.ev[0], "raw.example", 0, C4 ":40030", S4, UDP);
    assert_dns(&c.ev[1], "raw6.example", 1, C6 ":40031", S6, UDP);
    assert_int_equal(c.ev[1].time_ns, T0 + 30500000000ull);

    run_file("null.pcap", &c);
    assert_int_equal(c.n, 5);
    assert_dns(&c.ev[0], "null.example", 0, C4 ":40040", S4, UDP);
    assert_dns(&c.ev[1], "null.example", 1, C4 ":40040", S4, UDP);
    assert_dns(&c.ev[2], "n24.example", 0, C6 ":40041", S6, UDP);
    assert_dns(&c.ev[3], "n30.example", 0, C6 ":40042", S6, UDP);
    assert_dns(&c.ev[4], "n24.example", 1, C6 ":40041", S6, UDP);
    assert_int_equal(c.st.skipped, 1);
    assert_int_equal(skipped("pkt_not_ip"), 1);

    run_file("loop.pcap", &c);
    assert_int_equal(c.n, 2);
    assert_dns(&c.ev[0], "loop.example", 0, C4 ":40043", S4, UDP);
    assert_dns(&c.ev[1], "loop6.example", 0, C6 ":40044", S6, UDP);
}

static void
test_file_ipv6_extensions(void **state)
{
    struct capture c;

    run_file("ipv6_ext.pcap", &c);
    assert_int_equal(c.n, 3);
    assert_dns(&c.ev[0], "ext6.example", 0, C6 ":40050", S6, UDP);
    assert_dns(&c.ev[1], "ext6.example", 1, C6 ":40050", S6, UDP);
    assert_dns(&c.ev[2], "atomic.example", 0, C6 ":40051", S6, UDP);
    assert_int_equal(skipped("pkt_ip_fragment"), 1);
}

static void
test_file_tcp_split(void **state)
{
    struct capture c;

    run_file("tcp_split.pcap", &c);
    assert_int_equal(c.st.dns_messages, 4);
    assert_int_equal(c.st.flow_events, 3);
    assert_int_equal(c.n, 7);
    assert_dns(&c.ev[0], "tcp1.example", 0, C4 ":40100", S4, TCP);
    assert_dns(&c.ev[1], "tcp2.example", 0, C4 ":40100", S4, TCP);
    assert_dns(&c.ev[2], "tcp1.example", 1, C4 ":40100", S4, TCP);
    assert_dns(&c.ev[3], "tcp2.example", 1, C4 ":40100", S4, TCP);
    assert_int_equal(c.ev[3].answers[0].data[3], 2);   /* 192.0.2.2 */
    /* The query was completed by the sixth packet, at 60.005 s. */
    assert_int_equal(c.ev[0].time_ns, T0 + 60005000000ull);

    assert_int_equal(c.ev[4].kind, EVENT_KIND_FLOW);
    assert_int_equal(c.ev[4].transport, EVENT_TRANSPORT_DOT);
    assert_int_equal(c.ev[4].flags, EVENT_F_FLOW_SYN);
    assert_int_equal(c.ev[4].server_port, 853);
    assert_int_equal(c.ev[5].transport, EVENT_TRANSPORT_TCP);
    assert_int_equal(c.ev[5].server_port, 443);
    assert_int_equal(c.ev[5].server.bytes[0], 203);
    assert_int_equal(c.ev[6].transport, EVENT_TRANSPORT_DOT);
    assert_int_equal(c.ev[6].flags, 0);
    assert_int_equal(c.ev[6].client_port, 40400);
}

static void
test_file_tcp_out_of_order(void **state)
{
    struct capture c;

    run_file("tcp_ooo6.pcap", &c);
    assert_int_equal(c.n, 3);
    assert_dns(&c.ev[0], "ooo1.example", 0, C6 ":40500", S6, TCP);
    assert_dns(&c.ev[1], "ooo2.example", 0, C6 ":40500", S6, TCP);
    assert_dns(&c.ev[2], "ooo2.example", 1, C6 ":40500", S6, TCP);
    assert_int_equal(metrics_value("ugallu_dns_events_dropped_total",
                                   "reason=\"tcp_out_of_order\""), 1);
}

static void
test_file_other_ports(void **state)
{
    struct capture c;

    run_file("anomport.pcap", &c);
    assert_int_equal(c.n, 2);
    assert_dns(&c.ev[0], "odd-port.example", 0, C4 ":40600",
               "192.0.2.53:5300", UDP);
    assert_dns(&c.ev[1], "odd-port.example", 1, C4 ":40600",
               "192.0.2.53:5300", UDP);
    assert_int_equal(skipped("udp_not_dns"), 1);
    assert_int_equal(skipped("tcp_port_not_inspected"), 1);
    assert_int_equal(c.st.malformed, 0);
}

static void
test_file_pcapng(void **state)
{
    struct capture c;

    run_file("mixed.pcapng", &c);
    assert_int_equal(c.n, 3);
    assert_dns(&c.ev[0], "pcapng.example", 0, C4 ":40700", S4, UDP);
    assert_dns(&c.ev[1], "pcapng.example", 1, C4 ":40700", S4, UDP);
    assert_dns(&c.ev[2], "pcapng6.example", 0, C6 ":40701", S6, UDP);
    assert_int_equal(c.ev[2].time_ns, T0 + 92000000000ull);
}

/* A real capture of dig and unbound, as pcap and as pcapng. */
static void
test_file_real_capture(void **state)
{
    static const char *const names[] = {
        "www.lab.test", "www.lab.test", "nx.lab.test", "txt.lab.test",
        "www.lab.test", "www.lab.test",
    };
    struct capture *pcap = malloc(sizeof(*pcap));
    struct capture *ng = malloc(sizeof(*ng));
    int tcp = 0;

    assert_non_null(pcap);
    assert_non_null(ng);
    run_file("real_lo.pcap", pcap);
    run_file("real_lo.pcapng", ng);
    assert_int_equal(pcap->n, 12);
    assert_int_equal(ng->n, 12);
    for (size_t i = 0; i < 12; i++) {
        const struct event *e = &pcap->ev[i];

        assert_string_equal(e->qname, names[i / 2]);
        assert_int_equal(!!(e->flags & EVENT_F_RESPONSE), i % 2);
        assert_int_equal(e->server_port, 53);
        assert_int_equal(e->server.bytes[3], 77);
        assert_int_equal(e->id, pcap->ev[i - i % 2].id);
        assert_int_equal(e->time_ns, ng->ev[i].time_ns);
        assert_string_equal(e->qname, ng->ev[i].qname);
        tcp += e->transport == EVENT_TRANSPORT_TCP;
    }
    assert_int_equal(tcp, 6);
    assert_int_equal(pcap->ev[5].rcode, 3);        /* NXDOMAIN */
    assert_int_equal(pcap->ev[7].qtype, 16);       /* TXT */
    assert_int_not_equal(pcap->ev[0].time_ns % 1000, 0);   /* ns kept */
    free(pcap);
    free(ng);
}

static void
test_file_errors(void **state)
{
    struct pcapsrc *s = NULL;
    char path[1024];

    data_path("no-such-file.pcap", path, sizeof(path));
    assert_int_equal(pcapsrc_open_file(&s, path, capture_emit, NULL),
                     -ENOENT);
    assert_null(s);
    snprintf(path, sizeof(path), "%s/scripts/gen_test_pcaps.py",
             getenv("SRCDIR") ? getenv("SRCDIR") : ".");
    assert_int_equal(pcapsrc_open_file(&s, path, capture_emit, NULL),
                     -EINVAL);
    assert_null(s);
    pcapsrc_close(NULL);
}

/* ---- a live capture on loopback ---- */

struct sender {
    volatile sig_atomic_t *stop;
};

/* Send a DNS query for live.example to 127.0.0.79:53 every 50 ms until
   the capture has seen one, for at most 5 s. */
static void *
sender_main(void *arg)
{
    static const uint8_t q[] = {
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
        4, 'l', 'i', 'v', 'e', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
        0, 1, 0, 1,
    };
    struct sender *snd = arg;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    inet_pton(AF_INET, "127.0.0.79", &to.sin_addr);
    for (int i = 0; i < 100 && !*snd->stop; i++) {
        sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&to, sizeof(to));
        usleep(50000);
    }
    *snd->stop = 1;
    close(fd);
    return NULL;
}

/* Capture on iface until the query is seen; skip without the right. */
static void
live_capture(const char *iface)
{
    struct capture *c = calloc(1, sizeof(*c));
    struct sender snd;
    struct pcapsrc *s;
    pthread_t th;
    int rc;

    assert_non_null(c);
    metrics_reset();
    rc = pcapsrc_open_live(&s, iface, "udp and host 127.0.0.79",
                           capture_emit, c);
    if (rc == -EPERM || rc == -ENODEV) {
        free(c);
        skip();   /* needs CAP_NET_RAW */
    }
    assert_int_equal(rc, 0);
    snd.stop = &c->stop;
    assert_int_equal(pthread_create(&th, NULL, sender_main, &snd), 0);
    assert_int_equal(pcapsrc_run(s, &c->stop), 0);
    pthread_join(th, NULL);
    pcapsrc_stats(s, &c->st);
    pcapsrc_close(s);

    assert_true(c->n >= 1);
    assert_string_equal(c->ev[0].qname, "live.example");
    assert_int_equal(c->ev[0].server_port, 53);
    assert_int_equal(c->ev[0].server.bytes[3], 79);
    assert_true(c->st.packets >= 1);
    assert_int_equal(c->st.kernel_dropped, 0);
    free(c);
}

static void
test_live_loopback(void **state)
{
    struct pcapsrc *s = NULL;

    live_capture("lo");
    assert_int_equal(pcapsrc_open_live(&s, "lo", "port 53 and and", NULL,
                                       NULL), -EINVAL);
    assert_null(s);
    assert_int_equal(pcapsrc_open_live(&s, "no-such-if0", NULL, NULL,
                                       NULL), -ENODEV);
}

static void *
stopper_main(void *arg)
{
    usleep(200000);
    *(volatile sig_atomic_t *)arg = 1;
    return NULL;
}

static void *
breaker_main(void *arg)
{
    usleep(200000);
    pcapsrc_break(arg);
    return NULL;
}

/* With no traffic at all, the stop flag still ends the run promptly. */
static void
test_live_stop_when_idle(void **state)
{
    volatile sig_atomic_t stop = 0;
    struct timespec t0;
    struct timespec t1;
    struct pcapsrc *s;
    pthread_t th;
    int rc;

    rc = pcapsrc_open_live(&s, "lo", "udp and host 127.0.0.80 and port 9",
                           capture_emit, NULL);
    if (rc == -EPERM) {
        skip();
    }
    assert_int_equal(rc, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pthread_create(&th, NULL, stopper_main,
                                    (void *)&stop), 0);
    assert_int_equal(pcapsrc_run(s, &stop), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    assert_true(t1.tv_sec - t0.tv_sec < 2);

    /* pcapsrc_break() from another thread does the same. */
    assert_int_equal(pthread_create(&th, NULL, breaker_main, s), 0);
    assert_int_equal(pcapsrc_run(s, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_join(th, NULL);
    assert_true(t0.tv_sec - t1.tv_sec < 2);
    pcapsrc_close(s);
}

/* "any" captures Linux cooked frames. */
static void
test_live_any(void **state)
{
    live_capture("any");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_link_type),
        cmocka_unit_test(test_raw_ipv4_ipv6_types),
        cmocka_unit_test(test_loopback_families),
        cmocka_unit_test(test_vlan_tags),
        cmocka_unit_test(test_vlan_in_cooked),
        cmocka_unit_test(test_not_ip),
        cmocka_unit_test(test_ipv4_options_and_lengths),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_ipv4_other_protocols),
        cmocka_unit_test(test_ipv6_extension_headers),
        cmocka_unit_test(test_ipv6_fragment_header),
        cmocka_unit_test(test_ipv6_chain_bound),
        cmocka_unit_test(test_udp_lengths),
        cmocka_unit_test(test_tcp_header),
        cmocka_unit_test(test_truncated_at_every_offset),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_file_ethernet_vlan),
        cmocka_unit_test(test_file_cooked),
        cmocka_unit_test(test_file_raw_and_loopback),
        cmocka_unit_test(test_file_ipv6_extensions),
        cmocka_unit_test(test_file_tcp_split),
        cmocka_unit_test(test_file_tcp_out_of_order),
        cmocka_unit_test(test_file_other_ports),
        cmocka_unit_test(test_file_pcapng),
        cmocka_unit_test(test_file_real_capture),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_live_loopback),
        cmocka_unit_test(test_live_any),
        cmocka_unit_test(test_live_stop_when_idle),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

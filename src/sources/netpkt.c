/*
 * netpkt.c - frame decoding: link header, IP header, UDP or TCP header.
 *
 * Each layer gets the bytes left after the one before and returns 0 or
 * a negative code; a layer never looks past the length it was given.
 */
#include "sources/netpkt.h"

#include <string.h>

#define NETPKT_ETH_HLEN 14
#define NETPKT_SLL_HLEN 16
#define NETPKT_SLL2_HLEN 20
#define NETPKT_LOOP_HLEN 4
#define NETPKT_VLAN_HLEN 4
#define NETPKT_IPV4_HLEN 20
#define NETPKT_IPV6_HLEN 40
#define NETPKT_UDP_HLEN 8
#define NETPKT_TCP_HLEN 20

#define NETPKT_ETHERTYPE_IPV4 0x0800u
#define NETPKT_ETHERTYPE_IPV6 0x86ddu
#define NETPKT_ETHERTYPE_VLAN 0x8100u   /* 802.1Q */
#define NETPKT_ETHERTYPE_QINQ 0x88a8u   /* 802.1ad */
#define NETPKT_ETHERTYPE_QINQ_OLD 0x9100u
#define NETPKT_ETHERTYPE_MIN 0x0600u    /* below: an 802.3 length */

/* IPv6 next-header values walked as extension headers. */
#define NETPKT_IP6_HOPOPTS 0
#define NETPKT_IP6_ROUTING 43
#define NETPKT_IP6_FRAGMENT 44
#define NETPKT_IP6_DSTOPTS 60

/* Address families found in a BSD loopback header. */
#define NETPKT_AF_INET 2
#define NETPKT_AF_INET6_NETBSD 24
#define NETPKT_AF_INET6_FREEBSD 28
#define NETPKT_AF_INET6_DARWIN 30

/* What the link layer says follows it. */
enum netpkt_l3 {
    NETPKT_L3_ANY,   /* raw IP: the version nibble decides */
    NETPKT_L3_V4,
    NETPKT_L3_V6,
};

static const char *const netpkt_error_names[NETPKT_E_COUNT] = {
    [NETPKT_OK] = "ok",
    [NETPKT_E_SHORT_LINK] = "pkt_short_link",
    [NETPKT_E_UNSUPPORTED_LINK] = "pkt_unsupported_link",
    [NETPKT_E_VLAN_DEPTH] = "pkt_vlan_depth",
    [NETPKT_E_NOT_IP] = "pkt_not_ip",
    [NETPKT_E_BAD_IP] = "pkt_bad_ip",
    [NETPKT_E_IP_TRUNCATED] = "pkt_ip_truncated",
    [NETPKT_E_IP_FRAGMENT] = "pkt_ip_fragment",
    [NETPKT_E_NOT_UDP_TCP] = "pkt_not_udp_tcp",
    [NETPKT_E_BAD_L4] = "pkt_bad_l4",
};

static uint16_t
netpkt_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
netpkt_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

/*
 * Walk VLAN tags starting at *off, where *type is the EtherType just
 * read, and map the final EtherType to an IP version.
 */
static int
netpkt_ethertype(const uint8_t *p, size_t len, size_t *off, uint16_t type,
                 struct netpkt *out, enum netpkt_l3 *l3)
{
    while (type == NETPKT_ETHERTYPE_VLAN || type == NETPKT_ETHERTYPE_QINQ ||
           type == NETPKT_ETHERTYPE_QINQ_OLD) {
        if (out->vlan_depth == NETPKT_VLAN_MAX) {
            return -NETPKT_E_VLAN_DEPTH;
        }
        if (len - *off < NETPKT_VLAN_HLEN) {
            return -NETPKT_E_SHORT_LINK;
        }
        if (out->vlan_depth == 0) {
            out->vlan_id = netpkt_be16(p + *off) & 0x0fffu;
        }
        out->vlan_depth++;
        type = netpkt_be16(p + *off + 2);
        *off += NETPKT_VLAN_HLEN;
    }

    if (type == NETPKT_ETHERTYPE_IPV4) {
        *l3 = NETPKT_L3_V4;
    } else if (type == NETPKT_ETHERTYPE_IPV6) {
        *l3 = NETPKT_L3_V6;
    } else {
        return -NETPKT_E_NOT_IP;
    }
    return 0;
}

/* Ethernet II header; an 802.3 length in place of a type is not IP. */
static int
netpkt_ether(const uint8_t *p, size_t len, size_t *off, struct netpkt *out,
             enum netpkt_l3 *l3)
{
    uint16_t type;

    if (len < NETPKT_ETH_HLEN) {
        return -NETPKT_E_SHORT_LINK;
    }
    type = netpkt_be16(p + 12);
    if (type < NETPKT_ETHERTYPE_MIN) {
        return -NETPKT_E_NOT_IP;
    }
    *off = NETPKT_ETH_HLEN;
    return netpkt_ethertype(p, len, off, type, out, l3);
}

/*
 * BSD loopback: a 4-byte address family in the byte order of the
 * machine that wrote it, whatever the link type claims.
 */
static int
netpkt_loop(const uint8_t *p, size_t len, size_t *off, enum netpkt_l3 *l3)
{
    uint32_t be;
    uint32_t le;
    uint32_t af;

    if (len < NETPKT_LOOP_HLEN) {
        return -NETPKT_E_SHORT_LINK;
    }
    be = netpkt_be32(p);
    le = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
         (uint32_t)p[1] << 8 | p[0];
    af = be <= 0xffffu ? be : le;

    *off = NETPKT_LOOP_HLEN;
    if (af == NETPKT_AF_INET) {
        *l3 = NETPKT_L3_V4;
    } else if (af == NETPKT_AF_INET6_NETBSD ||
               af == NETPKT_AF_INET6_FREEBSD ||
               af == NETPKT_AF_INET6_DARWIN) {
        *l3 = NETPKT_L3_V6;
    } else {
        return -NETPKT_E_NOT_IP;
    }
    return 0;
}

/* Find where the IP header starts and which version to expect. */
static int
netpkt_link(int linktype, const uint8_t *p, size_t len, size_t *off,
            struct netpkt *out, enum netpkt_l3 *l3)
{
    *off = 0;
    *l3 = NETPKT_L3_ANY;

    switch (linktype) {
    case NETPKT_LINK_EN10MB:
        return netpkt_ether(p, len, off, out, l3);
    case NETPKT_LINK_LINUX_SLL:
        if (len < NETPKT_SLL_HLEN) {
            return -NETPKT_E_SHORT_LINK;
        }
        *off = NETPKT_SLL_HLEN;
        return netpkt_ethertype(p, len, off, netpkt_be16(p + 14), out, l3);
    case NETPKT_LINK_LINUX_SLL2:
        if (len < NETPKT_SLL2_HLEN) {
            return -NETPKT_E_SHORT_LINK;
        }
        *off = NETPKT_SLL2_HLEN;
        return netpkt_ethertype(p, len, off, netpkt_be16(p), out, l3);
    case NETPKT_LINK_NULL:
    case NETPKT_LINK_LOOP:
        return netpkt_loop(p, len, off, l3);
    case NETPKT_LINK_RAW:
    case NETPKT_LINK_RAW_FILE:
        return 0;
    case NETPKT_LINK_IPV4:
        *l3 = NETPKT_L3_V4;
        return 0;
    case NETPKT_LINK_IPV6:
        *l3 = NETPKT_L3_V6;
        return 0;
    default:
        return -NETPKT_E_UNSUPPORTED_LINK;
    }
}

/*
 * IPv4 header: options are skipped by IHL, link padding is cut off by
 * the total length, and any fragment is refused.
 */
static int
netpkt_ipv4(const uint8_t *p, size_t len, struct netpkt *out,
            size_t *l4off, size_t *l4end, uint8_t *proto)
{
    size_t ihl;
    size_t total;
    uint16_t frag;

    if (len < NETPKT_IPV4_HLEN) {
        return -NETPKT_E_IP_TRUNCATED;
    }
    ihl = (size_t)(p[0] & 0x0fu) * 4;
    total = netpkt_be16(p + 2);
    if (p[0] >> 4 != 4 || ihl < NETPKT_IPV4_HLEN || total < ihl) {
        return -NETPKT_E_BAD_IP;
    }
    if (total > len) {
        return -NETPKT_E_IP_TRUNCATED;
    }

    event_addr_set(&out->src, p + 12, 4);
    event_addr_set(&out->dst, p + 16, 4);
    /*
     * Fragments are not reassembled: a DNS message split over several
     * IP packets (a large UDP response) is lost, only counted.
     */
    frag = netpkt_be16(p + 6);
    if ((frag & 0x3fffu) != 0) {
        return -NETPKT_E_IP_FRAGMENT;  /* MF set or a non-zero offset */
    }

    *proto = p[9];
    *l4off = ihl;
    *l4end = total;
    return 0;
}

static int
netpkt_ipv6_is_ext(uint8_t nh)
{
    return nh == NETPKT_IP6_HOPOPTS || nh == NETPKT_IP6_ROUTING ||
           nh == NETPKT_IP6_FRAGMENT || nh == NETPKT_IP6_DSTOPTS;
}

/* One IPv6 extension header at *off; moves *off and *nh past it. */
static int
netpkt_ipv6_ext(const uint8_t *p, size_t end, size_t *off, uint8_t *nh)
{
    size_t hlen;
    uint16_t frag;

    if (end - *off < 8) {
        return -NETPKT_E_BAD_IP;
    }
    if (*nh == NETPKT_IP6_FRAGMENT) {
        frag = netpkt_be16(p + *off + 2);
        if ((frag & 0xfff9u) != 0) {
            return -NETPKT_E_IP_FRAGMENT;  /* not reassembled, as IPv4 */
        }
        hlen = 8;  /* an atomic fragment (RFC 6946): carry on */
    } else {
        hlen = ((size_t)p[*off + 1] + 1) * 8;
        if (hlen > end - *off) {
            return -NETPKT_E_BAD_IP;
        }
    }

    *nh = p[*off];
    *off += hlen;
    return 0;
}

/* IPv6 header and its hop-by-hop, routing, fragment, dest-opts chain. */
static int
netpkt_ipv6(const uint8_t *p, size_t len, struct netpkt *out,
            size_t *l4off, size_t *l4end, uint8_t *proto)
{
    size_t end;
    size_t off = NETPKT_IPV6_HLEN;
    uint8_t nh;
    int rc;

    if (len < NETPKT_IPV6_HLEN) {
        return -NETPKT_E_IP_TRUNCATED;
    }
    end = NETPKT_IPV6_HLEN + (size_t)netpkt_be16(p + 4);
    if (p[0] >> 4 != 6 || end == NETPKT_IPV6_HLEN) {
        return -NETPKT_E_BAD_IP;  /* wrong version, or a jumbogram */
    }
    if (end > len) {
        return -NETPKT_E_IP_TRUNCATED;
    }
    event_addr_set(&out->src, p + 8, 16);
    event_addr_set(&out->dst, p + 24, 16);

    nh = p[6];
    for (int i = 0; netpkt_ipv6_is_ext(nh); i++) {
        if (i == NETPKT_IPV6_EXT_MAX) {
            return -NETPKT_E_BAD_IP;
        }
        rc = netpkt_ipv6_ext(p, end, &off, &nh);
        if (rc < 0) {
            return rc;
        }
    }

    *proto = nh;
    *l4off = off;
    *l4end = end;
    return 0;
}

/* UDP header; the UDP length must fit inside the IP payload. */
static int
netpkt_udp(const uint8_t *p, size_t len, struct netpkt *out)
{
    size_t ulen;

    if (len < NETPKT_UDP_HLEN) {
        return -NETPKT_E_BAD_L4;
    }
    ulen = netpkt_be16(p + 4);
    if (ulen < NETPKT_UDP_HLEN || ulen > len) {
        return -NETPKT_E_BAD_L4;
    }

    out->sport = netpkt_be16(p);
    out->dport = netpkt_be16(p + 2);
    out->payload = p + NETPKT_UDP_HLEN;
    out->payload_len = ulen - NETPKT_UDP_HLEN;
    return 0;
}

/* TCP header; options are skipped by the data offset. */
static int
netpkt_tcp(const uint8_t *p, size_t len, struct netpkt *out)
{
    size_t doff;

    if (len < NETPKT_TCP_HLEN) {
        return -NETPKT_E_BAD_L4;
    }
    doff = (size_t)(p[12] >> 4) * 4;
    if (doff < NETPKT_TCP_HLEN || doff > len) {
        return -NETPKT_E_BAD_L4;
    }

    out->sport = netpkt_be16(p);
    out->dport = netpkt_be16(p + 2);
    out->tcp_seq = netpkt_be32(p + 4);
    out->tcp_ack = netpkt_be32(p + 8);
    out->tcp_flags = p[13] & 0x3fu;
    out->payload = p + doff;
    out->payload_len = len - doff;
    return 0;
}

/* The IP header of the version expected, then the transport header. */
static int
netpkt_ip(const uint8_t *p, size_t len, enum netpkt_l3 l3,
          struct netpkt *out)
{
    size_t l4off = 0;
    size_t l4end = 0;
    uint8_t proto = 0;
    int rc;

    if (len == 0) {
        return -NETPKT_E_IP_TRUNCATED;
    }
    if (l3 == NETPKT_L3_ANY) {
        l3 = p[0] >> 4 == 6 ? NETPKT_L3_V6 : NETPKT_L3_V4;
    }
    if (l3 == NETPKT_L3_V4) {
        rc = netpkt_ipv4(p, len, out, &l4off, &l4end, &proto);
    } else {
        rc = netpkt_ipv6(p, len, out, &l4off, &l4end, &proto);
    }
    if (rc < 0) {
        return rc;
    }

    out->proto = proto;
    if (proto == NETPKT_PROTO_UDP) {
        return netpkt_udp(p + l4off, l4end - l4off, out);
    }
    if (proto == NETPKT_PROTO_TCP) {
        return netpkt_tcp(p + l4off, l4end - l4off, out);
    }
    return -NETPKT_E_NOT_UDP_TCP;
}

int
netpkt_link_supported(int linktype)
{
    switch (linktype) {
    case NETPKT_LINK_NULL:
    case NETPKT_LINK_EN10MB:
    case NETPKT_LINK_RAW:
    case NETPKT_LINK_RAW_FILE:
    case NETPKT_LINK_LOOP:
    case NETPKT_LINK_LINUX_SLL:
    case NETPKT_LINK_IPV4:
    case NETPKT_LINK_IPV6:
    case NETPKT_LINK_LINUX_SLL2:
        return 1;
    default:
        return 0;
    }
}

int
netpkt_decode(int linktype, const uint8_t *frame, size_t caplen,
              struct netpkt *out)
{
    enum netpkt_l3 l3;
    size_t off;
    int rc;

    memset(out, 0, sizeof(*out));
    if (frame == NULL) {
        caplen = 0;
        frame = (const uint8_t *)"";
    }

    rc = netpkt_link(linktype, frame, caplen, &off, out, &l3);
    if (rc < 0) {
        return rc;
    }
    return netpkt_ip(frame + off, caplen - off, l3, out);
}

const char *
netpkt_error_name(int err)
{
    if (err < 0) {
        err = -err;
    }
    if (err >= NETPKT_E_COUNT) {
        return "pkt_unknown";
    }
    return netpkt_error_names[err];
}

int
netpkt_error_is_malformed(int err)
{
    if (err < 0) {
        err = -err;
    }
    switch (err) {
    case NETPKT_E_SHORT_LINK:
    case NETPKT_E_VLAN_DEPTH:
    case NETPKT_E_BAD_IP:
    case NETPKT_E_IP_TRUNCATED:
    case NETPKT_E_BAD_L4:
        return 1;
    default:
        return 0;
    }
}

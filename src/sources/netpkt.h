/*
 * netpkt.h - decode one captured frame down to its UDP or TCP payload.
 *
 * netpkt_decode() walks the link header (Ethernet with any number of
 * 802.1Q / 802.1ad tags up to NETPKT_VLAN_MAX, Linux cooked v1 and v2,
 * raw IP, BSD loopback), the IPv4 or IPv6 header (IPv6 extension headers
 * included) and the UDP or TCP header.  It reads the frame in place,
 * allocates nothing, keeps no state and never reads outside [frame,
 * frame+caplen), so any thread may call it on any bytes.
 *
 * Not handled, each returned as its own code: IP fragments (no
 * reassembly: a DNS response larger than the path MTU is lost),
 * IPv6 jumbograms, and headers this file does not list (AH, ESP,
 * tunnels such as GRE or VXLAN).  Checksums are not verified, because
 * captures of locally sent packets carry unfilled offload checksums.
 */
#ifndef DD_NETPKT_H
#define DD_NETPKT_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

/*
 * Link types, as pcap_datalink() returns them on Linux (DLT_*).  Files
 * store LINKTYPE_* values, which libpcap maps to these; LINKTYPE_RAW
 * (101) is accepted too in case a caller passes the file value.
 */
#define NETPKT_LINK_NULL 0          /* BSD loopback, host byte order */
#define NETPKT_LINK_EN10MB 1        /* Ethernet */
#define NETPKT_LINK_RAW 12          /* raw IPv4 or IPv6 (DLT_RAW) */
#define NETPKT_LINK_RAW_FILE 101    /* raw IP, LINKTYPE_RAW */
#define NETPKT_LINK_LOOP 108        /* BSD loopback, network order */
#define NETPKT_LINK_LINUX_SLL 113   /* Linux cooked capture v1 */
#define NETPKT_LINK_IPV4 228        /* raw IPv4 only */
#define NETPKT_LINK_IPV6 229        /* raw IPv6 only */
#define NETPKT_LINK_LINUX_SLL2 276  /* Linux cooked capture v2 */

/* Most VLAN tags walked in one Ethernet or cooked frame. */
#define NETPKT_VLAN_MAX 8
/* Most IPv6 extension headers walked before the transport header. */
#define NETPKT_IPV6_EXT_MAX 8

/* netpkt.proto values (IP protocol numbers). */
#define NETPKT_PROTO_TCP 6
#define NETPKT_PROTO_UDP 17

/* netpkt.tcp_flags bits. */
#define NETPKT_TCP_FIN 0x01u
#define NETPKT_TCP_SYN 0x02u
#define NETPKT_TCP_RST 0x04u
#define NETPKT_TCP_PSH 0x08u
#define NETPKT_TCP_ACK 0x10u

/*
 * Why a frame was not decoded; netpkt_decode() returns the negated value
 * and netpkt_error_name() gives the label.  netpkt_error_is_malformed()
 * tells broken input apart from traffic that is merely not ours.
 */
enum netpkt_error {
    NETPKT_OK = 0,
    NETPKT_E_SHORT_LINK,        /* link header cut short (malformed) */
    NETPKT_E_UNSUPPORTED_LINK,  /* link type not handled here */
    NETPKT_E_VLAN_DEPTH,        /* more than NETPKT_VLAN_MAX tags
                                   (malformed) */
    NETPKT_E_NOT_IP,            /* ARP, LLC, ...: not IPv4 or IPv6 */
    NETPKT_E_BAD_IP,            /* impossible IP header field or
                                   extension chain (malformed) */
    NETPKT_E_IP_TRUNCATED,      /* IP length beyond the captured bytes
                                   (malformed, or a small snaplen) */
    NETPKT_E_IP_FRAGMENT,       /* any fragment: skipped, no reassembly */
    NETPKT_E_NOT_UDP_TCP,       /* ICMP, ESP, ...: not UDP or TCP */
    NETPKT_E_BAD_L4,            /* UDP or TCP header impossible or cut
                                   short (malformed) */
    NETPKT_E_COUNT              /* number of codes, not an error */
};

/*
 * One decoded packet.  payload points into the frame given to
 * netpkt_decode(), so it is valid only as long as the frame is.
 */
struct netpkt {
    struct event_addr src;     /* IP source address */
    struct event_addr dst;     /* IP destination address */
    uint16_t sport;            /* transport source port */
    uint16_t dport;            /* transport destination port */
    uint8_t proto;             /* NETPKT_PROTO_UDP or NETPKT_PROTO_TCP */
    uint8_t tcp_flags;         /* NETPKT_TCP_* bits; 0 for UDP */
    uint8_t vlan_depth;        /* VLAN tags walked, 0 when untagged */
    uint16_t vlan_id;          /* outermost VLAN ID, 0 when untagged */
    uint32_t tcp_seq;          /* TCP sequence number; 0 for UDP */
    uint32_t tcp_ack;          /* TCP acknowledgement number; 0 for UDP */
    const uint8_t *payload;    /* first byte of the L4 payload; points
                                  at the end of the L4 header when the
                                  payload is empty */
    size_t payload_len;        /* payload bytes: UDP length minus 8, or
                                  what the IP length leaves after the
                                  TCP header (link padding excluded) */
};

/* 1 when netpkt_decode() understands the link type, else 0. */
int netpkt_link_supported(int linktype);

/*
 * Decode the caplen captured bytes of one frame of the given link type
 * into *out.  Returns 0, or -enum netpkt_error with *out partly filled.
 */
int netpkt_decode(int linktype, const uint8_t *frame, size_t caplen,
                  struct netpkt *out);

/*
 * Stable snake_case label ("pkt_bad_ip", ...) for a code, positive or
 * negative; "pkt_unknown" for values outside the enum.  Never NULL.
 */
const char *netpkt_error_name(int err);

/*
 * 1 when the code means broken input (count it as malformed), 0 when it
 * means traffic this decoder skips on purpose (not IP, not UDP or TCP,
 * a fragment, an unsupported link) or success.
 */
int netpkt_error_is_malformed(int err);

#endif

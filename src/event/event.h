/*
 * event.h - the one fixed-size record every source produces.
 *
 * A struct event describes one DNS transaction (a query, its response, or
 * both once matched) or one transport flow (a TCP connection to port 853
 * or 443 seen by a packet source).  It holds no pointers, so it can be
 * copied into rings and tables by value; nothing in it is allocated.
 */
#ifndef DD_EVENT_H
#define DD_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* Longest presentation-form name plus its NUL. */
#define EVENT_QNAME_MAX 256
/* Answers summarised per event; the rest are only counted. */
#define EVENT_ANSWERS_MAX 4
/* Room for pod attribution, NUL included: a namespace (63 bytes at
   most), a pod name (pods with longer names stay unattributed) and a
   uid (36 bytes). */
#define EVENT_POD_NS_MAX 64
#define EVENT_POD_NAME_MAX 128
#define EVENT_POD_UID_MAX 40

/* What the record describes. */
enum event_kind {
    EVENT_KIND_DNS = 0,   /* a DNS query and/or response */
    EVENT_KIND_FLOW = 1,  /* a TCP flow, no DNS payload decoded */
};

/* Which source produced it. */
enum event_source {
    EVENT_SOURCE_DNSTAP = 0,
    EVENT_SOURCE_PCAP = 1,
    EVENT_SOURCE_COREDNS = 2,
    EVENT_SOURCE_TETRAGON = 3,
    EVENT_SOURCE_COUNT
};

/* Transport of the DNS message (values follow dnstap's SocketProtocol). */
enum event_transport {
    EVENT_TRANSPORT_UNKNOWN = 0,
    EVENT_TRANSPORT_UDP = 1,
    EVENT_TRANSPORT_TCP = 2,
    EVENT_TRANSPORT_DOT = 3,
    EVENT_TRANSPORT_DOH = 4,
    EVENT_TRANSPORT_DNSCRYPT_UDP = 5,
    EVENT_TRANSPORT_DNSCRYPT_TCP = 6,
    EVENT_TRANSPORT_DOQ = 7,
};

/*
 * Role of the observer in the exchange (dnstap's message type divided by
 * two, rounded up: 1 auth, 2 resolver, 3 client, 4 forwarder, 5 stub,
 * 6 tool, 7 update).  Packet sources use EVENT_ROLE_WIRE.
 */
enum event_role {
    EVENT_ROLE_WIRE = 0,
    EVENT_ROLE_AUTH = 1,
    EVENT_ROLE_RESOLVER = 2,
    EVENT_ROLE_CLIENT = 3,
    EVENT_ROLE_FORWARDER = 4,
    EVENT_ROLE_STUB = 5,
    EVENT_ROLE_TOOL = 6,
    EVENT_ROLE_UPDATE = 7,
};

/* Bits of event.flags. */
#define EVENT_F_QUERY      0x0001u /* query side present (time_ns valid) */
#define EVENT_F_RESPONSE   0x0002u /* response side present */
#define EVENT_F_LATENCY    0x0004u /* latency_ns valid */
#define EVENT_F_UNANSWERED 0x0008u /* query expired with no response */
#define EVENT_F_EDNS       0x0010u /* response or query carried OPT */
#define EVENT_F_TRUNCATED  0x0020u /* TC bit set in the response */
#define EVENT_F_QUESTION   0x0040u /* qname/qtype/qclass are valid */
#define EVENT_F_FLOW_SYN   0x0100u /* flow: connection attempt seen */

/* An IPv4 or IPv6 address; family is 0 when unknown. */
struct event_addr {
    uint8_t family;     /* 0, 4 or 6 */
    uint8_t bytes[16];  /* IPv4 in the first 4 bytes */
};

/* One answer record in brief. */
struct event_answer {
    uint16_t type;      /* RR type */
    uint16_t rdlen;     /* RDATA length on the wire */
    uint32_t ttl;
    uint8_t data[16];   /* A/AAAA address; first bytes of other RDATA */
};

struct event {
    uint64_t time_ns;        /* query time, else response time (Unix) */
    uint64_t response_ns;    /* response time when known, else 0 */
    uint64_t latency_ns;     /* valid with EVENT_F_LATENCY */
    uint64_t cgroup_id;      /* 0 when the source does not know it */
    uint32_t flags;          /* EVENT_F_* */
    uint32_t query_size;     /* query message bytes, 0 if unseen */
    uint32_t response_size;  /* response message bytes, 0 if unseen */
    uint32_t answer_bytes;   /* sum of RDATA lengths in the answer */

    uint8_t kind;            /* enum event_kind */
    uint8_t source;          /* enum event_source */
    uint8_t transport;       /* enum event_transport */
    uint8_t role;            /* enum event_role */

    struct event_addr client;  /* the querying side */
    struct event_addr server;  /* the answering side */
    uint16_t client_port;
    uint16_t server_port;

    uint16_t id;             /* DNS message ID */
    uint16_t dns_flags;      /* header flags of the response, else query */
    uint16_t rcode;          /* with the EDNS extended bits; valid with
                                EVENT_F_RESPONSE */
    uint16_t qtype;
    uint16_t qclass;
    uint16_t ancount;        /* response section counts */
    uint16_t nscount;
    uint16_t arcount;
    uint16_t edns_udp_size;  /* from the OPT record, 0 without EDNS */

    uint8_t answer_count;    /* entries used in answers[] */
    uint8_t qname_len;       /* strlen(qname); qname is lowercase, no
                                trailing dot except the root "." */
    struct event_answer answers[EVENT_ANSWERS_MAX];
    char pod_namespace[EVENT_POD_NS_MAX]; /* client pod's namespace when
                                             attributed, else "" */
    char pod_name[EVENT_POD_NAME_MAX];    /* client pod's name when
                                             attributed, else "" */
    char pod_uid[EVENT_POD_UID_MAX];      /* its metadata.uid when known,
                                             else "" */
    char qname[EVENT_QNAME_MAX];
};

/*
 * Where a source hands its events.  Called on the source's thread; ev is
 * only valid during the call (copy it to keep it).
 */
typedef void event_emit_fn(void *ctx, const struct event *ev);

/* Set every field to its empty value. */
void event_reset(struct event *ev);

/* Name of an enum value for output; never NULL. */
const char *event_source_name(unsigned source);
const char *event_transport_name(unsigned transport);
const char *event_role_name(unsigned role);

/*
 * Format an address as text into buf (at least 46 bytes).  Returns buf;
 * an unknown family gives "".
 */
char *event_addr_format(const struct event_addr *a, char *buf, size_t len);

/* Store 4 or 16 raw bytes as an address; other lengths leave family 0. */
void event_addr_set(struct event_addr *a, const void *raw, size_t len);

#endif

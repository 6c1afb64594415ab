/*
 * tcpreasm.h - DNS-over-TCP reassembly and DoT/DoH connection tracking
 * for a packet source.
 *
 * A struct tcpreasm is a bounded table of TCP connections, sized once at
 * tcpreasm_init() and never grown.  Give it every decoded TCP segment
 * with tcpreasm_input():
 *
 * - Port 53 (either side): each direction is a byte stream of DNS
 *   messages, each behind a 2-byte length (RFC 1035 4.2.2).  Every
 *   complete message is handed to the message callback, whether it came
 *   in one segment, several, or shared a segment with others.  A length
 *   prefix split across segments is fine.
 * - Port 853 or 443 (and not 53): the connection is reported once, as an
 *   EVENT_KIND_FLOW event, on its SYN or, when the capture started
 *   later, on its first data segment.  Transport is EVENT_TRANSPORT_DOT
 *   for 853; for 443 it is EVENT_TRANSPORT_TCP, because a 443 flow is
 *   only a DoH candidate (most of it is plain HTTPS): the detector
 *   decides by the server address.  EVENT_F_FLOW_SYN is set when the
 *   reporting segment carried SYN.
 *
 * Limits, each counted in struct tcpreasm_stats and in the metrics:
 * - Retransmitted bytes (already seen by sequence number) are dropped.
 * - Out of order: there is no reordering queue.  A segment past the
 *   next expected byte drops the message in progress
 *   ("tcp_out_of_order"); the stream then restarts at the next segment
 *   that looks like the start of a message (a length of at least 12
 *   followed, when visible, by a header with QDCOUNT 1), skipping the
 *   rest.  A segment that arrives after its successor is therefore lost.
 * - A message split across segments is copied into one of max_pending
 *   buffers of TCPREASM_MSG_MAX bytes shared by all connections; a
 *   message whose first piece finds none free is skipped
 *   ("tcp_buffer_exhausted").  Messages that fit in one segment are
 *   delivered in place and need no buffer.
 * - When max_flows connections are tracked, a new one evicts the least
 *   recently active ("tcp_flow_evicted").  A connection silent for
 *   idle_ns is forgotten; so is one closed by RST or by FIN from both
 *   sides.  A message cut short by any of these is counted
 *   ("tcp_partial_message").  A DoT/DoH connection forgotten while still
 *   open is reported again if it sends more data.
 * - When the capture starts mid-connection, the first segment seen
 *   must look like the start of a message, as after a gap.
 * - Time is the packet time given to tcpreasm_input(); a capture whose
 *   clock goes backwards only delays expiry.
 *
 * Not thread-safe: one thread owns a table.  Callbacks run on that
 * thread inside tcpreasm_input() and must not call back into the same
 * table.
 */
#ifndef DD_TCPREASM_H
#define DD_TCPREASM_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"
#include "sources/netpkt.h"

#define TCPREASM_PORT_DNS 53
#define TCPREASM_PORT_DOT 853
#define TCPREASM_PORT_DOH 443

/* Largest DNS message a 2-byte length can announce. */
#define TCPREASM_MSG_MAX 65535

/* Sizes and timeouts; tcpreasm_config_defaults() fills them. */
struct tcpreasm_config {
    uint32_t max_flows;    /* connections tracked, default 4096 */
    uint32_t max_pending;  /* shared buffers for split messages, each
                              TCPREASM_MSG_MAX bytes; default 64 (4 MB) */
    uint64_t idle_ns;      /* a silent connection is forgotten after
                              this, default 60 s */
};

/* One direction of a connection: who sent the message to whom. */
struct tcpreasm_dir {
    struct event_addr src;  /* sender's address */
    struct event_addr dst;  /* receiver's address */
    uint16_t sport;         /* sender's port */
    uint16_t dport;         /* receiver's port */
};

/*
 * Called once per complete DNS message (the bytes after its length
 * prefix).  msg is only valid during the call.  time_ns is the time of
 * the segment that completed the message.
 */
typedef void tcpreasm_msg_fn(void *ctx, const struct tcpreasm_dir *dir,
                             uint64_t time_ns, const uint8_t *msg,
                             size_t len);

/* Running totals since tcpreasm_init(). */
struct tcpreasm_stats {
    uint64_t segments;       /* segments on a tracked port */
    uint64_t messages;       /* DNS messages delivered */
    uint64_t flows;          /* connections added to the table */
    uint64_t flow_events;    /* DoT/DoH flow events emitted */
    uint64_t retransmits;    /* segments holding only bytes seen before */
    uint64_t out_of_order;   /* gaps in a stream */
    uint64_t resync_skipped; /* segments skipped looking for a message
                                start after a gap or a mid-stream start */
    uint64_t evicted;        /* connections evicted by a full table */
    uint64_t expired;        /* connections forgotten after idle_ns */
    uint64_t closed;         /* connections ended by FIN or RST */
    uint64_t no_buffer;      /* messages skipped: no free buffer */
    uint64_t partial;        /* messages cut short by close, eviction,
                                expiry or a gap */
    uint64_t zero_length;    /* zero length prefixes skipped */
};

struct tcpreasm;

/* Fill c with the defaults above. */
void tcpreasm_config_defaults(struct tcpreasm_config *c);

/*
 * Allocate a table sized by cfg (NULL for the defaults).  on_msg gets
 * the DNS messages and on_flow the DoT/DoH flow events (either may be
 * NULL); both get ctx.  Returns 0 and sets *out, -EINVAL for a zero
 * size, or -ENOMEM.  The caller frees it with tcpreasm_free().
 */
int tcpreasm_init(struct tcpreasm **out, const struct tcpreasm_config *cfg,
                  tcpreasm_msg_fn *on_msg, event_emit_fn *on_flow,
                  void *ctx);

/*
 * Feed one decoded TCP segment seen at time_ns.  Expires idle
 * connections first.  Returns 0, or -EPROTONOSUPPORT (nothing done) when
 * pkt is not TCP or neither port is tracked.  pkt->payload is only read
 * during the call.
 */
int tcpreasm_input(struct tcpreasm *r, const struct netpkt *pkt,
                   uint64_t time_ns);

/* Forget every connection silent for more than idle_ns at now_ns. */
void tcpreasm_expire(struct tcpreasm *r, uint64_t now_ns);

/* Connections now in the table. */
size_t tcpreasm_flow_count(const struct tcpreasm *r);

/* Totals so far; the pointer stays valid until tcpreasm_free(). */
const struct tcpreasm_stats *tcpreasm_stats(const struct tcpreasm *r);

/* Free the table and everything in it (partial messages are dropped
   uncounted).  NULL is fine. */
void tcpreasm_free(struct tcpreasm *r);

#endif

/*
 * pcapsrc.h - the packet source: DNS messages from a live interface or
 * a pcap/pcapng file, through libpcap.
 *
 * Each packet is decoded with netpkt_decode().  Then:
 * - UDP with port 53 on either side: the payload is one DNS message.
 * - TCP with port 53 on either side: the stream goes through tcpreasm,
 *   which hands over each complete message.
 * - TCP to port 853 or 443: tcpreasm reports each new connection as an
 *   EVENT_KIND_FLOW event (443 only as a DoH candidate).
 * - UDP on other ports: reported only when the payload parses strictly
 *   as DNS with QDCOUNT 1, so that DNS on an unusual port can be
 *   flagged.  The default live filter does not deliver such packets; a
 *   custom filter or a file may.  TCP on other ports is not inspected.
 *
 * A DNS message becomes one struct event: source EVENT_SOURCE_PCAP, role
 * EVENT_ROLE_WIRE, transport UDP or TCP, time_ns from the packet
 * (nanoseconds when libpcap provides them), client and server chosen by
 * the QR bit (a query's source is the client, a response's destination
 * is), and the DNS fields from dnswire_parse().  A response also gets
 * response_ns set to the packet time.  Queries and responses are
 * emitted separately; matching them is left to the caller.
 *
 * Malformed packets and messages are counted in
 * ugallu_dns_malformed_total{kind} and dropped; packets skipped on
 * purpose (not IP, not UDP/TCP, IP fragments) in
 * ugallu_dns_pcap_skipped_total{reason}.  Packets read are counted in
 * ugallu_dns_pcap_packets_total and, for a live capture, the kernel's
 * drop counts are copied about once a second into
 * ugallu_dns_pcap_kernel_dropped_total{where="buffer"|"interface"}
 * (these hold one capture's totals: with two live sources at once, the
 * last to update wins).
 *
 * One thread opens, runs and closes a source; emit runs on that thread.
 * Only pcapsrc_break() may be called from elsewhere.
 */
#ifndef DD_PCAPSRC_H
#define DD_PCAPSRC_H

#include <signal.h>
#include <stdint.h>

#include "event/event.h"

/* Filter used by pcapsrc_open_live() when none is given. */
#define PCAPSRC_DEFAULT_FILTER "port 53 or port 853 or tcp port 443"
#define PCAPSRC_SNAPLEN 65535
/* How long a live read waits before rechecking the stop flag. */
#define PCAPSRC_TIMEOUT_MS 100

/* Running totals of one source. */
struct pcapsrc_stats {
    uint64_t packets;        /* packets read */
    uint64_t dns_messages;   /* DNS events emitted */
    uint64_t flow_events;    /* DoT/DoH flow events emitted */
    uint64_t malformed;      /* packets or messages dropped as broken */
    uint64_t skipped;        /* packets not for us (not IP, fragments,
                                ports or protocols not inspected) */
    uint64_t kernel_dropped; /* live: drops reported by pcap_stats() */
};

struct pcapsrc;

/*
 * Open a pcap or pcapng file for reading.  emit (not NULL) gets every
 * event with ctx.  Returns 0 and sets *out; -ENOENT or -EINVAL
 * (unreadable, not a capture), -EPROTONOSUPPORT (link type netpkt
 * cannot decode) or -ENOMEM, with the reason logged.
 */
int pcapsrc_open_file(struct pcapsrc **out, const char *path,
                      event_emit_fn *emit, void *ctx);

/*
 * Open a live capture on iface ("any" for all interfaces, captured as
 * Linux cooked frames) with filter in pcap-filter(7) syntax, or
 * PCAPSRC_DEFAULT_FILTER when filter is NULL; emit and ctx as for
 * pcapsrc_open_file().  Snaplen
 * PCAPSRC_SNAPLEN, immediate mode, not promiscuous.  Returns 0, or
 * -EPERM (needs CAP_NET_RAW), -ENODEV, -EINVAL (bad filter),
 * -EPROTONOSUPPORT, -ENOMEM or -EIO, with the reason logged.
 */
int pcapsrc_open_live(struct pcapsrc **out, const char *iface,
                      const char *filter, event_emit_fn *emit, void *ctx);

/*
 * Read packets and emit events until the end of a file, until *stop
 * becomes non-zero (checked at least every PCAPSRC_TIMEOUT_MS on a live
 * capture, and between batches of a file), or until pcapsrc_break().
 * stop may be NULL.  Returns 0 on those ends, -EIO when libpcap fails
 * (logged).  May be called again after a stop.
 */
int pcapsrc_run(struct pcapsrc *s, volatile sig_atomic_t *stop);

/*
 * Make a running pcapsrc_run() return within PCAPSRC_TIMEOUT_MS (or
 * after the current batch of a file).  Safe from a signal handler or
 * another thread: it sets a flag and calls pcap_breakloop().
 */
void pcapsrc_break(struct pcapsrc *s);

/* Copy the totals so far into *st. */
void pcapsrc_stats(const struct pcapsrc *s, struct pcapsrc_stats *st);

/* Close the capture and free everything.  NULL is fine. */
void pcapsrc_close(struct pcapsrc *s);

#endif

/*
 * pcapsrc.c - libpcap capture loop feeding netpkt, tcpreasm and
 * dnswire, and turning each DNS message into an event.
 */
#include "sources/pcapsrc.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "event/dnswire.h"
#include "sources/netpkt.h"
#include "sources/tcpreasm.h"

/* netpkt's link constants are libpcap's DLT_ values on this system. */
_Static_assert(DLT_NULL == NETPKT_LINK_NULL, "DLT_NULL");
_Static_assert(DLT_EN10MB == NETPKT_LINK_EN10MB, "DLT_EN10MB");
_Static_assert(DLT_RAW == NETPKT_LINK_RAW, "DLT_RAW");
_Static_assert(DLT_LOOP == NETPKT_LINK_LOOP, "DLT_LOOP");
_Static_assert(DLT_LINUX_SLL == NETPKT_LINK_LINUX_SLL, "DLT_LINUX_SLL");
_Static_assert(DLT_IPV4 == NETPKT_LINK_IPV4, "DLT_IPV4");
_Static_assert(DLT_IPV6 == NETPKT_LINK_IPV6, "DLT_IPV6");
_Static_assert(DLT_LINUX_SLL2 == NETPKT_LINK_LINUX_SLL2, "DLT_LINUX_SLL2");

#define PCAPSRC_BATCH 256
#define PCAPSRC_BUFFER_BYTES (8 * 1024 * 1024)
#define PCAPSRC_STATS_EVERY_NS 1000000000ull
#define PCAPSRC_SKIP_HELP "Captured packets not inspected, by reason."

/* Why a packet was skipped, beyond the netpkt codes. */
enum pcapsrc_skip {
    PCAPSRC_SKIP_PORT = NETPKT_E_COUNT,  /* TCP port not tracked */
    PCAPSRC_SKIP_NOT_DNS,                /* UDP off port 53, not DNS */
    PCAPSRC_SKIP_COUNT
};

struct pcapsrc {
    pcap_t *pcap;
    int linktype;              /* pcap_datalink() */
    int nano;                  /* timestamps are in nanoseconds */
    int live;                  /* an interface, not a file */
    int fd;                    /* live: the descriptor to poll */
    volatile sig_atomic_t broken;  /* pcapsrc_break() was called */
    event_emit_fn *emit;
    void *ctx;
    struct tcpreasm *tcp;

    struct metrics_series *m_packets;
    struct metrics_series *m_skip[PCAPSRC_SKIP_COUNT];
    struct metrics_series *m_drop_buffer;
    struct metrics_series *m_drop_iface;
    uint64_t stats_at_ns;      /* monotonic time of the last pcap_stats */

    struct pcapsrc_stats stats;
};

/* ---- one DNS message ---- */

/* A query goes from client to server, a response the other way. */
static void
pcapsrc_endpoints(struct event *ev, const struct tcpreasm_dir *d,
                  int response)
{
    ev->client = response ? d->dst : d->src;
    ev->server = response ? d->src : d->dst;
    ev->client_port = response ? d->dport : d->sport;
    ev->server_port = response ? d->sport : d->dport;
}

/*
 * Parse msg, sent from d->src to d->dst at time_ns, into an event and
 * emit it.  Returns 0 or the negative dnswire error.
 */
static int
pcapsrc_dns(struct pcapsrc *s, const struct tcpreasm_dir *d,
            int transport, uint64_t time_ns, const uint8_t *msg,
            size_t len)
{
    struct dnswire_header h;
    struct event ev;
    int rc;

    event_reset(&ev);
    rc = dnswire_parse(msg, len, &ev);
    if (rc == 0) {
        rc = dnswire_header(msg, len, &h);
    }
    if (rc < 0) {
        return rc;
    }

    ev.kind = EVENT_KIND_DNS;
    ev.source = EVENT_SOURCE_PCAP;
    ev.role = EVENT_ROLE_WIRE;
    ev.transport = (uint8_t)transport;
    ev.time_ns = time_ns;
    if (h.flags & DNSWIRE_FLAG_QR) {
        ev.response_ns = time_ns;
    }
    pcapsrc_endpoints(&ev, d, h.flags & DNSWIRE_FLAG_QR);

    s->stats.dns_messages++;
    s->emit(s->ctx, &ev);
    return 0;
}

static void
pcapsrc_malformed(struct pcapsrc *s, const char *kind)
{
    s->stats.malformed++;
    metrics_malformed(kind);
}

static void
pcapsrc_skip(struct pcapsrc *s, int reason)
{
    s->stats.skipped++;
    metrics_inc(s->m_skip[reason]);
}

/* tcpreasm callback: one reassembled message. */
static void
pcapsrc_on_tcp_msg(void *ctx, const struct tcpreasm_dir *d,
                   uint64_t time_ns, const uint8_t *msg, size_t len)
{
    struct pcapsrc *s = ctx;
    int rc = pcapsrc_dns(s, d, EVENT_TRANSPORT_TCP, time_ns, msg, len);

    if (rc < 0) {
        pcapsrc_malformed(s, dnswire_error_name(rc));
    }
}

/* tcpreasm callback: a new DoT/DoH connection. */
static void
pcapsrc_on_flow(void *ctx, const struct event *ev)
{
    struct pcapsrc *s = ctx;

    s->stats.flow_events++;
    s->emit(s->ctx, ev);
}

/* ---- one packet ---- */

/* Does a UDP payload off port 53 look exactly like a DNS message? */
static int
pcapsrc_strict_dns(const uint8_t *msg, size_t len)
{
    struct dnswire_header h;

    return dnswire_header(msg, len, &h) == 0 && h.qdcount == 1;
}

static void
pcapsrc_udp(struct pcapsrc *s, const struct netpkt *pkt, uint64_t time_ns)
{
    struct tcpreasm_dir d = {
        .src = pkt->src, .dst = pkt->dst,
        .sport = pkt->sport, .dport = pkt->dport,
    };
    int port53 = pkt->sport == 53 || pkt->dport == 53;
    int rc;

    if (!port53 && !pcapsrc_strict_dns(pkt->payload, pkt->payload_len)) {
        pcapsrc_skip(s, PCAPSRC_SKIP_NOT_DNS);
        return;
    }

    rc = pcapsrc_dns(s, &d, EVENT_TRANSPORT_UDP, time_ns, pkt->payload,
                     pkt->payload_len);
    if (rc < 0 && port53) {
        pcapsrc_malformed(s, dnswire_error_name(rc));
    } else if (rc < 0) {
        pcapsrc_skip(s, PCAPSRC_SKIP_NOT_DNS);
    }
}

static uint64_t
pcapsrc_time(const struct pcapsrc *s, const struct pcap_pkthdr *h)
{
    uint64_t sec;
    uint64_t frac;

    if (h->ts.tv_sec < 0 || h->ts.tv_usec < 0) {
        return 0;
    }
    sec = (uint64_t)h->ts.tv_sec;
    frac = (uint64_t)h->ts.tv_usec;
    return sec * 1000000000ull + (s->nano ? frac : frac * 1000ull);
}

/* libpcap callback: one captured frame. */
static void
pcapsrc_packet(u_char *user, const struct pcap_pkthdr *h,
               const u_char *bytes)
{
    struct pcapsrc *s = (struct pcapsrc *)user;
    uint64_t time_ns = pcapsrc_time(s, h);
    struct netpkt pkt;
    int rc;

    s->stats.packets++;
    metrics_inc(s->m_packets);
    rc = netpkt_decode(s->linktype, bytes, h->caplen, &pkt);
    if (rc < 0 && netpkt_error_is_malformed(rc)) {
        pcapsrc_malformed(s, netpkt_error_name(rc));
        return;
    }
    if (rc < 0) {
        pcapsrc_skip(s, -rc);
        return;
    }

    /* TCP off ports 53, 853 and 443 is not inspected: DNS over TCP on
       an unusual port goes unseen (UDP is checked, see pcapsrc_udp). */
    if (pkt.proto == NETPKT_PROTO_UDP) {
        pcapsrc_udp(s, &pkt, time_ns);
    } else if (tcpreasm_input(s->tcp, &pkt, time_ns) < 0) {
        pcapsrc_skip(s, PCAPSRC_SKIP_PORT);
    }
}

/* ---- opening and running ---- */

static void
pcapsrc_metrics(struct pcapsrc *s)
{
    char labels[96];

    s->m_packets = metrics_counter("ugallu_dns_pcap_packets_total", "",
                                   "Packets read by the pcap source.");
    for (int i = 1; i < PCAPSRC_SKIP_COUNT; i++) {
        if (i < NETPKT_E_COUNT && netpkt_error_is_malformed(i)) {
            continue;
        }
        snprintf(labels, sizeof(labels), "reason=\"%s\"",
                 i == PCAPSRC_SKIP_PORT ? "tcp_port_not_inspected" :
                 i == PCAPSRC_SKIP_NOT_DNS ? "udp_not_dns" :
                 netpkt_error_name(i));
        s->m_skip[i] = metrics_counter("ugallu_dns_pcap_skipped_total",
                                       labels, PCAPSRC_SKIP_HELP);
    }
    s->m_drop_buffer = metrics_counter(
        "ugallu_dns_pcap_kernel_dropped_total", "where=\"buffer\"",
        "Packets the kernel dropped before the pcap source read them.");
    s->m_drop_iface = metrics_counter(
        "ugallu_dns_pcap_kernel_dropped_total", "where=\"interface\"",
        "Packets the kernel dropped before the pcap source read them.");
}

static const char *
pcapsrc_link_name(int linktype)
{
    const char *name = pcap_datalink_val_to_name(linktype);

    return name != NULL ? name : "?";
}

/* Wrap an opened pcap handle, read from what; closes it on failure. */
static int
pcapsrc_new(struct pcapsrc **out, pcap_t *p, const char *what, int live,
            event_emit_fn *emit, void *ctx)
{
    struct pcapsrc *s;
    int linktype = pcap_datalink(p);
    int rc;

    if (!netpkt_link_supported(linktype)) {
        log_error("capture link type not supported", "linktype=%d name=%s",
                  linktype, pcapsrc_link_name(linktype));
        pcap_close(p);
        return -EPROTONOSUPPORT;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        pcap_close(p);
        return -ENOMEM;
    }
    rc = tcpreasm_init(&s->tcp, NULL, pcapsrc_on_tcp_msg, pcapsrc_on_flow,
                       s);
    if (rc < 0) {
        pcap_close(p);
        free(s);
        return rc;
    }

    s->pcap = p;
    s->linktype = linktype;
    s->live = live;
    s->fd = live ? pcap_get_selectable_fd(p) : -1;
    s->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
    s->emit = emit;
    s->ctx = ctx;
    pcapsrc_metrics(s);
    log_info("pcap source open", "input=%s live=%d linktype=%s nano=%d",
             what, live, pcapsrc_link_name(linktype), s->nano);
    *out = s;
    return 0;
}

int
pcapsrc_open_file(struct pcapsrc **out, const char *path,
                  event_emit_fn *emit, void *ctx)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p;
    int err;

    *out = NULL;
    errno = 0;
    p = pcap_open_offline_with_tstamp_precision(
        path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    err = errno;
    if (p == NULL) {
        log_error("cannot open capture file", "path=\"%s\" error=\"%s\"",
                  path, errbuf);
        return err == ENOENT ? -ENOENT : -EINVAL;
    }
    return pcapsrc_new(out, p, path, 0, emit, ctx);
}

/* Map a pcap_activate() failure to an errno value. */
static int
pcapsrc_activate_error(int rc)
{
    switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        return -EPERM;
    case PCAP_ERROR_NO_SUCH_DEVICE:
    case PCAP_ERROR_IFACE_NOT_UP:
        return -ENODEV;
    default:
        return -EIO;
    }
}

/* Set the capture options and activate. */
static int
pcapsrc_activate(pcap_t *p, const char *iface)
{
    int rc;

    pcap_set_snaplen(p, PCAPSRC_SNAPLEN);
    pcap_set_promisc(p, 0);
    pcap_set_immediate_mode(p, 1);
    pcap_set_timeout(p, PCAPSRC_TIMEOUT_MS);
    pcap_set_buffer_size(p, PCAPSRC_BUFFER_BYTES);
    /* Nanoseconds when the kernel offers them; microseconds otherwise. */
    (void)pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);

    rc = pcap_activate(p);
    if (rc > 0) {
        log_warn("capture activated with a warning", "iface=%s error=\"%s\"",
                 iface, pcap_geterr(p));
    } else if (rc < 0) {
        log_error("cannot start capture", "iface=%s error=\"%s\"", iface,
                  rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc));
        return pcapsrc_activate_error(rc);
    }
    return 0;
}

static int
pcapsrc_filter(pcap_t *p, const char *filter)
{
    struct bpf_program prog;
    int rc;

    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        log_error("bad capture filter", "filter=\"%s\" error=\"%s\"",
                  filter, pcap_geterr(p));
        return -EINVAL;
    }
    rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        log_error("cannot set capture filter", "filter=\"%s\" error=\"%s\"",
                  filter, pcap_geterr(p));
        return -EIO;
    }
    return 0;
}

int
pcapsrc_open_live(struct pcapsrc **out, const char *iface,
                  const char *filter, event_emit_fn *emit, void *ctx)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p;
    int rc;

    *out = NULL;
    p = pcap_create(iface, errbuf);
    if (p == NULL) {
        log_error("cannot open interface", "iface=%s error=\"%s\"", iface,
                  errbuf);
        return -ENODEV;
    }

    rc = pcapsrc_activate(p, iface);
    if (rc == 0) {
        rc = pcapsrc_filter(p, filter != NULL ? filter :
                            PCAPSRC_DEFAULT_FILTER);
    }
    if (rc == 0 && (pcap_setnonblock(p, 1, errbuf) != 0 ||
                    pcap_get_selectable_fd(p) < 0)) {
        log_error("cannot poll capture", "iface=%s error=\"%s\"", iface,
                  errbuf);
        rc = -EIO;
    }
    if (rc < 0) {
        pcap_close(p);
        return rc;
    }
    return pcapsrc_new(out, p, iface, 1, emit, ctx);
}

static uint64_t
pcapsrc_monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* Copy the kernel's drop counts into the metrics, at most once a second
   unless forced. */
static void
pcapsrc_kernel_stats(struct pcapsrc *s, int force)
{
    uint64_t now = pcapsrc_monotonic_ns();
    struct pcap_stat ps;

    if (!force && now - s->stats_at_ns < PCAPSRC_STATS_EVERY_NS) {
        return;
    }
    s->stats_at_ns = now;
    if (pcap_stats(s->pcap, &ps) != 0) {
        return;
    }
    metrics_set(s->m_drop_buffer, (int64_t)ps.ps_drop);
    metrics_set(s->m_drop_iface, (int64_t)ps.ps_ifdrop);
    s->stats.kernel_dropped = (uint64_t)ps.ps_drop + ps.ps_ifdrop;
}

static int
pcapsrc_stopped(struct pcapsrc *s, volatile sig_atomic_t *stop)
{
    return s->broken || (stop != NULL && *stop != 0);
}

/*
 * Wait until the live capture is readable or PCAPSRC_TIMEOUT_MS pass.
 * The descriptor is polled here, not inside libpcap, because libpcap's
 * own wait may block until a packet comes, however long that takes.
 */
static int
pcapsrc_wait(struct pcapsrc *s)
{
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};

    if (poll(&pfd, 1, PCAPSRC_TIMEOUT_MS) < 0 && errno != EINTR) {
        log_error("capture poll failed", "errno=%d", errno);
        return -EIO;
    }
    return 0;
}

/* One batch of packets; 1 at the end of a file or on pcap_breakloop. */
static int
pcapsrc_batch(struct pcapsrc *s)
{
    int rc = pcap_dispatch(s->pcap, PCAPSRC_BATCH, pcapsrc_packet,
                           (u_char *)s);

    if (rc == PCAP_ERROR_BREAK || (rc == 0 && !s->live)) {
        return 1;
    }
    if (rc < 0) {
        log_error("capture read failed", "error=\"%s\"",
                  pcap_geterr(s->pcap));
        return -EIO;
    }
    return 0;
}

int
pcapsrc_run(struct pcapsrc *s, volatile sig_atomic_t *stop)
{
    int rc = 0;

    while (rc == 0 && !pcapsrc_stopped(s, stop)) {
        if (s->live) {
            rc = pcapsrc_wait(s);
        }
        if (rc == 0) {
            rc = pcapsrc_batch(s);
        }
        if (s->live) {
            pcapsrc_kernel_stats(s, 0);
        }
    }

    if (s->live) {
        pcapsrc_kernel_stats(s, 1);
    }
    s->broken = 0;
    return rc < 0 ? rc : 0;
}

void
pcapsrc_break(struct pcapsrc *s)
{
    s->broken = 1;
    pcap_breakloop(s->pcap);
}

void
pcapsrc_stats(const struct pcapsrc *s, struct pcapsrc_stats *st)
{
    *st = s->stats;
}

void
pcapsrc_close(struct pcapsrc *s)
{
    if (s == NULL) {
        return;
    }
    tcpreasm_free(s->tcp);
    pcap_close(s->pcap);
    free(s);
}

/*
 * tcpreasm.c - bounded TCP connection table, DNS stream reassembly and
 * DoT/DoH connection reports.
 *
 * The table is an array of connections with a chained hash index and a
 * doubly linked recency list (oldest first), all linked by array index.
 * Free connections and free message buffers sit on stacks.  Nothing is
 * allocated after tcpreasm_init().
 */
#include "sources/tcpreasm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/metrics.h"

#define TCPREASM_NONE (-1)
#define TCPREASM_FLOWS_LIMIT (1u << 24)
#define TCPREASM_PENDING_LIMIT (1u << 16)
#define TCPREASM_DNS_HEADER 12
/* A SYN this far behind a stream is taken as a retransmission. */
#define TCPREASM_SYN_WINDOW (1u << 20)

/* What a connection is tracked for. */
enum tcpreasm_kind {
    TCPREASM_KIND_DNS,    /* port 53: reassemble messages */
    TCPREASM_KIND_WATCH,  /* port 853 or 443: report once */
};

/* A connection, client side first; padding zeroed so memcmp works. */
struct tcpreasm_key {
    uint8_t client[16];
    uint8_t server[16];
    uint16_t cport;
    uint16_t sport;
    uint8_t family;
    uint8_t pad[3];
};

/* One direction of a DNS connection. */
struct tcpreasm_half {
    uint32_t next_seq;  /* sequence number of the next new byte */
    uint32_t have;      /* body bytes of the current message seen */
    int32_t buf;        /* pool buffer holding them, or TCPREASM_NONE
                           (with have > 0: the message is skipped) */
    uint16_t msglen;    /* length prefix of the current message */
    uint8_t lenhave;    /* prefix bytes seen: 0, 1 or 2 */
    uint8_t lenhi;      /* first prefix byte while lenhave is 1 */
    uint8_t seq_known;  /* next_seq is valid */
    uint8_t synced;     /* the stream is at a known message boundary */
    uint8_t fin;        /* this side sent FIN */
};

struct tcpreasm_flow {
    struct tcpreasm_key key;
    struct tcpreasm_half half[2];  /* [0] client to server, [1] back */
    uint64_t last_ns;              /* latest packet time */
    int32_t hnext;                 /* hash chain, or free list */
    int32_t older;                 /* recency list neighbours */
    int32_t newer;
    uint8_t kind;                  /* enum tcpreasm_kind */
};

struct tcpreasm {
    struct tcpreasm_config cfg;
    tcpreasm_msg_fn *on_msg;
    event_emit_fn *on_flow;
    void *ctx;

    struct tcpreasm_flow *flows;   /* cfg.max_flows entries */
    int32_t *buckets;              /* hash heads */
    uint32_t bucket_mask;
    uint32_t seed;                 /* hash key, random per table */
    int32_t free_flow;             /* free list head */
    int32_t oldest;                /* recency list ends */
    int32_t newest;
    size_t used;

    uint8_t *pool;                 /* cfg.max_pending buffers */
    int32_t *free_bufs;            /* stack of free buffer indexes */
    uint32_t nfree_bufs;

    struct tcpreasm_stats stats;
};

static uint16_t
tcpreasm_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

void
tcpreasm_config_defaults(struct tcpreasm_config *c)
{
    c->max_flows = 4096;
    c->max_pending = 64;
    c->idle_ns = 60ull * 1000000000ull;
}

/* ---- keys and the hash index ---- */

static int
tcpreasm_is_watched(uint16_t port)
{
    return port == TCPREASM_PORT_DOT || port == TCPREASM_PORT_DOH;
}

/* Which kind of connection a segment belongs to, or -1 for none. */
static int
tcpreasm_classify(const struct netpkt *pkt)
{
    if (pkt->sport == TCPREASM_PORT_DNS || pkt->dport == TCPREASM_PORT_DNS) {
        return TCPREASM_KIND_DNS;
    }
    if (tcpreasm_is_watched(pkt->sport) || tcpreasm_is_watched(pkt->dport)) {
        return TCPREASM_KIND_WATCH;
    }
    return -1;
}

/* 1 when the segment's source is the client of a new connection. */
static int
tcpreasm_src_is_client(const struct netpkt *pkt, int kind)
{
    if (kind == TCPREASM_KIND_DNS) {
        return pkt->dport == TCPREASM_PORT_DNS;
    }
    return tcpreasm_is_watched(pkt->dport);
}

static void
tcpreasm_key_make(struct tcpreasm_key *k, const struct netpkt *pkt,
                  int src_is_client)
{
    const struct event_addr *c = src_is_client ? &pkt->src : &pkt->dst;
    const struct event_addr *s = src_is_client ? &pkt->dst : &pkt->src;

    memset(k, 0, sizeof(*k));
    memcpy(k->client, c->bytes, sizeof(k->client));
    memcpy(k->server, s->bytes, sizeof(k->server));
    k->cport = src_is_client ? pkt->sport : pkt->dport;
    k->sport = src_is_client ? pkt->dport : pkt->sport;
    k->family = c->family;
}

/* FNV-1a over the key, started from the table's random seed. */
static uint32_t
tcpreasm_hash(const struct tcpreasm *r, const struct tcpreasm_key *k)
{
    const uint8_t *p = (const uint8_t *)k;
    uint32_t h = 2166136261u ^ r->seed;

    for (size_t i = 0; i < sizeof(*k); i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h ^ (h >> 16);
}

static int32_t
tcpreasm_find(const struct tcpreasm *r, const struct tcpreasm_key *k)
{
    int32_t i = r->buckets[tcpreasm_hash(r, k) & r->bucket_mask];

    while (i != TCPREASM_NONE) {
        if (memcmp(&r->flows[i].key, k, sizeof(*k)) == 0) {
            return i;
        }
        i = r->flows[i].hnext;
    }
    return TCPREASM_NONE;
}

/* Find the segment's connection either way round; *dir is 0 when the
   segment goes client to server. */
static int32_t
tcpreasm_lookup(const struct tcpreasm *r, const struct netpkt *pkt,
                int *dir)
{
    struct tcpreasm_key k;
    int32_t i;

    tcpreasm_key_make(&k, pkt, 1);
    i = tcpreasm_find(r, &k);
    if (i != TCPREASM_NONE) {
        *dir = 0;
        return i;
    }
    tcpreasm_key_make(&k, pkt, 0);
    *dir = 1;
    return tcpreasm_find(r, &k);
}

static void
tcpreasm_hash_unlink(struct tcpreasm *r, int32_t idx)
{
    uint32_t b = tcpreasm_hash(r, &r->flows[idx].key) & r->bucket_mask;
    int32_t *link = &r->buckets[b];

    while (*link != TCPREASM_NONE && *link != idx) {
        link = &r->flows[*link].hnext;
    }
    if (*link == idx) {
        *link = r->flows[idx].hnext;
    }
}

/* ---- the recency list ---- */

static void
tcpreasm_lru_unlink(struct tcpreasm *r, int32_t idx)
{
    struct tcpreasm_flow *f = &r->flows[idx];

    if (f->older != TCPREASM_NONE) {
        r->flows[f->older].newer = f->newer;
    } else {
        r->oldest = f->newer;
    }
    if (f->newer != TCPREASM_NONE) {
        r->flows[f->newer].older = f->older;
    } else {
        r->newest = f->older;
    }
    f->older = TCPREASM_NONE;
    f->newer = TCPREASM_NONE;
}

static void
tcpreasm_lru_append(struct tcpreasm *r, int32_t idx)
{
    struct tcpreasm_flow *f = &r->flows[idx];

    f->older = r->newest;
    f->newer = TCPREASM_NONE;
    if (r->newest != TCPREASM_NONE) {
        r->flows[r->newest].newer = idx;
    } else {
        r->oldest = idx;
    }
    r->newest = idx;
}

static void
tcpreasm_touch(struct tcpreasm *r, int32_t idx, uint64_t now_ns)
{
    struct tcpreasm_flow *f = &r->flows[idx];

    if (now_ns > f->last_ns) {
        f->last_ns = now_ns;
    }
    if (r->newest != idx) {
        tcpreasm_lru_unlink(r, idx);
        tcpreasm_lru_append(r, idx);
    }
}

/* ---- message buffers ---- */

static int32_t
tcpreasm_buf_get(struct tcpreasm *r)
{
    if (r->nfree_bufs == 0) {
        return TCPREASM_NONE;
    }
    return r->free_bufs[--r->nfree_bufs];
}

static uint8_t *
tcpreasm_buf_data(struct tcpreasm *r, int32_t buf)
{
    return r->pool + (size_t)buf * TCPREASM_MSG_MAX;
}

/* Return to the start of a message, releasing any buffer. */
static void
tcpreasm_half_clear(struct tcpreasm *r, struct tcpreasm_half *h)
{
    if (h->buf != TCPREASM_NONE) {
        r->free_bufs[r->nfree_bufs++] = h->buf;
    }
    h->buf = TCPREASM_NONE;
    h->have = 0;
    h->msglen = 0;
    h->lenhave = 0;
}

/*
 * Forget the message in progress on one side, counting it as cut short
 * unless it was already being skipped for want of a buffer.
 */
static void
tcpreasm_half_drop(struct tcpreasm *r, struct tcpreasm_half *h)
{
    int skipped = h->have > 0 && h->buf == TCPREASM_NONE;

    if (h->lenhave != 0 && !skipped) {
        r->stats.partial++;
        metrics_dropped("tcp_partial_message");
    }
    tcpreasm_half_clear(r, h);
}

/* ---- adding and removing connections ---- */

static void
tcpreasm_remove(struct tcpreasm *r, int32_t idx)
{
    struct tcpreasm_flow *f = &r->flows[idx];

    tcpreasm_half_drop(r, &f->half[0]);
    tcpreasm_half_drop(r, &f->half[1]);
    tcpreasm_hash_unlink(r, idx);
    tcpreasm_lru_unlink(r, idx);

    f->hnext = r->free_flow;
    r->free_flow = idx;
    r->used--;
}

static int32_t
tcpreasm_add(struct tcpreasm *r, const struct tcpreasm_key *k, int kind,
             uint64_t now_ns)
{
    struct tcpreasm_flow *f;
    uint32_t b;
    int32_t idx;

    if (r->used == r->cfg.max_flows) {
        r->stats.evicted++;
        metrics_dropped("tcp_flow_evicted");
        tcpreasm_remove(r, r->oldest);
    }
    idx = r->free_flow;
    f = &r->flows[idx];
    r->free_flow = f->hnext;

    memset(f, 0, sizeof(*f));
    f->key = *k;
    f->kind = (uint8_t)kind;
    f->last_ns = now_ns;
    f->half[0].buf = TCPREASM_NONE;
    f->half[1].buf = TCPREASM_NONE;

    b = tcpreasm_hash(r, k) & r->bucket_mask;
    f->hnext = r->buckets[b];
    r->buckets[b] = idx;
    tcpreasm_lru_append(r, idx);
    r->used++;
    r->stats.flows++;
    return idx;
}

/* ---- events and messages ---- */

static void
tcpreasm_dir_make(const struct tcpreasm_flow *f, int dir,
                  struct tcpreasm_dir *d)
{
    size_t alen = f->key.family == 4 ? 4 : 16;
    struct event_addr client;
    struct event_addr server;

    event_addr_set(&client, f->key.client, alen);
    event_addr_set(&server, f->key.server, alen);
    d->src = dir == 0 ? client : server;
    d->dst = dir == 0 ? server : client;
    d->sport = dir == 0 ? f->key.cport : f->key.sport;
    d->dport = dir == 0 ? f->key.sport : f->key.cport;
}

/* Report a new DoT/DoH connection. */
static void
tcpreasm_report(struct tcpreasm *r, const struct tcpreasm_flow *f,
                const struct netpkt *pkt, uint64_t now_ns)
{
    struct tcpreasm_dir d;
    struct event ev;

    tcpreasm_dir_make(f, 0, &d);
    event_reset(&ev);
    ev.kind = EVENT_KIND_FLOW;
    ev.source = EVENT_SOURCE_PCAP;
    ev.role = EVENT_ROLE_WIRE;
    ev.transport = f->key.sport == TCPREASM_PORT_DOT ?
                   EVENT_TRANSPORT_DOT : EVENT_TRANSPORT_TCP;
    ev.time_ns = now_ns;
    ev.client = d.src;
    ev.server = d.dst;
    ev.client_port = d.sport;
    ev.server_port = d.dport;
    if (pkt->tcp_flags & NETPKT_TCP_SYN) {
        ev.flags |= EVENT_F_FLOW_SYN;
    }

    r->stats.flow_events++;
    if (r->on_flow != NULL) {
        r->on_flow(r->ctx, &ev);
    }
}

static void
tcpreasm_deliver(struct tcpreasm *r, const struct tcpreasm_flow *f,
                 int dir, const uint8_t *msg, size_t len, uint64_t now_ns)
{
    struct tcpreasm_dir d;

    r->stats.messages++;
    if (r->on_msg != NULL) {
        tcpreasm_dir_make(f, dir, &d);
        r->on_msg(r->ctx, &d, now_ns, msg, len);
    }
}

/* ---- one DNS stream ---- */

/* Take length-prefix bytes; returns how many were used. */
static size_t
tcpreasm_take_prefix(struct tcpreasm *r, struct tcpreasm_half *h,
                     const uint8_t *p, size_t n)
{
    size_t used = 1;

    if (h->lenhave == 0 && n >= 2) {
        h->msglen = tcpreasm_be16(p);
        used = 2;
    } else if (h->lenhave == 0) {
        h->lenhi = p[0];
    } else {
        h->msglen = (uint16_t)((unsigned)h->lenhi << 8 | p[0]);
    }
    h->lenhave = (uint8_t)(h->lenhave + used);

    if (h->lenhave == 2 && h->msglen == 0) {
        r->stats.zero_length++;
        metrics_malformed("tcp_zero_length");
        h->lenhave = 0;
    }
    return used;
}

/* Take message-body bytes; returns how many were used. */
static size_t
tcpreasm_take_body(struct tcpreasm *r, struct tcpreasm_flow *f, int dir,
                   const uint8_t *p, size_t n, uint64_t now_ns)
{
    struct tcpreasm_half *h = &f->half[dir];
    size_t k = h->msglen - h->have;

    if (h->have == 0 && n >= h->msglen) {
        h->lenhave = 0;
        tcpreasm_deliver(r, f, dir, p, h->msglen, now_ns);
        return h->msglen;
    }
    if (h->have == 0) {
        h->buf = tcpreasm_buf_get(r);
        if (h->buf == TCPREASM_NONE) {
            r->stats.no_buffer++;
            metrics_dropped("tcp_buffer_exhausted");
        }
    }

    k = n < k ? n : k;
    if (h->buf != TCPREASM_NONE) {
        memcpy(tcpreasm_buf_data(r, h->buf) + h->have, p, k);
    }
    h->have += (uint32_t)k;
    if (h->have == h->msglen) {
        if (h->buf != TCPREASM_NONE) {
            tcpreasm_deliver(r, f, dir, tcpreasm_buf_data(r, h->buf),
                             h->msglen, now_ns);
        }
        tcpreasm_half_clear(r, h);
    }
    return k;
}

/* Feed in-order bytes of a synced stream. */
static void
tcpreasm_feed(struct tcpreasm *r, struct tcpreasm_flow *f, int dir,
              const uint8_t *p, size_t n, uint64_t now_ns)
{
    struct tcpreasm_half *h = &f->half[dir];
    size_t used;

    while (n > 0) {
        if (h->lenhave < 2) {
            used = tcpreasm_take_prefix(r, h, p, n);
        } else {
            used = tcpreasm_take_body(r, f, dir, p, n, now_ns);
        }
        p += used;
        n -= used;
    }
}

/*
 * Line the segment up with the stream: drop bytes seen before, or note
 * a gap.  Returns 1 with the new bytes in *seq, *p, *n, or 0 when the
 * segment holds nothing new.
 */
static int
tcpreasm_trim(struct tcpreasm *r, struct tcpreasm_half *h, uint32_t *seq,
              const uint8_t **p, size_t *n)
{
    uint32_t behind = h->next_seq - *seq;
    uint32_t ahead = *seq - h->next_seq;

    if (!h->seq_known || ahead == 0) {
        h->seq_known = 1;
        return 1;
    }
    if (ahead < behind) {
        /* No reordering queue: the message in progress is lost, and the
           bytes skipped are ignored if they come later. */
        r->stats.out_of_order++;
        metrics_dropped("tcp_out_of_order");
        tcpreasm_half_drop(r, h);
        h->synced = 0;
        return 1;
    }

    if (behind >= *n) {
        r->stats.retransmits++;
        return 0;
    }
    *p += behind;
    *n -= behind;
    *seq += behind;
    return 1;
}

/* Could a message (its length prefix) start at p? */
static int
tcpreasm_looks_like_start(const uint8_t *p, size_t n)
{
    if (n < 2 || tcpreasm_be16(p) < TCPREASM_DNS_HEADER) {
        return 0;
    }
    if (n >= 8 && (p[6] != 0 || p[7] != 1)) {
        return 0;  /* QDCOUNT is not 1 */
    }
    return 1;
}

/*
 * A SYN starts one side's stream after its seq.  One a little behind the
 * stream is a retransmission (the handshake moved on before it came);
 * any other restarts the stream, as a new connection on the same ports.
 */
static void
tcpreasm_syn(struct tcpreasm *r, struct tcpreasm_half *h, uint32_t seq)
{
    if (h->seq_known && h->next_seq - (seq + 1) < TCPREASM_SYN_WINDOW) {
        return;
    }
    tcpreasm_half_drop(r, h);
    h->next_seq = seq + 1;
    h->seq_known = 1;
    h->synced = 1;
}

/* One segment of a DNS connection. */
static void
tcpreasm_stream(struct tcpreasm *r, struct tcpreasm_flow *f, int dir,
                const struct netpkt *pkt, uint64_t now_ns)
{
    struct tcpreasm_half *h = &f->half[dir];
    const uint8_t *p = pkt->payload;
    size_t n = pkt->payload_len;
    uint32_t seq = pkt->tcp_seq;

    if (pkt->tcp_flags & NETPKT_TCP_SYN) {
        tcpreasm_syn(r, h, seq);
        seq++;
    }
    if (n == 0 || !tcpreasm_trim(r, h, &seq, &p, &n)) {
        return;
    }

    h->next_seq = seq + (uint32_t)n;
    if (!h->synced && !tcpreasm_looks_like_start(p, n)) {
        r->stats.resync_skipped++;
        return;
    }
    h->synced = 1;
    tcpreasm_feed(r, f, dir, p, n, now_ns);
}

/* FIN from both sides or RST ends the connection. */
static void
tcpreasm_close(struct tcpreasm *r, int32_t idx, int dir, uint8_t flags)
{
    struct tcpreasm_flow *f = &r->flows[idx];

    if (flags & NETPKT_TCP_FIN) {
        f->half[dir].fin = 1;
    }
    if ((flags & NETPKT_TCP_RST) || (f->half[0].fin && f->half[1].fin)) {
        r->stats.closed++;
        tcpreasm_remove(r, idx);
    }
}

/* Does a segment of an unknown connection start tracking it? */
static int
tcpreasm_opens(const struct netpkt *pkt)
{
    if (pkt->tcp_flags & NETPKT_TCP_RST) {
        return 0;
    }
    return (pkt->tcp_flags & NETPKT_TCP_SYN) || pkt->payload_len > 0;
}

int
tcpreasm_input(struct tcpreasm *r, const struct netpkt *pkt,
               uint64_t time_ns)
{
    struct tcpreasm_key k;
    int kind = tcpreasm_classify(pkt);
    int32_t idx;
    int dir;

    if (pkt->proto != NETPKT_PROTO_TCP || kind < 0) {
        return -EPROTONOSUPPORT;
    }
    r->stats.segments++;
    tcpreasm_expire(r, time_ns);

    idx = tcpreasm_lookup(r, pkt, &dir);
    if (idx == TCPREASM_NONE && !tcpreasm_opens(pkt)) {
        return 0;
    }
    if (idx == TCPREASM_NONE) {
        dir = tcpreasm_src_is_client(pkt, kind) ? 0 : 1;
        tcpreasm_key_make(&k, pkt, dir == 0);
        idx = tcpreasm_add(r, &k, kind, time_ns);
        if (kind == TCPREASM_KIND_WATCH) {
            tcpreasm_report(r, &r->flows[idx], pkt, time_ns);
        }
    }

    tcpreasm_touch(r, idx, time_ns);
    if (r->flows[idx].kind == TCPREASM_KIND_DNS) {
        tcpreasm_stream(r, &r->flows[idx], dir, pkt, time_ns);
    }
    tcpreasm_close(r, idx, dir, pkt->tcp_flags);
    return 0;
}

void
tcpreasm_expire(struct tcpreasm *r, uint64_t now_ns)
{
    while (r->oldest != TCPREASM_NONE) {
        const struct tcpreasm_flow *f = &r->flows[r->oldest];

        if (now_ns <= f->last_ns || now_ns - f->last_ns <= r->cfg.idle_ns) {
            return;
        }
        r->stats.expired++;
        tcpreasm_remove(r, r->oldest);
    }
}

size_t
tcpreasm_flow_count(const struct tcpreasm *r)
{
    return r->used;
}

const struct tcpreasm_stats *
tcpreasm_stats(const struct tcpreasm *r)
{
    return &r->stats;
}

/* A random hash key, so that peers cannot aim at one chain. */
static uint32_t
tcpreasm_seed(void)
{
    uint32_t seed;
    struct timespec ts;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed)) {
        return seed;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
}

/* Link every connection and buffer onto its free stack. */
static void
tcpreasm_init_lists(struct tcpreasm *r, uint32_t nbuckets)
{
    for (uint32_t i = 0; i < nbuckets; i++) {
        r->buckets[i] = TCPREASM_NONE;
    }
    for (uint32_t i = 0; i < r->cfg.max_flows; i++) {
        r->flows[i].hnext = i + 1 < r->cfg.max_flows ?
                            (int32_t)(i + 1) : TCPREASM_NONE;
    }
    for (uint32_t i = 0; i < r->cfg.max_pending; i++) {
        r->free_bufs[i] = (int32_t)(r->cfg.max_pending - 1 - i);
    }
    r->bucket_mask = nbuckets - 1;
    r->nfree_bufs = r->cfg.max_pending;
    r->free_flow = 0;
    r->oldest = TCPREASM_NONE;
    r->newest = TCPREASM_NONE;
    r->seed = tcpreasm_seed();
}

int
tcpreasm_init(struct tcpreasm **out, const struct tcpreasm_config *cfg,
              tcpreasm_msg_fn *on_msg, event_emit_fn *on_flow, void *ctx)
{
    struct tcpreasm *r = calloc(1, sizeof(*r));
    uint32_t nbuckets = 1;

    *out = NULL;
    if (r == NULL) {
        return -ENOMEM;
    }
    tcpreasm_config_defaults(&r->cfg);
    if (cfg != NULL) {
        r->cfg = *cfg;
    }
    if (r->cfg.max_flows == 0 || r->cfg.max_flows > TCPREASM_FLOWS_LIMIT ||
        r->cfg.max_pending > TCPREASM_PENDING_LIMIT) {
        free(r);
        return -EINVAL;
    }

    while (nbuckets < 2 * r->cfg.max_flows) {
        nbuckets *= 2;
    }
    r->flows = calloc(r->cfg.max_flows, sizeof(*r->flows));
    r->buckets = calloc(nbuckets, sizeof(*r->buckets));
    r->free_bufs = calloc(r->cfg.max_pending + 1, sizeof(*r->free_bufs));
    r->pool = malloc((size_t)r->cfg.max_pending * TCPREASM_MSG_MAX + 1);
    if (r->flows == NULL || r->buckets == NULL || r->free_bufs == NULL ||
        r->pool == NULL) {
        tcpreasm_free(r);
        return -ENOMEM;
    }

    tcpreasm_init_lists(r, nbuckets);
    r->on_msg = on_msg;
    r->on_flow = on_flow;
    r->ctx = ctx;
    *out = r;
    return 0;
}

void
tcpreasm_free(struct tcpreasm *r)
{
    if (r == NULL) {
        return;
    }
    free(r->flows);
    free(r->buckets);
    free(r->free_bufs);
    free(r->pool);
    free(r);
}

/*
 * slowq.c - slowQuery: answers that took too long for their resolver.
 *
 * Every answered DNS event with a latency (EVENT_F_LATENCY and
 * EVENT_F_RESPONSE) is a sample for its resolver, the server address and
 * port of the event.  Unanswered queries have no latency and are left
 * out.  A resolver keeps a sketch of its latencies: a histogram with 32
 * buckets per power of two over microseconds, exact below 32 us, the
 * last bucket taking everything from 2^26 us (67 s) up.  A bucket is at
 * most 1/32 of its lower bound wide and a quantile is placed inside its
 * bucket as if the bucket's samples were spread evenly, so it is never
 * off by more than 3.1% of its value (0.12% for the p99 of 20000
 * log-normal samples in the unit test).  Counts are 16 bits, 1448 bytes
 * a resolver.  The sketch forgets in two ways, both by halving every
 * count: once per SLOWQ_HALF_LIFE of event time, and whenever its total
 * reaches SLOWQ_TOTAL_MAX, so a busy resolver's p99 covers its last
 * 32768 to 65535 answers and a quiet one's its last minutes.
 *
 * A latency fires DNSSlowQuery (low, experimental) when it is above the
 * floor latencyP99 and, once the resolver holds SLOWQ_MIN_SAMPLES
 * samples, above the resolver's p99 as well; before that the floor
 * alone decides (and a floor of 0 decides nothing).  The latency is
 * compared before it joins the sketch.  The finding's key is the
 * registrable domain, so one slow zone per client is one finding.
 *
 * With exfiltration enabled, a slow answer (as above) that is also
 * padded (a response of 512 bytes or more, or 256 bytes or more of
 * answer RDATA) counts for its (client, zone) in a window of
 * exfiltration.window; the SLOWQ_EXFIL_COUNT-th in one window raises
 * DNSExfiltration (high), once per window.
 *
 * Tables are fixed: SLOWQ_RES_SETS * SLOWQ_RES_WAYS resolvers and
 * SLOWQ_EXF_SETS * SLOWQ_EXF_WAYS (client, zone) pairs, set-associative;
 * a full set evicts its least recently used entry and counts it in
 * ugallu_dns_events_dropped_total{reason="slowq_table_full"} or
 * {reason="slowq_exfil_table_full"}.  An evicted resolver starts
 * learning again; two busy resolvers whose addresses share a set with
 * three others push each other out.
 *
 * Known shortcomings:
 * - When 1% or more of a resolver's answers are slow (a link slow for
 *   everyone, or one client's steady slow traffic), they raise its p99
 *   and stop being outliers: the rule finds the slow zone in a fast
 *   crowd, not a slow resolver, and the slow padded answers rule only
 *   sees exfiltration that is a small share of its resolver's traffic
 *   (tunneling's byte count per window covers the heavy kind).
 * - "Padded" is judged by size alone: the event does not carry the EDNS
 *   padding option.
 * - DNSExfiltration from here is reported as detector "exfiltration",
 *   the name tunneling's byte rule uses, so the two merge in the
 *   pipeline's dedup for one client and zone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "detectors/chain.h"
#include "detectors/detector.h"

#define SLOWQ_SUB_BITS 5
#define SLOWQ_SUB (1u << SLOWQ_SUB_BITS)     /* buckets per octave */
#define SLOWQ_TOP_BIT 25                     /* highest octave, in us */
#define SLOWQ_BUCKETS ((SLOWQ_TOP_BIT - SLOWQ_SUB_BITS + 2) * SLOWQ_SUB)
#define SLOWQ_TOTAL_MAX 65535u
#define SLOWQ_HALF_LIFE (300ull * 1000000000ull)
#define SLOWQ_MIN_SAMPLES 50u
#define SLOWQ_QUANTILE 0.99

#define SLOWQ_RES_SETS 64
#define SLOWQ_RES_WAYS 4
#define SLOWQ_EXF_SETS 128
#define SLOWQ_EXF_WAYS 4
#define SLOWQ_EXFIL_COUNT 5u
#define SLOWQ_PADDED_RESPONSE 512u
#define SLOWQ_PADDED_ANSWER 256u

/* One resolver and its latency sketch. */
struct slowq_resolver {
    struct event_addr addr;  /* family 0: the slot is free */
    uint16_t port;
    uint32_t total;          /* sum of counts, at most SLOWQ_TOTAL_MAX */
    uint64_t last_ns;        /* event time of its latest sample */
    uint64_t epoch_ns;       /* start of the current half-life */
    uint16_t counts[SLOWQ_BUCKETS];
};

/* One (client, zone) pair counting slow padded answers. */
struct slowq_exfil {
    uint64_t zone;           /* hash of the zone; 0: the slot is free */
    struct event_addr client;
    uint64_t start_ns;       /* window start */
    uint64_t last_ns;        /* event time of its latest count */
    uint32_t count;          /* slow padded answers in the window */
    uint8_t fired;           /* DNSExfiltration raised in this window */
};

struct slowq {
    struct detector base;
    uint64_t floor_ns;              /* latencyP99 */
    int exfil;                      /* exfiltration.enabled */
    uint64_t window_ns;             /* exfiltration.window */
    struct metrics_series *res_evicted;
    struct metrics_series *exf_evicted;
    struct slowq_resolver *res;     /* SLOWQ_RES_SETS * SLOWQ_RES_WAYS */
    struct slowq_exfil *exf;        /* SLOWQ_EXF_SETS * SLOWQ_EXF_WAYS */
};

/* What one slow answer was measured against. */
struct slowq_verdict {
    uint64_t latency_ns;
    uint64_t p99_ns;         /* 0 while the resolver is learning */
    uint32_t samples;        /* sketch total before this sample */
};

/* ---- the sketch ------------------------------------------------------ */

static unsigned
slowq_bucket(uint64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned bit;

    if (us < SLOWQ_SUB) {
        return (unsigned)us;
    }
    bit = 63u - (unsigned)__builtin_clzll(us);
    if (bit > SLOWQ_TOP_BIT) {
        return SLOWQ_BUCKETS - 1;
    }
    return (bit - SLOWQ_SUB_BITS + 1) * SLOWQ_SUB +
           (unsigned)((us >> (bit - SLOWQ_SUB_BITS)) & (SLOWQ_SUB - 1));
}

/* The lower bound of bucket b and its width, in nanoseconds. */
static uint64_t
slowq_bucket_low_ns(unsigned b, uint64_t *width_ns)
{
    unsigned shift;

    if (b < SLOWQ_SUB) {
        *width_ns = 1000;
        return (uint64_t)b * 1000;
    }
    shift = b / SLOWQ_SUB - 1;
    *width_ns = 1000ull << shift;
    return ((uint64_t)(SLOWQ_SUB + b % SLOWQ_SUB) << shift) * 1000;
}

static void
slowq_halve(struct slowq_resolver *r, unsigned times)
{
    r->total = 0;
    for (size_t i = 0; i < SLOWQ_BUCKETS; i++) {
        r->counts[i] = times >= 16 ? 0 : (uint16_t)(r->counts[i] >> times);
        r->total += r->counts[i];
    }
}

/* Age the sketch to event time now: one halving per half-life gone. */
static void
slowq_decay(struct slowq_resolver *r, uint64_t now)
{
    uint64_t periods;

    if (now < r->epoch_ns + SLOWQ_HALF_LIFE) {
        return;
    }
    periods = (now - r->epoch_ns) / SLOWQ_HALF_LIFE;
    slowq_halve(r, periods > 16 ? 16 : (unsigned)periods);
    r->epoch_ns += periods * SLOWQ_HALF_LIFE;
}

static void
slowq_sample(struct slowq_resolver *r, uint64_t ns)
{
    if (r->total >= SLOWQ_TOTAL_MAX) {
        slowq_halve(r, 1);
    }
    r->counts[slowq_bucket(ns)]++;
    r->total++;
}

/*
 * The resolver's p99 in nanoseconds; r->total must be above 0.  Scans
 * down from the top bucket to the one holding the quantile and places
 * it inside that bucket as if its samples were spread evenly.
 */
static uint64_t
slowq_p99(const struct slowq_resolver *r)
{
    uint32_t above = (uint32_t)((double)r->total * (1.0 - SLOWQ_QUANTILE));
    uint32_t seen = 0;
    unsigned b = SLOWQ_BUCKETS;
    uint64_t low, width;

    while (b > 0 && seen + r->counts[b - 1] <= above) {
        seen += r->counts[--b];
    }
    b = b > 0 ? b - 1 : 0;
    low = slowq_bucket_low_ns(b, &width);
    if (r->counts[b] == 0) {
        return low;
    }
    return low + width - width * (above - seen) / r->counts[b];
}

/* ---- tables ---------------------------------------------------------- */

static int
slowq_same_addr(const struct event_addr *a, const struct event_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

/* The resolver slot of ev's server, found or taken (LRU in its set). */
static struct slowq_resolver *
slowq_resolver_get(struct slowq *s, const struct event *ev)
{
    uint64_t h = hash_bytes(HASH_FNV_OFFSET, &ev->server,
                            sizeof(ev->server));
    struct slowq_resolver *set, *victim;

    h = hash_bytes(h, &ev->server_port, sizeof(ev->server_port));
    set = &s->res[(h % SLOWQ_RES_SETS) * SLOWQ_RES_WAYS];
    victim = &set[0];
    for (size_t i = 0; i < SLOWQ_RES_WAYS; i++) {
        if (set[i].addr.family != 0 && set[i].port == ev->server_port &&
            slowq_same_addr(&set[i].addr, &ev->server)) {
            return &set[i];
        }
        if (set[i].addr.family == 0 ||
            (victim->addr.family != 0 && set[i].last_ns < victim->last_ns)) {
            victim = &set[i];
        }
    }
    if (victim->addr.family != 0) {
        metrics_inc(s->res_evicted);
    }
    memset(victim, 0, sizeof(*victim));
    victim->addr = ev->server;
    victim->port = ev->server_port;
    victim->epoch_ns = ev->time_ns;
    return victim;
}

/* The (client, zone) slot, found or taken (LRU in its set). */
static struct slowq_exfil *
slowq_exfil_get(struct slowq *s, const struct event *ev, const char *zone)
{
    uint64_t zh = hash_bytes(HASH_FNV_OFFSET, zone, strlen(zone)) | 1;
    uint64_t h = hash_bytes(zh, &ev->client, sizeof(ev->client));
    struct slowq_exfil *set = &s->exf[(h % SLOWQ_EXF_SETS) * SLOWQ_EXF_WAYS];
    struct slowq_exfil *victim = &set[0];

    for (size_t i = 0; i < SLOWQ_EXF_WAYS; i++) {
        if (set[i].zone == zh && slowq_same_addr(&set[i].client,
                                                 &ev->client)) {
            return &set[i];
        }
        if (set[i].zone == 0 ||
            (victim->zone != 0 && set[i].last_ns < victim->last_ns)) {
            victim = &set[i];
        }
    }
    if (victim->zone != 0) {
        metrics_inc(s->exf_evicted);
    }
    memset(victim, 0, sizeof(*victim));
    victim->zone = zh;
    victim->client = ev->client;
    victim->start_ns = ev->time_ns;
    return victim;
}

/* ---- findings -------------------------------------------------------- */

static const char *
slowq_zone(const struct event *ev)
{
    const char *zone = detector_registrable(ev->qname);

    return zone != NULL ? zone : ev->qname;
}

static void
slowq_resolver_text(const struct event *ev, char *buf, size_t len)
{
    char a[64];

    event_addr_format(&ev->server, a, sizeof(a));
    snprintf(buf, len, ev->server.family == 6 ? "[%s]:%u" : "%s:%u",
             a[0] != '\0' ? a : "unknown", ev->server_port);
}

static void
slowq_report_slow(const struct slowq *s, const struct event *ev,
                  const struct slowq_verdict *v, chain_report_fn *report,
                  void *ctx)
{
    const char *zone = slowq_zone(ev);
    char resolver[80];
    struct finding f;

    slowq_resolver_text(ev, resolver, sizeof(resolver));
    finding_init(&f, "slowQuery", "DNSSlowQuery", "low", zone, ev);
    f.experimental = 1;
    f.class_ = "Anomaly";
    detector_question_signals(&f, ev);
    finding_signal(&f, "zone", "%s", zone);
    finding_signal(&f, "latency_ms", "%.3f", (double)v->latency_ns / 1e6);
    finding_signal(&f, "resolver", "%s", resolver);
    if (v->p99_ns != 0) {
        finding_signal(&f, "resolver_p99_ms", "%.3f",
                       (double)v->p99_ns / 1e6);
    } else {
        finding_signal(&f, "resolver_p99_ms", "learning");
    }
    finding_signal(&f, "floor_ms", "%.3f", (double)s->floor_ns / 1e6);
    finding_signal(&f, "samples", "%u", v->samples);
    report(ctx, &f);
}

static void
slowq_report_exfil(const struct slowq *s, const struct event *ev,
                   const struct slowq_exfil *e, chain_report_fn *report,
                   void *ctx)
{
    const char *zone = slowq_zone(ev);
    struct finding f;

    finding_init(&f, "exfiltration", "DNSExfiltration", "high", zone, ev);
    detector_question_signals(&f, ev);
    finding_signal(&f, "zone", "%s", zone);
    finding_signal(&f, "parent", "%s", zone);
    finding_signal(&f, "reason", "slow-padded-answers");
    finding_signal(&f, "slow_padded_count", "%u", e->count);
    finding_signal(&f, "response_size", "%u", ev->response_size);
    finding_signal(&f, "window_seconds", "%.3f",
                   (double)s->window_ns / 1e9);
    report(ctx, &f);
}

/* ---- the detector ---------------------------------------------------- */

/* 1 when ev's latency is an outlier for r; fills v either way. */
static int
slowq_is_slow(const struct slowq *s, const struct slowq_resolver *r,
              const struct event *ev, struct slowq_verdict *v)
{
    v->latency_ns = ev->latency_ns;
    v->samples = r->total;
    v->p99_ns = 0;
    if (ev->latency_ns <= s->floor_ns) {
        return 0;
    }
    if (r->total < SLOWQ_MIN_SAMPLES) {
        return s->floor_ns > 0;
    }
    v->p99_ns = slowq_p99(r);
    return ev->latency_ns > v->p99_ns;
}

static int
slowq_padded(const struct event *ev)
{
    return ev->response_size >= SLOWQ_PADDED_RESPONSE ||
           ev->answer_bytes >= SLOWQ_PADDED_ANSWER;
}

static void
slowq_count_exfil(struct slowq *s, const struct event *ev,
                  chain_report_fn *report, void *ctx)
{
    struct slowq_exfil *e = slowq_exfil_get(s, ev, slowq_zone(ev));

    if (ev->time_ns >= e->start_ns + s->window_ns) {
        e->start_ns = ev->time_ns;
        e->count = 0;
        e->fired = 0;
    }
    e->count++;
    e->last_ns = ev->time_ns;
    if (!e->fired && e->count >= SLOWQ_EXFIL_COUNT) {
        e->fired = 1;
        slowq_report_exfil(s, ev, e, report, ctx);
    }
}

static void
slowq_check(struct detector *d, const struct event *ev,
            chain_report_fn *report, void *ctx)
{
    struct slowq *s = (struct slowq *)d;
    struct slowq_resolver *r;
    struct slowq_verdict v;
    int slow;

    if (ev->kind != EVENT_KIND_DNS ||
        (ev->flags & (EVENT_F_LATENCY | EVENT_F_RESPONSE)) !=
            (EVENT_F_LATENCY | EVENT_F_RESPONSE)) {
        return;
    }
    r = slowq_resolver_get(s, ev);
    slowq_decay(r, ev->time_ns);
    slow = slowq_is_slow(s, r, ev, &v);
    slowq_sample(r, ev->latency_ns);
    r->last_ns = ev->time_ns > r->last_ns ? ev->time_ns : r->last_ns;

    if (!slow || !detector_has_question(ev)) {
        return;
    }
    slowq_report_slow(s, ev, &v, report, ctx);
    if (s->exfil && slowq_padded(ev)) {
        slowq_count_exfil(s, ev, report, ctx);
    }
}

static void
slowq_free(struct detector *d)
{
    struct slowq *s = (struct slowq *)d;

    free(s->res);
    free(s->exf);
    free(s);
}

struct detector *
slowq_create(const struct config *cfg, char *err, size_t errlen)
{
    struct slowq *s = calloc(1, sizeof(*s));

    if (s == NULL ||
        (s->res = calloc(SLOWQ_RES_SETS * SLOWQ_RES_WAYS,
                         sizeof(*s->res))) == NULL ||
        (s->exf = calloc(SLOWQ_EXF_SETS * SLOWQ_EXF_WAYS,
                         sizeof(*s->exf))) == NULL) {
        if (s != NULL) {
            free(s->res);
        }
        free(s);
        snprintf(err, errlen, "slowQuery: out of memory");
        return NULL;
    }
    s->base.name = "slowQuery";
    s->base.check = slowq_check;
    s->base.free = slowq_free;
    s->floor_ns = cfg->slow_query.latency_p99_ns;
    s->exfil = cfg->exfiltration.enabled;
    s->window_ns = cfg->exfiltration.window_ns;
    s->res_evicted = metrics_counter("ugallu_dns_events_dropped_total",
                                     "reason=\"slowq_table_full\"",
                                     "Events dropped, by reason.");
    s->exf_evicted = metrics_counter("ugallu_dns_events_dropped_total",
                                     "reason=\"slowq_exfil_table_full\"",
                                     "Events dropped, by reason.");
    return &s->base;
}

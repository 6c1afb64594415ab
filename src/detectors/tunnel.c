/*
 * tunnel.c - DNS tunneling and exfiltration.
 *
 * Per name (tunneling): a label below the registrable domain that is
 * longer than maxLabelLength with entropy of at least minEntropy, or that
 * holds a run of 24 or more characters that reads as base32 or base64
 * (letters and digits mixed), or of 33 or more that reads as hex, raises
 * DNSTunneling.  Hex needs more because host names carry 128-bit hex
 * identifiers (32 characters: MD5 digests, UUIDs without dashes) by
 * design, such as S3 bucket names under a regional endpoint the public
 * suffix list does not know ("backup-<24 hex>.s3.eu-west-1.amazonaws
 * .com"); a hex tunnel whose labels stay at 32 characters or fewer is
 * left to the per-parent window.
 *
 * Per client and parent (the registrable domain), in a fixed-size table:
 * - tunneling: distinct subdomains seen (the whole part of the name left
 *   of the parent, so a tunnel under a fixed delegation such as
 *   "<data>.t.example.com" still counts) plus TXT and NULL queries, in a
 *   window of tunneling.window; at uniqueSubdomains, DNSTunneling;
 * - exfiltration: qname bytes plus response bytes in a window of
 *   exfiltration.window; above bytesPerWindow, DNSExfiltration.
 * Each window fires once and starts again when it has run its length.
 *
 * Names that are busy by design are left alone: reverse DNS (arpa),
 * Kubernetes service and pod names (svc.cluster.local and
 * pod.cluster.local only: a cluster with another cluster domain is not
 * recognised), ACME challenges and DKIM keys; punycode labels (xn--) are
 * not judged per name.
 *
 * Repeated TXT lookups of one name count on every query, so a client that
 * legitimately asks for the same TXT record many times a window (a mail
 * relay checking SPF of one sender domain) can cross the threshold.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "detectors/chain.h"
#include "detectors/detector.h"

#define TUNNEL_SETS 512      /* table sets; each has TUNNEL_WAYS entries */
#define TUNNEL_WAYS 8
#define TUNNEL_SEEN_MAX 256  /* distinct subdomains remembered per entry */
#define TUNNEL_ENCODED_MIN 24
#define TUNNEL_HEX_MIN 33     /* longer than a 128-bit identifier */
#define TUNNEL_ENCODED_ENTROPY 3.0
#define TUNNEL_QTYPE_NULL 10
#define TUNNEL_QTYPE_TXT 16

/* One (client, parent) pair and its two windows. */
struct tunnel_entry {
    uint64_t parent;          /* hash of the parent name; 0: unused */
    struct event_addr client;
    uint64_t last_ns;         /* time of its latest event */
    uint64_t names_start_ns;  /* tunneling window start */
    uint64_t bytes_start_ns;  /* exfiltration window start */
    uint64_t bytes;           /* bytes in the exfiltration window */
    uint32_t queries;         /* queries in the exfiltration window */
    uint32_t txt_null;        /* TXT and NULL queries, tunneling window */
    uint32_t nseen;           /* distinct subdomains, tunneling window */
    uint8_t names_fired;      /* DNSTunneling raised in this window */
    uint8_t bytes_fired;      /* DNSExfiltration raised in this window */
    uint32_t seen[TUNNEL_SEEN_MAX]; /* hashes of the subdomains seen */
};

struct tunnel {
    struct detector base;
    int tunneling;                   /* tunneling.enabled */
    int exfil;                       /* exfiltration.enabled */
    struct config_tunnel tun;        /* tunneling settings */
    struct config_exfil exf;         /* exfiltration settings */
    unsigned unique_max;             /* uniqueSubdomains, clamped */
    uint64_t idle_ns;                /* an entry idle this long is free */
    struct metrics_series *evicted;  /* live entries pushed out */
    struct tunnel_entry *table;      /* TUNNEL_SETS * TUNNEL_WAYS */
};

/* Why a name stood out: the label and what was measured of it. */
struct tunnel_label {
    const char *label;    /* into the name; NULL when it has no subdomain */
    size_t len;
    double entropy;
    const char *reason;   /* "long-label", "hex", "base32", "base64" or
                             NULL when nothing stood out */
};

/* ---- names ----------------------------------------------------------- */

static const char *
tunnel_excluded(const char *q, size_t n)
{
    if (detector_name_under(q, n, "arpa")) {
        return "reverse-dns";
    }
    if (detector_name_under(q, n, "svc.cluster.local") ||
        detector_name_under(q, n, "pod.cluster.local")) {
        return "kubernetes";
    }
    if (strncmp(q, "_acme-challenge.", 16) == 0 ||
        strstr(q, "._acme-challenge.") != NULL) {
        return "acme-challenge";
    }
    if (strncmp(q, "_domainkey.", 11) == 0 ||
        strstr(q, "._domainkey.") != NULL) {
        return "dkim";
    }
    return NULL;
}

/* The longest run of [a-z0-9] in the label: where an encoding shows. */
static size_t
tunnel_run(const char *s, size_t n, const char **run)
{
    size_t best = 0, start = 0;

    *run = s;
    for (size_t i = 0; i <= n; i++) {
        int alnum = i < n && ((s[i] >= 'a' && s[i] <= 'z') ||
                              (s[i] >= '0' && s[i] <= '9'));
        if (alnum) {
            continue;
        }
        if (i - start > best) {
            best = i - start;
            *run = s + start;
        }
        start = i + 1;
    }
    return best;
}

/* "hex", "base32", "base64" or NULL for a run of letters and digits. */
static const char *
tunnel_encoding(const char *s, size_t n)
{
    const char *run;
    size_t len = tunnel_run(s, n, &run);
    size_t digits = 0, hex = 0, b32 = 0;

    if (len < TUNNEL_ENCODED_MIN ||
        detector_entropy(run, len) < TUNNEL_ENCODED_ENTROPY) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = run[i];
        digits += c >= '0' && c <= '9';
        hex += (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        b32 += (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
    }
    if (digits < 2 || digits == len) {
        return NULL;
    }
    if (hex == len) {
        return len >= TUNNEL_HEX_MIN ? "hex" : NULL;
    }
    return b32 == len ? "base32" : "base64";
}

/* Judge one label; fills out and returns 1 when it stands out. */
static int
tunnel_label_check(const struct tunnel *t, const char *s, size_t n,
                   struct tunnel_label *out)
{
    const char *enc;

    if (n >= 4 && memcmp(s, "xn--", 4) == 0) {
        return 0;
    }
    if (n > t->tun.max_label_len) {
        double e = detector_entropy(s, n);
        if (e >= t->tun.min_entropy) {
            *out = (struct tunnel_label){s, n, e, "long-label"};
            return 1;
        }
    }
    enc = n >= TUNNEL_ENCODED_MIN ? tunnel_encoding(s, n) : NULL;
    if (enc != NULL) {
        *out = (struct tunnel_label){s, n, detector_entropy(s, n), enc};
        return 1;
    }
    return 0;
}

/*
 * Judge the labels of the subdomain part (plen bytes, the dot before the
 * parent excluded).  Returns 1 at the first that stands out; otherwise 0
 * with out->label and out->len giving the longest label (its entropy is
 * left 0: the hot path has no use for it).
 */
static int
tunnel_name_check(const struct tunnel *t, const char *q, size_t plen,
                  struct tunnel_label *out)
{
    size_t start = 0;

    *out = (struct tunnel_label){NULL, 0, 0.0, NULL};
    for (size_t i = 0; i <= plen; i++) {
        if (i < plen && q[i] != '.') {
            continue;
        }
        if (tunnel_label_check(t, q + start, i - start, out)) {
            return 1;
        }
        if (out->label == NULL || i - start > out->len) {
            out->label = q + start;
            out->len = i - start;
        }
        start = i + 1;
    }
    return 0;
}

/* ---- the (client, parent) table ------------------------------------- */

static int
tunnel_same_client(const struct event_addr *a, const struct event_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

/* The entry of (client, parent), taking the stalest way when new. */
static struct tunnel_entry *
tunnel_entry(struct tunnel *t, const struct event_addr *client,
             uint64_t parent, uint64_t now)
{
    uint64_t h = hash_bytes(parent ^ client->family, client->bytes,
                            sizeof(client->bytes));
    struct tunnel_entry *ways = t->table + (h % TUNNEL_SETS) * TUNNEL_WAYS;
    struct tunnel_entry *empty = NULL, *victim = &ways[0];

    for (size_t w = 0; w < TUNNEL_WAYS; w++) {
        if (ways[w].parent == parent &&
            tunnel_same_client(&ways[w].client, client)) {
            return &ways[w];
        }
        if (ways[w].parent == 0 && empty == NULL) {
            empty = &ways[w];
        }
        if (ways[w].last_ns < victim->last_ns) {
            victim = &ways[w];
        }
    }
    victim = empty != NULL ? empty : victim;
    if (victim->parent != 0 && now < victim->last_ns + t->idle_ns) {
        metrics_inc(t->evicted);
    }
    memset(victim, 0, offsetof(struct tunnel_entry, seen));
    victim->parent = parent;
    victim->client = *client;
    victim->names_start_ns = now;
    victim->bytes_start_ns = now;
    return victim;
}

/* Count a subdomain once per window; 1 when it was new. */
static int
tunnel_seen(struct tunnel_entry *e, uint32_t h, unsigned max)
{
    for (uint32_t i = 0; i < e->nseen; i++) {
        if (e->seen[i] == h) {
            return 0;
        }
    }
    if (e->nseen < max) {
        e->seen[e->nseen++] = h;
    }
    return 1;
}

/* ---- findings -------------------------------------------------------- */

static void
tunnel_report_label(const struct event *ev, const char *parent,
                    const struct tunnel *t, const struct tunnel_label *l,
                    chain_report_fn *report, void *ctx)
{
    struct finding f;

    finding_init(&f, "tunneling", "DNSTunneling", "high", parent, ev);
    detector_question_signals(&f, ev);
    finding_signal(&f, "parent", "%s", parent);
    finding_signal(&f, "label", "%.*s", (int)l->len, l->label);
    finding_signal(&f, "label_length", "%zu", l->len);
    finding_signal(&f, "entropy", "%.3f", l->entropy);
    finding_signal(&f, "reason", "%s", l->reason);
    finding_signal(&f, "max_label_length", "%u", t->tun.max_label_len);
    finding_signal(&f, "min_entropy", "%.3f", t->tun.min_entropy);
    report(ctx, &f);
}

static void
tunnel_report_names(const struct event *ev, const char *parent,
                    const struct tunnel *t, const struct tunnel_entry *e,
                    chain_report_fn *report, void *ctx)
{
    struct finding f;

    finding_init(&f, "tunneling", "DNSTunneling", "high", parent, ev);
    detector_question_signals(&f, ev);
    finding_signal(&f, "parent", "%s", parent);
    finding_signal(&f, "reason", "unique-subdomains");
    finding_signal(&f, "unique_subdomains", "%u", e->nseen);
    finding_signal(&f, "txt_null_queries", "%u", e->txt_null);
    finding_signal(&f, "threshold", "%u", t->unique_max);
    finding_signal(&f, "window_seconds", "%.3f",
                   (double)t->tun.window_ns / 1e9);
    report(ctx, &f);
}

static void
tunnel_report_bytes(const struct event *ev, const char *parent,
                    const struct tunnel *t, const struct tunnel_entry *e,
                    chain_report_fn *report, void *ctx)
{
    struct finding f;

    finding_init(&f, "exfiltration", "DNSExfiltration", "high", parent, ev);
    detector_question_signals(&f, ev);
    finding_signal(&f, "parent", "%s", parent);
    finding_signal(&f, "bytes", "%llu", (unsigned long long)e->bytes);
    finding_signal(&f, "queries", "%u", e->queries);
    finding_signal(&f, "bytes_per_window", "%llu",
                   (unsigned long long)t->exf.bytes_per_window);
    finding_signal(&f, "window_seconds", "%.3f",
                   (double)t->exf.window_ns / 1e9);
    report(ctx, &f);
}

/* ---- windows --------------------------------------------------------- */

static void
tunnel_count_names(struct tunnel *t, struct tunnel_entry *e,
                   const struct event *ev, size_t plen)
{
    uint64_t now = ev->time_ns;

    if (now >= e->names_start_ns + t->tun.window_ns) {
        e->names_start_ns = now;
        e->nseen = 0;
        e->txt_null = 0;
        e->names_fired = 0;
    }
    /* Once raised in this window, the set need not grow (nor be read). */
    if (plen > 0 && !e->names_fired) {
        tunnel_seen(e, (uint32_t)hash_bytes(HASH_FNV_OFFSET,
                                             ev->qname, plen),
                    t->unique_max);
    }
    if (ev->qtype == TUNNEL_QTYPE_TXT || ev->qtype == TUNNEL_QTYPE_NULL) {
        e->txt_null++;
    }
}

static void
tunnel_count_bytes(struct tunnel *t, struct tunnel_entry *e,
                   const struct event *ev)
{
    uint64_t now = ev->time_ns;

    if (now >= e->bytes_start_ns + t->exf.window_ns) {
        e->bytes_start_ns = now;
        e->bytes = 0;
        e->queries = 0;
        e->bytes_fired = 0;
    }
    e->bytes += (uint64_t)ev->qname_len + ev->response_size;
    e->queries++;
}

static void
tunnel_windows(struct tunnel *t, const struct event *ev, const char *parent,
               size_t plen, chain_report_fn *report, void *ctx)
{
    uint64_t ph = hash_bytes(HASH_FNV_OFFSET, parent, strlen(parent));
    struct tunnel_entry *e = tunnel_entry(t, &ev->client, ph | 1,
                                          ev->time_ns);

    e->last_ns = ev->time_ns > e->last_ns ? ev->time_ns : e->last_ns;
    if (t->tunneling) {
        tunnel_count_names(t, e, ev, plen);
        if (!e->names_fired && e->nseen + e->txt_null >= t->unique_max) {
            e->names_fired = 1;
            tunnel_report_names(ev, parent, t, e, report, ctx);
        }
    }
    if (t->exfil) {
        tunnel_count_bytes(t, e, ev);
        if (!e->bytes_fired && e->bytes > t->exf.bytes_per_window) {
            e->bytes_fired = 1;
            tunnel_report_bytes(ev, parent, t, e, report, ctx);
        }
    }
}

/* ---- the detector ---------------------------------------------------- */

static void
tunnel_check(struct detector *d, const struct event *ev,
             chain_report_fn *report, void *ctx)
{
    struct tunnel *t = (struct tunnel *)d;
    struct tunnel_label l;
    const char *parent;
    size_t plen;

    if (!detector_has_question(ev) ||
        tunnel_excluded(ev->qname, ev->qname_len) != NULL) {
        return;
    }
    parent = detector_registrable(ev->qname);
    if (parent == NULL) {
        return;
    }
    plen = parent > ev->qname ? (size_t)(parent - ev->qname) - 1 : 0;
    if (t->tunneling && plen > 0 && tunnel_name_check(t, ev->qname, plen,
                                                      &l)) {
        tunnel_report_label(ev, parent, t, &l, report, ctx);
    }
    tunnel_windows(t, ev, parent, plen, report, ctx);
}

static void
tunnel_explain(struct detector *d, const char *qname, json_t *obj)
{
    struct tunnel *t = (struct tunnel *)d;
    char name[EVENT_QNAME_MAX];
    size_t n = detector_normalise(qname, name);
    const char *excluded = tunnel_excluded(name, n);
    const char *parent = excluded ? NULL : detector_registrable(name);
    size_t plen = parent != NULL && parent > name
                      ? (size_t)(parent - name) - 1 : 0;
    struct tunnel_label l = {NULL, 0, 0.0, NULL};
    int fire = plen > 0 && tunnel_name_check(t, name, plen, &l);
    json_t *o = json_object();

    if (!fire && l.label != NULL) {
        l.entropy = detector_entropy(l.label, l.len);
    }
    json_object_set_new(o, "excluded", excluded ? json_string(excluded)
                                                : json_null());
    json_object_set_new(o, "parent", parent ? json_string(parent)
                                            : json_null());
    json_object_set_new(o, "label", l.label ? json_stringn(l.label, l.len)
                                            : json_null());
    json_object_set_new(o, "length", json_integer((json_int_t)l.len));
    json_object_set_new(o, "entropy", json_real(l.entropy));
    json_object_set_new(o, "reason", l.reason ? json_string(l.reason)
                                              : json_null());
    json_object_set_new(o, "max_label_length",
                        json_integer(t->tun.max_label_len));
    json_object_set_new(o, "min_entropy", json_real(t->tun.min_entropy));
    json_object_set_new(o, "verdict", json_boolean(fire));
    json_object_set_new(obj, "tunneling", o);
}

static void
tunnel_free(struct detector *d)
{
    struct tunnel *t = (struct tunnel *)d;

    free(t->table);
    free(t);
}

static void
tunnel_limits(struct tunnel *t)
{
    t->unique_max = t->tun.unique_subdomains;
    if (t->unique_max > TUNNEL_SEEN_MAX) {
        log_warn("tunneling: uniqueSubdomains above the table's limit",
                 "configured=%u used=%u", t->unique_max, TUNNEL_SEEN_MAX);
        t->unique_max = TUNNEL_SEEN_MAX;
    }
    if (t->unique_max == 0) {
        t->unique_max = 1;
    }
    t->idle_ns = t->tun.window_ns > t->exf.window_ns ? t->tun.window_ns
                                                 : t->exf.window_ns;
}

struct detector *
tunnel_create(const struct config *cfg, char *err, size_t errlen)
{
    struct tunnel *t = calloc(1, sizeof(*t));

    if (t == NULL ||
        (t->table = calloc(TUNNEL_SETS * TUNNEL_WAYS,
                           sizeof(*t->table))) == NULL) {
        free(t);
        snprintf(err, errlen, "tunneling: out of memory");
        return NULL;
    }
    t->base.name = "tunneling";
    t->base.check = tunnel_check;
    t->base.explain = tunnel_explain;
    t->base.free = tunnel_free;
    t->tunneling = cfg->tunneling.enabled;
    t->exfil = cfg->exfiltration.enabled;
    t->tun = cfg->tunneling;
    t->exf = cfg->exfiltration;
    tunnel_limits(t);
    t->evicted = metrics_counter("ugallu_dns_events_dropped_total",
                                 "reason=\"tunnel_table_full\"",
                                 "Events dropped, by reason.");
    return &t->base;
}

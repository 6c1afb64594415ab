/*
 * young.c - youngDomain: queries for a registrable domain registered less
 * than thresholdDays ago, by RDAP (RFC 9083 over HTTPS).
 *
 * The pipeline thread never waits for the network.  check() finds the
 * registrable domain (public suffix list) and looks it up in two bounded
 * caches: positive (registration dates) and negative (not found, errors,
 * lookups pending).  A miss copies the event into a bounded queue and
 * returns; a full queue drops the lookup and counts it in
 * ugallu_dns_lookups_dropped_total{reason="young_queue_full"} (the event
 * itself goes on through the other detectors).
 *
 * One worker thread owns a libcurl multi handle.  It takes a queued
 * lookup only when the detector's one token bucket (rateLimit a second,
 * one second's worth of burst) has a token and a transfer slot is free,
 * asks the TLD's server from the IANA bootstrap file, and hands the
 * verdict back through a small result queue.  poll() (pipeline thread)
 * caches the verdicts and reports the young ones.  Requests in flight
 * are in the gauge ugallu_dns_inflight_lookups; lookups by outcome in
 * ugallu_dns_rdap_lookups_total.
 *
 * Queries for a domain whose lookup is pending wait beside it in a
 * bounded list (YOUNG_WAITERS; overflow counted as young_waiters_full)
 * and are judged when the answer comes.
 *
 * Known shortcomings:
 * - explain() waits for a lookup (at most YOUNG_EXPLAIN_MS) and drains
 *   the result queue without reporting; it is meant for the explain
 *   command, where no traffic flows.
 * - The bootstrap file is read when the detector is built; reload() does
 *   not reread it (a config change or a restart does).
 */
#include "detectors/young.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/datadir.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/ring.h"
#include "detectors/chain.h"
#include "detectors/detector.h"

/* A lookup that was never made; the event itself went on. */
static void
young_lookup_dropped(const char *labels)
{
    metrics_inc(metrics_counter("ugallu_dns_lookups_dropped_total", labels,
                                "Asynchronous lookups dropped, by reason."));
}

#define YOUNG_BOOTSTRAP_FILE "rdap-dns.json"
#define YOUNG_QUEUE_CAP 1024        /* lookups waiting for a token */
#define YOUNG_INFLIGHT_MAX 16       /* transfers at once */
#define YOUNG_DONE_CAP 64           /* results not yet polled */
#define YOUNG_BODY_MAX (128 * 1024) /* largest RDAP answer read */
#define YOUNG_TIMEOUT_MS 5000L
#define YOUNG_CONNECT_MS 3000L
#define YOUNG_EXPLAIN_MS 6000
#define YOUNG_WAITERS 256          /* queries waiting on a pending name */
#define YOUNG_POS_CAP 16384
#define YOUNG_NEG_CAP 8192
#define YOUNG_SEC 1000000000ull
#define YOUNG_DAY_S 86400
#define YOUNG_TTL_REGISTERED (24ull * 3600 * YOUNG_SEC)
#define YOUNG_TTL_NOTFOUND (3600ull * YOUNG_SEC)
#define YOUNG_TTL_ERROR (600ull * YOUNG_SEC)
#define YOUNG_TTL_PENDING (3600ull * YOUNG_SEC)
#define YOUNG_TTL_UNSUPPORTED (24ull * 3600 * YOUNG_SEC)

/* ---- RFC 3339 and RFC 9083 ------------------------------------------- */

/* Read n decimal digits at *s into *v and advance; -1 when not digits. */
static int
young_digits(const char **s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9') {
            return -1;
        }
        *v = *v * 10 + (c - '0');
    }
    *s += n;
    return 0;
}

/* Expect character c (or its other case when alt) at *s and advance. */
static int
young_expect(const char **s, char c, char alt)
{
    if (**s != c && **s != alt) {
        return -1;
    }
    (*s)++;
    return 0;
}

/* Days from 1970-01-01 to a proleptic Gregorian date. */
static int64_t
young_days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
young_month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return days[m - 1] + (m == 2 && leap);
}

/* The zone part: Z, or +hh:mm / -hh:mm as seconds east of UTC. */
static int
young_zone(const char *s, int *off)
{
    int sign, h, m;

    if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
        *off = 0;
        return 0;
    }
    if (*s != '+' && *s != '-') {
        return -1;
    }
    sign = *s++ == '-' ? -1 : 1;
    if (young_digits(&s, 2, &h) != 0 || young_expect(&s, ':', ':') != 0 ||
        young_digits(&s, 2, &m) != 0 || *s != '\0' || h > 23 || m > 59) {
        return -1;
    }
    *off = sign * (h * 3600 + m * 60);
    return 0;
}

/* "YYYY-MM-DD" followed by 'T', 't' or ' '. */
static int
young_date_part(const char **s, int *y, int *mo, int *d)
{
    if (young_digits(s, 4, y) != 0 || young_expect(s, '-', '-') != 0 ||
        young_digits(s, 2, mo) != 0 || young_expect(s, '-', '-') != 0 ||
        young_digits(s, 2, d) != 0) {
        return -1;
    }
    if (young_expect(s, 'T', 't') != 0 && young_expect(s, ' ', ' ') != 0) {
        return -1;
    }
    return *mo < 1 || *mo > 12 || *d < 1 || *d > young_month_days(*y, *mo)
               ? -1 : 0;
}

/* "hh:mm:ss" with an optional ".fraction", which is skipped. */
static int
young_time_part(const char **s, int *h, int *mi, int *se)
{
    if (young_digits(s, 2, h) != 0 || young_expect(s, ':', ':') != 0 ||
        young_digits(s, 2, mi) != 0 || young_expect(s, ':', ':') != 0 ||
        young_digits(s, 2, se) != 0 || *h > 23 || *mi > 59 || *se > 60) {
        return -1;
    }
    if (**s == '.') {
        (*s)++;
        if (**s < '0' || **s > '9') {
            return -1;
        }
        *s += strspn(*s, "0123456789");
    }
    return 0;
}

int
young_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se, off;

    if (young_date_part(&s, &y, &mo, &d) != 0 ||
        young_time_part(&s, &h, &mi, &se) != 0 || young_zone(s, &off) != 0) {
        return -EINVAL;
    }
    *out = young_days_from_civil(y, mo, d) * YOUNG_DAY_S + h * 3600 +
           mi * 60 + se - off;
    return 0;
}

/* The eventDate of the first registration event of events, if any. */
static int
young_registration_event(json_t *events, int64_t *out)
{
    size_t i;
    json_t *ev;

    json_array_foreach(events, i, ev) {
        const char *action = json_string_value(
            json_object_get(ev, "eventAction"));
        const char *date = json_string_value(
            json_object_get(ev, "eventDate"));

        if (action != NULL && strcasecmp(action, "registration") == 0) {
            return date != NULL && young_rfc3339(date, out) == 0 ? 0
                                                                 : -ENOENT;
        }
    }
    return -ENOENT;
}

int
young_rdap_registration(const char *body, size_t len, int64_t *out)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *cls;
    int rc;

    if (!json_is_object(root)) {
        json_decref(root);
        return -EINVAL;
    }
    cls = json_string_value(json_object_get(root, "objectClassName"));
    if (cls != NULL && strcasecmp(cls, "domain") != 0) {
        rc = -EINVAL;
    } else {
        rc = young_registration_event(json_object_get(root, "events"), out);
    }
    json_decref(root);
    return rc;
}

/* ---- bootstrap ------------------------------------------------------- */

struct young_tld {
    char name[64];   /* lowercase suffix, "com" or "co.uk" */
    int url;         /* index into urls */
};

struct young_bootstrap {
    size_t ntlds, nurls;
    struct young_tld *tlds;         /* sorted by name */
    char (*urls)[YOUNG_URL_MAX];
};

/* The service's first https URL, else its first URL; NULL when none. */
static const char *
young_service_url(json_t *urls)
{
    const char *first = NULL;
    size_t i;
    json_t *u;

    json_array_foreach(urls, i, u) {
        const char *s = json_string_value(u);
        if (s == NULL) {
            continue;
        }
        if (strncasecmp(s, "https://", 8) == 0) {
            return s;
        }
        if (first == NULL && strncasecmp(s, "http://", 7) == 0) {
            first = s;
        }
    }
    return first;
}

/* Count the TLD strings of every service: the table's size. */
static size_t
young_count_tlds(json_t *services)
{
    size_t i, n = 0;
    json_t *svc;

    json_array_foreach(services, i, svc) {
        n += json_array_size(json_array_get(svc, 0));
    }
    return n;
}

static int
young_tld_cmp(const void *a, const void *b)
{
    return strcmp(((const struct young_tld *)a)->name,
                  ((const struct young_tld *)b)->name);
}

/* Copy s lowercased into out, which has room for it. */
static void
young_lower(char *out, const char *s)
{
    size_t k = 0;

    for (; s[k] != '\0'; k++) {
        out[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] - 'A' + 'a'
                                                   : s[k]);
    }
    out[k] = '\0';
}

/* Add one service's TLDs, all pointing at its URL. */
static void
young_add_service(struct young_bootstrap *b, json_t *svc)
{
    const char *url = young_service_url(json_array_get(svc, 1));
    size_t i, n;
    json_t *t;

    if (url == NULL || strlen(url) + 2 > YOUNG_URL_MAX) {
        return;
    }
    n = strlen(url);
    snprintf(b->urls[b->nurls], YOUNG_URL_MAX, "%s%s", url,
             url[n - 1] == '/' ? "" : "/");
    json_array_foreach(json_array_get(svc, 0), i, t) {
        const char *s = json_string_value(t);
        struct young_tld *e = &b->tlds[b->ntlds];

        if (s != NULL && *s != '\0' && strlen(s) < sizeof(e->name)) {
            young_lower(e->name, s);
            e->url = (int)b->nurls;
            b->ntlds++;
        }
    }
    b->nurls++;
}

/* By name, then by service order, so the first service comes first. */
static int
young_tld_order(const void *a, const void *b)
{
    const struct young_tld *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : (x->url > y->url) - (x->url < y->url);
}

/* Sort the table and drop repeated TLDs (the first service wins). */
static void
young_sort_tlds(struct young_bootstrap *b)
{
    size_t out = 0;

    qsort(b->tlds, b->ntlds, sizeof(*b->tlds), young_tld_order);
    for (size_t i = 0; i < b->ntlds; i++) {
        if (out == 0 || strcmp(b->tlds[out - 1].name, b->tlds[i].name)) {
            b->tlds[out++] = b->tlds[i];
        }
    }
    b->ntlds = out;
}

static int
young_bootstrap_fill(struct young_bootstrap *b, json_t *services)
{
    size_t i, nsvc = json_array_size(services);
    json_t *svc;

    b->tlds = calloc(young_count_tlds(services) + 1, sizeof(*b->tlds));
    b->urls = calloc(nsvc + 1, sizeof(*b->urls));
    if (b->tlds == NULL || b->urls == NULL) {
        return -ENOMEM;
    }
    json_array_foreach(services, i, svc) {
        young_add_service(b, svc);
    }
    young_sort_tlds(b);
    return b->ntlds > 0 ? 0 : -ENOENT;
}

struct young_bootstrap *
young_bootstrap_load(const char *path, char *err, size_t errlen)
{
    struct young_bootstrap *b = calloc(1, sizeof(*b));
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    int rc;

    if (b == NULL || root == NULL) {
        snprintf(err, errlen, "young: cannot read RDAP bootstrap %s: %s",
                 path, root == NULL ? jerr.text : "out of memory");
        json_decref(root);
        free(b);
        return NULL;
    }
    rc = young_bootstrap_fill(b, json_object_get(root, "services"));
    json_decref(root);
    if (rc != 0) {
        snprintf(err, errlen, "young: RDAP bootstrap %s: %s", path,
                 rc == -ENOMEM ? "out of memory" : "no usable services");
        young_bootstrap_free(b);
        return NULL;
    }
    return b;
}

void
young_bootstrap_free(struct young_bootstrap *b)
{
    if (b == NULL) {
        return;
    }
    free(b->tlds);
    free(b->urls);
    free(b);
}

int
young_bootstrap_find(const struct young_bootstrap *b, const char *domain)
{
    for (const char *s = domain; s != NULL; s = strchr(s, '.')) {
        struct young_tld key, *hit;

        s += *s == '.';
        if (strlen(s) >= sizeof(key.name)) {
            continue;
        }
        snprintf(key.name, sizeof(key.name), "%s", s);
        hit = bsearch(&key, b->tlds, b->ntlds, sizeof(*b->tlds),
                      young_tld_cmp);
        if (hit != NULL) {
            return hit->url;
        }
    }
    return -1;
}

const char *
young_bootstrap_url(const struct young_bootstrap *b, int idx)
{
    return idx >= 0 && (size_t)idx < b->nurls ? b->urls[idx] : "";
}

size_t
young_bootstrap_size(const struct young_bootstrap *b)
{
    return b->ntlds;
}

/* ---- token bucket ---------------------------------------------------- */

void
young_bucket_init(struct young_bucket *b, double rate, double burst,
                  uint64_t now_ns)
{
    b->rate = rate;
    b->burst = burst < 1.0 ? 1.0 : burst;
    b->tokens = b->burst;
    b->last_ns = now_ns;
}

static void
young_bucket_refill(struct young_bucket *b, uint64_t now_ns)
{
    if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) / 1e9 * b->rate;
        b->tokens = b->tokens > b->burst ? b->burst : b->tokens;
        b->last_ns = now_ns;
    }
}

int
young_bucket_take(struct young_bucket *b, uint64_t now_ns)
{
    young_bucket_refill(b, now_ns);
    if (b->tokens < 1.0) {
        return 0;
    }
    b->tokens -= 1.0;
    return 1;
}

uint64_t
young_bucket_wait_ns(struct young_bucket *b, uint64_t now_ns)
{
    young_bucket_refill(b, now_ns);
    if (b->tokens >= 1.0) {
        return 0;
    }
    return (uint64_t)ceil((1.0 - b->tokens) / b->rate * 1e9);
}

/* ---- verdict cache --------------------------------------------------- */

#define YOUNG_WAYS 4

struct young_entry {
    uint64_t hash;          /* 0 when empty */
    uint64_t expires_ns;
    uint64_t used_ns;       /* for least-recently-used eviction */
    struct young_verdict v;
    char name[YOUNG_NAME_MAX];
};

struct young_cache {
    size_t nsets;                 /* power of two */
    uint64_t evictions;
    struct metrics_series *evicted;
    struct young_entry *e;        /* nsets * YOUNG_WAYS */
};

static uint64_t
young_hash(const char *s)
{
    return hash_bytes(HASH_FNV_OFFSET, s, strlen(s)) | 1;
}

struct young_cache *
young_cache_create(size_t capacity, struct metrics_series *evicted)
{
    struct young_cache *c = calloc(1, sizeof(*c));
    size_t sets = 1;

    while (sets * YOUNG_WAYS < capacity) {
        sets *= 2;
    }
    if (c == NULL || (c->e = calloc(sets * YOUNG_WAYS,
                                    sizeof(*c->e))) == NULL) {
        free(c);
        return NULL;
    }
    c->nsets = sets;
    c->evicted = evicted;
    return c;
}

void
young_cache_free(struct young_cache *c)
{
    if (c != NULL) {
        free(c->e);
        free(c);
    }
}

/* The entry holding domain in its set, or NULL. */
static struct young_entry *
young_cache_find(struct young_cache *c, const char *domain, uint64_t h)
{
    struct young_entry *set = &c->e[(h & (c->nsets - 1)) * YOUNG_WAYS];

    for (int i = 0; i < YOUNG_WAYS; i++) {
        if (set[i].hash == h && strcmp(set[i].name, domain) == 0) {
            return &set[i];
        }
    }
    return NULL;
}

int
young_cache_get(struct young_cache *c, const char *domain, uint64_t now_ns,
                struct young_verdict *out)
{
    struct young_entry *e = young_cache_find(c, domain, young_hash(domain));

    if (e == NULL || e->expires_ns <= now_ns) {
        return 0;
    }
    e->used_ns = now_ns;
    *out = e->v;
    return 1;
}

/* The way to overwrite: an empty or expired one, else the least used. */
static struct young_entry *
young_cache_victim(struct young_cache *c, uint64_t h, uint64_t now_ns)
{
    struct young_entry *set = &c->e[(h & (c->nsets - 1)) * YOUNG_WAYS];
    struct young_entry *lru = &set[0];

    for (int i = 0; i < YOUNG_WAYS; i++) {
        if (set[i].hash == 0 || set[i].expires_ns <= now_ns) {
            return &set[i];
        }
        if (set[i].used_ns < lru->used_ns) {
            lru = &set[i];
        }
    }
    c->evictions++;
    if (c->evicted != NULL) {
        metrics_inc(c->evicted);
    }
    return lru;
}

void
young_cache_put(struct young_cache *c, const char *domain,
                const struct young_verdict *v, uint64_t now_ns,
                uint64_t expires_ns)
{
    uint64_t h = young_hash(domain);
    struct young_entry *e;

    if (strlen(domain) >= YOUNG_NAME_MAX) {
        return;
    }
    e = young_cache_find(c, domain, h);
    if (e == NULL) {
        e = young_cache_victim(c, h, now_ns);
    }
    e->hash = h;
    e->expires_ns = expires_ns;
    e->used_ns = now_ns;
    e->v = *v;
    snprintf(e->name, sizeof(e->name), "%s", domain);
}

uint64_t
young_cache_evictions(const struct young_cache *c)
{
    return c->evictions;
}

/* ---- the detector ---------------------------------------------------- */

/* A lookup and its answer, from the queue to the pipeline thread. */
struct young_result {
    struct event ev;                /* the query that started it */
    char domain[YOUNG_NAME_MAX];    /* its registrable domain */
    struct young_verdict v;
};

/* One transfer slot of the worker thread. */
struct young_xfer {
    CURL *easy;                     /* kept for the detector's life */
    int busy;                       /* added to the multi handle */
    size_t len;                     /* bytes of body received */
    char *body;                     /* YOUNG_BODY_MAX bytes */
    struct young_result r;
};

struct young {
    struct detector base;
    unsigned threshold_days;
    struct young_bootstrap *boot;   /* read-only once built */

    /* pipeline thread */
    struct young_cache *pos;        /* registration dates */
    struct young_cache *neg;        /* not found, errors, pending */
    uint64_t outstanding;           /* queued, not yet polled back */
    struct young_result *drained;   /* YOUNG_DONE_CAP, poll's copy */
    size_t nwaiters;
    struct young_result *waiters;   /* YOUNG_WAITERS, v unused */

    /* between the threads */
    struct ring *queue;             /* lookups waiting for the worker */
    pthread_mutex_t lock;           /* guards ndone and done */
    pthread_cond_t cond;            /* a result was added */
    size_t ndone;
    struct young_result *done;      /* YOUNG_DONE_CAP, worker -> poll */

    /* worker thread */
    pthread_t thread;
    int started;
    _Atomic int stop;
    CURLM *multi;
    struct curl_slist *headers;
    struct young_bucket bucket;
    size_t nbusy;
    struct young_xfer xfer[YOUNG_INFLIGHT_MAX];

    struct metrics_series *inflight;  /* ugallu_dns_inflight_lookups */
    struct metrics_series *young_n;   /* lookups_total{outcome=young} */
    struct metrics_series *old_n;     /* lookups_total{outcome=old} */
    struct metrics_series *outcome_n[YOUNG_OUTCOMES];
};

static const char *const young_outcome_names[YOUNG_OUTCOMES] = {
    "pending", "registered", "notfound", "nodate", "error", "ratelimited",
    "unsupported",
};

/* ---- worker thread: transfers ---------------------------------------- */

static size_t
young_write(char *data, size_t size, size_t n, void *arg)
{
    struct young_xfer *x = arg;

    if (n > YOUNG_BODY_MAX - x->len || size != 1) {
        return 0;  /* too large: the transfer fails */
    }
    memcpy(x->body + x->len, data, n);
    x->len += n;
    return n;
}

/* Hand slot x's lookup back with outcome (and date when registered). */
static void
young_finish(struct young *y, struct young_xfer *x,
             enum young_outcome outcome, int64_t registered_s)
{
    x->r.v.outcome = outcome;
    x->r.v.registered_s = registered_s;
    pthread_mutex_lock(&y->lock);
    y->done[y->ndone++] = x->r;
    pthread_cond_signal(&y->cond);
    pthread_mutex_unlock(&y->lock);
}

/* Start the lookup of x->r.ev's domain; a failure finishes it at once. */
static void
young_start(struct young *y, struct young_xfer *x)
{
    const char *dom = detector_registrable(x->r.ev.qname);
    char url[YOUNG_URL_MAX + YOUNG_NAME_MAX + 16];

    snprintf(x->r.domain, sizeof(x->r.domain), "%s", dom ? dom : "");
    x->r.v.server = dom ? young_bootstrap_find(y->boot, dom) : -1;
    x->len = 0;
    snprintf(url, sizeof(url), "%sdomain/%s",
             young_bootstrap_url(y->boot, x->r.v.server), x->r.domain);
    if (x->r.v.server < 0 ||
        curl_easy_setopt(x->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_multi_add_handle(y->multi, x->easy) != CURLM_OK) {
        young_finish(y, x, YOUNG_ERROR, 0);
        return;
    }
    x->busy = 1;
    y->nbusy++;
    metrics_add(y->inflight, 1);
}

static struct young_xfer *
young_idle_slot(struct young *y)
{
    for (size_t i = 0; i < YOUNG_INFLIGHT_MAX; i++) {
        if (!y->xfer[i].busy) {
            return &y->xfer[i];
        }
    }
    return NULL;
}

/* Room for one more result once every transfer in flight is back. */
static int
young_done_room(struct young *y)
{
    size_t n;

    pthread_mutex_lock(&y->lock);
    n = y->ndone;
    pthread_mutex_unlock(&y->lock);
    return n + y->nbusy < YOUNG_DONE_CAP;
}

/* Start queued lookups while slots, result room and tokens allow. */
static void
young_start_ready(struct young *y)
{
    while (y->nbusy < YOUNG_INFLIGHT_MAX && ring_depth(y->queue) > 0 &&
           young_done_room(y) &&
           young_bucket_take(&y->bucket, clock_ns(CLOCK_MONOTONIC))) {
        struct young_xfer *x = young_idle_slot(y);

        if (ring_pop(y->queue, &x->r.ev, 1, 0) != 1) {
            break;
        }
        young_start(y, x);
    }
}

/* Turn a finished transfer's status and body into an outcome. */
static void
young_answer(struct young *y, struct young_xfer *x, CURLcode res)
{
    long status = 0;
    int64_t reg = 0;
    int rc;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (res != CURLE_OK || (status != 200 && status != 404 &&
                            status != 429)) {
        young_finish(y, x, YOUNG_ERROR, 0);
    } else if (status == 404) {
        young_finish(y, x, YOUNG_NOTFOUND, 0);
    } else if (status == 429) {
        young_finish(y, x, YOUNG_RATELIMITED, 0);
    } else if ((rc = young_rdap_registration(x->body, x->len, &reg)) == 0) {
        young_finish(y, x, YOUNG_REGISTERED, reg);
    } else {
        if (rc == -EINVAL) {
            metrics_malformed("rdap_answer");
        }
        young_finish(y, x, rc == -ENOENT ? YOUNG_NODATE : YOUNG_ERROR, 0);
    }
}

/* Collect finished transfers. */
static void
young_reap(struct young *y)
{
    struct young_xfer *x;
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(y->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(y->multi, x->easy);
        x->busy = 0;
        y->nbusy--;
        metrics_add(y->inflight, (uint64_t)-1);
        young_answer(y, x, m->data.result);
    }
}

/* How long the worker may sleep: until a token when work waits. */
static int
young_sleep_ms(struct young *y)
{
    uint64_t wait;

    if (ring_depth(y->queue) == 0 || y->nbusy == YOUNG_INFLIGHT_MAX) {
        return 1000;
    }
    if (!young_done_room(y)) {
        return 20;  /* poll() has results to collect first */
    }
    wait = young_bucket_wait_ns(&y->bucket, clock_ns(CLOCK_MONOTONIC));
    return wait >= 1000000000ull ? 1000 : (int)(wait / 1000000) + 1;
}

static void *
young_worker(void *arg)
{
    struct young *y = arg;
    int running;

    while (!atomic_load(&y->stop)) {
        young_start_ready(y);
        curl_multi_perform(y->multi, &running);
        young_reap(y);
        curl_multi_poll(y->multi, NULL, 0, young_sleep_ms(y), NULL);
    }
    return NULL;
}

/* ---- pipeline thread: check and poll --------------------------------- */

/* The registrable domain of qname when it can be looked up, else NULL. */
static const char *
young_domain(const char *qname)
{
    const char *dom = detector_registrable(qname);

    if (dom == NULL || strlen(dom) >= YOUNG_NAME_MAX ||
        dom[strspn(dom, "abcdefghijklmnopqrstuvwxyz0123456789-.")] != '\0') {
        return NULL;
    }
    return dom;
}

/*
 * Age in whole days at the event's time of a domain registered at reg_s;
 * -1 when the registration is more than a day after the event (the name
 * was registered again since; the record says nothing of that time).
 */
static int64_t
young_age_days(const struct event *ev, int64_t reg_s)
{
    uint64_t t = ev->time_ns ? ev->time_ns : clock_ns(CLOCK_REALTIME);
    int64_t age = (int64_t)(t / YOUNG_SEC) - reg_s;

    if (age < -YOUNG_DAY_S) {
        return -1;
    }
    return age < 0 ? 0 : age / YOUNG_DAY_S;
}

static void
young_format_time(int64_t s, char *buf, size_t len)
{
    time_t t = (time_t)s;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, len, "%lld", (long long)s);
    }
}

static void
young_report(struct young *y, const struct event *ev, const char *dom,
             const struct young_verdict *v, int64_t age,
             chain_report_fn *report, void *ctx)
{
    struct finding f;
    char when[40];

    young_format_time(v->registered_s, when, sizeof(when));
    finding_init(&f, "youngDomain", "DNSToYoungDomain", "medium", dom, ev);
    detector_question_signals(&f, ev);
    finding_signal(&f, "registrable", "%s", dom);
    finding_signal(&f, "registered_at", "%s", when);
    finding_signal(&f, "age_days", "%lld", (long long)age);
    finding_signal(&f, "threshold_days", "%u", y->threshold_days);
    finding_signal(&f, "rdap_server", "%s",
                   young_bootstrap_url(y->boot, v->server));
    report(ctx, &f);
}

/* Report ev when dom was young at its time; returns whether it was. */
static int
young_judge(struct young *y, const struct event *ev, const char *dom,
            const struct young_verdict *v, chain_report_fn *report,
            void *ctx)
{
    int64_t age = young_age_days(ev, v->registered_s);

    if (age < 0 || age >= (int64_t)y->threshold_days) {
        return 0;
    }
    if (report != NULL) {
        young_report(y, ev, dom, v, age, report, ctx);
    }
    return 1;
}

/* Queue a lookup of dom for ev; never waits. */
static void
young_ask(struct young *y, const struct event *ev, const char *dom,
          uint64_t now)
{
    struct young_verdict v = {YOUNG_UNSUPPORTED, 0, -1};

    v.server = young_bootstrap_find(y->boot, dom);
    if (v.server < 0) {
        metrics_inc(y->outcome_n[YOUNG_UNSUPPORTED]);
        young_cache_put(y->neg, dom, &v, now, now + YOUNG_TTL_UNSUPPORTED);
        return;
    }
    if (ring_push(y->queue, ev) != 0) {
        young_lookup_dropped("reason=\"young_queue_full\"");
        return;
    }
    y->outstanding++;
    v.outcome = YOUNG_PENDING;
    young_cache_put(y->neg, dom, &v, now, now + YOUNG_TTL_PENDING);
    if (ring_depth(y->queue) == 1) {
        curl_multi_wakeup(y->multi);
    }
}

/* Keep ev until the pending lookup of dom answers. */
static void
young_defer(struct young *y, const struct event *ev, const char *dom)
{
    struct young_result *w;

    if (y->nwaiters == YOUNG_WAITERS) {
        young_lookup_dropped("reason=\"young_waiters_full\"");
        return;
    }
    w = &y->waiters[y->nwaiters++];
    w->ev = *ev;
    snprintf(w->domain, sizeof(w->domain), "%s", dom);
}

/* Judge (registered) or forget (otherwise) the queries waiting on r. */
static void
young_release(struct young *y, const struct young_result *r,
              chain_report_fn *report, void *ctx)
{
    size_t i = 0;

    while (i < y->nwaiters) {
        struct young_result *w = &y->waiters[i];
        if (strcmp(w->domain, r->domain) != 0) {
            i++;
            continue;
        }
        if (r->v.outcome == YOUNG_REGISTERED) {
            young_judge(y, &w->ev, r->domain, &r->v, report, ctx);
        }
        *w = y->waiters[--y->nwaiters];
    }
}

static void
young_check(struct detector *det, const struct event *ev,
            chain_report_fn *report, void *ctx)
{
    struct young *y = (struct young *)det;
    struct young_verdict v;
    const char *dom;
    uint64_t now;

    if (!detector_has_question(ev) || (dom = young_domain(ev->qname)) ==
                                          NULL) {
        return;
    }
    now = clock_ns(CLOCK_MONOTONIC);
    if (young_cache_get(y->pos, dom, now, &v)) {
        young_judge(y, ev, dom, &v, report, ctx);
    } else if (!young_cache_get(y->neg, dom, now, &v)) {
        young_ask(y, ev, dom, now);
    } else if (v.outcome == YOUNG_PENDING) {
        young_defer(y, ev, dom);
    }
}

/* Cache one result, count it and report it when young. */
static void
young_settle(struct young *y, const struct young_result *r,
             chain_report_fn *report, void *ctx)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    uint64_t ttl = r->v.outcome == YOUNG_NOTFOUND ? YOUNG_TTL_NOTFOUND
                                                  : YOUNG_TTL_ERROR;

    if (r->v.outcome != YOUNG_REGISTERED) {
        metrics_inc(y->outcome_n[r->v.outcome]);
        young_cache_put(y->neg, r->domain, &r->v, now, now + ttl);
        return;
    }
    young_cache_put(y->pos, r->domain, &r->v, now,
                    now + YOUNG_TTL_REGISTERED);
    young_cache_put(y->neg, r->domain, &r->v, now, now);  /* unpend */
    if (young_judge(y, &r->ev, r->domain, &r->v, report, ctx)) {
        metrics_inc(y->young_n);
    } else {
        metrics_inc(y->old_n);
    }
}

/* Take every result the worker has handed back. */
static void
young_drain(struct young *y, chain_report_fn *report, void *ctx)
{
    size_t n;

    pthread_mutex_lock(&y->lock);
    n = y->ndone;
    memcpy(y->drained, y->done, n * sizeof(*y->done));
    y->ndone = 0;
    pthread_mutex_unlock(&y->lock);
    for (size_t i = 0; i < n; i++) {
        young_settle(y, &y->drained[i], report, ctx);
        young_release(y, &y->drained[i], report, ctx);
    }
    y->outstanding -= n;
}

/* Wait until a result is there or deadline (CLOCK_MONOTONIC) passes. */
static int
young_wait(struct young *y, uint64_t deadline)
{
    struct timespec ts = {(time_t)(deadline / YOUNG_SEC),
                          (long)(deadline % YOUNG_SEC)};
    int rc = 0;

    pthread_mutex_lock(&y->lock);
    while (y->ndone == 0 && rc == 0) {
        rc = pthread_cond_timedwait(&y->cond, &y->lock, &ts);
    }
    pthread_mutex_unlock(&y->lock);
    return rc == 0 ? 0 : -ETIMEDOUT;
}

static void
young_poll(struct detector *det, int wait_ms, chain_report_fn *report,
           void *ctx)
{
    struct young *y = (struct young *)det;
    uint64_t deadline = clock_ns(CLOCK_MONOTONIC) +
                        (uint64_t)(wait_ms > 0 ? wait_ms : 0) * 1000000ull;

    young_drain(y, report, ctx);
    while (wait_ms > 0 && y->outstanding > 0 &&
           young_wait(y, deadline) == 0) {
        young_drain(y, report, ctx);
    }
}

/* ---- explain ---------------------------------------------------------- */

/* A cached verdict on dom, from either cache; 0 when none. */
static int
young_cached(struct young *y, const char *dom, struct young_verdict *v)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);

    return young_cache_get(y->pos, dom, now, v) ||
           young_cache_get(y->neg, dom, now, v);
}

/* Look dom up now: queue it and wait for the answer (explain only). */
static int
young_lookup_now(struct young *y, const char *name, const char *dom,
                 struct young_verdict *v)
{
    struct event ev;

    event_reset(&ev);
    ev.qname_len = (uint8_t)snprintf(ev.qname, sizeof(ev.qname), "%s",
                                     name);
    ev.time_ns = clock_ns(CLOCK_REALTIME);
    young_ask(y, &ev, dom, clock_ns(CLOCK_MONOTONIC));
    young_poll(&y->base, YOUNG_EXPLAIN_MS, NULL, NULL);
    return young_cached(y, dom, v);
}

static void
young_explain_verdict(struct young *y, const struct young_verdict *v,
                      json_t *o)
{
    struct event now;
    char when[40];
    int64_t age;

    json_object_set_new(o, "rdap_server", v->server < 0 ? json_null()
        : json_string(young_bootstrap_url(y->boot, v->server)));
    if (v->outcome != YOUNG_REGISTERED) {
        json_object_set_new(o, "outcome",
                            json_string(young_outcome_names[v->outcome]));
        return;
    }
    event_reset(&now);
    age = young_age_days(&now, v->registered_s);
    young_format_time(v->registered_s, when, sizeof(when));
    json_object_set_new(o, "outcome", json_string(
        age >= 0 && age < (int64_t)y->threshold_days ? "young" : "old"));
    json_object_set_new(o, "registered_at", json_string(when));
    json_object_set_new(o, "age_days", json_integer(age));
}

/*
 * The cached verdict on the name's registrable domain; without one, a
 * lookup waited for (at most YOUNG_EXPLAIN_MS).  "outcome" is young, old,
 * or a failed lookup's outcome (pending when it timed out).
 */
static void
young_explain(struct detector *det, const char *qname, json_t *obj)
{
    struct young *y = (struct young *)det;
    char name[EVENT_QNAME_MAX];
    struct young_verdict v;
    const char *dom;
    json_t *o = json_object();
    int cached;

    detector_normalise(qname, name);
    dom = young_domain(name);
    json_object_set_new(o, "registrable", dom ? json_string(dom)
                                              : json_null());
    json_object_set_new(o, "threshold_days",
                        json_integer(y->threshold_days));
    if (dom != NULL) {
        cached = young_cached(y, dom, &v);
        json_object_set_new(o, "cached", json_boolean(cached));
        if (cached || young_lookup_now(y, name, dom, &v)) {
            young_explain_verdict(y, &v, o);
        }
    }
    json_object_set_new(obj, "youngDomain", o);
}

/* ---- life cycle ------------------------------------------------------- */

static pthread_once_t young_curl_once = PTHREAD_ONCE_INIT;

static void
young_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Set up one slot's handle: everything but the URL. */
static int
young_xfer_init(struct young *y, struct young_xfer *x)
{
    CURLcode rc = CURLE_OK;

    x->easy = curl_easy_init();
    x->body = malloc(YOUNG_BODY_MAX);
    if (x->easy == NULL || x->body == NULL) {
        return -ENOMEM;
    }
    rc |= curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, young_write);
    rc |= curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    rc |= curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    rc |= curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, YOUNG_TIMEOUT_MS);
    rc |= curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
                           YOUNG_CONNECT_MS);
    rc |= curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 1L);
    rc |= curl_easy_setopt(x->easy, CURLOPT_MAXREDIRS, 3L);
    rc |= curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    rc |= curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, y->headers);
    rc |= curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "ugallu-dns-detect");
    rc |= curl_easy_setopt(x->easy, CURLOPT_ACCEPT_ENCODING, "");
    /* at shutdown, do not wait for a name resolution still running */
    rc |= curl_easy_setopt(x->easy, CURLOPT_QUICK_EXIT, 1L);
    return rc == CURLE_OK ? 0 : -EINVAL;
}

static void
young_metrics(struct young *y)
{
    static const char help[] = "RDAP lookups of the youngDomain detector,"
                               " by outcome.";
    char labels[64];

    y->inflight = metrics_gauge("ugallu_dns_inflight_lookups", "",
                                "Asynchronous lookups in flight.");
    y->young_n = metrics_counter("ugallu_dns_rdap_lookups_total",
                                 "outcome=\"young\"", help);
    y->old_n = metrics_counter("ugallu_dns_rdap_lookups_total",
                               "outcome=\"old\"", help);
    for (int i = YOUNG_NOTFOUND; i < YOUNG_OUTCOMES; i++) {
        snprintf(labels, sizeof(labels), "outcome=\"%s\"",
                 young_outcome_names[i]);
        y->outcome_n[i] = metrics_counter("ugallu_dns_rdap_lookups_total",
                                          labels, help);
    }
}

/* Caches, queues, curl handles; then the worker thread. */
static int
young_start_engine(struct young *y, double rate, char *err, size_t errlen)
{
    struct metrics_series *ev[2] = {
        metrics_counter("ugallu_dns_rdap_cache_evictions_total",
                        "cache=\"positive\"", "RDAP verdicts evicted early."),
        metrics_counter("ugallu_dns_rdap_cache_evictions_total",
                        "cache=\"negative\"", "RDAP verdicts evicted early."),
    };
    int rc = 0;

    pthread_once(&young_curl_once, young_curl_init);
    y->pos = young_cache_create(YOUNG_POS_CAP, ev[0]);
    y->neg = young_cache_create(YOUNG_NEG_CAP, ev[1]);
    y->queue = ring_create(YOUNG_QUEUE_CAP);
    y->done = calloc(YOUNG_DONE_CAP, sizeof(*y->done));
    y->drained = calloc(YOUNG_DONE_CAP, sizeof(*y->drained));
    y->waiters = calloc(YOUNG_WAITERS, sizeof(*y->waiters));
    y->multi = curl_multi_init();
    y->headers = curl_slist_append(NULL, "Accept: application/rdap+json");
    for (size_t i = 0; i < YOUNG_INFLIGHT_MAX && rc == 0; i++) {
        rc = young_xfer_init(y, &y->xfer[i]);
    }
    if (rc != 0 || !y->pos || !y->neg || !y->queue || !y->done ||
        !y->drained || !y->waiters || !y->multi || !y->headers) {
        snprintf(err, errlen, "young: out of memory");
        return -ENOMEM;
    }
    young_bucket_init(&y->bucket, rate, rate,
                      clock_ns(CLOCK_MONOTONIC));
    if (pthread_create(&y->thread, NULL, young_worker, y) != 0) {
        snprintf(err, errlen, "young: cannot start the lookup thread");
        return -EAGAIN;
    }
    y->started = 1;
    return 0;
}

static void
young_stop_engine(struct young *y)
{
    if (y->started) {
        atomic_store(&y->stop, 1);
        curl_multi_wakeup(y->multi);
        pthread_join(y->thread, NULL);
    }
    for (size_t i = 0; i < YOUNG_INFLIGHT_MAX; i++) {
        struct young_xfer *x = &y->xfer[i];
        if (x->busy) {
            curl_multi_remove_handle(y->multi, x->easy);
            metrics_add(y->inflight, (uint64_t)-1);
        }
        curl_easy_cleanup(x->easy);
        free(x->body);
    }
    curl_multi_cleanup(y->multi);
    curl_slist_free_all(y->headers);
}

static void
young_free(struct detector *det)
{
    struct young *y = (struct young *)det;

    young_stop_engine(y);
    ring_free(y->queue);
    young_cache_free(y->pos);
    young_cache_free(y->neg);
    free(y->done);
    free(y->drained);
    free(y->waiters);
    young_bootstrap_free(y->boot);
    pthread_cond_destroy(&y->cond);
    pthread_mutex_destroy(&y->lock);
    free(y);
}

/* The bootstrap file's path from the config; URLs are refused. */
static int
young_bootstrap_path(const struct config_young *c, char *path, size_t len,
                     char *err, size_t errlen)
{
    if (strncasecmp(c->rdap_bootstrap, "http://", 7) == 0 ||
        strncasecmp(c->rdap_bootstrap, "https://", 8) == 0) {
        snprintf(err, errlen, "young: rdapBootstrap must be a file (got"
                 " a URL; scripts/refresh_rdap_bootstrap.sh fetches it)");
        return -EINVAL;
    }
    if (c->rdap_bootstrap[0] != '\0') {
        snprintf(path, len, "%s", c->rdap_bootstrap);
        return 0;
    }
    if (datadir_path(YOUNG_BOOTSTRAP_FILE, path, len) != 0) {
        snprintf(err, errlen, "young: data path too long for %s",
                 YOUNG_BOOTSTRAP_FILE);
        return -ENAMETOOLONG;
    }
    return 0;
}

static struct young *
young_alloc(const struct config_young *c)
{
    struct young *y = calloc(1, sizeof(*y));
    pthread_condattr_t attr;

    if (y == NULL) {
        return NULL;
    }
    y->base.name = "youngDomain";
    y->base.check = young_check;
    y->base.explain = young_explain;
    y->base.poll = young_poll;
    y->base.free = young_free;
    y->threshold_days = c->threshold_days;
    pthread_mutex_init(&y->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&y->cond, &attr);
    pthread_condattr_destroy(&attr);
    young_metrics(y);
    return y;
}

struct detector *
young_create(const struct config *cfg, char *err, size_t errlen)
{
    const struct config_young *c = &cfg->young_domain;
    char path[CONFIG_NAME_MAX + 64];
    struct young *y;

    if (!(c->rate_limit > 0)) {
        snprintf(err, errlen, "young: rateLimit must be above 0");
        return NULL;
    }
    if (young_bootstrap_path(c, path, sizeof(path), err, errlen) != 0) {
        return NULL;
    }
    if ((y = young_alloc(c)) == NULL) {
        snprintf(err, errlen, "young: out of memory");
        return NULL;
    }
    y->boot = young_bootstrap_load(path, err, errlen);
    if (y->boot == NULL ||
        young_start_engine(y, c->rate_limit, err, errlen) != 0) {
        young_free(&y->base);
        return NULL;
    }
    log_info("youngDomain ready", "bootstrap=%s tlds=%zu rate=%g",
             path, young_bootstrap_size(y->boot), c->rate_limit);
    return &y->base;
}

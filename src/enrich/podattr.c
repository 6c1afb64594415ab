/*
 * podattr.c - Pod index, resolver cache, lookup queue and the resolver
 * thread.
 *
 * Locks: index_lock guards the index; lock guards the cache, the queue,
 * stop and the down state.  Neither is held across a call or any I/O,
 * so the pipeline thread waits at most for a table update.
 */
#include "enrich/podattr.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

#define PODATTR_MS 1000000ull
/* Failures in a row before the resolver counts as down. */
#define PODATTR_DOWN_AFTER 3u
#define PODATTR_DOWN_BASE_MS 1000u
#define PODATTR_DOWN_CAP_MS 30000u
/* A queued key's pending mark lasts at most this long. */
#define PODATTR_PENDING_MS 10000u

enum podattr_outcome {
    PODATTR_INDEX_HIT, PODATTR_CACHE_HIT, PODATTR_MISS, PODATTR_FOUND,
    PODATTR_UNRESOLVED, PODATTR_ERROR, PODATTR_TIMEOUT, PODATTR_DOWN,
    PODATTR_QUEUE_FULL, PODATTR_OUTCOMES
};

static const char *const podattr_outcome_names[PODATTR_OUTCOMES] = {
    "index_hit", "cache_hit", "miss", "found", "unresolved", "error",
    "timeout", "down", "queue_full",
};

struct podattr {
    struct podattr_options opt;

    pthread_mutex_t index_lock;
    struct podtable *index;

    pthread_mutex_t lock;
    pthread_cond_t cond;           /* queue not empty, or stop */
    struct podtable *cache;
    struct podtable_key *queue;    /* ring of opt.queue_capacity keys */
    size_t qhead, qlen;
    bool stop;
    unsigned fails;                /* failed lookups in a row */
    uint64_t down_until;           /* monotonic ns; 0 when up */

    struct resolver *resolver;     /* NULL with a test lookup */
    pthread_t thread;
    bool thread_started;

    struct metrics_series *outcome[PODATTR_OUTCOMES];
    struct metrics_series *inflight;
    struct metrics_series *index_entries, *index_refused;
    struct metrics_series *cache_entries, *cache_evicted;
};

static struct metrics_series *
podattr_outcome_series(unsigned i)
{
    char labels[48];

    snprintf(labels, sizeof(labels), "outcome=\"%s\"",
             podattr_outcome_names[i]);
    return metrics_counter("ugallu_dns_resolver_lookups_total", labels,
                           "Pod attribution: events by where their pod was"
                           " found, resolver lookups by outcome.");
}

void
podattr_register_metrics(void)
{
    for (unsigned i = 0; i < PODATTR_OUTCOMES; i++) {
        podattr_outcome_series(i);
    }
    metrics_gauge("ugallu_dns_inflight_lookups", "",
                  "Asynchronous lookups in flight.");
}

static void
podattr_metrics(struct podattr *pa)
{
    for (unsigned i = 0; i < PODATTR_OUTCOMES; i++) {
        pa->outcome[i] = podattr_outcome_series(i);
    }
    pa->inflight = metrics_gauge("ugallu_dns_inflight_lookups", "",
                                 "Asynchronous lookups in flight.");
    pa->index_entries = metrics_gauge("ugallu_dns_pod_index_entries", "",
        "Pod addresses in the Pod index of this node.");
    pa->index_refused = metrics_counter("ugallu_dns_pod_index_refused_total",
        "", "Pod addresses left out of a full Pod index.");
    pa->cache_entries = metrics_gauge("ugallu_dns_resolver_cache_entries",
        "", "Resolver answers cached.");
    pa->cache_evicted = metrics_counter(
        "ugallu_dns_resolver_cache_evictions_total", "",
        "Resolver answers dropped early from the full cache.");
}

static void
podattr_count(struct podattr *pa, enum podattr_outcome o)
{
    metrics_inc(pa->outcome[o]);
}

static void
podattr_defaults(struct podattr_options *o)
{
    o->index_capacity = o->index_capacity ? o->index_capacity
                                          : PODATTR_INDEX_CAPACITY;
    o->cache_capacity = o->cache_capacity ? o->cache_capacity
                                          : PODATTR_CACHE_CAPACITY;
    o->queue_capacity = o->queue_capacity ? o->queue_capacity
                                          : PODATTR_QUEUE_CAPACITY;
    o->found_ttl_ms = o->found_ttl_ms ? o->found_ttl_ms
                                      : PODATTR_FOUND_TTL_MS;
    o->negative_ttl_ms = o->negative_ttl_ms ? o->negative_ttl_ms
                                            : PODATTR_NEGATIVE_TTL_MS;
    o->error_ttl_ms = o->error_ttl_ms ? o->error_ttl_ms
                                      : PODATTR_ERROR_TTL_MS;
    o->ro.timeout_ms = o->ro.timeout_ms ? o->ro.timeout_ms
                                        : PODATTR_TIMEOUT_MS;
}

/* ---- the event path ---------------------------------------------------- */

static void
podattr_fill(struct event *ev, const struct podtable_pod *pod)
{
    snprintf(ev->pod_namespace, sizeof(ev->pod_namespace), "%s",
             pod->namespace_);
    snprintf(ev->pod_name, sizeof(ev->pod_name), "%s", pod->name);
    snprintf(ev->pod_uid, sizeof(ev->pod_uid), "%s", pod->uid);
}

/* Step 1: the Pod index.  Returns 1 when it knew the client. */
static int
podattr_from_index(struct podattr *pa, struct event *ev, uint64_t now)
{
    struct podtable_key k;
    const struct podtable_entry *e;
    int hit = 0;

    if (podtable_key_ip(&k, &ev->client) != 0) {
        return 0;
    }
    pthread_mutex_lock(&pa->index_lock);
    e = podtable_get(pa->index, &k, now);
    if (e != NULL && e->state == PODTABLE_POD) {
        podattr_fill(ev, &e->pod);
        hit = 1;
    }
    pthread_mutex_unlock(&pa->index_lock);
    return hit;
}

/* Queue k and mark it pending; lock held.  Returns 0 or -ENOSPC. */
static int
podattr_enqueue(struct podattr *pa, const struct podtable_key *k,
                uint64_t now)
{
    size_t cap = pa->opt.queue_capacity;

    if (pa->qlen == cap) {
        return -ENOSPC;
    }
    if (podtable_put(pa->cache, k, PODTABLE_PENDING, NULL,
                     now + PODATTR_PENDING_MS * PODATTR_MS, now, 1) == 1) {
        metrics_inc(pa->cache_evicted);
    }
    pa->queue[(pa->qhead + pa->qlen) % cap] = *k;
    pa->qlen++;
    metrics_add(pa->inflight, 1);
    pthread_cond_signal(&pa->cond);
    return 0;
}

/* Step 2: the cache, and a lookup queued on a miss.  Returns 1 on a hit
 * with a pod. */
static int
podattr_from_cache(struct podattr *pa, struct event *ev, uint64_t now)
{
    struct podtable_key k;
    const struct podtable_entry *e;
    int hit = 0, full = 0;

    if (podtable_key_cgroup(&k, ev->cgroup_id) != 0 &&
        podtable_key_ip(&k, &ev->client) != 0) {
        return 0;
    }
    pthread_mutex_lock(&pa->lock);
    e = podtable_get(pa->cache, &k, now);
    if (e != NULL && e->state == PODTABLE_POD) {
        podattr_fill(ev, &e->pod);
        hit = 1;
    } else if (e == NULL) {
        full = podattr_enqueue(pa, &k, now) != 0;
    }
    pthread_mutex_unlock(&pa->lock);
    if (full) {
        podattr_count(pa, PODATTR_QUEUE_FULL);
    }
    return hit;
}

void
podattr_enrich(struct podattr *pa, struct event *ev)
{
    uint64_t now;

    if (ev->pod_name[0] != '\0') {
        return;
    }
    now = clock_ns(CLOCK_MONOTONIC);
    if (podattr_from_index(pa, ev, now)) {
        podattr_count(pa, PODATTR_INDEX_HIT);
    } else if (pa->opt.resolver && podattr_from_cache(pa, ev, now)) {
        podattr_count(pa, PODATTR_CACHE_HIT);
    } else {
        podattr_count(pa, PODATTR_MISS);
    }
}

/* ---- the Pod index ----------------------------------------------------- */

int
podattr_index_set(struct podattr *pa, const struct podtable_pod *pod,
                  const struct event_addr *ips, size_t n)
{
    struct podtable_key k;
    int rc = 0;

    pthread_mutex_lock(&pa->index_lock);
    podtable_del_uid(pa->index, pod->uid);
    for (size_t i = 0; i < n; i++) {
        if (podtable_key_ip(&k, &ips[i]) == 0 &&
            podtable_put(pa->index, &k, PODTABLE_POD, pod, 0, 0, 0) < 0) {
            metrics_inc(pa->index_refused);
            rc = -ENOSPC;
        }
    }
    metrics_set(pa->index_entries, (int64_t)podtable_count(pa->index));
    pthread_mutex_unlock(&pa->index_lock);
    return rc;
}

void
podattr_index_remove(struct podattr *pa, const char *uid)
{
    pthread_mutex_lock(&pa->index_lock);
    podtable_del_uid(pa->index, uid);
    metrics_set(pa->index_entries, (int64_t)podtable_count(pa->index));
    pthread_mutex_unlock(&pa->index_lock);
}

void
podattr_index_clear(struct podattr *pa)
{
    pthread_mutex_lock(&pa->index_lock);
    podtable_clear(pa->index);
    metrics_set(pa->index_entries, 0);
    pthread_mutex_unlock(&pa->index_lock);
}

/* ---- the resolver thread ----------------------------------------------- */

/* Take the next key, waiting; returns 0 when stopping. */
static int
podattr_next(struct podattr *pa, struct podtable_key *k, uint64_t *down)
{
    int got = 0;

    pthread_mutex_lock(&pa->lock);
    while (!pa->stop && pa->qlen == 0) {
        pthread_cond_wait(&pa->cond, &pa->lock);
    }
    if (!pa->stop) {
        *k = pa->queue[pa->qhead];
        pa->qhead = (pa->qhead + 1) % pa->opt.queue_capacity;
        pa->qlen--;
        *down = pa->down_until;
        got = 1;
    }
    pthread_mutex_unlock(&pa->lock);
    return got;
}

static int
podattr_call(struct podattr *pa, const struct podtable_key *k,
             struct resolver_answer *ans, const char **via)
{
    if (pa->opt.lookup != NULL) {
        return pa->opt.lookup(pa->opt.lookup_ctx, k, ans, via);
    }
    return resolver_lookup(pa->resolver, k, ans, via);
}

static enum podattr_outcome
podattr_outcome_of(int rc, const struct resolver_answer *ans)
{
    if (rc == 0) {
        return ans->unresolved ? PODATTR_UNRESOLVED : PODATTR_FOUND;
    }
    return rc == -ETIMEDOUT ? PODATTR_TIMEOUT : PODATTR_ERROR;
}

static const char *
podattr_reason(int rc)
{
    switch (rc) {
    case -ETIMEDOUT: return "deadline exceeded";
    case -ECONNREFUSED: return "unavailable (not listening, TLS refused"
                               " or the resolver is down)";
    case -EPROTO: return "error status";
    case -EBADMSG: return "reply does not decode";
    default: return strerror(-rc);
    }
}

/* Log the resolver going down or coming back, once per change. */
static void
podattr_health(struct podattr *pa, enum podattr_outcome o, int rc,
               const char *via, uint64_t now)
{
    unsigned shift;

    if (o == PODATTR_FOUND || o == PODATTR_UNRESOLVED) {
        if (pa->fails >= PODATTR_DOWN_AFTER) {
            log_info("resolver answering again", "via=%s", via);
        }
        pa->fails = 0;
        pa->down_until = 0;
        return;
    }
    if (++pa->fails < PODATTR_DOWN_AFTER) {
        return;
    }
    shift = pa->fails - PODATTR_DOWN_AFTER;
    shift = shift > 5 ? 5 : shift;
    pa->down_until = now + (uint64_t)PODATTR_DOWN_BASE_MS * PODATTR_MS
                                 * (1u << shift);
    if (pa->down_until > now + PODATTR_DOWN_CAP_MS * PODATTR_MS) {
        pa->down_until = now + PODATTR_DOWN_CAP_MS * PODATTR_MS;
    }
    if (pa->fails == PODATTR_DOWN_AFTER) {
        log_warn("resolver not answering, clients stay unattributed",
                 "via=%s error=\"%s\" retry_ms=%llu", via,
                 podattr_reason(rc),
                 (unsigned long long)((pa->down_until - now) / PODATTR_MS));
    }
}

/* Cache what one lookup said; lock held. */
static void
podattr_store(struct podattr *pa, const struct podtable_key *k,
              enum podattr_outcome o, const struct resolver_answer *ans,
              uint64_t now)
{
    unsigned ttl = o == PODATTR_FOUND        ? pa->opt.found_ttl_ms
                   : o == PODATTR_UNRESOLVED ? pa->opt.negative_ttl_ms
                                             : pa->opt.error_ttl_ms;
    enum podtable_state st = o == PODATTR_FOUND ? PODTABLE_POD
                                                : PODTABLE_NONE;

    if (o == PODATTR_FOUND && ans->tombstone) {
        ttl = pa->opt.negative_ttl_ms;   /* the address may be reused */
    }
    if (podtable_put(pa->cache, k, st, &ans->pod,
                     now + (uint64_t)ttl * PODATTR_MS, now, 1) == 1) {
        metrics_inc(pa->cache_evicted);
    }
    metrics_set(pa->cache_entries, (int64_t)podtable_count(pa->cache));
}

/* One queued key: a call (unless the resolver is down), then the cache. */
static void
podattr_resolve(struct podattr *pa, const struct podtable_key *k,
                uint64_t down_until)
{
    struct resolver_answer ans;
    const char *via = "none";
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    enum podattr_outcome o = PODATTR_DOWN;
    int rc = -ECONNREFUSED;

    memset(&ans, 0, sizeof(ans));
    if (down_until <= now) {
        rc = podattr_call(pa, k, &ans, &via);
        o = podattr_outcome_of(rc, &ans);
        if (rc == -EBADMSG) {
            metrics_malformed("resolver_response");
        }
        now = clock_ns(CLOCK_MONOTONIC);
    }
    podattr_count(pa, o);

    pthread_mutex_lock(&pa->lock);
    if (o != PODATTR_DOWN) {
        podattr_health(pa, o, rc, via, now);
    }
    podattr_store(pa, k, o, &ans, now);
    pthread_mutex_unlock(&pa->lock);
    metrics_add(pa->inflight, (uint64_t)-1);
}

static void *
podattr_main(void *arg)
{
    struct podattr *pa = arg;
    struct podtable_key k;
    uint64_t down_until;

    while (podattr_next(pa, &k, &down_until)) {
        podattr_resolve(pa, &k, down_until);
    }
    return NULL;
}

/* ---- life -------------------------------------------------------------- */

static int
podattr_alloc(struct podattr *pa)
{
    pa->index = podtable_create(pa->opt.index_capacity);
    pa->cache = podtable_create(pa->opt.cache_capacity);
    pa->queue = calloc(pa->opt.queue_capacity, sizeof(*pa->queue));
    if (pa->index == NULL || pa->cache == NULL || pa->queue == NULL) {
        return -ENOMEM;
    }
    if (pa->opt.resolver && pa->opt.lookup == NULL) {
        pa->resolver = resolver_new(&pa->opt.ro);
        if (pa->resolver == NULL) {
            return -EINVAL;
        }
    }
    return 0;
}

int
podattr_create(const struct podattr_options *o, struct podattr **out)
{
    struct podattr *pa = calloc(1, sizeof(*pa));
    int rc;

    if (pa == NULL) {
        return -ENOMEM;
    }
    pa->opt = *o;
    podattr_defaults(&pa->opt);
    pthread_mutex_init(&pa->index_lock, NULL);
    pthread_mutex_init(&pa->lock, NULL);
    pthread_cond_init(&pa->cond, NULL);
    podattr_metrics(pa);

    rc = podattr_alloc(pa);
    if (rc == 0 && pa->opt.resolver) {
        rc = -pthread_create(&pa->thread, NULL, podattr_main, pa);
        pa->thread_started = rc == 0;
    }
    if (rc != 0) {
        podattr_free(pa);
        return rc;
    }
    *out = pa;
    return 0;
}

void
podattr_free(struct podattr *pa)
{
    if (pa == NULL) {
        return;
    }
    pthread_mutex_lock(&pa->lock);
    pa->stop = true;
    pthread_cond_broadcast(&pa->cond);
    pthread_mutex_unlock(&pa->lock);
    if (pa->resolver != NULL) {
        resolver_cancel(pa->resolver);
    }
    if (pa->thread_started) {
        pthread_join(pa->thread, NULL);
    }
    metrics_add(pa->inflight, (uint64_t)-(int64_t)pa->qlen);
    resolver_free(pa->resolver);
    podtable_free(pa->index);
    podtable_free(pa->cache);
    free(pa->queue);
    pthread_cond_destroy(&pa->cond);
    pthread_mutex_destroy(&pa->lock);
    pthread_mutex_destroy(&pa->index_lock);
    free(pa);
}

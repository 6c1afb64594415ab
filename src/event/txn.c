/*
 * txn.c - query/response matching with a fixed pool of entries.
 *
 * Entries live in one array.  Each sits on a hash chain (by key) and on an
 * age list (by arrival), both threaded through indexes, so insert, match
 * and expiry are O(1) apart from short chain walks, and nothing is
 * allocated after creation.
 */
#include "event/txn.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/metrics.h"

#define TXN_NIL UINT32_MAX

struct txn_entry {
    struct event ev;
    uint64_t hash;
    uint32_t chain;      /* next in hash bucket */
    uint32_t older;      /* age list neighbours */
    uint32_t newer;
};

struct txn {
    struct txn_entry *entries;
    uint32_t *buckets;
    uint32_t mask;
    uint32_t free_head;  /* free entries chained through .chain */
    uint32_t oldest;
    uint32_t newest;
    size_t used;
    uint64_t hold_ns;
    uint64_t watermark;
    event_emit_fn *emit;
    void *ctx;
    struct metrics_series *full;
};

static uint64_t
txn_key(const struct event *ev)
{
    uint64_t h = HASH_FNV_OFFSET;

    h = hash_bytes(h, &ev->role, 1);
    h = hash_bytes(h, &ev->client, sizeof(ev->client));
    h = hash_bytes(h, &ev->client_port, 2);
    h = hash_bytes(h, &ev->id, 2);
    h = hash_bytes(h, &ev->qtype, 2);
    return hash_bytes(h, ev->qname, ev->qname_len);
}

static int
txn_same(const struct event *a, const struct event *b)
{
    return a->role == b->role && a->client_port == b->client_port &&
           a->id == b->id && a->qtype == b->qtype &&
           a->qname_len == b->qname_len &&
           memcmp(&a->client, &b->client, sizeof(a->client)) == 0 &&
           memcmp(a->qname, b->qname, a->qname_len) == 0;
}

static size_t
txn_pow2(size_t n)
{
    size_t p = 16;

    while (p < n) {
        p <<= 1;
    }
    return p;
}

struct txn *
txn_create(size_t capacity, uint64_t hold_ns, event_emit_fn *emit,
           void *ctx)
{
    size_t cap = txn_pow2(capacity);
    struct txn *t = calloc(1, sizeof(*t));

    if (t == NULL || cap > TXN_NIL) {
        free(t);
        return NULL;
    }
    t->entries = calloc(cap, sizeof(*t->entries));
    t->buckets = malloc(cap * sizeof(*t->buckets));
    if (t->entries == NULL || t->buckets == NULL) {
        txn_free(t);
        return NULL;
    }

    memset(t->buckets, 0xff, cap * sizeof(*t->buckets));
    for (size_t i = 0; i < cap; i++) {
        t->entries[i].chain = i + 1 < cap ? (uint32_t)(i + 1) : TXN_NIL;
    }
    t->mask = (uint32_t)(cap - 1);
    t->oldest = t->newest = TXN_NIL;
    t->hold_ns = hold_ns;
    t->emit = emit;
    t->ctx = ctx;
    t->full = metrics_counter("ugallu_dns_events_dropped_total",
                              "reason=\"txn_full\"",
                              "Events dropped, by reason.");
    return t;
}

void
txn_free(struct txn *t)
{
    if (t != NULL) {
        free(t->entries);
        free(t->buckets);
        free(t);
    }
}

size_t
txn_pending(const struct txn *t)
{
    return t->used;
}

/* Take entry i off its hash chain and the age list, and free it. */
static void
txn_unlink(struct txn *t, uint32_t i)
{
    struct txn_entry *e = &t->entries[i];
    uint32_t *link = &t->buckets[e->hash & t->mask];

    while (*link != i) {
        link = &t->entries[*link].chain;
    }
    *link = e->chain;

    if (e->older != TXN_NIL) {
        t->entries[e->older].newer = e->newer;
    } else {
        t->oldest = e->newer;
    }
    if (e->newer != TXN_NIL) {
        t->entries[e->newer].older = e->older;
    } else {
        t->newest = e->older;
    }

    e->chain = t->free_head;
    t->free_head = i;
    t->used--;
}

/* Emit the oldest entry as it is (unanswered when it is a query). */
static void
txn_release_oldest(struct txn *t)
{
    uint32_t i = t->oldest;
    struct event ev = t->entries[i].ev;

    txn_unlink(t, i);
    if (!(ev.flags & EVENT_F_RESPONSE)) {
        ev.flags |= EVENT_F_UNANSWERED;
    }
    t->emit(t->ctx, &ev);
}

static void
txn_insert(struct txn *t, const struct event *ev, uint64_t hash)
{
    uint32_t i;
    struct txn_entry *e;

    if (t->free_head == TXN_NIL) {
        metrics_inc(t->full);
        txn_release_oldest(t);
    }
    i = t->free_head;
    e = &t->entries[i];
    t->free_head = e->chain;

    e->ev = *ev;
    e->hash = hash;
    e->chain = t->buckets[hash & t->mask];
    t->buckets[hash & t->mask] = i;

    e->older = t->newest;
    e->newer = TXN_NIL;
    if (t->newest != TXN_NIL) {
        t->entries[t->newest].newer = i;
    } else {
        t->oldest = i;
    }
    t->newest = i;
    t->used++;
}

/* Copy the response side of r into q, the query side of a pair. */
static void
txn_merge(struct event *q, const struct event *r)
{
    uint64_t rtime = r->response_ns != 0 ? r->response_ns : r->time_ns;

    q->flags |= r->flags & (EVENT_F_RESPONSE | EVENT_F_TRUNCATED |
                            EVENT_F_EDNS);
    q->response_ns = rtime;
    q->response_size = r->response_size;
    q->answer_bytes = r->answer_bytes;
    q->dns_flags = r->dns_flags;
    q->rcode = r->rcode;
    q->ancount = r->ancount;
    q->nscount = r->nscount;
    q->arcount = r->arcount;
    q->answer_count = r->answer_count;
    memcpy(q->answers, r->answers, sizeof(q->answers));
    if (r->edns_udp_size != 0) {
        q->edns_udp_size = r->edns_udp_size;
    }
    if (q->server.family == 0) {
        q->server = r->server;
        q->server_port = r->server_port;
    }
    if (rtime >= q->time_ns && q->time_ns != 0) {
        q->latency_ns = rtime - q->time_ns;
        q->flags |= EVENT_F_LATENCY;
    }
}

/* Find a waiting entry that pairs with ev (the other side). */
static uint32_t
txn_find_pair(const struct txn *t, const struct event *ev, uint64_t hash)
{
    uint32_t want = (ev->flags & EVENT_F_RESPONSE) ? 0 : EVENT_F_RESPONSE;

    for (uint32_t i = t->buckets[hash & t->mask]; i != TXN_NIL;
         i = t->entries[i].chain) {
        const struct txn_entry *e = &t->entries[i];
        if (e->hash == hash && (e->ev.flags & EVENT_F_RESPONSE) == want &&
            txn_same(&e->ev, ev)) {
            return i;
        }
    }
    return TXN_NIL;
}

static void
txn_pair(struct txn *t, uint32_t i, const struct event *ev)
{
    struct event out;

    if (ev->flags & EVENT_F_RESPONSE) {
        out = t->entries[i].ev;
        txn_merge(&out, ev);
    } else {
        out = *ev;
        txn_merge(&out, &t->entries[i].ev);
    }
    txn_unlink(t, i);
    t->emit(t->ctx, &out);
}

static int
txn_is_partial(const struct event *ev)
{
    uint32_t sides = ev->flags & (EVENT_F_QUERY | EVENT_F_RESPONSE);

    return ev->kind == EVENT_KIND_DNS && (ev->flags & EVENT_F_QUESTION) &&
           sides != (EVENT_F_QUERY | EVENT_F_RESPONSE) && sides != 0;
}

void
txn_add(struct txn *t, const struct event *ev)
{
    uint64_t hash;
    uint32_t i;

    if (ev->time_ns > t->watermark) {
        t->watermark = ev->time_ns;
    }
    if (!txn_is_partial(ev)) {
        t->emit(t->ctx, ev);
        txn_expire(t, t->watermark);
        return;
    }

    hash = txn_key(ev);
    i = txn_find_pair(t, ev, hash);
    if (i != TXN_NIL) {
        txn_pair(t, i, ev);
    } else {
        txn_insert(t, ev, hash);
    }
    txn_expire(t, t->watermark);
}

void
txn_expire(struct txn *t, uint64_t now_ns)
{
    while (t->oldest != TXN_NIL) {
        uint64_t at = t->entries[t->oldest].ev.time_ns;
        if (at + t->hold_ns >= now_ns) {
            break;
        }
        txn_release_oldest(t);
    }
}

void
txn_flush(struct txn *t)
{
    while (t->oldest != TXN_NIL) {
        txn_release_oldest(t);
    }
}

/*
 * podtable.c - the set-associative key-to-pod table.
 */
#include "enrich/podtable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

struct podtable {
    size_t nbuckets;               /* a power of two */
    size_t used;                   /* entries not PODTABLE_EMPTY */
    uint64_t seq;                  /* last insertion number handed out */
    struct podtable_entry *slots;  /* nbuckets * PODTABLE_WAYS */
};

struct podtable *
podtable_create(size_t capacity)
{
    struct podtable *t = calloc(1, sizeof(*t));
    size_t n = 1;

    if (t == NULL) {
        return NULL;
    }
    while (n * PODTABLE_WAYS < capacity) {
        n *= 2;
    }
    t->nbuckets = n;
    t->slots = calloc(n * PODTABLE_WAYS, sizeof(*t->slots));
    if (t->slots == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void
podtable_free(struct podtable *t)
{
    if (t != NULL) {
        free(t->slots);
        free(t);
    }
}

int
podtable_key_ip(struct podtable_key *k, const struct event_addr *a)
{
    memset(k, 0, sizeof(*k));
    if (a->family != 4 && a->family != 6) {
        return -EINVAL;
    }
    k->kind = PODTABLE_IP;
    k->family = a->family;
    memcpy(k->bytes, a->bytes, a->family == 4 ? 4 : 16);
    return 0;
}

int
podtable_key_cgroup(struct podtable_key *k, uint64_t cgroup_id)
{
    memset(k, 0, sizeof(*k));
    if (cgroup_id == 0) {
        return -EINVAL;
    }
    k->kind = PODTABLE_CGROUP;
    for (unsigned i = 0; i < 8; i++) {
        k->bytes[i] = (uint8_t)(cgroup_id >> (8 * i));
    }
    return 0;
}

int
podtable_key_eq(const struct podtable_key *a, const struct podtable_key *b)
{
    return a->kind == b->kind && a->family == b->family &&
           memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* FNV-1a over the key, then a final mix so low bits spread. */
static struct podtable_entry *
podtable_bucket(const struct podtable *t, const struct podtable_key *k)
{
    uint64_t h = hash_bytes(HASH_FNV_OFFSET, k, sizeof(*k));

    h ^= h >> 29;
    return &t->slots[(h & (t->nbuckets - 1)) * PODTABLE_WAYS];
}

static int
podtable_live(const struct podtable_entry *e, uint64_t now_ns)
{
    return e->key.kind != PODTABLE_EMPTY &&
           (e->expires_ns == 0 || e->expires_ns > now_ns);
}

const struct podtable_entry *
podtable_get(const struct podtable *t, const struct podtable_key *k,
             uint64_t now_ns)
{
    const struct podtable_entry *b = podtable_bucket(t, k);

    for (unsigned i = 0; i < PODTABLE_WAYS; i++) {
        if (podtable_key_eq(&b[i].key, k)) {
            return podtable_live(&b[i], now_ns) ? &b[i] : NULL;
        }
    }
    return NULL;
}

/*
 * Where k goes in bucket b: its own entry, else a free or expired one,
 * else (evict) the oldest, else NULL.
 */
static struct podtable_entry *
podtable_slot(struct podtable_entry *b, const struct podtable_key *k,
              uint64_t now_ns, int evict)
{
    struct podtable_entry *free_e = NULL, *oldest = &b[0];

    for (unsigned i = 0; i < PODTABLE_WAYS; i++) {
        if (podtable_key_eq(&b[i].key, k)) {
            return &b[i];
        }
        if (free_e == NULL && !podtable_live(&b[i], now_ns)) {
            free_e = &b[i];
        }
        if (b[i].seq < oldest->seq) {
            oldest = &b[i];
        }
    }
    if (free_e != NULL) {
        return free_e;
    }
    return evict ? oldest : NULL;
}

int
podtable_put(struct podtable *t, const struct podtable_key *k,
             enum podtable_state state, const struct podtable_pod *pod,
             uint64_t expires_ns, uint64_t now_ns, int evict)
{
    struct podtable_entry *e = podtable_slot(podtable_bucket(t, k), k,
                                             now_ns, evict);

    int evicted;

    if (e == NULL) {
        return -ENOSPC;
    }
    evicted = podtable_live(e, now_ns) && !podtable_key_eq(&e->key, k);
    if (e->key.kind == PODTABLE_EMPTY) {
        t->used++;
    }
    e->key = *k;
    e->state = (uint8_t)state;
    e->expires_ns = expires_ns;
    e->seq = ++t->seq;
    if (pod != NULL && state == PODTABLE_POD) {
        e->pod = *pod;
    } else {
        memset(&e->pod, 0, sizeof(e->pod));
    }
    return evicted;
}

static void
podtable_clear_entry(struct podtable *t, struct podtable_entry *e)
{
    memset(e, 0, sizeof(*e));
    t->used--;
}

void
podtable_del(struct podtable *t, const struct podtable_key *k)
{
    struct podtable_entry *b = podtable_bucket(t, k);

    for (unsigned i = 0; i < PODTABLE_WAYS; i++) {
        if (podtable_key_eq(&b[i].key, k)) {
            podtable_clear_entry(t, &b[i]);
            return;
        }
    }
}

size_t
podtable_del_uid(struct podtable *t, const char *uid)
{
    size_t n = 0, all = t->nbuckets * PODTABLE_WAYS;

    for (size_t i = 0; i < all && uid[0] != '\0'; i++) {
        struct podtable_entry *e = &t->slots[i];

        if (e->key.kind != PODTABLE_EMPTY && e->state == PODTABLE_POD &&
            strcmp(e->pod.uid, uid) == 0) {
            podtable_clear_entry(t, e);
            n++;
        }
    }
    return n;
}

void
podtable_clear(struct podtable *t)
{
    memset(t->slots, 0, t->nbuckets * PODTABLE_WAYS * sizeof(*t->slots));
    t->used = 0;
}

size_t
podtable_count(const struct podtable *t)
{
    return t->used;
}

size_t
podtable_capacity(const struct podtable *t)
{
    return t->nbuckets * PODTABLE_WAYS;
}

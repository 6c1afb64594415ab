/*
 * podattr.h - pod attribution of DNS clients, without ever blocking
 * detection.
 *
 * The pipeline calls podattr_enrich() once per event before the
 * detectors.  The answer comes from memory only:
 *   1. the Pod index, an IP-to-pod table that podwatch fills from the
 *      Pods of this node (cluster mode);
 *   2. a bounded cache of the ugallu resolver's answers, positive and
 *      negative, each with its TTL.
 * On a miss the event goes on unattributed (subject External, "ip-<addr>")
 * and, when the resolver is on, a lookup is queued (a bounded queue; one
 * lookup per key at a time; overflow counted) for the resolver thread,
 * which calls the resolver with a short deadline and fills the cache for
 * the events that follow.  The key is the event's cgroup id when the
 * source knows it (ResolveByCgroupID), else its client address.
 *
 * After repeated failures the resolver is taken as down for a backoff
 * (1 s doubling to 30 s): queued lookups are then answered "down"
 * without a call, so a dead or hanging resolver costs one deadline per
 * few lookups, not one per lookup.
 *
 * Known shortcomings: an event with a cgroup id is looked up by cgroup id
 * only (an unresolved cgroup is not retried by address); the sizes, TTLs
 * and the deadline are the fixed defaults below, with no flag to change
 * them.
 *
 * Metrics: ugallu_dns_resolver_lookups_total{outcome} with, per event,
 * index_hit, cache_hit and miss (unattributed), and per lookup found,
 * unresolved, error, timeout, down and queue_full (refused by the full
 * queue); lookups queued or running are added to the gauge
 * ugallu_dns_inflight_lookups (shared with youngDomain's RDAP lookups);
 * ugallu_dns_pod_index_entries, ugallu_dns_pod_index_refused_total (a
 * full index bucket), ugallu_dns_resolver_cache_entries and
 * ugallu_dns_resolver_cache_evictions_total.
 */
#ifndef DD_PODATTR_H
#define DD_PODATTR_H

#include <stddef.h>
#include <stdint.h>

#include "enrich/podtable.h"
#include "enrich/resolver.h"
#include "event/event.h"

/* Defaults of struct podattr_options (0 there means these). */
#define PODATTR_INDEX_CAPACITY 8192
#define PODATTR_CACHE_CAPACITY 4096
#define PODATTR_QUEUE_CAPACITY 256
#define PODATTR_FOUND_TTL_MS 60000u
#define PODATTR_NEGATIVE_TTL_MS 10000u
#define PODATTR_ERROR_TTL_MS 2000u
#define PODATTR_TIMEOUT_MS 250u

/*
 * A lookup function in place of the resolver (unit tests): same contract
 * as resolver_lookup().  Called on the resolver thread.
 */
typedef int podattr_lookup_fn(void *ctx, const struct podtable_key *k,
                              struct resolver_answer *out,
                              const char **via);

struct podattr_options {
    int resolver;                  /* 1: ask the resolver on a miss */
    struct resolver_options ro;    /* where (used when lookup is NULL) */
    podattr_lookup_fn *lookup;     /* NULL: the real resolver */
    void *lookup_ctx;
    size_t index_capacity;         /* Pod index entries (IPs) */
    size_t cache_capacity;         /* resolver answers kept */
    size_t queue_capacity;         /* lookups waiting */
    unsigned found_ttl_ms;         /* how long a found pod is kept */
    unsigned negative_ttl_ms;      /* ... an unresolved key */
    unsigned error_ttl_ms;         /* ... a key whose lookup failed */
};

struct podattr;

/*
 * Make the tables and, with o->resolver, start the resolver thread.
 * Returns 0 and *out, -ENOMEM, or -EINVAL (resolver wanted with neither
 * socket nor endpoint).  Main thread.
 */
int podattr_create(const struct podattr_options *o, struct podattr **out);

/* Stop the resolver thread (the running call is cancelled) and free. */
void podattr_free(struct podattr *pa);

/*
 * Fill ev->pod_namespace, pod_name and pod_uid when the client is known;
 * leave them "" otherwise (an event a source already attributed is left
 * alone).  Never waits for I/O.  One thread at a time (the pipeline's).
 */
void podattr_enrich(struct podattr *pa, struct event *ev);

/*
 * The Pod index (podwatch's thread): podattr_index_set() makes the pod
 * uid the owner of exactly the n addresses ips (addresses it held before
 * are forgotten; an address another pod held is taken over).  Returns
 * 0, or -ENOSPC when some address found no room (counted).
 * podattr_index_remove() forgets the pod's addresses; podattr_index_clear()
 * every pod (a relist follows).
 */
int podattr_index_set(struct podattr *pa, const struct podtable_pod *pod,
                      const struct event_addr *ips, size_t n);
void podattr_index_remove(struct podattr *pa, const char *uid);
void podattr_index_clear(struct podattr *pa);

/* Register the metric series above, so that they show before the first
   lookup, whether or not attribution runs.  Any thread. */
void podattr_register_metrics(void);

#endif

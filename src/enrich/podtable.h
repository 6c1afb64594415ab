/*
 * podtable.h - a fixed-size table from a client key (an IP address or a
 * cgroup id) to the pod behind it.
 *
 * The table is set-associative: a key hashes to one bucket of
 * PODTABLE_WAYS entries and lives in one of them, so a lookup reads at
 * most PODTABLE_WAYS entries and an insertion never moves another key.
 * Entries expire at a time the caller gives (0: never); an insertion
 * into a full bucket takes an expired entry, else, when the caller
 * allows eviction, the oldest inserted one, else it is refused.
 *
 * Nothing is allocated after podtable_create() and nothing is locked:
 * the owner serialises every call (podattr holds one mutex per table).
 */
#ifndef DD_PODTABLE_H
#define DD_PODTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

#define PODTABLE_WAYS 8

/* What a key stands for. */
enum podtable_kind {
    PODTABLE_EMPTY = 0,   /* an unused entry */
    PODTABLE_IP = 1,      /* a client address */
    PODTABLE_CGROUP = 2,  /* a cgroup id */
};

/* A lookup key; compare with podtable_key_eq(). */
struct podtable_key {
    uint8_t kind;           /* enum podtable_kind */
    uint8_t family;         /* IP: 4 or 6 */
    uint8_t bytes[16];      /* IP: the address; cgroup: the id, little
                               endian, in the first 8 bytes */
};

/* What an entry says about its key. */
enum podtable_state {
    PODTABLE_POD = 1,       /* a pod is known */
    PODTABLE_NONE = 2,      /* known to have no pod (negative entry) */
    PODTABLE_PENDING = 3,   /* a lookup is queued or running */
};

/* The pod behind a key. */
struct podtable_pod {
    char namespace_[EVENT_POD_NS_MAX];
    char name[EVENT_POD_NAME_MAX];
    char uid[EVENT_POD_UID_MAX];    /* "" when unknown */
};

struct podtable_entry {
    struct podtable_key key;  /* kind PODTABLE_EMPTY when unused */
    uint8_t state;            /* enum podtable_state */
    uint64_t expires_ns;      /* monotonic; 0 never */
    uint64_t seq;             /* insertion order, for eviction */
    struct podtable_pod pod;  /* valid with PODTABLE_POD */
};

struct podtable;

/*
 * A table of at least `capacity` entries (rounded up to a power of two
 * buckets of PODTABLE_WAYS), or NULL when out of memory.
 */
struct podtable *podtable_create(size_t capacity);
void podtable_free(struct podtable *t);

/* Keys from an event's client address and from a cgroup id.  Return 0,
   or -EINVAL when the address family is unknown or the id is 0. */
int podtable_key_ip(struct podtable_key *k, const struct event_addr *a);
int podtable_key_cgroup(struct podtable_key *k, uint64_t cgroup_id);

/* Whether two keys are the same. */
int podtable_key_eq(const struct podtable_key *a,
                    const struct podtable_key *b);

/*
 * The live entry for k at monotonic time now_ns, or NULL (absent or
 * expired).  The pointer is valid until the next change to t.
 */
const struct podtable_entry *podtable_get(const struct podtable *t,
                                          const struct podtable_key *k,
                                          uint64_t now_ns);

/*
 * Set k's entry (replacing the one it has): state, pod (NULL unless
 * state is PODTABLE_POD) and expiry.  With evict 0 a full bucket refuses
 * with -ENOSPC; with evict 1 its oldest entry goes.  Returns 0, 1 when
 * a live entry of another key was evicted, or -ENOSPC.
 */
int podtable_put(struct podtable *t, const struct podtable_key *k,
                 enum podtable_state state, const struct podtable_pod *pod,
                 uint64_t expires_ns, uint64_t now_ns, int evict);

/* Remove k's entry, if any. */
void podtable_del(struct podtable *t, const struct podtable_key *k);

/* Remove every entry of a pod of this uid; returns how many went. */
size_t podtable_del_uid(struct podtable *t, const char *uid);

/* Remove every entry. */
void podtable_clear(struct podtable *t);

/* Entries in use (expired ones included until they are reused). */
size_t podtable_count(const struct podtable *t);

/* Entries in all. */
size_t podtable_capacity(const struct podtable *t);

#endif

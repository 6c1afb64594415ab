/*
 * dgaburst.c - clients in an NXDOMAIN burst, for the dga detector.
 *
 * Each client keeps its names in a small array, not a ring: a name seen
 * again is refreshed in place, a new one takes an empty slot or the one
 * answered longest ago.  A slot older than the window no longer counts.
 * At most DGABURST_SETS * DGABURST_WAYS clients of DGABURST_NAMES names
 * (about 5 MiB, touched only by clients that had a suspicious NXDOMAIN).
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "detectors/dgaburst.h"

struct dgaburst_name {
    uint64_t hash;       /* of the name; 0: empty slot */
    uint64_t seen_ns;    /* when it was last answered NXDOMAIN */
    uint8_t reported;    /* a finding was raised or it was handed out */
    char name[DGABURST_NAME_MAX]; /* "" when too long to keep */
};

struct dgaburst_client {
    struct event_addr client;
    uint8_t used;
    uint64_t last_ns;    /* its latest name */
    struct dgaburst_name names[DGABURST_NAMES];
};

struct dgaburst {
    uint64_t window_ns;
    struct metrics_series *evicted;
    struct dgaburst_client *table;  /* DGABURST_SETS * DGABURST_WAYS */
};

struct dgaburst *
dgaburst_create(uint64_t window_ns, struct metrics_series *evicted)
{
    struct dgaburst *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    b->table = calloc(DGABURST_SETS * DGABURST_WAYS, sizeof(*b->table));
    if (b->table == NULL) {
        free(b);
        return NULL;
    }
    b->window_ns = window_ns;
    b->evicted = evicted;
    return b;
}

void
dgaburst_free(struct dgaburst *b)
{
    if (b != NULL) {
        free(b->table);
        free(b);
    }
}

/* FNV-1a over n bytes, never 0 (0 marks an empty slot). */
static uint64_t
dgaburst_hash(const void *p, size_t n)
{
    uint64_t h = hash_bytes(HASH_FNV_OFFSET, p, n);

    return h != 0 ? h : 1;
}

static int
dgaburst_same(const struct event_addr *a, const struct event_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

/* The set of client's ways. */
static struct dgaburst_client *
dgaburst_set(struct dgaburst *b, const struct event_addr *client)
{
    uint64_t h = dgaburst_hash(client, sizeof(*client));

    return b->table + (h % DGABURST_SETS) * DGABURST_WAYS;
}

/* The client's entry, or NULL. */
static struct dgaburst_client *
dgaburst_find(struct dgaburst *b, const struct event_addr *client)
{
    struct dgaburst_client *ways = dgaburst_set(b, client);

    for (size_t w = 0; w < DGABURST_WAYS; w++) {
        if (ways[w].used && dgaburst_same(&ways[w].client, client)) {
            return &ways[w];
        }
    }
    return NULL;
}

/* The client's entry, made from the way idle longest when new. */
static struct dgaburst_client *
dgaburst_get(struct dgaburst *b, const struct event_addr *client,
             uint64_t now)
{
    struct dgaburst_client *found = dgaburst_find(b, client);
    struct dgaburst_client *ways = dgaburst_set(b, client);
    struct dgaburst_client *victim = &ways[0];

    if (found != NULL) {
        return found;
    }
    for (size_t w = 0; w < DGABURST_WAYS && victim->used; w++) {
        if (!ways[w].used || ways[w].last_ns < victim->last_ns) {
            victim = &ways[w];
        }
    }
    if (victim->used && now < victim->last_ns + b->window_ns &&
        b->evicted != NULL) {
        metrics_inc(b->evicted);
    }
    memset(victim, 0, sizeof(*victim));
    victim->client = *client;
    victim->used = 1;
    return victim;
}

static int
dgaburst_live(const struct dgaburst *b, const struct dgaburst_name *n,
              uint64_t now)
{
    return n->hash != 0 && now < n->seen_ns + b->window_ns;
}

static unsigned
dgaburst_live_count(const struct dgaburst *b,
                    const struct dgaburst_client *c, uint64_t now)
{
    unsigned n = 0;

    for (size_t i = 0; i < DGABURST_NAMES; i++) {
        n += (unsigned)dgaburst_live(b, &c->names[i], now);
    }
    return n;
}

/* The slot of hash in c: its own, an empty one, or the oldest. */
static struct dgaburst_name *
dgaburst_slot(struct dgaburst_client *c, uint64_t hash)
{
    struct dgaburst_name *slot = &c->names[0];

    for (size_t i = 0; i < DGABURST_NAMES; i++) {
        struct dgaburst_name *n = &c->names[i];

        if (n->hash == hash) {
            return n;
        }
        if (slot->hash != 0 &&
            (n->hash == 0 || n->seen_ns < slot->seen_ns)) {
            slot = n;
        }
    }
    return slot;
}

unsigned
dgaburst_note(struct dgaburst *b, const struct event_addr *client,
              const char *name, int reported, uint64_t now_ns)
{
    size_t len = strlen(name);
    uint64_t hash = dgaburst_hash(name, len);
    struct dgaburst_client *c = dgaburst_get(b, client, now_ns);
    struct dgaburst_name *n = dgaburst_slot(c, hash);

    if (n->hash != hash || !dgaburst_live(b, n, now_ns)) {
        n->hash = hash;
        n->reported = 0;
        if (len < sizeof(n->name)) {
            memcpy(n->name, name, len + 1);
        } else {
            n->name[0] = '\0';
        }
    }
    n->seen_ns = now_ns;
    n->reported |= (uint8_t)(reported || n->name[0] == '\0');
    c->last_ns = now_ns;
    return dgaburst_live_count(b, c, now_ns);
}

unsigned
dgaburst_count(struct dgaburst *b, const struct event_addr *client,
               uint64_t now_ns)
{
    const struct dgaburst_client *c = dgaburst_find(b, client);

    return c != NULL ? dgaburst_live_count(b, c, now_ns) : 0;
}

/* The oldest live name of c not yet reported, or NULL. */
static struct dgaburst_name *
dgaburst_oldest(const struct dgaburst *b, struct dgaburst_client *c,
                uint64_t now)
{
    struct dgaburst_name *best = NULL;

    for (size_t i = 0; i < DGABURST_NAMES; i++) {
        struct dgaburst_name *n = &c->names[i];

        if (dgaburst_live(b, n, now) && !n->reported &&
            (best == NULL || n->seen_ns < best->seen_ns)) {
            best = n;
        }
    }
    return best;
}

void
dgaburst_take(struct dgaburst *b, const struct event_addr *client,
              uint64_t now_ns, dgaburst_name_fn *fn, void *ctx)
{
    struct dgaburst_client *c = dgaburst_find(b, client);
    struct dgaburst_name *n;

    while (c != NULL && (n = dgaburst_oldest(b, c, now_ns)) != NULL) {
        n->reported = 1;
        fn(ctx, n->name, n->seen_ns);
    }
}

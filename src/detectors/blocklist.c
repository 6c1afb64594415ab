/*
 * blocklist.c - the blocklist index and the blocklist detector.
 *
 * Each entry is one record in the arena: its key length, its flags, "*."
 * when it was first listed as a wildcard, the key (the name without
 * "*."), and a NUL, so the entry can be handed out as a C string.  Keys
 * are hashed from their last byte to their first, so one pass from the
 * end of a query name yields the hash of each of its suffixes in turn.
 *
 * A set is one index per kind (block, allow) and scope (cluster-wide or
 * a namespace).  The detector holds its set behind one RCU pointer:
 * every reload (SIGHUP, the file watcher thread, blocklist_feed) builds
 * a new set under a mutex, exchanges the pointer, waits for the readers
 * of the old one (urcu_memb_synchronize_rcu) and frees it.
 */
#include "detectors/blocklist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/datadir.h"
#include "core/log.h"
#include "detectors/chain.h"
#include "detectors/detector.h"

#define BL_PLAIN 0x01u  /* covers the name and every name under it */
#define BL_WILD 0x02u   /* covers the names strictly under it */
#define BL_STAR 0x04u   /* "*." sits before the key in the record */

#define BL_NAME_MAX 253
#define BL_LABEL_MAX 63
#define BL_SUFFIXES_MAX ((BL_NAME_MAX + 1) / 2 + 1)  /* labels of a name */
#define BL_BUCKET_SLOTS 12   /* 12 tags + 12 offsets fill a cache line */
#define BL_BUCKETS_MIN 64u
#define BL_FILE_MAX ((size_t)1 << 30)  /* largest list read, bytes */
#define BL_ARENA_MAX ((size_t)UINT32_MAX)


/*
 * One cache line of the table.  A probe reads the tags and touches the
 * arena only where a tag matches; slots fill in order, and the first
 * empty one ends a search.
 */
struct bl_bucket {
    uint8_t tags[BL_BUCKET_SLOTS];   /* hash tag of each slot; 0: empty */
    uint32_t offs[BL_BUCKET_SLOTS];  /* arena offset of each record */
} __attribute__((aligned(64)));

struct blocklist_index {
    struct bl_bucket *buckets;
    size_t bmask;        /* number of buckets - 1 (a power of two) */
    size_t count;        /* distinct entries */
    char *arena;         /* records; offset 0 is a dummy byte */
    size_t used;         /* arena bytes in use */
    size_t cap;          /* arena bytes allocated */
    size_t nlists;
    char **lists;        /* list names, owned */
    uint32_t *list_end;  /* arena offset past each list's records */
};

struct blocklist_builder {
    struct blocklist_index *ix;  /* the index being filled */
    size_t lists_cap;            /* room in ix->lists and ix->list_end */
};

/* Where the parser is, for its error messages. */
struct bl_parse {
    struct blocklist_index *ix;
    const char *list;
    size_t line;
    char *err;
    size_t errlen;
};

/* ---- hashing and records ------------------------------------------- */

/* Spreads FNV's weak low bits over the whole word (murmur3's finaliser). */
static uint64_t
bl_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static uint64_t
bl_hash(const char *key, size_t len)
{
    uint64_t h = HASH_FNV_OFFSET;

    for (size_t i = len; i-- > 0;) {
        h = hash_byte(h, (uint8_t)key[i]);
    }
    return bl_mix(h);
}

static unsigned
bl_flags(const char *rec)
{
    return (unsigned char)rec[1];
}

static const char *
bl_key(const char *rec)
{
    return rec + 2 + (bl_flags(rec) & BL_STAR ? 2 : 0);
}

/* The entry as listed: the plain name wins over a wildcard of it. */
static const char *
bl_entry(const char *rec)
{
    return bl_flags(rec) & BL_PLAIN ? bl_key(rec) : rec + 2;
}

/* Never 0, which marks an empty slot. */
static uint8_t
bl_tag(uint64_t h)
{
    uint8_t t = (uint8_t)(h >> 56);

    return t != 0 ? t : 1;
}

static int
bl_same(const char *rec, const char *key, size_t len)
{
    return (unsigned char)rec[0] == len && memcmp(bl_key(rec), key, len) == 0;
}

/*
 * The slot (bucket * BL_BUCKET_SLOTS + index) holding key, or the empty
 * slot where it would go.  Ends because the table is never more than
 * three quarters full.
 */
static size_t
bl_probe(const struct blocklist_index *ix, const char *key, size_t len,
         uint64_t h)
{
    size_t b = (size_t)h & ix->bmask;
    uint8_t tag = bl_tag(h);

    for (;;) {
        const struct bl_bucket *bk = &ix->buckets[b];

        for (size_t i = 0; i < BL_BUCKET_SLOTS; i++) {
            if (bk->tags[i] == 0 ||
                (bk->tags[i] == tag &&
                 bl_same(ix->arena + bk->offs[i], key, len))) {
                return b * BL_BUCKET_SLOTS + i;
            }
        }
        b = (b + 1) & ix->bmask;
    }
}

/* Arena offset of the record in slot pos, 0 when empty. */
static uint32_t
bl_slot_off(const struct blocklist_index *ix, size_t pos)
{
    const struct bl_bucket *bk = &ix->buckets[pos / BL_BUCKET_SLOTS];
    size_t i = pos % BL_BUCKET_SLOTS;

    return bk->tags[i] != 0 ? bk->offs[i] : 0;
}

static void
bl_slot_set(struct blocklist_index *ix, size_t pos, uint8_t tag,
            uint32_t off)
{
    struct bl_bucket *bk = &ix->buckets[pos / BL_BUCKET_SLOTS];

    bk->tags[pos % BL_BUCKET_SLOTS] = tag;
    bk->offs[pos % BL_BUCKET_SLOTS] = off;
}

static size_t
bl_nslots(const struct blocklist_index *ix)
{
    return (ix->bmask + 1) * BL_BUCKET_SLOTS;
}

/* ---- building -------------------------------------------------------- */

static int
bl_table_alloc(struct blocklist_index *ix, size_t nbuckets)
{
    ix->buckets = aligned_alloc(64, nbuckets * sizeof(*ix->buckets));
    if (ix->buckets == NULL) {
        return -ENOMEM;
    }
    memset(ix->buckets, 0, nbuckets * sizeof(*ix->buckets));
    ix->bmask = nbuckets - 1;
    return 0;
}

/* Double the table and put every record back in. */
static int
bl_table_grow(struct blocklist_index *ix)
{
    struct blocklist_index old = *ix;
    int rc = bl_table_alloc(ix, (old.bmask + 1) * 2);

    for (size_t pos = 0; rc == 0 && pos < bl_nslots(&old); pos++) {
        uint32_t off = bl_slot_off(&old, pos);
        const char *rec = ix->arena + off;
        uint64_t h;

        if (off == 0) {
            continue;
        }
        h = bl_hash(bl_key(rec), (unsigned char)rec[0]);
        bl_slot_set(ix, bl_probe(ix, bl_key(rec), (unsigned char)rec[0], h),
                    bl_tag(h), off);
    }
    if (rc != 0) {
        ix->buckets = old.buckets;
        ix->bmask = old.bmask;
        return rc;
    }
    free(old.buckets);
    return 0;
}

static int
bl_arena_reserve(struct blocklist_index *ix, size_t need)
{
    size_t cap = ix->cap;
    char *p;

    if (ix->used + need <= cap) {
        return 0;
    }
    if (ix->used + need > BL_ARENA_MAX) {
        return -E2BIG;
    }
    while (cap < ix->used + need) {
        cap = cap * 2 > BL_ARENA_MAX ? BL_ARENA_MAX : cap * 2;
    }
    p = realloc(ix->arena, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    ix->arena = p;
    ix->cap = cap;
    return 0;
}

/* Append a record for key and return its offset, or 0 on failure. */
static uint32_t
bl_record(struct blocklist_index *ix, const char *key, size_t len,
          unsigned flags)
{
    size_t star = flags & BL_STAR ? 2 : 0;
    size_t off = ix->used;
    char *rec;

    if (bl_arena_reserve(ix, 2 + star + len + 1) != 0) {
        return 0;
    }
    rec = ix->arena + off;
    rec[0] = (char)len;
    rec[1] = (char)flags;
    memcpy(rec + 2, "*.", star);
    memcpy(rec + 2 + star, key, len);
    rec[2 + star + len] = '\0';
    ix->used += 2 + star + len + 1;
    return (uint32_t)off;
}

/* Add one entry, or merge its flags into the entry already there. */
static int
bl_add(struct blocklist_index *ix, const char *key, size_t len,
       unsigned flags)
{
    uint64_t h = bl_hash(key, len);
    size_t pos = bl_probe(ix, key, len, h);
    uint32_t off = bl_slot_off(ix, pos);

    if (off != 0) {
        ix->arena[off + 1] |= (char)(flags & (BL_PLAIN | BL_WILD));
        return 0;
    }
    if ((ix->count + 1) * 4 > bl_nslots(ix) * 3) {
        if (bl_table_grow(ix) != 0) {
            return -ENOMEM;
        }
        pos = bl_probe(ix, key, len, h);
    }
    off = bl_record(ix, key, len, flags);
    if (off == 0) {
        return -ENOMEM;
    }
    bl_slot_set(ix, pos, bl_tag(h), off);
    ix->count++;
    return 0;
}

/* ---- parsing --------------------------------------------------------- */

static int
bl_fail(struct bl_parse *p, const char *why, const char *tok, size_t len)
{
    snprintf(p->err, p->errlen, "%s:%zu: %s '%.*s'", p->list, p->line, why,
             (int)(len > 64 ? 64 : len), tok);
    return -EINVAL;
}

static int
bl_valid_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* A lowercase name of 1 to 253 characters in labels of 1 to 63. */
static int
bl_valid_name(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > BL_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (label == 0) {
                return 0;
            }
            label = 0;
        } else if (!bl_valid_char(s[i]) || ++label > BL_LABEL_MAX) {
            return 0;
        }
    }
    return label > 0;
}

/* Names every hosts file carries that are not entries. */
static int
bl_hosts_boilerplate(const char *name)
{
    static const char *const names[] = {
        "localhost", "localhost.localdomain", "local", "broadcasthost",
        "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
        "ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* An IPv4 or IPv6 address (with an optional %zone): a hosts-form line. */
static int
bl_is_address(const char *tok, size_t len)
{
    char buf[64];
    unsigned char raw[16];
    const char *zone;

    if (len == 0 || len >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, tok, len);
    buf[len] = '\0';
    zone = strchr(buf, '%');
    if (zone != NULL) {
        buf[zone - buf] = '\0';
    }
    return inet_pton(AF_INET, buf, raw) == 1 ||
           inet_pton(AF_INET6, buf, raw) == 1;
}

/* Normalise and add one name; hosts says it came after an address. */
static int
bl_add_name(struct bl_parse *p, const char *tok, size_t len, int hosts)
{
    char name[BL_NAME_MAX + 2];
    unsigned flags = BL_PLAIN;
    const char *key = name;
    size_t n = len;

    if (n > 0 && tok[n - 1] == '.') {
        n--;
    }
    if (n > BL_NAME_MAX + 1) {
        return bl_fail(p, "name too long", tok, len);
    }
    for (size_t i = 0; i < n; i++) {
        char c = tok[i];
        name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    name[n] = '\0';
    if (!hosts && n > 2 && name[0] == '*' && name[1] == '.') {
        flags = BL_WILD | BL_STAR;
        key = name + 2;
        n -= 2;
    }
    if (hosts && bl_hosts_boilerplate(name)) {
        return 0;
    }
    if (!bl_valid_name(key, n)) {
        return bl_fail(p, "invalid name", tok, len);
    }
    if (bl_add(p->ix, key, n, flags) != 0) {
        snprintf(p->err, p->errlen, "%s:%zu: out of memory", p->list,
                 p->line);
        return -ENOMEM;
    }
    return 0;
}

/* Next whitespace-separated token of [*s, end); 0 when none is left. */
static int
bl_token(const char **s, const char *end, const char **tok, size_t *len)
{
    const char *q = *s;

    while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) {
        q++;
    }
    *tok = q;
    while (q < end && *q != ' ' && *q != '\t' && *q != '\r') {
        q++;
    }
    *len = (size_t)(q - *tok);
    *s = q;
    return *len > 0;
}

static int
bl_parse_line(struct bl_parse *p, const char *s, size_t n)
{
    const char *hash = memchr(s, '#', n);
    const char *end = hash != NULL ? hash : s + n;
    const char *tok, *addr;
    size_t len, addrlen;
    int rc, names = 0;

    if (!bl_token(&s, end, &tok, &len)) {
        return 0;
    }
    if (!bl_is_address(tok, len)) {
        rc = bl_add_name(p, tok, len, 0);
        if (rc == 0 && bl_token(&s, end, &tok, &len)) {
            rc = bl_fail(p, "more than one name", tok, len);
        }
        return rc;
    }
    addr = tok;
    addrlen = len;
    while (bl_token(&s, end, &tok, &len)) {
        rc = bl_add_name(p, tok, len, 1);
        if (rc != 0) {
            return rc;
        }
        names++;
    }
    return names > 0 ? 0 : bl_fail(p, "address without a name", addr,
                                          addrlen);
}

static int
bl_parse_text(struct bl_parse *p, const char *text, size_t len)
{
    const char *end = text + len;

    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t n = nl != NULL ? (size_t)(nl - text) : (size_t)(end - text);
        int rc;

        p->line++;
        rc = bl_parse_line(p, text, n);
        if (rc != 0) {
            return rc;
        }
        text += n + 1;
    }
    return 0;
}

/* Make room for more bytes after n in *buf; doubles up to BL_FILE_MAX. */
static int
bl_buf_grow(char **buf, size_t *cap, size_t n)
{
    char *p;

    if (n + 1 < *cap) {
        return 0;
    }
    if (*cap >= BL_FILE_MAX) {
        return -EFBIG;
    }
    p = realloc(*buf, *cap * 2);
    if (p == NULL) {
        return -ENOMEM;
    }
    *buf = p;
    *cap *= 2;
    return 0;
}

/* Read a whole file into a new buffer the caller frees. */
static int
bl_read_file(const char *path, char **text, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    int rc = fp != NULL ? 0 : -errno;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = rc == 0 ? malloc(cap) : NULL;

    if (rc == 0 && buf == NULL) {
        rc = -ENOMEM;
    }

    while (rc == 0) {
        rc = bl_buf_grow(&buf, &cap, n);
        got = rc == 0 ? fread(buf + n, 1, cap - n - 1, fp) : 0;
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (rc == 0 && ferror(fp)) {
        rc = -EIO;
    }
    if (fp != NULL) {
        fclose(fp);
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

static struct blocklist_index *
bl_new(void)
{
    struct blocklist_index *ix = calloc(1, sizeof(*ix));

    if (ix == NULL) {
        return NULL;
    }
    ix->cap = 1 << 16;
    ix->arena = malloc(ix->cap);
    ix->used = 1;
    if (ix->arena == NULL || bl_table_alloc(ix, BL_BUCKETS_MIN) != 0) {
        blocklist_index_free(ix);
        return NULL;
    }
    return ix;
}

/* Start a new list named name: its records follow in the arena. */
static int
bl_list_begin(struct blocklist_builder *b, const char *name)
{
    struct blocklist_index *ix = b->ix;
    size_t cap = b->lists_cap != 0 ? b->lists_cap * 2 : 8;
    char **lists;
    uint32_t *ends;

    if (ix->nlists == b->lists_cap) {
        lists = realloc(ix->lists, cap * sizeof(*lists));
        ix->lists = lists != NULL ? lists : ix->lists;
        ends = realloc(ix->list_end, cap * sizeof(*ends));
        ix->list_end = ends != NULL ? ends : ix->list_end;
        if (lists == NULL || ends == NULL) {
            return -ENOMEM;
        }
        b->lists_cap = cap;
    }
    ix->lists[ix->nlists] = strdup(name);
    if (ix->lists[ix->nlists] == NULL) {
        return -ENOMEM;
    }
    ix->list_end[ix->nlists++] = (uint32_t)ix->used;
    return 0;
}

struct blocklist_builder *
blocklist_builder_new(void)
{
    struct blocklist_builder *b = calloc(1, sizeof(*b));

    if (b != NULL && (b->ix = bl_new()) == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

int
blocklist_builder_add_text(struct blocklist_builder *b, const char *name,
                           const char *text, size_t len, char *err,
                           size_t errlen)
{
    struct blocklist_index *ix = b->ix;
    struct bl_parse p = {ix, name, 0, err, errlen};
    int rc = bl_list_begin(b, name);

    if (rc != 0) {
        snprintf(err, errlen, "%s: out of memory", name);
        return rc;
    }
    rc = bl_parse_text(&p, text, len);
    ix->list_end[ix->nlists - 1] = (uint32_t)ix->used;
    return rc;
}

int
blocklist_builder_add_file(struct blocklist_builder *b, const char *path,
                           char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = bl_read_file(path, &text, &len);

    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
        return rc;
    }
    rc = blocklist_builder_add_text(b, path, text, len, err, errlen);
    free(text);
    return rc;
}

/* Give back the arena's unused tail once loading is over. */
static void
bl_shrink(struct blocklist_index *ix)
{
    char *p = realloc(ix->arena, ix->used);

    if (p != NULL) {
        ix->arena = p;
        ix->cap = ix->used;
    }
}

struct blocklist_index *
blocklist_builder_finish(struct blocklist_builder *b)
{
    struct blocklist_index *ix = b->ix;

    bl_shrink(ix);
    free(b);
    return ix;
}

void
blocklist_builder_free(struct blocklist_builder *b)
{
    if (b != NULL) {
        blocklist_index_free(b->ix);
        free(b);
    }
}

struct blocklist_index *
blocklist_index_load(const char *const *paths, size_t n, char *err,
                     size_t errlen)
{
    struct blocklist_builder *b = blocklist_builder_new();
    int rc = 0;

    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = blocklist_builder_add_file(b, paths[i], err, errlen);
    }
    if (rc != 0) {
        blocklist_builder_free(b);
        return NULL;
    }
    return blocklist_builder_finish(b);
}

/* ---- lookups --------------------------------------------------------- */

static uint32_t
bl_find(const struct blocklist_index *ix, const char *key, size_t len,
        uint64_t h)
{
    return bl_slot_off(ix, bl_probe(ix, key, len, h));
}

/* The list a record came from: the first whose end lies past it. */
static const char *
bl_list_of(const struct blocklist_index *ix, uint32_t off)
{
    size_t lo = 0, hi = ix->nlists;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->list_end[mid] <= off) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < ix->nlists ? ix->lists[lo] : "";
}

/*
 * The suffixes of qname that could be entries (at most BL_NAME_MAX
 * bytes), shortest first: where each starts and its hash.  Returns how
 * many; a name of 255 bytes has at most 128 labels.
 */
static size_t
bl_suffixes(const char *qname, size_t qlen, size_t *starts,
            uint64_t *hashes)
{
    uint64_t h = HASH_FNV_OFFSET;
    size_t n = 0;

    for (size_t i = qlen; i-- > 0 && qlen - i <= BL_NAME_MAX;) {
        h = hash_byte(h, (uint8_t)qname[i]);
        if (i == 0 || qname[i - 1] == '.') {
            starts[n] = i;
            hashes[n++] = bl_mix(h);
        }
    }
    return n;
}

/*
 * Every suffix's bucket is fetched at once, so a large table costs
 * about one cache miss per name rather than one per label; then the
 * longest suffix that is an entry wins.
 */
int
blocklist_index_lookup(const struct blocklist_index *ix, const char *qname,
                       size_t qlen, struct blocklist_hit *hit)
{
    size_t starts[BL_SUFFIXES_MAX];
    uint64_t hashes[BL_SUFFIXES_MAX];
    size_t n;

    if (ix == NULL || ix->count == 0) {
        return 0;
    }
    n = bl_suffixes(qname, qlen, starts, hashes);
    for (size_t k = 0; k < n; k++) {
        __builtin_prefetch(&ix->buckets[hashes[k] & ix->bmask]);
    }

    for (size_t k = n; k-- > 0;) {
        size_t i = starts[k];
        unsigned need = i == 0 ? BL_PLAIN : BL_PLAIN | BL_WILD;
        uint32_t off = bl_find(ix, qname + i, qlen - i, hashes[k]);

        if (off != 0 && (bl_flags(ix->arena + off) & need)) {
            hit->entry = bl_entry(ix->arena + off);
            hit->list = bl_list_of(ix, off);
            return 1;
        }
    }
    return 0;
}

const char *
blocklist_index_match(const struct blocklist_index *ix, const char *qname,
                      size_t qlen)
{
    struct blocklist_hit hit;

    return blocklist_index_lookup(ix, qname, qlen, &hit) ? hit.entry : NULL;
}

size_t
blocklist_index_size(const struct blocklist_index *ix)
{
    return ix != NULL ? ix->count : 0;
}

size_t
blocklist_index_bytes(const struct blocklist_index *ix)
{
    size_t bytes;

    if (ix == NULL) {
        return 0;
    }
    bytes = sizeof(*ix) + (ix->bmask + 1) * sizeof(*ix->buckets) +
            ix->cap + ix->nlists * (sizeof(char *) + sizeof(uint32_t));
    for (size_t i = 0; i < ix->nlists; i++) {
        bytes += ix->lists[i] != NULL ? strlen(ix->lists[i]) + 1 : 0;
    }
    return bytes;
}

void
blocklist_index_free(struct blocklist_index *ix)
{
    if (ix == NULL) {
        return;
    }
    for (size_t i = 0; i < ix->nlists; i++) {
        free(ix->lists[i]);
    }
    free(ix->lists);
    free(ix->list_end);
    free(ix->buckets);
    free(ix->arena);
    free(ix);
}

/* ---- sets ------------------------------------------------------------ */

/* The lists of one scope, by kind; NULL where a kind has none. */
struct bl_scope {
    char ns[BLOCKLIST_NS_MAX];             /* "" for cluster-wide */
    struct blocklist_index *ix[2];
};

/* scopes[0] is the cluster-wide scope; the others are namespaces. */
struct blocklist_set {
    size_t nscopes;
    struct bl_scope scopes[BLOCKLIST_SCOPES_MAX];
};

struct bl_build_scope {
    char ns[BLOCKLIST_NS_MAX];
    struct blocklist_builder *b[2];
};

struct blocklist_set_builder {
    size_t nscopes;
    struct bl_build_scope scopes[BLOCKLIST_SCOPES_MAX];
};

struct blocklist_set_builder *
blocklist_set_builder_new(void)
{
    struct blocklist_set_builder *sb = calloc(1, sizeof(*sb));

    if (sb != NULL) {
        sb->nscopes = 1;
    }
    return sb;
}

/* The scope named ns, added when new; NULL when there is no room. */
static struct bl_build_scope *
bl_build_scope(struct blocklist_set_builder *sb, const char *ns)
{
    struct bl_build_scope *sc;

    for (size_t i = 0; i < sb->nscopes; i++) {
        if (strcmp(sb->scopes[i].ns, ns) == 0) {
            return &sb->scopes[i];
        }
    }
    if (sb->nscopes == BLOCKLIST_SCOPES_MAX) {
        return NULL;
    }
    sc = &sb->scopes[sb->nscopes++];
    snprintf(sc->ns, sizeof(sc->ns), "%s", ns);
    return sc;
}

/* The builder for kind in scope ns, created on first use. */
static int
bl_set_builder_for(struct blocklist_set_builder *sb, int kind,
                   const char *ns, const char *name,
                   struct blocklist_builder **out, char *err, size_t errlen)
{
    struct bl_build_scope *sc;

    ns = ns != NULL ? ns : "";
    if ((kind != BLOCKLIST_BLOCK && kind != BLOCKLIST_ALLOW) ||
        strlen(ns) >= BLOCKLIST_NS_MAX) {
        snprintf(err, errlen, "%s: invalid kind or namespace", name);
        return -EINVAL;
    }
    sc = bl_build_scope(sb, ns);
    if (sc == NULL) {
        snprintf(err, errlen, "%s: more than %d namespaces with lists",
                 name, BLOCKLIST_SCOPES_MAX - 1);
        return -ENOSPC;
    }
    if (sc->b[kind] == NULL && (sc->b[kind] = blocklist_builder_new()) ==
                                   NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    *out = sc->b[kind];
    return 0;
}

int
blocklist_set_add_text(struct blocklist_set_builder *sb, int kind,
                       const char *namespace_, const char *name,
                       const char *text, size_t len, char *err,
                       size_t errlen)
{
    struct blocklist_builder *b;
    int rc = bl_set_builder_for(sb, kind, namespace_, name, &b, err,
                                errlen);

    return rc != 0 ? rc : blocklist_builder_add_text(b, name, text, len,
                                                     err, errlen);
}

int
blocklist_set_add_file(struct blocklist_set_builder *sb, int kind,
                       const char *namespace_, const char *path, char *err,
                       size_t errlen)
{
    struct blocklist_builder *b;
    int rc = bl_set_builder_for(sb, kind, namespace_, path, &b, err,
                                errlen);

    return rc != 0 ? rc : blocklist_builder_add_file(b, path, err, errlen);
}

void
blocklist_set_builder_free(struct blocklist_set_builder *sb)
{
    if (sb == NULL) {
        return;
    }
    for (size_t i = 0; i < sb->nscopes; i++) {
        blocklist_builder_free(sb->scopes[i].b[0]);
        blocklist_builder_free(sb->scopes[i].b[1]);
    }
    free(sb);
}

struct blocklist_set *
blocklist_set_builder_finish(struct blocklist_set_builder *sb)
{
    struct blocklist_set *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        blocklist_set_builder_free(sb);
        return NULL;
    }
    s->nscopes = sb->nscopes;
    for (size_t i = 0; i < sb->nscopes; i++) {
        struct bl_build_scope *from = &sb->scopes[i];

        memcpy(s->scopes[i].ns, from->ns, sizeof(from->ns));
        for (int k = 0; k < 2; k++) {
            if (from->b[k] != NULL) {
                s->scopes[i].ix[k] = blocklist_builder_finish(from->b[k]);
                from->b[k] = NULL;
            }
        }
    }
    free(sb);
    return s;
}

/* The scope of namespace ns, or NULL when it has no lists of its own. */
static const struct bl_scope *
bl_set_scope(const struct blocklist_set *s, const char *ns)
{
    if (ns == NULL || ns[0] == '\0') {
        return NULL;
    }
    for (size_t i = 1; i < s->nscopes; i++) {
        if (strcmp(s->scopes[i].ns, ns) == 0) {
            return &s->scopes[i];
        }
    }
    return NULL;
}

/* Cluster-wide lists first, then those of the pod's own namespace. */
static int
bl_set_lookup(const struct blocklist_set *s, const struct bl_scope *own,
              int kind, const char *qname, size_t qlen,
              struct blocklist_hit *hit)
{
    if (blocklist_index_lookup(s->scopes[0].ix[kind], qname, qlen, hit)) {
        return 1;
    }
    return own != NULL &&
           blocklist_index_lookup(own->ix[kind], qname, qlen, hit);
}

int
blocklist_set_check(const struct blocklist_set *s, const char *qname,
                    size_t qlen, const char *pod_ns,
                    struct blocklist_hit *block, struct blocklist_hit *allow)
{
    const struct bl_scope *own;

    block->entry = block->list = NULL;
    allow->entry = allow->list = NULL;
    if (s == NULL) {
        return 0;
    }
    own = bl_set_scope(s, pod_ns);
    if (!bl_set_lookup(s, own, BLOCKLIST_BLOCK, qname, qlen, block)) {
        return 0;
    }
    return !bl_set_lookup(s, own, BLOCKLIST_ALLOW, qname, qlen, allow);
}

size_t
blocklist_set_entries(const struct blocklist_set *s, int kind)
{
    size_t n = 0;

    for (size_t i = 0; s != NULL && i < s->nscopes; i++) {
        n += blocklist_index_size(s->scopes[i].ix[kind & 1]);
    }
    return n;
}

size_t
blocklist_set_bytes(const struct blocklist_set *s)
{
    size_t n = s != NULL ? sizeof(*s) : 0;

    for (size_t i = 0; s != NULL && i < s->nscopes; i++) {
        n += blocklist_index_bytes(s->scopes[i].ix[0]) +
             blocklist_index_bytes(s->scopes[i].ix[1]);
    }
    return n;
}

size_t
blocklist_set_namespaces(const struct blocklist_set *s)
{
    return s != NULL ? s->nscopes - 1 : 0;
}

void
blocklist_set_free(struct blocklist_set *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nscopes; i++) {
        blocklist_index_free(s->scopes[i].ix[0]);
        blocklist_index_free(s->scopes[i].ix[1]);
    }
    free(s);
}

/* ---- the detector: lists, RCU and reloads ---------------------------- */

#define BL_FILES_MAX (2 * CONFIG_LISTS_MAX + 1)
#define BL_FEEDS_MAX (2 * CONFIG_LISTS_MAX)
#define BL_DEBOUNCE_NS (200 * 1000000ull)
#define BL_PATH_MAX (CONFIG_NAME_MAX + 64)

/* A list file of the config, with its kind and scope. */
struct bl_file {
    int kind;
    char ns[BLOCKLIST_NS_MAX];
    char path[BL_PATH_MAX];
};

/* A list given as text by blocklist_feed(). */
struct bl_feed {
    int kind;
    char ns[BLOCKLIST_NS_MAX];
    char name[CONFIG_NAME_MAX];
    char *text;   /* owned */
    size_t len;
};

/* The file watcher: one thread, an inotify descriptor and a stop pipe. */
struct bl_watch {
    pthread_t thread;
    int ifd;
    int stop[2];
    struct blocklist *owner;
};

struct blocklist {
    struct detector base;
    struct blocklist_set *set;  /* RCU: read under urcu_memb_read_lock */
    pthread_mutex_t lock;       /* one rebuild at a time; guards feeds */
    size_t nfiles;
    struct bl_file files[BL_FILES_MAX];
    size_t nfeeds;
    struct bl_feed feeds[BL_FEEDS_MAX];
    struct bl_feed undo[BL_FEEDS_MAX];  /* feeds before a failed change */
    struct bl_watch *watch;     /* NULL: no files, or inotify failed */
    atomic_ulong reloads;
    struct metrics_series *reload_ok;
    struct metrics_series *reload_rejected;
    struct metrics_series *entries;
};

static pthread_key_t bl_rcu_key;
static pthread_once_t bl_rcu_once = PTHREAD_ONCE_INIT;
static _Thread_local int bl_rcu_registered;

static void
bl_rcu_thread_exit(void *arg)
{
    (void)arg;
    urcu_memb_unregister_thread();
}

static void
bl_rcu_key_init(void)
{
    (void)pthread_key_create(&bl_rcu_key, bl_rcu_thread_exit);
}

/*
 * Enter a read-side section.  A thread is registered with liburcu the
 * first time it comes here, and unregistered by the key's destructor
 * when it exits (the process's last thread simply ends).
 */
static void
bl_rcu_enter(void)
{
    if (!bl_rcu_registered) {
        pthread_once(&bl_rcu_once, bl_rcu_key_init);
        urcu_memb_register_thread();
        (void)pthread_setspecific(bl_rcu_key, &bl_rcu_registered);
        bl_rcu_registered = 1;
    }
    urcu_memb_read_lock();
}

/* Build a whole new set from the files and the fed lists. */
static int
blocklist_build(struct blocklist *b, struct blocklist_set **out, char *err,
                size_t errlen)
{
    struct blocklist_set_builder *sb = blocklist_set_builder_new();
    int rc = sb != NULL ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < b->nfiles; i++) {
        const struct bl_file *f = &b->files[i];
        rc = blocklist_set_add_file(sb, f->kind, f->ns, f->path, err,
                                    errlen);
    }
    for (size_t i = 0; rc == 0 && i < b->nfeeds; i++) {
        const struct bl_feed *f = &b->feeds[i];
        rc = blocklist_set_add_text(sb, f->kind, f->ns, f->name, f->text,
                                    f->len, err, errlen);
    }

    if (rc != 0) {
        if (sb == NULL) {
            snprintf(err, errlen, "out of memory");
        }
        blocklist_set_builder_free(sb);
        return rc;
    }
    *out = blocklist_set_builder_finish(sb);
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* Publish set; the old one is freed once no reader can still hold it. */
static void
blocklist_swap(struct blocklist *b, struct blocklist_set *set)
{
    struct blocklist_set *old = rcu_xchg_pointer(&b->set, set);

    urcu_memb_synchronize_rcu();
    blocklist_set_free(old);
    metrics_set(b->entries,
                (int64_t)blocklist_set_entries(set, BLOCKLIST_BLOCK));
}

/* Rebuild and swap; b->lock held.  Logs and counts the outcome. */
static int
blocklist_rebuild_locked(struct blocklist *b, const char *trigger,
                         char *err, size_t errlen)
{
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    struct blocklist_set *set = NULL;
    int rc = blocklist_build(b, &set, err, errlen);

    atomic_fetch_add(&b->reloads, 1);
    if (rc != 0) {
        metrics_inc(b->reload_rejected);
        log_error("blocklist reload rejected, previous lists stay",
                  "trigger=%s error=\"%s\"", trigger, err);
        return rc;
    }
    blocklist_swap(b, set);
    metrics_inc(b->reload_ok);
    log_info("blocklist reloaded",
             "trigger=%s entries=%zu allow=%zu namespaces=%zu bytes=%zu "
             "ms=%.1f", trigger,
             blocklist_set_entries(set, BLOCKLIST_BLOCK),
             blocklist_set_entries(set, BLOCKLIST_ALLOW),
             blocklist_set_namespaces(set), blocklist_set_bytes(set),
             (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6);
    return 0;
}

static int
blocklist_rebuild(struct blocklist *b, const char *trigger, char *err,
                  size_t errlen)
{
    int rc;

    pthread_mutex_lock(&b->lock);
    rc = blocklist_rebuild_locked(b, trigger, err, errlen);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int
blocklist_reload(struct detector *d, char *err, size_t errlen)
{
    return blocklist_rebuild((struct blocklist *)d, "reload", err, errlen);
}

/* ---- the file watcher ------------------------------------------------ */

/* Copy the directory part of path into dir ("." when there is none). */
static void
bl_dirname(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        snprintf(dir, len, ".");
    } else if (slash == path) {
        snprintf(dir, len, "/");
    } else {
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
    }
}

static const char *
bl_basename(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

/*
 * Whether an inotify event may change a list: one of the files by name
 * (in any watched directory), the "..data" link a ConfigMap volume swaps,
 * or a lost event queue.
 */
static int
bl_watch_relevant(const struct blocklist *b, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        return 1;
    }
    if (ev->len == 0) {
        return 0;
    }
    if (strncmp(ev->name, "..data", 6) == 0) {
        return 1;
    }
    for (size_t i = 0; i < b->nfiles; i++) {
        if (strcmp(bl_basename(b->files[i].path), ev->name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Read every pending event; 1 when one of them matters. */
static int
bl_watch_drain(struct bl_watch *w)
{
    char buf[8192] __attribute__((aligned(8)));
    int hit = 0;
    ssize_t n;

    while ((n = read(w->ifd, buf, sizeof(buf))) > 0) {
        const char *p = buf;

        while (p + sizeof(struct inotify_event) <= buf + n) {
            const struct inotify_event *ev = (const void *)p;

            hit |= bl_watch_relevant(w->owner, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
    return hit;
}

/* Milliseconds poll() may wait: until due, or forever when 0. */
static int
bl_watch_timeout(uint64_t due)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);

    if (due == 0) {
        return -1;
    }
    return due > now ? (int)((due - now + 999999) / 1000000) : 0;
}

/*
 * Watcher thread: reload once the files have been quiet for 200 ms.
 * Known shortcoming: a file rewritten in place by a writer that pauses
 * longer than that is read half-written; when that half parses it is in
 * force until the write ends and the next reload (replacing files by
 * rename avoids this).
 */
static void *
bl_watch_main(void *arg)
{
    struct bl_watch *w = arg;
    struct pollfd fds[2] = {{w->stop[0], POLLIN, 0}, {w->ifd, POLLIN, 0}};
    uint64_t due = 0;
    char err[512];

    for (;;) {
        if (poll(fds, 2, bl_watch_timeout(due)) < 0 && errno != EINTR) {
            log_error("blocklist watcher stopped", "error=\"%s\"",
                      strerror(errno));
            break;
        }
        if (fds[0].revents != 0) {
            break;
        }
        if ((fds[1].revents & POLLIN) && bl_watch_drain(w)) {
            due = clock_ns(CLOCK_MONOTONIC) + BL_DEBOUNCE_NS;
        }
        if (due != 0 && clock_ns(CLOCK_MONOTONIC) >= due) {
            due = 0;
            (void)blocklist_rebuild(w->owner, "file", err, sizeof(err));
        }
    }
    return NULL;
}

static void
bl_watch_close(struct bl_watch *w)
{
    if (w->ifd >= 0) {
        close(w->ifd);
    }
    if (w->stop[0] >= 0) {
        close(w->stop[0]);
        close(w->stop[1]);
    }
    free(w);
}

/* Watch the directory of every list file; 0 when at least one is. */
static int
bl_watch_dirs(struct bl_watch *w, const struct blocklist *b)
{
    const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY |
                          IN_CREATE | IN_DELETE | IN_MOVED_FROM;
    char dir[BL_PATH_MAX];
    int watched = 0;

    for (size_t i = 0; i < b->nfiles; i++) {
        bl_dirname(b->files[i].path, dir, sizeof(dir));
        if (inotify_add_watch(w->ifd, dir, mask) >= 0) {
            watched++;
        } else {
            log_warn("blocklist: cannot watch a list directory",
                     "dir=%s error=\"%s\"", dir, strerror(errno));
        }
    }
    return watched > 0 ? 0 : -ENOENT;
}

/* The thread starts with every signal blocked: they belong to main. */
static int
bl_watch_spawn(struct bl_watch *w)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, bl_watch_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

/*
 * Start the watcher of b's files.  Without one (no inotify, no
 * directory) lists still reload on SIGHUP; a warning says so.
 */
static void
bl_watch_start(struct blocklist *b)
{
    struct bl_watch *w = calloc(1, sizeof(*w));
    int rc = w != NULL ? 0 : -ENOMEM;

    if (rc == 0) {
        w->owner = b;
        w->stop[0] = w->stop[1] = -1;
        w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        rc = w->ifd >= 0 && pipe2(w->stop, O_CLOEXEC) == 0 ? 0 : -errno;
    }
    rc = rc == 0 ? bl_watch_dirs(w, b) : rc;
    rc = rc == 0 ? bl_watch_spawn(w) : rc;
    if (rc != 0) {
        log_warn("blocklist: no file watcher, lists reload on SIGHUP only",
                 "error=\"%s\"", strerror(-rc));
        if (w != NULL) {
            bl_watch_close(w);
        }
        return;
    }
    b->watch = w;
}

static void
bl_watch_stop(struct bl_watch *w)
{
    char c = 1;

    if (w == NULL) {
        return;
    }
    if (write(w->stop[1], &c, 1) != 1) {
        log_error("blocklist: cannot stop the watcher", "error=\"%s\"",
                  strerror(errno));
    }
    pthread_join(w->thread, NULL);
    bl_watch_close(w);
}

/* ---- fed lists ------------------------------------------------------- */

static int
bl_feed_find(const struct blocklist *b, int kind, const char *ns,
             const char *name)
{
    for (size_t i = 0; i < b->nfeeds; i++) {
        const struct bl_feed *f = &b->feeds[i];

        if (f->kind == kind && strcmp(f->ns, ns) == 0 &&
            strcmp(f->name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * Put text (owned, or NULL to remove) in the feeds; the text it
 * replaces goes to *old.  b->lock held; b->undo keeps the feeds before.
 */
static int
bl_feed_put(struct blocklist *b, int kind, const char *ns, const char *name,
            char *text, size_t len, char **old)
{
    int i = bl_feed_find(b, kind, ns, name);
    struct bl_feed *f;

    memcpy(b->undo, b->feeds, sizeof(b->feeds));
    *old = i >= 0 ? b->feeds[i].text : NULL;
    if (i < 0 && text == NULL) {
        return 0;
    }
    if (i >= 0 && text == NULL) {
        b->feeds[i] = b->feeds[--b->nfeeds];
        return 0;
    }
    if (i < 0 && b->nfeeds == BL_FEEDS_MAX) {
        return -ENOSPC;
    }
    f = &b->feeds[i >= 0 ? (size_t)i : b->nfeeds++];
    f->kind = kind;
    snprintf(f->ns, sizeof(f->ns), "%s", ns);
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->text = text;
    f->len = len;
    return 0;
}

static int
bl_feed_valid(int kind, const char *ns, const char *name, size_t len)
{
    return (kind == BLOCKLIST_BLOCK || kind == BLOCKLIST_ALLOW) &&
           strlen(ns) < BLOCKLIST_NS_MAX && strlen(name) < CONFIG_NAME_MAX &&
           len <= BL_FILE_MAX;
}

/* Rebuild with the feeds as changed; undo the change when it fails. */
static int
bl_feed_commit(struct blocklist *b, size_t nundo, char *text, char *old,
               char *err, size_t errlen)
{
    int rc = blocklist_rebuild_locked(b, "feed", err, errlen);

    if (rc != 0) {
        memcpy(b->feeds, b->undo, sizeof(b->feeds));
        b->nfeeds = nundo;
        free(text);
        return rc;
    }
    free(old);
    return 0;
}

int
blocklist_feed(struct detector *d, int kind, const char *namespace_,
               const char *name, const char *text, size_t len, char *err,
               size_t errlen)
{
    struct blocklist *b = (struct blocklist *)d;
    const char *ns = namespace_ != NULL ? namespace_ : "";
    char *copy = NULL, *old = NULL;
    size_t nundo;
    int rc;

    if (!bl_feed_valid(kind, ns, name, len)) {
        snprintf(err, errlen, "%s: invalid kind, namespace or size", name);
        return -EINVAL;
    }
    if (text != NULL && (copy = malloc(len + 1)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    if (copy != NULL) {
        memcpy(copy, text, len);
    }

    pthread_mutex_lock(&b->lock);
    nundo = b->nfeeds;
    rc = bl_feed_put(b, kind, ns, name, copy, len, &old);
    if (rc != 0) {
        snprintf(err, errlen, "%s: more than %d fed lists", name,
                 BL_FEEDS_MAX);
        free(copy);
    } else {
        rc = bl_feed_commit(b, nundo, copy, old, err, errlen);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

unsigned long
blocklist_reloads(struct detector *d)
{
    return atomic_load(&((struct blocklist *)d)->reloads);
}

/* ---- the detector's hooks -------------------------------------------- */

static void
blocklist_check(struct detector *d, const struct event *ev,
                chain_report_fn *report, void *ctx)
{
    struct blocklist *b = (struct blocklist *)d;
    struct blocklist_hit hit, allow;
    struct finding f;
    int blocked;

    if (!detector_has_question(ev)) {
        return;
    }
    bl_rcu_enter();
    blocked = blocklist_set_check(rcu_dereference(b->set), ev->qname,
                                  ev->qname_len, ev->pod_namespace, &hit,
                                  &allow);
    if (blocked) {
        finding_init(&f, "blocklist", "DNSToBlocklistedFQDN", "high",
                     hit.entry, ev);
        detector_question_signals(&f, ev);
        finding_signal(&f, "list", "%s", hit.list);
        finding_signal(&f, "entry", "%s", hit.entry);
    }
    urcu_memb_read_unlock();

    if (blocked) {
        report(ctx, &f);
    }
}

static json_t *
blocklist_json_str(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/*
 * The cluster-wide verdict: a bare name has no pod namespace, so lists
 * scoped to a namespace are not consulted here.
 */
static void
blocklist_explain(struct detector *d, const char *qname, json_t *obj)
{
    struct blocklist *b = (struct blocklist *)d;
    struct blocklist_hit hit, allow;
    char name[EVENT_QNAME_MAX];
    size_t len = detector_normalise(qname, name);
    json_t *v = json_object();
    int blocked;

    bl_rcu_enter();
    blocked = blocklist_set_check(rcu_dereference(b->set), name, len, NULL,
                                  &hit, &allow);
    json_object_set_new(v, "blocked", json_boolean(blocked));
    json_object_set_new(v, "entry", blocklist_json_str(hit.entry));
    json_object_set_new(v, "list", blocklist_json_str(hit.list));
    json_object_set_new(v, "allowed_by", blocklist_json_str(allow.entry));
    urcu_memb_read_unlock();

    json_object_set_new(obj, "blocklist", v);
}

/* No check() may be running: the chain is being freed. */
static void
blocklist_free(struct detector *d)
{
    struct blocklist *b = (struct blocklist *)d;

    bl_watch_stop(b->watch);
    blocklist_set_free(b->set);
    for (size_t i = 0; i < b->nfeeds; i++) {
        free(b->feeds[i].text);
    }
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* ---- building from the config ---------------------------------------- */

static void
bl_add_file(struct blocklist *b, int kind, const struct config_listref *r)
{
    struct bl_file *f = &b->files[b->nfiles++];
    int scoped = !r->cluster_wide && r->namespace_[0] != '\0';

    f->kind = kind;
    snprintf(f->ns, sizeof(f->ns), "%s", scoped ? r->namespace_ : "");
    snprintf(f->path, sizeof(f->path), "%s", r->name);
}

/*
 * The files of the config: blocklists, allowlists, then the shipped
 * default allowlist.  A file list applies cluster-wide unless its
 * reference names a namespace and is not clusterWide.  ConfigMap
 * references (namespaceConfigMaps) are not read here: the Kubernetes
 * code gives their data through blocklist_feed().
 */
static int
blocklist_files(struct blocklist *b, const struct config *cfg, char *err,
                size_t errlen)
{
    struct config_listref def = {.cluster_wide = 1};

    for (size_t i = 0; i < cfg->blocklist.nfiles; i++) {
        bl_add_file(b, BLOCKLIST_BLOCK, &cfg->blocklist.files[i]);
    }
    for (size_t i = 0; i < cfg->blocklist.nallow; i++) {
        bl_add_file(b, BLOCKLIST_ALLOW, &cfg->blocklist.allow[i]);
    }
    if (!cfg->blocklist.default_allowlist) {
        return 0;
    }
    if (datadir_path("allowlist-default.txt", def.name,
                     sizeof(def.name)) != 0) {
        snprintf(err, errlen, "default allowlist: path too long");
        return -ENAMETOOLONG;
    }
    bl_add_file(b, BLOCKLIST_ALLOW, &def);
    return 0;
}

static void
blocklist_metrics(struct blocklist *b)
{
    const char *name = "ugallu_dns_blocklist_reloads_total";
    const char *help = "Blocklist reloads by outcome (rejected: the list "
                       "failed to load and the previous lists stay)";

    b->reload_ok = metrics_counter(name, "outcome=\"ok\"", help);
    b->reload_rejected = metrics_counter(name, "outcome=\"rejected\"", help);
    b->entries = metrics_gauge("ugallu_dns_blocklist_entries", "",
                               "Blocklist entries in force, every scope");
}

static struct blocklist *
blocklist_new(void)
{
    struct blocklist *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    b->base.name = "blocklist";
    b->base.check = blocklist_check;
    b->base.explain = blocklist_explain;
    b->base.free = blocklist_free;
    b->base.reload = blocklist_reload;
    blocklist_metrics(b);
    return b;
}

struct detector *
blocklist_create(const struct config *cfg, char *err, size_t errlen)
{
    struct blocklist *b = blocklist_new();
    int rc;

    if (b == NULL) {
        snprintf(err, errlen, "blocklist: out of memory");
        return NULL;
    }
    rc = blocklist_files(b, cfg, err, errlen);
    rc = rc == 0 ? blocklist_build(b, &b->set, err, errlen) : rc;
    if (rc != 0) {
        blocklist_free(&b->base);
        return NULL;
    }

    metrics_set(b->entries,
                (int64_t)blocklist_set_entries(b->set, BLOCKLIST_BLOCK));
    log_info("blocklist loaded", "entries=%zu allow=%zu namespaces=%zu "
             "bytes=%zu", blocklist_set_entries(b->set, BLOCKLIST_BLOCK),
             blocklist_set_entries(b->set, BLOCKLIST_ALLOW),
             blocklist_set_namespaces(b->set),
             blocklist_set_bytes(b->set));
    if (b->nfiles > 0) {
        bl_watch_start(b);
    }
    return &b->base;
}

/*
 * blocklist.c - the blocklist index and the blocklist detector.
 *
 * Each entry is one record in the arena: its key length, its flags, "*."
 * when it was first listed as a wildcard, the key (the name without
 * "*."), and a NUL, so the entry can be handed out as a C string.  Keys
 * are hashed from their last byte to their first, so one pass from the
 * end of a query name yields the hash of each of its suffixes in turn.
 */
#include "detectors/blocklist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datadir.h"
#include "core/log.h"
#include "detectors/chain.h"
#include "detectors/detector.h"

#define BL_PLAIN 0x01u  /* covers the name and every name under it */
#define BL_WILD 0x02u   /* covers the names strictly under it */
#define BL_STAR 0x04u   /* "*." sits before the key in the record */

#define BL_NAME_MAX 253
#define BL_LABEL_MAX 63
#define BL_BUCKET_SLOTS 12   /* 12 tags + 12 offsets fill a cache line */
#define BL_BUCKETS_MIN 64u
#define BL_FILE_MAX ((size_t)1 << 30)  /* largest list read, bytes */
#define BL_ARENA_MAX ((size_t)UINT32_MAX)

#define BL_FNV_OFFSET 0xcbf29ce484222325ull
#define BL_FNV_PRIME 0x100000001b3ull

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

static uint64_t
bl_step(uint64_t h, char c)
{
    return (h ^ (unsigned char)c) * BL_FNV_PRIME;
}

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
    uint64_t h = BL_FNV_OFFSET;

    for (size_t i = len; i-- > 0;) {
        h = bl_step(h, key[i]);
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

int
blocklist_index_lookup(const struct blocklist_index *ix, const char *qname,
                       size_t qlen, struct blocklist_hit *hit)
{
    uint64_t h = BL_FNV_OFFSET;
    uint32_t best = 0;

    if (ix == NULL || ix->count == 0) {
        return 0;
    }
    for (size_t i = qlen; i-- > 0;) {
        uint32_t off;
        unsigned need = i == 0 ? BL_PLAIN : BL_PLAIN | BL_WILD;

        h = bl_step(h, qname[i]);
        if (i > 0 && qname[i - 1] != '.') {
            continue;
        }
        off = bl_find(ix, qname + i, qlen - i, bl_mix(h));
        if (off != 0 && (bl_flags(ix->arena + off) & need)) {
            best = off;
        }
    }
    if (best == 0) {
        return 0;
    }
    hit->entry = bl_entry(ix->arena + best);
    hit->list = bl_list_of(ix, best);
    return 1;
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

/* ---- the detector ---------------------------------------------------- */

struct blocklist {
    struct detector base;
    struct blocklist_index *block;  /* the blocklists */
    struct blocklist_index *allow;  /* allowlists; they win */
};

/*
 * The allowlist files, then the shipped default.  Lists from ConfigMaps
 * (namespaceConfigMaps) are not loaded here yet, and a list's namespace
 * scope is not applied: every file list is cluster-wide.
 */
static struct blocklist_index *
blocklist_load_allow(const struct config *cfg, char *err, size_t errlen)
{
    const char *paths[CONFIG_LISTS_MAX + 1];
    char def[CONFIG_NAME_MAX + 64];
    size_t n = 0;

    for (size_t i = 0; i < cfg->blocklist.nallow; i++) {
        paths[n++] = cfg->blocklist.allow[i].name;
    }
    if (cfg->blocklist.default_allowlist) {
        if (datadir_path("allowlist-default.txt", def, sizeof(def)) != 0) {
            snprintf(err, errlen, "default allowlist: path too long");
            return NULL;
        }
        paths[n++] = def;
    }
    return blocklist_index_load(paths, n, err, errlen);
}

static struct blocklist_index *
blocklist_load_block(const struct config *cfg, char *err, size_t errlen)
{
    const char *paths[CONFIG_LISTS_MAX];

    for (size_t i = 0; i < cfg->blocklist.nfiles; i++) {
        paths[i] = cfg->blocklist.files[i].name;
    }
    return blocklist_index_load(paths, cfg->blocklist.nfiles, err, errlen);
}

static void
blocklist_check(struct detector *d, const struct event *ev,
                chain_report_fn *report, void *ctx)
{
    struct blocklist *b = (struct blocklist *)d;
    struct blocklist_hit hit, allow;
    struct finding f;

    if (!detector_has_question(ev) ||
        !blocklist_index_lookup(b->block, ev->qname, ev->qname_len, &hit) ||
        blocklist_index_lookup(b->allow, ev->qname, ev->qname_len, &allow)) {
        return;
    }
    finding_init(&f, "blocklist", "DNSToBlocklistedFQDN", "high", hit.entry,
                 ev);
    detector_question_signals(&f, ev);
    finding_signal(&f, "list", "%s", hit.list);
    finding_signal(&f, "entry", "%s", hit.entry);
    report(ctx, &f);
}

static json_t *
blocklist_json_str(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static void
blocklist_explain(struct detector *d, const char *qname, json_t *obj)
{
    struct blocklist *b = (struct blocklist *)d;
    struct blocklist_hit hit = {NULL, NULL}, allow = {NULL, NULL};
    char name[EVENT_QNAME_MAX];
    size_t len = detector_normalise(qname, name);
    int blocked = blocklist_index_lookup(b->block, name, len, &hit);
    int allowed = blocklist_index_lookup(b->allow, name, len, &allow);
    json_t *v = json_object();

    json_object_set_new(v, "blocked", json_boolean(blocked && !allowed));
    json_object_set_new(v, "entry", blocklist_json_str(hit.entry));
    json_object_set_new(v, "list", blocklist_json_str(hit.list));
    json_object_set_new(v, "allowed_by", blocklist_json_str(allow.entry));
    json_object_set_new(obj, "blocklist", v);
}

static void
blocklist_free(struct detector *d)
{
    struct blocklist *b = (struct blocklist *)d;

    blocklist_index_free(b->block);
    blocklist_index_free(b->allow);
    free(b);
}

struct detector *
blocklist_create(const struct config *cfg, char *err, size_t errlen)
{
    struct blocklist *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        snprintf(err, errlen, "blocklist: out of memory");
        return NULL;
    }
    b->base.name = "blocklist";
    b->base.check = blocklist_check;
    b->base.explain = blocklist_explain;
    b->base.free = blocklist_free;
    b->block = blocklist_load_block(cfg, err, errlen);
    b->allow = b->block != NULL ? blocklist_load_allow(cfg, err, errlen)
                                : NULL;
    if (b->block == NULL || b->allow == NULL) {
        blocklist_free(&b->base);
        return NULL;
    }
    log_info("blocklist loaded", "entries=%zu allow=%zu bytes=%zu",
             blocklist_index_size(b->block), blocklist_index_size(b->allow),
             blocklist_index_bytes(b->block));
    return &b->base;
}

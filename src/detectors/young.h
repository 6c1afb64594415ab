/*
 * young.h - the parts of the youngDomain detector (young.c) that stand on
 * their own: RFC 3339 and RFC 9083 parsing, the RDAP bootstrap table, the
 * token bucket and the verdict cache.  The detector itself is built by
 * young_create() (chain.h); these are exposed for its unit tests.
 *
 * None of these objects lock: each belongs to one thread at a time.  In
 * the detector the caches belong to the pipeline thread, the bucket to the
 * lookup worker, and the bootstrap table is read-only after loading.
 */
#ifndef DD_YOUNG_H
#define DD_YOUNG_H

#include <stddef.h>
#include <stdint.h>

/* Longest registrable domain looked up, with its NUL. */
#define YOUNG_NAME_MAX 128

/* Longest RDAP base URL kept from the bootstrap file, with its NUL. */
#define YOUNG_URL_MAX 256

/*
 * Parse an RFC 3339 date-time ("2024-01-15T10:20:30Z", with an optional
 * fraction and a "Z" or "+hh:mm" / "-hh:mm" offset; 't', 'z' and a space
 * separator also accepted) into Unix seconds (the fraction is dropped).
 * Returns 0, or -EINVAL for anything else (out-of-range fields included).
 */
int young_rfc3339(const char *s, int64_t *out);

/*
 * Find the registration date in an RFC 9083 domain object (len bytes of
 * JSON, no NUL needed): the eventDate of the first events[] entry whose
 * eventAction is "registration".  Returns 0 with *out in Unix seconds,
 * -ENOENT when the object has no registration event (or an unreadable
 * date), -EINVAL when body is not a JSON object or names another
 * objectClassName than "domain".
 */
int young_rdap_registration(const char *body, size_t len, int64_t *out);

struct young_bootstrap;

/*
 * Load an RFC 9224 bootstrap file ({"services": [[[tld...], [url...]],
 * ...]}).  Each TLD keeps its service's first https URL (else its first
 * URL), with a '/' appended when missing.  Returns NULL and writes the
 * reason, naming path, to err when the file cannot be read or has no
 * usable service.
 */
struct young_bootstrap *young_bootstrap_load(const char *path, char *err,
                                             size_t errlen);
void young_bootstrap_free(struct young_bootstrap *b);

/*
 * The RDAP base URL for a domain ("example.co.uk"): the longest suffix of
 * whole labels the file lists ("co.uk", else "uk").  Returns an index for
 * young_bootstrap_url(), or -1 when no suffix is listed.
 */
int young_bootstrap_find(const struct young_bootstrap *b,
                         const char *domain);
const char *young_bootstrap_url(const struct young_bootstrap *b, int idx);

/* TLD entries loaded (the services' TLDs, duplicates once). */
size_t young_bootstrap_size(const struct young_bootstrap *b);

/*
 * A token bucket: rate tokens a second up to burst, starting full.
 * Times are CLOCK_MONOTONIC nanoseconds.
 */
struct young_bucket {
    double rate;       /* tokens added per second, > 0 */
    double burst;      /* most tokens held, >= 1 */
    double tokens;     /* tokens now (as of last_ns) */
    uint64_t last_ns;  /* when tokens was last brought up to date */
};

void young_bucket_init(struct young_bucket *b, double rate, double burst,
                       uint64_t now_ns);

/* Take one token: 1 when there was one, else 0 (nothing taken). */
int young_bucket_take(struct young_bucket *b, uint64_t now_ns);

/* Nanoseconds until a token is there (0 when there is one now). */
uint64_t young_bucket_wait_ns(struct young_bucket *b, uint64_t now_ns);

/* What a lookup found out about a registrable domain. */
enum young_outcome {
    YOUNG_PENDING = 0,     /* queued or in flight */
    YOUNG_REGISTERED,      /* registration date known */
    YOUNG_NOTFOUND,        /* the registry answered 404 */
    YOUNG_NODATE,          /* an answer without a registration event */
    YOUNG_ERROR,           /* transport error, timeout, bad answer */
    YOUNG_RATELIMITED,     /* the registry answered 429 */
    YOUNG_UNSUPPORTED,     /* no RDAP server for the TLD */
    YOUNG_OUTCOMES
};

struct young_verdict {
    enum young_outcome outcome;
    int64_t registered_s;  /* Unix seconds, with YOUNG_REGISTERED */
    int server;            /* bootstrap index, -1 when none */
};

struct young_cache;
struct metrics_series;

/*
 * A bounded cache of verdicts by domain: 4-way set-associative over
 * capacity entries (rounded up to a power of two, at least 4).  A full set
 * evicts its least recently used entry; evictions of entries still
 * unexpired are counted, also in the counter evicted when not NULL.
 * Returns NULL when out of memory.
 */
struct young_cache *young_cache_create(size_t capacity,
                                       struct metrics_series *evicted);
void young_cache_free(struct young_cache *c);

/*
 * Look domain up; 1 with *out filled when present and not expired at
 * now_ns (the entry then counts as used), else 0.
 */
int young_cache_get(struct young_cache *c, const char *domain,
                    uint64_t now_ns, struct young_verdict *out);

/*
 * Insert or replace domain's verdict, valid until expires_ns.  Domains
 * of YOUNG_NAME_MAX bytes or more are not stored.
 */
void young_cache_put(struct young_cache *c, const char *domain,
                     const struct young_verdict *v, uint64_t now_ns,
                     uint64_t expires_ns);

/* Unexpired entries evicted so far. */
uint64_t young_cache_evictions(const struct young_cache *c);

#endif

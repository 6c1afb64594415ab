/*
 * config.c - load a DNSDetectConfig manifest into a struct config.
 *
 * libyaml's document API builds the node tree.  A table per mapping of the
 * schema names each known key, the type of its value and where the value
 * goes; one walker follows the tables.  Because the walk only descends
 * where a table says so, its depth and work are bounded by the schema,
 * whatever the input holds (aliases included, even cyclic ones).
 *
 * Known shortcomings: an error inside an aliased value names the line of
 * its anchor, not of the alias, because libyaml's tree keeps one node for
 * both.  Explicit tags (!!str, !!int) are ignored: the tree gives every
 * untagged scalar a default tag, so an explicit one cannot be told apart.
 */
#include "config/config.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CFG_API_VERSION "security.ugallu.io/v1alpha1"
#define CFG_KIND "DNSDetectConfig"
#define CFG_SHOW_MAX 40     /* bytes of a bad value quoted in an error */

enum cfg_type {
    CT_MAP,         /* nested mapping, described by sub */
    CT_IGNORE,      /* any value, not read */
    CT_CONST,       /* string that must equal expect */
    CT_STRING,      /* char[size] */
    CT_SOURCE,      /* char[size] holding one of the source modes */
    CT_BOOL,        /* int, 0 or 1 */
    CT_UINT,        /* unsigned in [min, max] */
    CT_U64,         /* uint64_t in [min, max] */
    CT_DOUBLE,      /* double in [min, max] */
    CT_DURATION,    /* uint64_t nanoseconds, above zero */
    CT_STRINGS,     /* list of strings: char[cap][size] and a count */
    CT_FILES,       /* list of paths into struct config_listref[cap] */
    CT_REFS,        /* list of {namespace, name, clusterWide} mappings */
};

#define CFG_REQUIRED 1u     /* a missing or null value is an error */
#define CFG_NONEMPTY 2u     /* strings, list items: "" is an error */
#define CFG_EMPTY_OK 4u     /* CT_SOURCE: "" means none */
#define CFG_MIN_EXCL 8u     /* numbers: the value must be above min */

/* One key of a mapping.  A table ends with a NULL key; "*" matches any. */
struct cfg_field {
    const char *key;
    enum cfg_type type;
    unsigned flags;
    size_t off;                     /* value offset in the base struct */
    size_t size;                    /* string buffer size */
    size_t cap;                     /* list capacity */
    size_t count_off;               /* list count offset (size_t) */
    double min;                     /* numbers: inclusive range */
    double max;
    const struct cfg_field *sub;    /* CT_MAP, CT_REFS: item table */
    const char *expect;             /* CT_CONST: the only value */
};

#define CFG_SZ(T, m) sizeof(((T *)0)->m)
#define CFG_END { .key = NULL }
#define CFG_MAP(k, t) { .key = k, .type = CT_MAP, .sub = t }
#define CFG_SKIP(k) { .key = k, .type = CT_IGNORE }
#define CFG_CONST(k, v) \
    { .key = k, .type = CT_CONST, .flags = CFG_REQUIRED, .expect = v }
#define CFG_STR(T, k, m, fl) { .key = k, .type = CT_STRING, .flags = fl, \
    .off = offsetof(T, m), .size = CFG_SZ(T, m) }
#define CFG_MODE(k, m, fl) { .key = k, .type = CT_SOURCE, .flags = fl, \
    .off = offsetof(struct config, m), .size = CFG_SZ(struct config, m) }
#define CFG_BOOL(T, k, m) { .key = k, .type = CT_BOOL, .off = offsetof(T, m) }
#define CFG_NUM(ty, k, m, lo, hi, fl) { .key = k, .type = ty, .flags = fl, \
    .off = offsetof(struct config, m), .min = lo, .max = hi }
#define CFG_UINT(k, m, lo, hi) CFG_NUM(CT_UINT, k, m, lo, hi, 0)
#define CFG_U64(k, m, lo) CFG_NUM(CT_U64, k, m, lo, (double)UINT64_MAX, 0)
#define CFG_DBL(k, m, lo, hi) CFG_NUM(CT_DOUBLE, k, m, lo, hi, 0)
#define CFG_DUR(k, m) \
    { .key = k, .type = CT_DURATION, .off = offsetof(struct config, m) }
#define CFG_LIST(ty, k, m, n, item) { .key = k, .type = ty, \
    .flags = CFG_NONEMPTY, .off = offsetof(struct config, m), \
    .size = CFG_SZ(struct config, item), \
    .cap = CFG_SZ(struct config, m) / CFG_SZ(struct config, m[0]), \
    .count_off = offsetof(struct config, n) }
#define CFG_REFLIST(k, m, n, t) { .key = k, .type = CT_REFS, \
    .off = offsetof(struct config, m), .sub = t, \
    .cap = CFG_SZ(struct config, m) / CFG_SZ(struct config, m[0]), \
    .count_off = offsetof(struct config, n) }
#define CFG_ENABLED(m) CFG_BOOL(struct config, "enabled", m.enabled)

static const char *const cfg_modes[] = {
    "coredns-ugallu", "tetragon", "dnstap", "pcap", NULL,
};

static const char *const cfg_true_words[] = {
    "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL,
};

static const char *const cfg_false_words[] = {
    "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL,
};

static const char *const cfg_null_words[] = {
    "", "~", "null", "Null", "NULL", NULL,
};

/* The schema, leaves first.  No table may exceed 32 keys (bit masks). */
static const struct cfg_field cfg_ref_fields[] = {
    CFG_STR(struct config_listref, "namespace", namespace_,
            CFG_REQUIRED | CFG_NONEMPTY),
    CFG_STR(struct config_listref, "name", name, CFG_REQUIRED | CFG_NONEMPTY),
    CFG_BOOL(struct config_listref, "clusterWide", cluster_wide),
    CFG_END,
};

static const struct cfg_field cfg_blocklist_fields[] = {
    CFG_ENABLED(blocklist),
    CFG_REFLIST("namespaceConfigMaps", blocklist.maps, blocklist.nmaps,
                cfg_ref_fields),
    CFG_LIST(CT_FILES, "files", blocklist.files, blocklist.nfiles,
             blocklist.files[0].name),
    CFG_LIST(CT_FILES, "allowlistFiles", blocklist.allow, blocklist.nallow,
             blocklist.allow[0].name),
    CFG_BOOL(struct config, "defaultAllowlist", blocklist.default_allowlist),
    CFG_END,
};

static const struct cfg_field cfg_dga_fields[] = {
    CFG_ENABLED(dga),
    CFG_UINT("minLength", dga.min_length, 1, 253),
    CFG_DBL("minEntropy", dga.min_entropy, 0, 8),
    CFG_DBL("maxNgramScore", dga.max_ngram, -DBL_MAX, DBL_MAX),
    CFG_UINT("nxdomainBurst", dga.nxdomain_burst, 0, 16),
    CFG_DUR("burstWindow", dga.burst_window_ns),
    CFG_END,
};

static const struct cfg_field cfg_slow_fields[] = {
    CFG_ENABLED(slow_query),
    CFG_DUR("latencyP99", slow_query.latency_p99_ns),
    CFG_END,
};

static const struct cfg_field cfg_tunnel_fields[] = {
    CFG_ENABLED(tunneling),
    CFG_UINT("maxLabelLength", tunneling.max_label_len, 1, 63),
    CFG_DBL("minEntropy", tunneling.min_entropy, 0, 8),
    CFG_UINT("uniqueSubdomains", tunneling.unique_subdomains, 1, 1000000),
    CFG_DUR("window", tunneling.window_ns),
    CFG_END,
};

static const struct cfg_field cfg_exfil_fields[] = {
    CFG_ENABLED(exfiltration),
    CFG_U64("bytesPerWindow", exfiltration.bytes_per_window, 1),
    CFG_DUR("window", exfiltration.window_ns),
    CFG_END,
};

static const struct cfg_field cfg_doh_fields[] = {
    CFG_ENABLED(doh),
    CFG_END,
};

static const struct cfg_field cfg_dot_fields[] = {
    CFG_ENABLED(dot),
    CFG_END,
};

static const struct cfg_field cfg_young_fields[] = {
    CFG_ENABLED(young_domain),
    CFG_UINT("thresholdDays", young_domain.threshold_days, 1, 36500),
    CFG_STR(struct config, "rdapBootstrap", young_domain.rdap_bootstrap, 0),
    CFG_NUM(CT_DOUBLE, "rateLimit", young_domain.rate_limit, 0, 1000,
            CFG_MIN_EXCL),
    CFG_END,
};

static const struct cfg_field cfg_port_fields[] = {
    CFG_ENABLED(anomalous_port),
    CFG_END,
};

static const struct cfg_field cfg_detector_fields[] = {
    CFG_MAP("blocklist", cfg_blocklist_fields),
    CFG_MAP("dga", cfg_dga_fields),
    CFG_MAP("slowQuery", cfg_slow_fields),
    CFG_MAP("tunneling", cfg_tunnel_fields),
    CFG_MAP("exfiltration", cfg_exfil_fields),
    CFG_MAP("doh", cfg_doh_fields),
    CFG_MAP("dot", cfg_dot_fields),
    CFG_MAP("youngDomain", cfg_young_fields),
    CFG_MAP("anomalousPort", cfg_port_fields),
    CFG_END,
};

static const struct cfg_field cfg_source_fields[] = {
    CFG_MODE("mode", source.mode, 0),
    CFG_MODE("fallback", source.fallback, CFG_EMPTY_OK),
    CFG_LIST(CT_STRINGS, "endpoints", source.endpoints, source.nendpoints,
             source.endpoints[0]),
    CFG_STR(struct config, "tokenSecret", source.token_secret, 0),
    CFG_STR(struct config, "corednsService", source.coredns_service,
            CFG_NONEMPTY),
    CFG_UINT("corednsPort", source.coredns_port, 1, 65535),
    CFG_STR(struct config, "dnstapSocket", source.dnstap_socket, 0),
    CFG_STR(struct config, "dnstapTCP", source.dnstap_tcp, 0),
    CFG_STR(struct config, "interface", source.interface, 0),
    CFG_DUR("silenceAfter", source.silence_ns),
    CFG_END,
};

static const struct cfg_field cfg_spec_fields[] = {
    CFG_MAP("source", cfg_source_fields),
    CFG_MAP("detectors", cfg_detector_fields),
    CFG_END,
};

static const struct cfg_field cfg_meta_fields[] = {
    CFG_STR(struct config, "name", name, 0),
    CFG_STR(struct config, "namespace", namespace_, 0),
    CFG_U64("generation", generation, 0),
    CFG_SKIP("*"),
    CFG_END,
};

static const struct cfg_field cfg_top_fields[] = {
    CFG_CONST("apiVersion", CFG_API_VERSION),
    CFG_CONST("kind", CFG_KIND),
    CFG_MAP("metadata", cfg_meta_fields),
    CFG_MAP("spec", cfg_spec_fields),
    CFG_SKIP("status"),
    CFG_END,
};

/* Keys of one mapping met so far, and those with a non-null value. */
struct cfg_masks {
    uint32_t seen;
    uint32_t set;
};

/* The state of one parse: the tree, the current path, the error buffer. */
struct cfg_ctx {
    yaml_document_t *doc;
    const char *text;
    size_t len;
    char path[256];
    size_t pathlen;
    char *err;
    size_t errlen;
};

static int cfg_walk_map(struct cfg_ctx *x, yaml_node_t *map,
                        const struct cfg_field *tab, void *base);

void
config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "default");
    snprintf(c->source.mode, sizeof(c->source.mode), "dnstap");
    snprintf(c->source.token_secret, sizeof(c->source.token_secret),
             "ugallu-coredns-grpc-token");
    snprintf(c->source.coredns_service, sizeof(c->source.coredns_service),
             "kube-system/kube-dns");
    c->source.coredns_port = 9253;
    c->source.silence_ns = 60ull * 1000000000ull;

    c->blocklist.enabled = 1;
    c->blocklist.default_allowlist = 1;

    c->dga.enabled = 1;
    c->dga.min_length = 12;
    c->dga.min_entropy = 3.5;
    c->dga.nxdomain_burst = 4;
    c->dga.burst_window_ns = 600ull * 1000000000;
    c->slow_query.enabled = 1;
    c->slow_query.latency_p99_ns = 500ull * 1000000;

    c->tunneling.enabled = 1;
    c->tunneling.max_label_len = 40;
    c->tunneling.min_entropy = 3.8;
    c->tunneling.unique_subdomains = 50;
    c->tunneling.window_ns = 60ull * 1000000000;
    c->exfiltration.enabled = 1;
    c->exfiltration.bytes_per_window = 64 * 1024;
    c->exfiltration.window_ns = 60ull * 1000000000;

    c->doh.enabled = 1;
    c->dot.enabled = 1;
    /*
     * Off unless asked for: it sends the names pods look up to the
     * registries' RDAP servers, which is a network and privacy choice
     * the operator makes.
     */
    c->young_domain.enabled = 0;
    c->young_domain.threshold_days = 30;
    c->young_domain.rate_limit = 5.0;
    c->anomalous_port.enabled = 1;
}

/* Errors. */

static void
cfg_vformat(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err != NULL && errlen > 0) {
        vsnprintf(err, errlen, fmt, ap);
    }
}

static int
cfg_format(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_vformat(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* "line N: <path>: <message>" at node n; returns -EINVAL. */
static int
cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cfg_format(x->err, x->errlen, -EINVAL, "line %zu: %s%s%s",
                      n->start_mark.line + 1, x->path,
                      x->pathlen > 0 ? ": " : "", msg);
}

static int
cfg_is_word(const char *s, const char *const *words)
{
    for (size_t i = 0; words[i] != NULL; i++) {
        if (strcmp(s, words[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
cfg_is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE
           && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
           && cfg_is_word((const char *)n->data.scalar.value,
                          cfg_null_words);
}

/* Describe a node for an error: 'plain', "quoted", null, a mapping. */
static void
cfg_show(const yaml_node_t *n, char *buf, size_t size)
{
    const char *v;
    size_t len, i;
    char q;

    if (n->type != YAML_SCALAR_NODE || cfg_is_null(n)) {
        snprintf(buf, size, "%s", n->type == YAML_MAPPING_NODE ? "a mapping"
                 : n->type == YAML_SEQUENCE_NODE ? "a list" : "null");
        return;
    }

    v = (const char *)n->data.scalar.value;
    len = n->data.scalar.length;
    q = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? '\'' : '"';
    snprintf(buf, size, "%c", q);
    for (i = 0; i < len && i < CFG_SHOW_MAX && i + 6 < size; i++) {
        unsigned char ch = (unsigned char)v[i];
        buf[i + 1] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    snprintf(buf + i + 1, size - i - 1, "%s%c", i < len ? "..." : "", q);
}

static int
cfg_expected(struct cfg_ctx *x, const yaml_node_t *n, const char *what)
{
    char shown[CFG_SHOW_MAX + 8];

    cfg_show(n, shown, sizeof(shown));
    return cfg_fail(x, n, "expected %s, got %s", what, shown);
}

/* Path: push ".key" or "[i]", pop back to a saved length. */

static size_t
cfg_push(struct cfg_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t
cfg_push(struct cfg_ctx *x, const char *fmt, ...)
{
    size_t old = x->pathlen;
    size_t room = sizeof(x->path) - old;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(x->path + old, room, fmt, ap);
    va_end(ap);
    x->pathlen = n < 0 ? old : (size_t)n >= room ? sizeof(x->path) - 1
                 : old + (size_t)n;
    return old;
}

static void
cfg_pop(struct cfg_ctx *x, size_t old)
{
    x->pathlen = old;
    x->path[old] = '\0';
}

/* Scalars. */

/* The text of scalar n, or NULL after an error naming what was wanted. */
static const char *
cfg_scalar(struct cfg_ctx *x, const yaml_node_t *n, const char *what,
           int plain_only)
{
    const char *v;

    if (n->type != YAML_SCALAR_NODE || cfg_is_null(n)
        || (plain_only && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)) {
        cfg_expected(x, n, what);
        return NULL;
    }
    v = (const char *)n->data.scalar.value;
    if (strlen(v) != n->data.scalar.length) {
        cfg_fail(x, n, "expected %s, got text holding a NUL byte", what);
        return NULL;
    }
    return v;
}

static int
cfg_set_const(struct cfg_ctx *x, const struct cfg_field *f,
              const yaml_node_t *n)
{
    const char *v = cfg_scalar(x, n, "a string", 0);

    if (v == NULL) {
        return -EINVAL;
    }
    if (strcmp(v, f->expect) != 0) {
        return cfg_expected(x, n, f->expect);
    }
    return 0;
}

static int
cfg_set_string(struct cfg_ctx *x, const struct cfg_field *f,
               const yaml_node_t *n, char *dst, size_t size)
{
    const char *v = cfg_scalar(x, n, "a string", 0);
    size_t len;

    if (v == NULL) {
        return -EINVAL;
    }
    len = strlen(v);
    if (len >= size) {
        return cfg_fail(x, n, "%zu bytes is too long, at most %zu", len,
                        size - 1);
    }
    if (len == 0 && (f->flags & CFG_NONEMPTY)) {
        return cfg_fail(x, n, "must not be empty");
    }
    if (f->type == CT_SOURCE && !cfg_is_word(v, cfg_modes)
        && !(len == 0 && (f->flags & CFG_EMPTY_OK))) {
        return cfg_expected(x, n, "one of coredns-ugallu, tetragon, "
                            "dnstap, pcap");
    }
    memcpy(dst, v, len + 1);
    return 0;
}

static int
cfg_set_bool(struct cfg_ctx *x, const yaml_node_t *n, int *dst)
{
    const char *v = cfg_scalar(x, n, "true or false", 1);

    if (v == NULL) {
        return -EINVAL;
    }
    if (cfg_is_word(v, cfg_true_words)) {
        *dst = 1;
    } else if (cfg_is_word(v, cfg_false_words)) {
        *dst = 0;
    } else {
        return cfg_expected(x, n, "true or false");
    }
    return 0;
}

static int
cfg_range_error(struct cfg_ctx *x, const struct cfg_field *f,
                const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    if (f->type == CT_DOUBLE && (f->flags & CFG_MIN_EXCL)) {
        return cfg_fail(x, n, "%s is out of range, must be above %g and "
                        "at most %g", v, f->min, f->max);
    }
    if (f->type == CT_DOUBLE) {
        return cfg_fail(x, n, "%s is out of range, must be between %g and "
                        "%g", v, f->min, f->max);
    }
    if (f->max >= (double)UINT64_MAX) {
        return cfg_fail(x, n, "%s is out of range, must be at least %.0f", v,
                        f->min);
    }
    return cfg_fail(x, n, "%s is out of range, must be between %.0f and "
                    "%.0f", v, f->min, f->max);
}

/*
 * Scan a plain decimal integer with an optional sign.  Returns 0 with the
 * magnitude and sign, or -EINVAL when v is no integer or overflows.
 */
static int
cfg_scan_integer(const char *v, uint64_t *mag, int *neg)
{
    char *end;

    *neg = *v == '-';
    if (*v == '-' || *v == '+') {
        v++;
    }
    if (*v < '0' || *v > '9') {
        return -EINVAL;
    }
    errno = 0;
    *mag = strtoull(v, &end, 10);
    return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

static int
cfg_set_integer(struct cfg_ctx *x, const struct cfg_field *f,
                const yaml_node_t *n, void *dst)
{
    const char *v = cfg_scalar(x, n, "an integer", 1);
    uint64_t mag;
    int neg;

    if (v == NULL) {
        return -EINVAL;
    }
    if (cfg_scan_integer(v, &mag, &neg) < 0) {
        return cfg_expected(x, n, "an integer");
    }
    if ((neg && mag != 0) || (double)mag < f->min || (double)mag > f->max) {
        return cfg_range_error(x, f, n);
    }

    if (f->type == CT_UINT) {
        *(unsigned *)dst = (unsigned)mag;
    } else {
        *(uint64_t *)dst = mag;
    }
    return 0;
}

/* A plain decimal number: digits, an optional fraction and exponent. */
static int
cfg_scan_double(const char *v, double *d)
{
    char *end;

    if (v[strspn(v, "0123456789+-.eE")] != '\0'
        || strpbrk(v, "0123456789") == NULL) {
        return -EINVAL;
    }
    errno = 0;
    *d = strtod(v, &end);
    return errno != 0 || *end != '\0' || !isfinite(*d) ? -EINVAL : 0;
}

static int
cfg_set_double(struct cfg_ctx *x, const struct cfg_field *f,
               const yaml_node_t *n, double *dst)
{
    const char *v = cfg_scalar(x, n, "a number", 1);
    double d;

    if (v == NULL) {
        return -EINVAL;
    }
    if (cfg_scan_double(v, &d) < 0) {
        return cfg_expected(x, n, "a number");
    }
    if (d < f->min || d > f->max
        || ((f->flags & CFG_MIN_EXCL) && d <= f->min)) {
        return cfg_range_error(x, f, n);
    }
    *dst = d;
    return 0;
}

static int
cfg_set_duration(struct cfg_ctx *x, const yaml_node_t *n, uint64_t *dst)
{
    const char *what = "a duration such as 500ms, 1.5s or 1h30m";
    const char *v = cfg_scalar(x, n, what, 0);
    uint64_t ns;

    if (v == NULL) {
        return -EINVAL;
    }
    if (config_duration(v, &ns) < 0) {
        return cfg_expected(x, n, what);
    }
    if (ns == 0) {
        return cfg_fail(x, n, "must be above 0");
    }
    *dst = ns;
    return 0;
}

/* Lists. */

static int
cfg_set_item(struct cfg_ctx *x, const struct cfg_field *f, yaml_node_t *n,
             char *slot)
{
    struct config_listref *ref = (struct config_listref *)slot;

    if (f->type == CT_STRINGS) {
        return cfg_set_string(x, f, n, slot, f->size);
    }
    memset(ref, 0, sizeof(*ref));
    if (f->type == CT_REFS) {
        return cfg_walk_map(x, n, f->sub, ref);
    }
    ref->cluster_wide = 1;
    return cfg_set_string(x, f, n, ref->name, sizeof(ref->name));
}

static int
cfg_set_list(struct cfg_ctx *x, const struct cfg_field *f,
             const yaml_node_t *seq, void *base)
{
    size_t stride = f->type == CT_STRINGS ? f->size
                    : sizeof(struct config_listref);
    size_t *count = (size_t *)((char *)base + f->count_off);
    yaml_node_item_t *it;
    int rc = 0;

    if (seq->type != YAML_SEQUENCE_NODE) {
        return cfg_expected(x, seq, "a list");
    }

    it = seq->data.sequence.items.start;
    *count = 0;
    for (size_t i = 0; rc == 0 && it + i < seq->data.sequence.items.top;
         i++) {
        yaml_node_t *n = yaml_document_get_node(x->doc, it[i]);
        size_t old = cfg_push(x, "[%zu]", i);

        if (i >= f->cap) {
            rc = cfg_fail(x, n, "more than %zu entries", f->cap);
        } else {
            rc = cfg_set_item(x, f, n, (char *)base + f->off + i * stride);
            *count = i + 1;
        }
        cfg_pop(x, old);
    }
    return rc;
}

/* Mappings. */

static int
cfg_set(struct cfg_ctx *x, const struct cfg_field *f, yaml_node_t *n,
        void *base)
{
    char *dst = (char *)base + f->off;

    switch (f->type) {
    case CT_MAP:
        return cfg_walk_map(x, n, f->sub, base);
    case CT_IGNORE:
        return 0;
    case CT_CONST:
        return cfg_set_const(x, f, n);
    case CT_STRING:
    case CT_SOURCE:
        return cfg_set_string(x, f, n, dst, f->size);
    case CT_BOOL:
        return cfg_set_bool(x, n, (int *)dst);
    case CT_UINT:
    case CT_U64:
        return cfg_set_integer(x, f, n, dst);
    case CT_DOUBLE:
        return cfg_set_double(x, f, n, (double *)dst);
    case CT_DURATION:
        return cfg_set_duration(x, n, (uint64_t *)dst);
    case CT_STRINGS:
    case CT_FILES:
    case CT_REFS:
        return cfg_set_list(x, f, n, base);
    }
    return -EINVAL;
}

/* Index of key in tab, -1 when unknown. */
static int
cfg_lookup(const struct cfg_field *tab, const char *key)
{
    for (int i = 0; tab[i].key != NULL; i++) {
        if (strcmp(tab[i].key, key) == 0 || strcmp(tab[i].key, "*") == 0) {
            return i;
        }
    }
    return -1;
}

/* Read one key: value pair of a mapping described by tab. */
static int
cfg_walk_pair(struct cfg_ctx *x, const struct cfg_field *tab,
              yaml_node_pair_t *pair, void *base, struct cfg_masks *m)
{
    yaml_node_t *k = yaml_document_get_node(x->doc, pair->key);
    yaml_node_t *v = yaml_document_get_node(x->doc, pair->value);
    const char *key = cfg_scalar(x, k, "a field name", 0);
    size_t old;
    int i, rc = 0;

    if (key == NULL) {
        return -EINVAL;
    }

    old = cfg_push(x, "%s%s", x->pathlen > 0 ? "." : "", key);
    i = cfg_lookup(tab, key);
    if (i < 0) {
        rc = cfg_fail(x, k, "unknown field");
    } else if (strcmp(tab[i].key, "*") != 0 && (m->seen >> i & 1)) {
        rc = cfg_fail(x, k, "duplicate field");
    } else if (!cfg_is_null(v)) {
        rc = cfg_set(x, &tab[i], v, base);
        m->set |= 1u << i;
    }
    if (i >= 0) {
        m->seen |= 1u << i;
    }
    cfg_pop(x, old);
    return rc;
}

static int
cfg_check_required(struct cfg_ctx *x, const yaml_node_t *map,
                   const struct cfg_field *tab, uint32_t set)
{
    for (int i = 0; tab[i].key != NULL; i++) {
        if ((tab[i].flags & CFG_REQUIRED) && !(set >> i & 1)) {
            size_t old = cfg_push(x, "%s%s", x->pathlen > 0 ? "." : "",
                                  tab[i].key);
            int rc = cfg_fail(x, map, "missing required field");

            cfg_pop(x, old);
            return rc;
        }
    }
    return 0;
}

static int
cfg_walk_map(struct cfg_ctx *x, yaml_node_t *map,
             const struct cfg_field *tab, void *base)
{
    struct cfg_masks m = { 0, 0 };
    yaml_node_pair_t *p;
    int rc;

    if (map->type != YAML_MAPPING_NODE) {
        return cfg_expected(x, map, "a mapping");
    }

    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        rc = cfg_walk_pair(x, tab, p, base, &m);
        if (rc < 0) {
            return rc;
        }
    }
    return cfg_check_required(x, map, tab, m.set);
}

/* The YAML stream. */

/* The 1-based line of a byte offset. */
static size_t
cfg_line_at(const struct cfg_ctx *x, size_t offset)
{
    size_t line = 1;

    for (size_t i = 0; i < offset && i < x->len; i++) {
        line += x->text[i] == '\n';
    }
    return line;
}

/*
 * Syntax errors name libyaml's line, kept to the last line holding text:
 * libyaml places errors found at the end of the input on the line after.
 */
static int
cfg_syntax_error(struct cfg_ctx *x, const yaml_parser_t *p)
{
    size_t last = cfg_line_at(x, x->len > 0 ? x->len - 1 : 0);
    size_t line = p->problem_mark.line + 1;
    size_t from = p->context_mark.line + 1;

    if (p->error == YAML_MEMORY_ERROR) {
        return cfg_format(x->err, x->errlen, -ENOMEM, "out of memory");
    }
    if (p->error == YAML_READER_ERROR) {
        line = cfg_line_at(x, p->problem_offset);
    }
    line = line < last ? line : last;
    from = from < last ? from : last;

    if (p->context != NULL) {
        return cfg_format(x->err, x->errlen, -EINVAL,
                          "line %zu: %s (%s from line %zu)", line,
                          p->problem, p->context, from);
    }
    return cfg_format(x->err, x->errlen, -EINVAL, "line %zu: %s", line,
                      p->problem != NULL ? p->problem : "invalid YAML");
}

/* Fail when the stream holds a second document after the first. */
static int
cfg_check_single(struct cfg_ctx *x, yaml_parser_t *p)
{
    yaml_document_t next;
    yaml_node_t *root;
    int rc = 0;

    if (!yaml_parser_load(p, &next)) {
        return cfg_syntax_error(x, p);
    }
    root = yaml_document_get_root_node(&next);
    if (root != NULL) {
        rc = cfg_format(x->err, x->errlen, -EINVAL,
                        "line %zu: more than one YAML document, expected "
                        "one DNSDetectConfig", next.start_mark.line + 1);
    }
    yaml_document_delete(&next);
    return rc;
}

static int
cfg_parse_stream(struct cfg_ctx *x, yaml_parser_t *p, struct config *c)
{
    yaml_document_t doc;
    yaml_node_t *root;
    int rc;

    if (!yaml_parser_load(p, &doc)) {
        return cfg_syntax_error(x, p);
    }
    x->doc = &doc;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        rc = cfg_format(x->err, x->errlen, -EINVAL, "line 1: empty "
                        "document, expected a DNSDetectConfig manifest");
    } else {
        rc = cfg_check_single(x, p);
    }

    if (rc == 0) {
        rc = cfg_walk_map(x, root, cfg_top_fields, c);
    }
    yaml_document_delete(&doc);
    x->doc = NULL;
    return rc;
}

int
config_parse(const char *text, size_t len, struct config *c, char *err,
             size_t errlen)
{
    struct cfg_ctx x = { .text = text, .len = len, .err = err,
                         .errlen = errlen };
    yaml_parser_t p;
    int rc;

    config_defaults(c);
    cfg_format(err, errlen, 0, "%s", "");
    if (len > CONFIG_TEXT_MAX) {
        return cfg_format(err, errlen, -EINVAL, "manifest of %zu bytes is "
                          "larger than %u", len, CONFIG_TEXT_MAX);
    }

    if (!yaml_parser_initialize(&p)) {
        return cfg_format(err, errlen, -ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    rc = cfg_parse_stream(&x, &p, c);
    yaml_parser_delete(&p);
    return rc;
}

/* Files. */

/* Read all of f into a new buffer of at most CONFIG_TEXT_MAX bytes. */
static int
cfg_read_all(FILE *f, char **out, size_t *outlen)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = NULL, *grown;
    int rc = 0;

    for (;;) {
        grown = realloc(buf, cap);
        if (grown == NULL) {
            free(buf);
            return -ENOMEM;
        }
        buf = grown;
        errno = 0;
        len += fread(buf + len, 1, cap - len, f);
        if (ferror(f) || len < cap || len > CONFIG_TEXT_MAX) {
            break;
        }
        cap *= 2;
    }

    if (ferror(f)) {
        rc = errno != 0 ? -errno : -EIO;
    } else if (len > CONFIG_TEXT_MAX) {
        rc = -EFBIG;
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int
config_load_file(const char *path, struct config *c, char *err,
                 size_t errlen)
{
    char ebuf[128];
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    int rc;

    if (f == NULL) {
        rc = -errno;
        return cfg_format(err, errlen, rc, "%s: %s", path,
                          strerror_r(-rc, ebuf, sizeof(ebuf)));
    }
    rc = cfg_read_all(f, &text, &len);
    fclose(f);
    if (rc < 0) {
        return cfg_format(err, errlen, rc, "%s: %s", path,
                          strerror_r(-rc, ebuf, sizeof(ebuf)));
    }

    rc = config_parse(text, len, c, err, errlen);
    free(text);
    return rc;
}

/* Durations. */

struct cfg_unit {
    const char *name;
    uint64_t ns;
};

static const struct cfg_unit cfg_units[] = {
    { "ns", 1 },
    { "us", 1000 },
    { "\xc2\xb5s", 1000 },          /* U+00B5 micro sign */
    { "\xce\xbcs", 1000 },          /* U+03BC Greek mu */
    { "ms", 1000000 },
    { "s", 1000000000 },
    { "m", 60ull * 1000000000 },
    { "h", 3600ull * 1000000000 },
    { NULL, 0 },
};

static int
cfg_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* The unit that starts at *s, up to the next digit or dot; 0 if none. */
static uint64_t
cfg_unit(const char **s)
{
    size_t n = 0;

    while ((*s)[n] != '\0' && !cfg_is_digit((*s)[n]) && (*s)[n] != '.') {
        n++;
    }
    for (size_t i = 0; n > 0 && cfg_units[i].name != NULL; i++) {
        if (strlen(cfg_units[i].name) == n
            && memcmp(cfg_units[i].name, *s, n) == 0) {
            *s += n;
            return cfg_units[i].ns;
        }
    }
    return 0;
}

/*
 * One "<number><unit>" part of a duration, advancing *s.  Like Go, fraction
 * digits past what 64 bits hold are dropped and the fraction is scaled in
 * floating point.
 */
static int
cfg_duration_part(const char **s, uint64_t *ns)
{
    uint64_t whole = 0, frac = 0, scale = 1, unit;
    int digits = 0;

    for (; cfg_is_digit(**s); (*s)++, digits++) {
        if (whole > (UINT64_MAX - 9) / 10) {
            return -EINVAL;
        }
        whole = whole * 10 + (uint64_t)(**s - '0');
    }
    if (**s == '.') {
        for ((*s)++; cfg_is_digit(**s); (*s)++, digits++) {
            if (scale <= UINT64_MAX / 100) {
                frac = frac * 10 + (uint64_t)(**s - '0');
                scale *= 10;
            }
        }
    }

    unit = cfg_unit(s);
    if (digits == 0 || unit == 0 || whole > (uint64_t)INT64_MAX / unit) {
        return -EINVAL;
    }
    *ns = whole * unit + (uint64_t)((double)frac * ((double)unit / scale));
    return *ns > (uint64_t)INT64_MAX ? -EINVAL : 0;
}

int
config_duration(const char *text, uint64_t *ns)
{
    const char *s = text;
    uint64_t total = 0, part;

    if (s == NULL) {
        return -EINVAL;
    }
    if (*s == '+') {
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*s == '\0') {
        return -EINVAL;
    }

    while (*s != '\0') {
        if (cfg_duration_part(&s, &part) < 0
            || part > (uint64_t)INT64_MAX - total) {
            return -EINVAL;
        }
        total += part;
    }
    *ns = total;
    return 0;
}

int
config_detector_enabled(const struct config *c, const char *name)
{
    const struct {
        const char *name;
        int enabled;
    } d[] = {
        {"blocklist", c->blocklist.enabled},
        {"dga", c->dga.enabled},
        {"slowQuery", c->slow_query.enabled},
        {"tunneling", c->tunneling.enabled},
        {"exfiltration", c->exfiltration.enabled},
        {"doh", c->doh.enabled},
        {"dot", c->dot.enabled},
        {"youngDomain", c->young_domain.enabled},
        {"anomalousPort", c->anomalous_port.enabled},
    };

    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        if (strcmp(d[i].name, name) == 0) {
            return d[i].enabled != 0;
        }
    }
    return -1;
}

int
config_source_equal(const struct config_source *a,
                    const struct config_source *b)
{
    if (strcmp(a->mode, b->mode) != 0 ||
        strcmp(a->fallback, b->fallback) != 0 ||
        a->nendpoints != b->nendpoints ||
        strcmp(a->token_secret, b->token_secret) != 0 ||
        strcmp(a->coredns_service, b->coredns_service) != 0 ||
        a->coredns_port != b->coredns_port ||
        strcmp(a->dnstap_socket, b->dnstap_socket) != 0 ||
        strcmp(a->dnstap_tcp, b->dnstap_tcp) != 0 ||
        strcmp(a->interface, b->interface) != 0 ||
        a->silence_ns != b->silence_ns) {
        return 0;
    }
    for (size_t i = 0; i < a->nendpoints && i < CONFIG_ENDPOINTS_MAX; i++) {
        if (strcmp(a->endpoints[i], b->endpoints[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

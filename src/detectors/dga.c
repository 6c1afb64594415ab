/*
 * dga.c - names made by a domain generation algorithm.
 *
 * The label judged is the first label of the registrable domain
 * ("xjw3k9q2l0ab" of "cdn.xjw3k9q2l0ab.com").  It fires when that label
 * is at least minLength long, its entropy is at least minEntropy, and its
 * mean character log-probability under the model built by
 * scripts/build_ngram_model.py is at or below the threshold the model
 * ships for its class (letters only; with a digit or '-') and length (or
 * maxNgramScore, for every class and length, when the config sets one).
 *
 * The model is an interpolated Kneser-Ney 4-gram model of real benign
 * names (host names, words, Debian package and maintainers' names): the
 * file lists ln P of each n-gram kept and the ln back-off weight of each
 * context, and ln P(d | abc) is that of the longest listed n-gram of
 * abcd, bcd, cd and d, plus the weights of the longer contexts passed
 * over; a symbol not listed at all costs ln(1/38).  The n-grams sit in an
 * open-addressing table built at load; scoring a label makes at most two
 * lookups per order per character and allocates nothing.
 *
 * The thresholds are mean + z sd of the scores of real host names of
 * that class and length the model was not trained on, with one z for
 * all lengths chosen so that 1 in 200 of them fires at minLength 6 and
 * minEntropy 2.5: a short label needs a far lower score than a long one.
 * minLength and minEntropy stay hard floors.  Labels shorter than the
 * shortest length the model has a threshold for never fire.
 *
 * NXDOMAIN bursts: malware running a DGA tries its names one after the
 * other and nearly all come back NXDOMAIN.  A name answered NXDOMAIN
 * that passes the model's looser burst bar (burst-threshold lines: 1 in
 * 20 real host names, labels from 4 characters whatever minLength says)
 * is noted for its client (detectors/dgaburst.h).  Once a client has
 * nxdomainBurst such names of distinct domains within burstWindow it is
 * in a burst: each of its names that passes the burst bar fires,
 * answered or not (the domain the operator did register resolves), and
 * the names noted before the burst was recognised are reported then.
 * Only sources that see answers make bursts.
 *
 * Known shortcoming: by the name alone, at 1 in 200 real host names
 * flagged, random labels of fewer than about 9 letters are often missed
 * (half of conficker's 4-9 letter names at minLength 6), as are about
 * 40 % of pronounceable ones (simda), because that many real short names
 * (acronyms, "dhcpy6d", people's names run together) score as badly;
 * bursts recover most but not all of them (conficker 79 %, simda 87 %
 * in replayed sessions).  Names glued from dictionary words (suppobox,
 * matsnu) are missed at any length.  Inside a burst 3 to 4 % of the
 * client's real names fire too, and a cache in front of the pods makes
 * all their NXDOMAIN answers one client's.
 *
 * The entropy is that of the alphabet the label was drawn from, estimated
 * from the label with the Chao-Shen coverage correction (Chao and Shen,
 * 2003), not the plain frequency figure: the plain figure of n characters
 * cannot exceed log2(n) (3.58 bits at 12) and a random 12-letter label
 * with one letter repeated has 3.42, so minEntropy 3.5 would only pass
 * labels with no repeated character.  The corrected figure of a random
 * label over a-z is near or above log2(26) = 4.7 at any length, that of
 * a label repeating few characters ("aaaabbbbcccc") stays low.
 * scripts/accuracy/dga_accuracy.py measures the result.
 *
 * Names under a suffix of the private section of the public suffix list
 * (platforms that hand out names: cloudfront.net, s3.amazonaws.com,
 * github.io, ddns.net) are not judged: their first label is a customer's
 * or the platform's identifier, often a hash (d1a2b3c4d5e6f7.cloudfront
 * .net), not a name someone registered.  The exception is the
 * dynamic-DNS and free-subdomain providers the model file lists
 * ("provider" lines): there a customer picks the label, as a registrant
 * would, so the label below the provider is judged ("x1y2z3.duckdns.org",
 * and "x1y2z3.co.cc" though co.cc is not in the public suffix list).  A
 * DGA under a provider missing from both lists goes unseen.
 *
 * Punycode labels (xn--) are not judged: their letters encode Unicode
 * code points, not a name, so the model does not apply and an
 * internationalised DGA goes unseen.
 */
#include <errno.h>
#include <libpsl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datadir.h"
#include "detectors/chain.h"
#include "detectors/detector.h"
#include "detectors/dgaburst.h"

#define DGA_MODEL_FILE "ngram-model.txt"
#define DGA_ALPHABET "abcdefghijklmnopqrstuvwxyz0123456789-"
#define DGA_END 37     /* '$': the name ends */
#define DGA_START 38   /* '^': before the name */
#define DGA_SYMS 39    /* alphabet, '$' and '^' */
#define DGA_NEXT 38    /* symbols that can follow a context: V */
#define DGA_ORDER_MAX 5         /* longest n-gram of a model */
#define DGA_GRAMS_MAX (1u << 20)
#define DGA_LENGTHS 64          /* thresholds for label lengths 0-63 */
#define DGA_CLASSES 2           /* letters only; with a digit or '-' */
#define DGA_PROVIDERS_MAX 1024
#define DGA_PROVIDER_LEN 64     /* longest provider name, with its NUL */
#define DGA_BARS 2              /* the name's own; a client in a burst */
#define DGA_RCODE_NXDOMAIN 3
#define DGA_FULL 1              /* dga_judge: measure everything */
#define DGA_BURST 2             /* dga_judge: also at the burst bar */

/* One n-gram of the model, in an open-addressing table. */
struct dga_gram {
    uint32_t key;       /* dga_key of its symbols; 0 for an empty slot */
    float logp;         /* ln P(last | the others); NAN: context only */
    float backoff;      /* ln of its weight as a context; 0 if none */
};

struct dga {
    struct detector base;
    unsigned min_length;
    double min_entropy;
    /* Fire at or below this mean log-probability, by label class and
     * length (longer labels use the last); -INFINITY never fires. */
    double max_score[DGA_CLASSES][DGA_LENGTHS];
    /* The same for a client in an NXDOMAIN burst, from the model's
     * burst-threshold lines; burst_min_length is the first length. */
    double burst_score[DGA_CLASSES][DGA_LENGTHS];
    unsigned burst_min_length;
    unsigned nxdomain_burst;     /* nxdomainBurst; 0: off */
    uint64_t burst_window_ns;
    struct dgaburst *bursts;     /* NULL when off */
    unsigned order;          /* symbols of the longest n-gram, 2-5 */
    struct dga_gram *grams;  /* mask + 1 slots, owned */
    uint32_t mask;
    size_t nproviders;  /* sorted provider names, for bsearch */
    char providers[DGA_PROVIDERS_MAX][DGA_PROVIDER_LEN];
};

/* What was measured of one name; fields past a failed test may be 0. */
struct dga_verdict {
    const char *registrable;  /* into the name, or NULL */
    size_t len;               /* length of its first label */
    int provider;             /* the label is a provider's customer's */
    int klass;                /* 0 letters only, 1 with a digit or '-' */
    double entropy;
    double score;
    double max_score;         /* the threshold for that class and length */
    double burst_score;       /* the burst bar for that class and length */
    const char *skipped;      /* why it was not judged, or NULL */
    int fire;                 /* beyond the name's own bar */
    int burst_fire;           /* beyond the burst bar (DGA_BURST) */
};

/* Model loading state, for messages. */
struct dga_load {
    const char *path;
    size_t line;
    struct dga *g;          /* order and providers are set in it */
    struct dga_gram *list;  /* n-grams read, before the table is built */
    size_t n, cap;
    int have_threshold;
    /* NAN where no line set it; [0] threshold, [1] burst-threshold */
    double threshold[DGA_BARS][DGA_CLASSES][DGA_LENGTHS];
};

/* Index of a label character: a-z, 0-9, and '-' for anything else. */
static size_t
dga_symbol(char c)
{
    if (c >= 'a' && c <= 'z') {
        return (size_t)(c - 'a');
    }
    if (c >= '0' && c <= '9') {
        return 26 + (size_t)(c - '0');
    }
    return 36;
}

/* Key of the n symbols s: each symbol + 1 in 6 bits, first lowest. */
static uint32_t
dga_key(const uint8_t *s, size_t n)
{
    uint32_t key = 0;

    for (size_t i = n; i-- > 0;) {
        key = key << 6 | (uint32_t)(s[i] + 1);
    }
    return key;
}

/* The slot of key: its n-gram, or the empty slot where it would go. */
static struct dga_gram *
dga_slot(struct dga_gram *table, uint32_t mask, uint32_t key)
{
    uint32_t i = (key * 2654435761u) >> 7 & mask;

    while (table[i].key != 0 && table[i].key != key) {
        i = (i + 1) & mask;
    }
    return &table[i];
}

/* The n-gram of key, or NULL. */
static const struct dga_gram *
dga_find(const struct dga *g, uint32_t key)
{
    const struct dga_gram *e = dga_slot(g->grams, g->mask, key);

    return e->key != 0 ? e : NULL;
}

/*
 * Symbols of a gram of the file into s: '^' only as leading padding (a
 * context may be padding alone), '$' only last, at most order symbols.
 * Returns their number, or 0.
 */
static size_t
dga_gram_symbols(const char *t, size_t len, unsigned order, uint8_t *s)
{
    size_t pad = strspn(t, "^");

    if (len == 0 || len > order) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (i < pad) {
            s[i] = DGA_START;
        } else if (t[i] == '$' && i == len - 1) {
            s[i] = DGA_END;
        } else if (strchr(DGA_ALPHABET, t[i]) != NULL && t[i] != '\0') {
            s[i] = (uint8_t)dga_symbol(t[i]);
        } else {
            return 0;
        }
    }
    return len;
}

/* A log value of the file: a finite number at or below 0. */
static int
dga_log_value(const char *p, char **end, float *out)
{
    double v = strtod(p, end);

    if (*end == p || !(v <= 0.0) || v < -1e6) {
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* Append e to the n-grams read. */
static int
dga_list_add(struct dga_load *ld, const struct dga_gram *e)
{
    if (ld->n == DGA_GRAMS_MAX / 2) {
        return -1;
    }
    if (ld->n == ld->cap) {
        size_t cap = ld->cap != 0 ? ld->cap * 2 : 4096;
        struct dga_gram *list = realloc(ld->list, cap * sizeof(*list));

        if (list == NULL) {
            return -1;
        }
        ld->list = list;
        ld->cap = cap;
    }
    ld->list[ld->n++] = *e;
    return 0;
}

/* "GRAM LOGP [BACKOFF]", LOGP "x" for a context only. */
static int
dga_gram_line(struct dga_load *ld, const char *key, size_t klen,
              const char *args)
{
    uint8_t s[DGA_ORDER_MAX];
    struct dga_gram e = {.logp = NAN, .backoff = 0.0f};
    const char *p = args + strspn(args, " \t");
    char *end;

    if (ld->g->order == 0 ||
        dga_gram_symbols(key, klen, ld->g->order, s) == 0) {
        return -1;
    }
    e.key = dga_key(s, klen);
    if (*p == 'x') {
        end = (char *)p + 1;
    } else if (dga_log_value(p, &end, &e.logp) != 0) {
        return -1;
    }
    p = end + strspn(end, " \t\r\n");
    if (*p != '\0' && (dga_log_value(p, &end, &e.backoff) != 0 ||
                       end[strspn(end, " \t\r\n")] != '\0')) {
        return -1;
    }
    return dga_list_add(ld, &e);
}

/* "ngram-order N": the longest n-gram, once, before the n-grams (a
 * name no n-gram can have). */
static int
dga_order_line(struct dga_load *ld, const char *args)
{
    char *end;
    unsigned long order = strtoul(args, &end, 10);

    if (end == args || end[strspn(end, " \t\r\n")] != '\0' || order < 2 ||
        order > DGA_ORDER_MAX || ld->g->order != 0) {
        return -1;
    }
    ld->g->order = (unsigned)order;
    return 0;
}

/* "threshold LEN X Y" (bar 0) or "burst-threshold LEN X Y" (bar 1):
 * for labels of LEN characters, X for those of letters only and Y for
 * those with a digit or '-'. */
static int
dga_threshold_line(struct dga_load *ld, const char *args, int bar)
{
    char *end;
    unsigned long len = strtoul(args, &end, 10);
    double value[DGA_CLASSES];

    if (end == args || len >= DGA_LENGTHS) {
        return -1;
    }
    for (size_t c = 0; c < DGA_CLASSES; c++) {
        const char *p = end;

        value[c] = strtod(p, &end);
        if (end == p || isnan(value[c])) {
            return -1;
        }
    }
    if (end[strspn(end, " \t\r\n")] != '\0') {
        return -1;
    }
    for (size_t c = 0; c < DGA_CLASSES; c++) {
        ld->threshold[bar][c][len] = value[c];
    }
    ld->have_threshold |= bar == 0;
    return 0;
}

/* "provider NAME": a dynamic-DNS or free-subdomain provider. */
static int
dga_provider_line(struct dga_load *ld, const char *args)
{
    size_t skip = strspn(args, " \t");
    size_t len = strcspn(args + skip, " \t\r\n");
    struct dga *g = ld->g;

    if (len == 0 || len >= DGA_PROVIDER_LEN ||
        args[skip + len + strspn(args + skip + len, " \t\r\n")] != '\0' ||
        g->nproviders == DGA_PROVIDERS_MAX) {
        return -1;
    }
    memcpy(g->providers[g->nproviders], args + skip, len);
    g->providers[g->nproviders][len] = '\0';
    g->nproviders++;
    return 0;
}

/* One line: a comment, a blank, a directive or an n-gram. */
static int
dga_model_line(struct dga_load *ld, const char *line)
{
    size_t klen = strcspn(line, " \t\r\n");
    char key[24];

    if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0') {
        return 0;
    }
    if (klen == 0 || klen >= sizeof(key)) {
        return -1;
    }
    memcpy(key, line, klen);
    key[klen] = '\0';
    if (strcmp(key, "ngram-order") == 0) {
        return dga_order_line(ld, line + klen);
    }
    if (strcmp(key, "threshold") == 0) {
        return dga_threshold_line(ld, line + klen, 0);
    }
    if (strcmp(key, "burst-threshold") == 0) {
        return dga_threshold_line(ld, line + klen, 1);
    }
    if (strcmp(key, "provider") == 0) {
        return dga_provider_line(ld, line + klen);
    }
    return dga_gram_line(ld, key, klen, line + klen);
}

static int
dga_model_read(struct dga_load *ld, FILE *fp, char *err, size_t errlen)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;

    while (rc == 0 && getline(&line, &cap, fp) >= 0) {
        ld->line++;
        if (dga_model_line(ld, line) != 0) {
            snprintf(err, errlen, "dga: %s:%zu: bad model line", ld->path,
                     ld->line);
            rc = -EINVAL;
        }
    }
    free(line);
    if (rc != 0) {
        return rc;
    }
    if (ld->g->order == 0 || !ld->have_threshold || ld->n == 0) {
        snprintf(err, errlen, "dga: %s: no 'ngram-order' line, "
                 "'threshold' line or n-gram", ld->path);
        return -EINVAL;
    }
    return 0;
}

/* The hash table of the n-grams read: at most half full. */
static int
dga_model_table(struct dga *g, const struct dga_load *ld, char *err,
                size_t errlen)
{
    size_t slots = 2;

    while (slots < 2 * ld->n) {
        slots *= 2;
    }
    g->grams = calloc(slots, sizeof(*g->grams));
    if (g->grams == NULL) {
        snprintf(err, errlen, "dga: out of memory");
        return -ENOMEM;
    }
    g->mask = (uint32_t)(slots - 1);
    for (size_t i = 0; i < ld->n; i++) {
        struct dga_gram *e = dga_slot(g->grams, g->mask, ld->list[i].key);

        if (e->key != 0) {
            snprintf(err, errlen, "dga: %s: an n-gram is listed twice",
                     ld->path);
            return -EINVAL;
        }
        *e = ld->list[i];
    }
    return 0;
}

static int
dga_provider_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* One bar's per-length thresholds from the lines read: each length
 * takes the line of the longest length not above it; none below the
 * first.  Returns the first length with a line (DGA_LENGTHS: none). */
static unsigned
dga_model_bar(double out[DGA_CLASSES][DGA_LENGTHS],
              const double in[DGA_CLASSES][DGA_LENGTHS])
{
    unsigned first = DGA_LENGTHS;

    for (size_t c = 0; c < DGA_CLASSES; c++) {
        double cur = -INFINITY;

        for (size_t len = 0; len < DGA_LENGTHS; len++) {
            if (!isnan(in[c][len])) {
                cur = in[c][len];
                first = len < first ? (unsigned)len : first;
            }
            out[c][len] = cur;
        }
    }
    return first;
}

static void
dga_model_thresholds(struct dga *g, const struct dga_load *ld)
{
    dga_model_bar(g->max_score, ld->threshold[0]);
    g->burst_min_length = dga_model_bar(g->burst_score, ld->threshold[1]);
    qsort(g->providers, g->nproviders, sizeof(g->providers[0]),
          dga_provider_cmp);
}

static int
dga_model_load(struct dga *g, char *err, size_t errlen)
{
    char path[CONFIG_NAME_MAX + 64];
    struct dga_load ld = {.path = path, .g = g};
    FILE *fp;
    int rc;

    for (size_t i = 0; i < DGA_BARS * DGA_CLASSES * DGA_LENGTHS; i++) {
        (&ld.threshold[0][0][0])[i] = NAN;
    }
    if (datadir_path(DGA_MODEL_FILE, path, sizeof(path)) != 0 ||
        (fp = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "dga: cannot open model %s: %s", path,
                 strerror(errno));
        return -ENOENT;
    }
    rc = dga_model_read(&ld, fp, err, errlen);
    fclose(fp);
    if (rc == 0) {
        rc = dga_model_table(g, &ld, err, errlen);
    }
    if (rc == 0) {
        dga_model_thresholds(g, &ld);
    }
    free(ld.list);
    return rc;
}

/*
 * Chao-Shen entropy estimate in bits: frequencies shrunk by the sample
 * coverage C = 1 - singletons / n, each term weighted by the chance of
 * seeing that character at all in n draws.
 */
static double
dga_entropy(const char *s, size_t n)
{
    uint16_t counts[DGA_SYMS] = {0};
    size_t single = 0;
    double cover, h = 0.0;

    for (size_t i = 0; i < n; i++) {
        counts[dga_symbol(s[i])]++;
    }
    for (size_t c = 0; c < DGA_SYMS; c++) {
        single += counts[c] == 1;
    }
    if (n == 0) {
        return 0.0;
    }
    cover = 1.0 - (double)(single < n ? single : n - 1) / (double)n;
    for (size_t c = 0; c < DGA_SYMS; c++) {
        if (counts[c] != 0) {
            double p = cover * counts[c] / (double)n;
            h -= p * log2(p) / (1.0 - pow(1.0 - p, (double)n));
        }
    }
    return h;
}

/*
 * ln P(s[k] | s[0..k-1]): the longest n-gram of the model that ends the
 * context and the symbol, plus the backoff weights of the longer
 * contexts passed over; ln(1/V) when not even the symbol is listed.
 */
static double
dga_logp(const struct dga *g, const uint8_t *s, size_t k)
{
    double acc = 0.0;

    for (;; s++, k--) {
        const struct dga_gram *e = dga_find(g, dga_key(s, k + 1));

        if (e != NULL && !isnan(e->logp)) {
            return acc + e->logp;
        }
        if (k == 0) {
            return acc - log(DGA_NEXT);
        }
        e = dga_find(g, dga_key(s, k));
        if (e != NULL) {
            acc += e->backoff;
        }
    }
}

/* Mean ln P over the n + 1 predictions of the label "^^^s$". */
static double
dga_score(const struct dga *g, const char *s, size_t n)
{
    uint8_t sym[DGA_ORDER_MAX + EVENT_QNAME_MAX];
    size_t pad = g->order - 1;
    double sum = 0.0;

    if (n >= EVENT_QNAME_MAX) {
        n = EVENT_QNAME_MAX - 1;
    }
    memset(sym, DGA_START, pad);
    for (size_t i = 0; i < n; i++) {
        sym[pad + i] = (uint8_t)dga_symbol(s[i]);
    }
    sym[pad + n] = DGA_END;
    for (size_t i = 0; i <= n; i++) {
        sum += dga_logp(g, sym + i, pad);
    }
    return sum / (double)(n + 1);
}

/* Label classes, by dga_class, as signals and explain name them. */
static const char *const dga_class_name[DGA_CLASSES] = {
    "letters", "digit-or-hyphen",
};

/* 0 for a label of letters only, 1 for one with a digit or '-'. */
static int
dga_class(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 'a' || s[i] > 'z') {
            return 1;
        }
    }
    return 0;
}

/* 1 when the suffix after the label is not an ICANN public suffix. */
static int
dga_platform(const char *registrable, size_t len)
{
    const char *suffix = registrable + len;

    if (*suffix != '.') {
        return 0;
    }
    return !psl_is_public_suffix2(psl_builtin(), suffix + 1,
                                  PSL_TYPE_ICANN);
}

/* 1 when name (up to the end of the string) is a listed provider. */
static int
dga_is_provider(const struct dga *g, const char *name)
{
    if (g->nproviders == 0 || strlen(name) >= DGA_PROVIDER_LEN) {
        return 0;
    }
    return bsearch(name, g->providers, g->nproviders,
                   sizeof(g->providers[0]), dga_provider_cmp) != NULL;
}

/*
 * When the registrable domain is itself a provider the public suffix list
 * does not know ("co.cc" of "x1y2.co.cc"), move to the label below it.
 */
static void
dga_below_provider(const struct dga *g, const char *qname,
                   struct dga_verdict *v)
{
    const char *p = v->registrable;

    if (p == qname || !dga_is_provider(g, p)) {
        return;
    }
    p--;
    while (p > qname && p[-1] != '.') {
        p--;
    }
    v->registrable = p;
    v->provider = 1;
}

/* The threshold in bar for a label of class klass and len characters. */
static double
dga_bar(const double bar[DGA_CLASSES][DGA_LENGTHS], int klass, size_t len)
{
    return bar[klass][len < DGA_LENGTHS ? len : DGA_LENGTHS - 1];
}

/* The shortest label scored: minLength, or the burst bar's first. */
static size_t
dga_floor(const struct dga *g, int mode)
{
    if ((mode & DGA_BURST) && g->burst_min_length < g->min_length) {
        return g->burst_min_length;
    }
    return g->min_length;
}

/* Clear a verdict under a platform suffix, unless a listed provider. */
static void
dga_platform_check(const struct dga *g, struct dga_verdict *v)
{
    const char *suffix = v->registrable + v->len;

    if (v->provider || !dga_platform(v->registrable, v->len)) {
        return;
    }
    if (dga_is_provider(g, suffix + 1)) {
        v->provider = 1;
        return;
    }
    v->fire = 0;
    v->burst_fire = 0;
    v->skipped = "platform suffix";
}

/*
 * Measure qname.  mode is DGA_FULL, DGA_BURST, both or neither.  Without
 * DGA_FULL it stops at the first test that fails (the hot path); with it
 * it measures everything (explain).  With DGA_BURST it also judges the
 * label at the burst bar (burst_fire).
 */
static void
dga_judge(const struct dga *g, const char *qname, int mode,
          struct dga_verdict *v)
{
    int full = mode & DGA_FULL;

    memset(v, 0, sizeof(*v));
    v->registrable = detector_registrable(qname);
    if (v->registrable == NULL) {
        v->skipped = "no registrable domain";
        return;
    }
    dga_below_provider(g, qname, v);
    v->len = strcspn(v->registrable, ".");
    v->klass = dga_class(v->registrable, v->len);
    if (strncmp(v->registrable, "xn--", 4) == 0) {
        v->skipped = "punycode label";
        return;
    }
    if (v->len < dga_floor(g, mode) && !full) {
        return;
    }
    v->entropy = dga_entropy(v->registrable, v->len);
    if (v->entropy < g->min_entropy && !full) {
        return;
    }
    v->score = dga_score(g, v->registrable, v->len);
    v->max_score = dga_bar(g->max_score, v->klass, v->len);
    v->burst_score = dga_bar(g->burst_score, v->klass, v->len);
    v->fire = v->len >= g->min_length && v->entropy >= g->min_entropy &&
              v->score <= v->max_score;
    v->burst_fire = (mode & DGA_BURST) && v->len >= g->burst_min_length &&
                    v->entropy >= g->min_entropy &&
                    v->score <= v->burst_score;
    if (v->fire || v->burst_fire || full) {
        dga_platform_check(g, v);
    }
}

/* The signals of a label's measures; burst: fired at the burst bar. */
static void
dga_label_signals(const struct dga *g, const struct dga_verdict *v,
                  int burst, struct finding *f)
{
    finding_signal(f, "registrable", "%s", v->registrable);
    finding_signal(f, "label", "%.*s", (int)v->len, v->registrable);
    finding_signal(f, "length", "%zu", v->len);
    finding_signal(f, "min_length", "%zu",
                   burst ? dga_floor(g, DGA_BURST) : g->min_length);
    finding_signal(f, "entropy", "%.3f", v->entropy);
    finding_signal(f, "min_entropy", "%.3f", g->min_entropy);
    finding_signal(f, "ngram_score", "%.3f", v->score);
    finding_signal(f, "max_ngram_score", "%.3f",
                   burst ? v->burst_score : v->max_score);
    finding_signal(f, "bar", "%s", burst ? "burst" : "name");
    finding_signal(f, "label_class", "%s", dga_class_name[v->klass]);
    if (v->provider) {
        finding_signal(f, "provider", "%s", v->registrable + v->len + 1);
    }
}

/* The signals of the client's burst, when it has one. */
static void
dga_burst_signals(const struct dga *g, unsigned count, struct finding *f)
{
    if (count == 0) {
        return;
    }
    finding_signal(f, "nxdomain_names", "%u", count);
    finding_signal(f, "nxdomain_burst", "%u", g->nxdomain_burst);
    finding_signal(f, "burst_window_s", "%.0f",
                   (double)g->burst_window_ns / 1e9);
}

static void
dga_start(struct finding *f, const char *key, const struct event *ev)
{
    finding_init(f, "dga", "DNSDomainGenerationAlgorithm", "medium", key,
                 ev);
    f->experimental = 1;
}

/* What dga_earlier() needs to report a remembered name. */
struct dga_earlier {
    struct dga *g;
    const struct event *ev;     /* the event that completed the burst */
    const char *current;        /* its registrable domain, or NULL */
    unsigned count;
    chain_report_fn *report;
    void *ctx;
};

/* Report a name answered NXDOMAIN earlier in the client's burst. */
static void
dga_earlier(void *arg, const char *name, uint64_t seen_ns)
{
    struct dga_earlier *e = arg;
    struct dga_verdict v;
    struct finding f;

    if (e->current != NULL && strcmp(name, e->current) == 0) {
        return;
    }
    dga_judge(e->g, name, DGA_BURST, &v);
    if (!v.fire && !v.burst_fire) {
        return;
    }
    dga_start(&f, v.registrable, e->ev);
    finding_signal(&f, "qname", "%s", name);
    finding_signal(&f, "rcode", "NXDOMAIN");
    finding_signal(&f, "seen_before_s", "%.3f",
                   e->ev->time_ns > seen_ns
                       ? (double)(e->ev->time_ns - seen_ns) / 1e9
                       : 0.0);
    dga_label_signals(e->g, &v, !v.fire, &f);
    dga_burst_signals(e->g, e->count, &f);
    e->report(e->ctx, &f);
}

/*
 * The client's burst count after ev, noting ev's name when it was
 * answered NXDOMAIN and is suspicious.  Judges ev into v, at the burst
 * bar too when the answer is NXDOMAIN or the client is in a burst.
 */
static unsigned
dga_burst_judge(struct dga *g, const struct event *ev,
                struct dga_verdict *v)
{
    int nx = (ev->flags & EVENT_F_RESPONSE) &&
             ev->rcode == DGA_RCODE_NXDOMAIN;
    unsigned count = dgaburst_count(g->bursts, &ev->client, ev->time_ns);

    dga_judge(g, ev->qname, nx || count >= g->nxdomain_burst ? DGA_BURST
                                                             : 0, v);
    if (nx && (v->fire || v->burst_fire)) {
        count = dgaburst_note(g->bursts, &ev->client, v->registrable,
                              v->fire, ev->time_ns);
    }
    return count;
}

static void
dga_check(struct detector *d, const struct event *ev,
          chain_report_fn *report, void *ctx)
{
    struct dga *g = (struct dga *)d;
    struct dga_verdict v;
    struct finding f;
    unsigned count = 0;
    int burst;

    if (!detector_has_question(ev)) {
        return;
    }
    if (g->bursts == NULL) {
        dga_judge(g, ev->qname, 0, &v);
    } else {
        count = dga_burst_judge(g, ev, &v);
    }
    burst = g->bursts != NULL && count >= g->nxdomain_burst;
    if (v.fire || (burst && v.burst_fire)) {
        dga_start(&f, v.registrable, ev);
        detector_question_signals(&f, ev);
        dga_label_signals(g, &v, !v.fire, &f);
        dga_burst_signals(g, count, &f);
        report(ctx, &f);
    }
    if (burst) {
        struct dga_earlier e = {g, ev, v.registrable, count, report, ctx};

        dgaburst_take(g->bursts, &ev->client, ev->time_ns, dga_earlier,
                      &e);
    }
}

static void
dga_explain(struct detector *d, const char *qname, json_t *obj)
{
    struct dga *g = (struct dga *)d;
    char name[EVENT_QNAME_MAX];
    struct dga_verdict v;
    json_t *o = json_object();
    int judged;

    detector_normalise(qname, name);
    dga_judge(g, name, DGA_FULL | DGA_BURST, &v);
    judged = v.registrable != NULL;
    json_object_set_new(o, "label", judged ? json_stringn(v.registrable,
                                                          v.len)
                                           : json_null());
    json_object_set_new(o, "registrable", v.registrable != NULL
                                              ? json_string(v.registrable)
                                              : json_null());
    json_object_set_new(o, "length", json_integer((json_int_t)v.len));
    json_object_set_new(o, "entropy", json_real(v.entropy));
    json_object_set_new(o, "entropy_plain", json_real(
                               judged ? detector_entropy(v.registrable,
                                                         v.len)
                                      : 0.0));
    json_object_set_new(o, "ngram_score", json_real(v.score));
    json_object_set_new(o, "label_class",
                        judged ? json_string(dga_class_name[v.klass])
                               : json_null());
    json_object_set_new(o, "min_length", json_integer(g->min_length));
    json_object_set_new(o, "min_entropy", json_real(g->min_entropy));
    json_object_set_new(o, "max_ngram_score",
                        isinf(v.max_score) ? json_null()
                                           : json_real(v.max_score));
    json_object_set_new(o, "burst_min_length",
                        json_integer(g->burst_min_length));
    json_object_set_new(o, "burst_max_ngram_score",
                        isinf(v.burst_score) ? json_null()
                                             : json_real(v.burst_score));
    json_object_set_new(o, "burst_verdict", json_boolean(v.burst_fire));
    json_object_set_new(o, "provider", json_boolean(v.provider));
    json_object_set_new(o, "skipped", v.skipped != NULL
                                          ? json_string(v.skipped)
                                          : json_null());
    json_object_set_new(o, "verdict", json_boolean(v.fire));
    json_object_set_new(obj, "dga", o);
}

static void
dga_free(struct detector *d)
{
    struct dga *g = (struct dga *)d;

    dgaburst_free(g->bursts);
    free(g->grams);
    free(g);
}

/* The burst table, unless nxdomainBurst is 0 or the model has no
 * burst-threshold line. */
static int
dga_burst_create(struct dga *g, const struct config_dga *cfg, char *err,
                 size_t errlen)
{
    g->nxdomain_burst = cfg->nxdomain_burst;
    g->burst_window_ns = cfg->burst_window_ns;
    if (g->nxdomain_burst == 0 || g->burst_min_length >= DGA_LENGTHS) {
        return 0;
    }
    g->bursts = dgaburst_create(g->burst_window_ns, metrics_counter(
        "ugallu_dns_events_dropped_total", "reason=\"dga_burst_table_full\"",
        "Events dropped, by reason."));
    if (g->bursts == NULL) {
        snprintf(err, errlen, "dga: out of memory");
        return -ENOMEM;
    }
    return 0;
}

struct detector *
dga_create(const struct config *cfg, char *err, size_t errlen)
{
    struct dga *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        snprintf(err, errlen, "dga: out of memory");
        return NULL;
    }
    g->base.name = "dga";
    g->base.check = dga_check;
    g->base.explain = dga_explain;
    g->base.free = dga_free;
    g->min_length = cfg->dga.min_length;
    g->min_entropy = cfg->dga.min_entropy;
    if (dga_model_load(g, err, errlen) != 0 ||
        dga_burst_create(g, &cfg->dga, err, errlen) != 0) {
        dga_free(&g->base);
        return NULL;
    }
    for (size_t i = 0; i < DGA_CLASSES * DGA_LENGTHS &&
                       cfg->dga.max_ngram != 0.0; i++) {
        g->max_score[i / DGA_LENGTHS][i % DGA_LENGTHS] = cfg->dga.max_ngram;
    }
    return &g->base;
}

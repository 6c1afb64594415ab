/*
 * detector.c - helpers shared by the built-in detectors.
 */
#include "detectors/detector.h"

#include <libpsl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/hash.h"
#include "event/dnswire.h"

static pthread_once_t detector_psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *detector_psl;

/* Counts are cleared for the bytes present only, not all 256. */
double
detector_entropy(const char *s, size_t n)
{
    uint16_t counts[256];
    double h = 0.0;

    for (size_t i = 0; i < n; i++) {
        counts[(unsigned char)s[i]] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        counts[(unsigned char)s[i]]++;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (counts[c] != 0) {
            double p = (double)counts[c] / (double)n;
            h -= p * log2(p);
            counts[c] = 0;
        }
    }
    return h;
}

/* Kept for the life of the process: detectors come and go with configs. */
static void
detector_psl_load(void)
{
    detector_psl = psl_latest(NULL);
    if (detector_psl == NULL) {
        detector_psl = psl_builtin();
    }
}

/*
 * libpsl takes the better part of a microsecond per name, and names
 * repeat: each thread keeps a direct-mapped cache of answers, keyed by a
 * 64-bit hash of the name and its length, holding the offset of the
 * registrable part.  A slot is overwritten by the next name that maps to
 * it.  Two names sharing hash and length would share an answer; with a
 * 64-bit hash that is vanishingly rare, and the offset is still checked to
 * fall on a label boundary inside the name.
 */
#define DETECTOR_PSL_SLOTS 4096

struct detector_psl_slot {
    uint64_t hash;      /* 0: empty */
    int16_t len;        /* strlen of the name */
    int16_t off;        /* registrable part, or -1 for none */
};

static uint64_t
detector_hash(const char *s, size_t *len)
{
    *len = strlen(s);
    return hash_bytes(HASH_FNV_OFFSET, s, *len) | 1;
}

static int
detector_psl_ask(const char *qname)
{
    const char *reg;

    pthread_once(&detector_psl_once, detector_psl_load);
    reg = detector_psl != NULL ? psl_registrable_domain(detector_psl, qname)
                               : NULL;
    return reg != NULL ? (int)(reg - qname) : -1;
}

const char *
detector_registrable(const char *qname)
{
    static _Thread_local struct detector_psl_slot cache[DETECTOR_PSL_SLOTS];
    struct detector_psl_slot *slot;
    size_t len;
    uint64_t h;

    if (qname[0] == '\0') {
        return NULL;
    }
    h = detector_hash(qname, &len);
    slot = &cache[h % DETECTOR_PSL_SLOTS];
    if (slot->hash != h || slot->len != (int16_t)len) {
        slot->hash = h;
        slot->len = (int16_t)len;
        slot->off = (int16_t)detector_psl_ask(qname);
    }
    if (slot->off < 0 || (size_t)slot->off >= len ||
        (slot->off > 0 && qname[slot->off - 1] != '.')) {
        return NULL;
    }
    return qname + slot->off;
}

int
detector_name_under(const char *name, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);

    if (len == sl) {
        return memcmp(name, suffix, sl) == 0;
    }
    return len > sl && name[len - sl - 1] == '.' &&
           memcmp(name + len - sl, suffix, sl) == 0;
}

int
detector_has_question(const struct event *ev)
{
    return ev->kind == EVENT_KIND_DNS && (ev->flags & EVENT_F_QUESTION) &&
           ev->qname[0] != '\0';
}

void
detector_question_signals(struct finding *f, const struct event *ev)
{
    char type[16];

    finding_signal(f, "qname", "%s", ev->qname);
    finding_signal(f, "qtype", "%s",
                   dnswire_type_format(ev->qtype, type, sizeof(type)));
}

size_t
detector_normalise(const char *in, char out[EVENT_QNAME_MAX])
{
    size_t n = 0;

    while (in[n] != '\0' && n < EVENT_QNAME_MAX - 1) {
        char c = in[n];
        out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    if (n > 1 && out[n - 1] == '.') {
        n--;
    }
    out[n] = '\0';
    return n;
}

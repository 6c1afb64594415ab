/*
 * detector.c - helpers shared by the built-in detectors.
 */
#include "detectors/detector.h"

#include <libpsl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

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
 * libpsl takes the better part of a microsecond per name, and the chain
 * asks for the same name once per detector: each thread remembers its
 * last answer as an offset into the name.
 */
const char *
detector_registrable(const char *qname)
{
    static _Thread_local char last[EVENT_QNAME_MAX];
    static _Thread_local int last_off = -1;
    const char *reg;
    size_t len;

    if (qname[0] == '\0') {
        return NULL;
    }
    if (strncmp(qname, last, sizeof(last)) == 0) {
        return last_off >= 0 ? qname + last_off : NULL;
    }
    pthread_once(&detector_psl_once, detector_psl_load);
    reg = detector_psl != NULL ? psl_registrable_domain(detector_psl, qname)
                               : NULL;
    len = strnlen(qname, sizeof(last) - 1);
    memcpy(last, qname, len);
    last[len] = '\0';
    last_off = reg != NULL ? (int)(reg - qname) : -1;
    return reg;
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

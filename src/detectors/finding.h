/*
 * finding.h - what a detector reports: a SecurityEvent in the making.
 *
 * A finding is fixed-size and self-contained (its strings are either
 * static or copied in), so it can be queued and deduplicated by value.
 * Signals are string key/value pairs, the evidence that explains it.
 */
#ifndef DD_FINDING_H
#define DD_FINDING_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

#define FINDING_SIGNALS_MAX 32
#define FINDING_SIGNALS_BYTES 2048

struct finding {
    const char *detector;   /* detector name, static */
    const char *class_;     /* "Detection" or "Anomaly", static */
    const char *type;       /* SecurityEvent type, static */
    const char *severity;   /* critical, high, medium, low, info; static */
    int experimental;       /* type outside the ugallu catalog */
    char key[EVENT_QNAME_MAX]; /* what repeats are merged on, with the
                                  detector and the subject */
    char subject[EVENT_POD_NAME_MAX]; /* subject name: the pod's name
                                         when attributed, else
                                         "ip-<client address>" */
    char subject_namespace[EVENT_POD_NS_MAX]; /* the pod's namespace; ""
                                                 for an External subject */
    char subject_uid[EVENT_POD_UID_MAX]; /* the pod's uid, "" when unknown
                                            or External */
    uint64_t detected_ns;   /* event time of the first occurrence */
    uint32_t merged;        /* later occurrences folded into this one */
    uint16_t nsignals;
    uint16_t used;          /* bytes of buf in use */
    uint16_t offs[FINDING_SIGNALS_MAX]; /* key offsets into buf */
    char buf[FINDING_SIGNALS_BYTES];    /* "key\0value\0" pairs */
};

/*
 * Start a finding for ev: detector, type, severity, key (copied,
 * truncated to fit), subject and time from ev, class Detection.  The
 * subject is ev's pod (name, namespace, uid) when ev is attributed,
 * else "ip-<client address>".
 */
void finding_init(struct finding *f, const char *detector, const char *type,
                  const char *severity, const char *key,
                  const struct event *ev);

/*
 * Add one signal, value formatted printf-style.  A key already present
 * is replaced.  Silently skipped when the finding is full (the signal
 * "signals_truncated" then says so).
 */
void finding_signal(struct finding *f, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The i-th signal's key and value; i < f->nsignals. */
const char *finding_signal_key(const struct finding *f, size_t i);
const char *finding_signal_value(const struct finding *f, size_t i);

/* Value of a signal by key, or NULL. */
const char *finding_get(const struct finding *f, const char *key);

#endif

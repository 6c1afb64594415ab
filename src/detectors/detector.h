/*
 * detector.h - helpers shared by the built-in detectors: name measures,
 * the public suffix list, and the signals every finding carries.
 *
 * Everything here is allocation-free after the first call to
 * detector_registrable(), which loads the public suffix list once for the
 * process.  Any thread may call these functions.
 */
#ifndef DD_DETECTOR_H
#define DD_DETECTOR_H

#include <stddef.h>

#include "detectors/finding.h"
#include "event/event.h"

/* Shannon entropy of the n bytes at s, in bits per byte (0 when n is 0). */
double detector_entropy(const char *s, size_t n);

/*
 * The registrable domain of qname (lowercase, no trailing dot) by the
 * public suffix list: a pointer into qname, or NULL when qname is itself
 * a public suffix or has no registrable part ("com", "localhost").  Names
 * under a suffix the list does not know count that last label as the
 * suffix ("cluster.local" for "a.svc.cluster.local").  The list is the
 * newest of the one built into libpsl and the system's copy.
 */
const char *detector_registrable(const char *qname);

/* 1 when name (len bytes) is suffix or ends with "." suffix. */
int detector_name_under(const char *name, size_t len, const char *suffix);

/* 1 when ev is a DNS event with a question (qname and qtype valid). */
int detector_has_question(const struct event *ev);

/* Add the "qname" and "qtype" signals of ev to f. */
void detector_question_signals(struct finding *f, const struct event *ev);

/*
 * Copy a name typed by a person into out (EVENT_QNAME_MAX bytes) the way
 * events carry it: lowercase, no trailing dot (except the root "."),
 * truncated to fit.  Returns its length.
 */
size_t detector_normalise(const char *in, char out[EVENT_QNAME_MAX]);

#endif

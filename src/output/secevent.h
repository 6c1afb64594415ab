/*
 * secevent.h - SecurityEvent objects (security.ugallu.io/v1alpha1) from
 * findings.
 *
 * The object is the one the dispatcher would create in the cluster; the
 * JSON-lines sink writes the same object, one per line.
 */
#ifndef DD_SECEVENT_H
#define DD_SECEVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "detectors/finding.h"

/* Identity stamped on every object (from the command line). */
struct secevent_identity {
    const char *cluster_name;   /* --cluster-name, may be "" */
    const char *cluster_id;     /* --cluster-id, may be "" */
    const char *node;           /* this node's name */
    const char *version;        /* daemon version */
};

/*
 * Deterministic object name: "se-" and 16 hex digits of a hash over
 * class, type, subject and the 60 s bucket of the detection time, so a
 * retry never makes a duplicate.  buf holds at least 20 bytes.
 */
void secevent_name(const struct finding *f, char *buf, size_t len);

/* Format a Unix time in nanoseconds as RFC 3339 UTC with nanoseconds. */
void secevent_time(uint64_t ns, char *buf, size_t len);

/*
 * Build the object for f.  Returns a new reference the caller owns, or
 * NULL when out of memory.
 */
json_t *secevent_build(const struct finding *f,
                       const struct secevent_identity *id);

#endif

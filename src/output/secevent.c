/*
 * secevent.c - SecurityEvent objects from findings.
 */
#include "output/secevent.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"

#define SECEVENT_BUCKET_NS (60ull * 1000000000ull)

void
secevent_name(const struct finding *f, char *buf, size_t len)
{
    char bucket[24];
    uint64_t h = HASH_FNV_OFFSET;

    snprintf(bucket, sizeof(bucket), "%llu",
             (unsigned long long)(f->detected_ns / SECEVENT_BUCKET_NS));
    h = hash_field(h, f->class_);
    h = hash_field(h, f->type);
    if (f->subject_namespace[0] != '\0') {
        h = hash_field(h, f->subject_namespace);
    }
    h = hash_field(h, f->subject);
    h = hash_field(h, f->key);
    h = hash_field(h, bucket);
    snprintf(buf, len, "se-%016llx", (unsigned long long)h);
}

void
secevent_time(uint64_t ns, char *buf, size_t len)
{
    time_t sec = (time_t)(ns / 1000000000ull);
    struct tm tm;
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%09lluZ",
             (unsigned long long)(ns % 1000000000ull));
}

static json_t *
secevent_metadata(const struct finding *f, const char *name)
{
    json_t *labels = json_pack("{s:s, s:s, s:s}",
                               "app.kubernetes.io/managed-by",
                               "ugallu-dns-detect",
                               "ugallu.io/correlation-id", name,
                               "ugallu.io/detector", f->detector);

    if (labels != NULL && f->experimental) {
        json_object_set_new(labels, "ugallu.io/type-experimental",
                            json_string("true"));
    }
    return json_pack("{s:s, s:o*}", "name", name, "labels", labels);
}

static json_t *
secevent_signals(const struct finding *f)
{
    json_t *sig = json_object();
    char merged[16];

    for (size_t i = 0; sig != NULL && i < f->nsignals; i++) {
        json_object_set_new(sig, finding_signal_key(f, i),
                            json_string(finding_signal_value(f, i)));
    }
    if (sig != NULL) {
        snprintf(merged, sizeof(merged), "%u", f->merged);
        json_object_set_new(sig, "mergedCount", json_string(merged));
    }
    return sig;
}

/* Kind Pod with name, namespace and (when known) uid. */
static json_t *
secevent_pod_subject(const struct finding *f)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "name",
                          f->subject, "namespace", f->subject_namespace);

    if (o != NULL && f->subject_uid[0] != '\0') {
        json_object_set_new(o, "uid", json_string(f->subject_uid));
    }
    return o;
}

static json_t *
secevent_subject(const struct finding *f)
{
    if (f->subject_namespace[0] != '\0') {
        return secevent_pod_subject(f);
    }
    const char *ip = strncmp(f->subject, "ip-", 3) == 0 ? f->subject + 3
                                                        : f->subject;

    return json_pack("{s:s, s:s, s:b}", "kind", "External", "name", ip,
                     "unresolved", 1);
}

json_t *
secevent_build(const struct finding *f, const struct secevent_identity *id)
{
    char name[24], when[48];

    secevent_name(f, name, sizeof(name));
    secevent_time(f->detected_ns, when, sizeof(when));

    return json_pack(
        "{s:s, s:s, s:o*, s:{s:s, s:s, s:s, s:{s:s, s:s},"
        " s:{s:s, s:s, s:s, s:s}, s:o*, s:s, s:o*, s:s}}",
        "apiVersion", "security.ugallu.io/v1alpha1",
        "kind", "SecurityEvent",
        "metadata", secevent_metadata(f, name),
        "spec",
        "class", f->class_,
        "type", f->type,
        "severity", f->severity,
        "clusterIdentity", "clusterName", id->cluster_name,
        "clusterID", id->cluster_id,
        "source", "kind", "DaemonSet", "name", "ugallu-dns-detect",
        "version", id->version, "instance", id->node,
        "subject", secevent_subject(f),
        "detectedAt", when,
        "signals", secevent_signals(f),
        "correlationID", name);
}

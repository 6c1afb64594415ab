/*
 * cfgwatch.h - follow the DNSDetectConfig in the cluster, feed its
 * ConfigMap blocklists, and report status.
 *
 * A list-then-watch (kclient_watch_start) on the namespace's
 * dnsdetectconfigs, narrowed to --config-name by a field selector.  On
 * ADDED, MODIFIED or RELISTED the object's JSON text goes through the
 * same loader as a file (config_parse; JSON is YAML flow syntax), and
 * the result is applied with pipeline_apply_config().  A spec the
 * loader refuses is logged, reported as a core/v1 Event (reason
 * InvalidConfig, type Warning) on the DNSDetectConfig, and the previous
 * configuration stays.  After every apply, the ConfigMaps of
 * spec.detectors.blocklist.namespaceConfigMaps are followed by cmwatch.h
 * (one watch each, started and stopped as the list changes), which
 * feeds their text with pipeline_feed_blocklist().
 *
 * A status thread merge-patches the status subresource after each apply
 * and every resync period: observedGeneration, lastConfigLoadAt,
 * activeSource, inflightLookups, per-detector enabled/fires and a Ready
 * condition.  Only the leader writes status and InvalidConfig Events
 * (lease.h), so N pods do not fight over one object.  While the object
 * is missing the status thread logs "DNSConfigMissing" once per resync
 * period and the leader reports it as an anomaly (a SecurityEvent of
 * class Anomaly through the pipeline, and a Warning Event); the watch
 * picks the object up as soon as it is created.  A node's own anomalies
 * (DNSSourceSilent, DNSDetectorDegraded) reach cfgwatch_anomaly()
 * through the pipeline's anomaly hook, and every pod posts those as
 * Warning Events on the DNSDetectConfig.  Status writes
 * are best effort: failures are logged at debug level and counted in
 * ugallu_dns_status_writes_total{outcome}.
 */
#ifndef DD_CFGWATCH_H
#define DD_CFGWATCH_H

#include <stdint.h>

#include "daemon/pipeline.h"
#include "k8s/kclient.h"
#include "k8s/lease.h"

struct cfgwatch;

struct cfgwatch_options {
    struct kclient *kc;          /* borrowed; outlives the watcher */
    struct pipeline *pipe;       /* borrowed; outlives the watcher */
    struct lease *lease;         /* borrowed; who writes status */
    const char *namespace_;      /* of the DNSDetectConfig (copied) */
    const char *name;            /* --config-name (copied) */
    const char *node;            /* reported as the Event's source host */
    const char *active_source;   /* status.activeSource (copied), used
                                    when active_source_fn is NULL */
    const char *(*active_source_fn)(void *ctx); /* the source in force
                                    now, asked at each status patch from
                                    the status thread; may be NULL */
    void *active_source_ctx;
    unsigned resync_ms;          /* status tick and missing-object
                                    retry; 0: 30000 */
};

/* Start the watch and the status thread.  Returns 0 and *out, or a
 * negative errno. */
int cfgwatch_start(const struct cfgwatch_options *o, struct cfgwatch **out);

/* Stop both threads and free.  NULL is fine. */
void cfgwatch_stop(struct cfgwatch *c);

/*
 * Wait up to timeout_ms for the API's first answer about the object.
 * Returns 0 with *out a copy of the configuration in force, -ENOENT when
 * the object is missing or was refused, -ETIMEDOUT when the API did not
 * answer in time.  Any thread but the watch's.
 */
int cfgwatch_first(struct cfgwatch *c, unsigned timeout_ms,
                   struct config *out);

/*
 * Queue a Warning Event (reason type, e.g. "DNSSourceSilent") on the
 * DNSDetectConfig; the status thread posts it soon after.  At most 8
 * wait; more are dropped and counted (reason k8s_event_queue_full).
 * ctx is the struct cfgwatch; the signature is a pipeline anomaly hook.
 * Any thread; never blocks on the network.
 */
void cfgwatch_anomaly(void *ctx, const char *type, const char *message);

/*
 * A copy of the configuration in force into *out: 0, or -ENOENT before
 * any was applied.  Any thread.
 */
int cfgwatch_current(struct cfgwatch *c, struct config *out);

/* Configurations applied so far (tests, logs).  Any thread. */
uint64_t cfgwatch_applied(struct cfgwatch *c);

#endif

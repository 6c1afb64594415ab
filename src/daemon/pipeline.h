/*
 * pipeline.h - from decoded messages to findings: transaction matching,
 * the detector chain, deduplication, and the sinks.
 *
 * Two ways in.  A replay calls pipeline_process() on its own thread and
 * nothing is queued.  Live sources call pipeline_submit() from their
 * threads; events go through a bounded ring (drops counted as
 * reason="queue_full") to the pipeline thread started by
 * pipeline_start().  Either way every event meets the same code.
 */
#ifndef DD_PIPELINE_H
#define DD_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "config/config.h"
#include "detectors/finding.h"
#include "event/event.h"
#include "output/secevent.h"

struct pipeline;

struct pipeline_options {
    const struct config *config;   /* copied; the caller keeps its own */
    struct secevent_identity identity;
    FILE *findings;                /* JSON lines of SecurityEvents */
    FILE *events;                  /* JSON lines of events, or NULL */
    size_t queue_capacity;         /* ring size for live sources */
    size_t txn_capacity;           /* pending transactions */
    uint64_t txn_hold_ns;          /* how long a query waits */
    uint64_t dedup_window_ns;      /* merge window per finding key */
    int live;                      /* flush sinks after every line */
    int drain_ms;                  /* flush: wait for lookups in flight */
};

/* Totals for the end-of-run summary. */
struct pipeline_counts {
    uint64_t messages;    /* partial events in (one per DNS message) */
    uint64_t queries;
    uint64_t responses;
    uint64_t flows;
    uint64_t events;      /* transactions handed to the detectors */
    uint64_t findings;    /* SecurityEvents written (first sightings) */
    uint64_t merged;      /* repeats folded into earlier findings */
};

/*
 * Build a pipeline.  On error returns NULL with a message in err (a
 * detector that fails to load its data, say).
 */
struct pipeline *pipeline_create(const struct pipeline_options *opt,
                                 char *err, size_t errlen);
void pipeline_free(struct pipeline *p);

/* Owner thread: one message in, processed now (replay). */
void pipeline_process(struct pipeline *p, const struct event *ev);

/* Any thread: queue one message for the pipeline thread. */
void pipeline_submit(struct pipeline *p, const struct event *ev);

/*
 * event_emit_fn adapters for sources: ctx is the pipeline.
 * pipeline_submit_cb drops at once when the queue is full (packet capture
 * cannot slow the network).  pipeline_submit_wait_cb waits up to a second
 * for room first: a socket source stops reading meanwhile, which pushes
 * back on its sender instead of losing events here.
 */
event_emit_fn pipeline_process_cb;
event_emit_fn pipeline_submit_cb;
event_emit_fn pipeline_submit_wait_cb;

/*
 * Report an anomaly of the daemon itself (DNSSourceSilent, say) as a
 * finding of class Anomaly from detector "sourceSupervisor": it is
 * deduplicated and written like any other.  type and severity must be
 * static strings; reason (the dedup key, also signal "reason") and
 * message (signal "message") are copied.  The subject is this node: kind
 * External, name the node name of the identity, as no pod is to blame.
 * Detected at the wall-clock time of the call.  A first sighting (not
 * one folded into an earlier finding) is also handed to the anomaly
 * hook, if set.  Any thread but the pipeline's; takes the pipeline's
 * output lock.
 */
void pipeline_report_anomaly(struct pipeline *p, const char *type,
                             const char *severity, const char *reason,
                             const char *message);

/* Start / stop the pipeline thread (live mode).  Stop drains the ring. */
int pipeline_start(struct pipeline *p);
void pipeline_stop(struct pipeline *p);

/* Emit what is pending (unanswered queries, merged counts). */
void pipeline_flush(struct pipeline *p);

/*
 * Reread the detectors' inputs (SIGHUP).  Control thread; detection goes
 * on meanwhile.  Returns 0 or the first error, with its message in err.
 */
int pipeline_reload(struct pipeline *p, char *err, size_t errlen);

/* Explain names with this pipeline's detectors; one JSON line each. */
void pipeline_explain(struct pipeline *p, const char *qname, FILE *out);

/*
 * Receives every SecurityEvent the pipeline writes, besides the JSON-lines
 * sink: obj is the object (borrowed), f the finding it was built from.
 * Called on the pipeline thread; must not block (queue and return).
 */
typedef void pipeline_sink_fn(void *ctx, const json_t *obj,
                              const struct finding *f);

/* Set or clear (fn NULL) the extra sink.  Before pipeline_start(). */
void pipeline_set_sink(struct pipeline *p, pipeline_sink_fn *fn, void *ctx);

/*
 * Told of each anomaly pipeline_report_anomaly() writes first (not of
 * repeats it folds): type and message, borrowed for the call.  Called on
 * the reporting thread, outside the pipeline's locks; must not block.
 */
typedef void pipeline_anomaly_fn(void *ctx, const char *type,
                                 const char *message);

/* Set or clear (fn NULL) the anomaly hook.  Before any source starts. */
void pipeline_set_anomaly_hook(struct pipeline *p, pipeline_anomaly_fn *fn,
                               void *ctx);

/*
 * Attribute every event to its pod with pa (podattr_enrich) before the
 * detectors and the event sink; NULL for none.  Before pipeline_start();
 * pa must outlive the pipeline's last event.
 */
struct podattr;
void pipeline_set_podattr(struct pipeline *p, struct podattr *pa);

/*
 * Apply a new configuration: the detector chain is built aside and, once
 * built, swapped in between two batches, so no event is lost or paused.
 * On error (a list that does not load, say) the running chain stays, the
 * function returns -EINVAL and err says why.  Any thread but the
 * pipeline's.  The caller keeps cfg.
 */
int pipeline_apply_config(struct pipeline *p, const struct config *cfg,
                          char *err, size_t errlen);

/*
 * Hand list text to the running blocklist detector (ConfigMap data):
 * see blocklist_feed().  Returns -ENOENT when the blocklist is disabled.
 * A chain built by a later pipeline_apply_config() starts without fed
 * lists: feed them again after applying.
 */
int pipeline_feed_blocklist(struct pipeline *p, int kind,
                            const char *namespace_, const char *name,
                            const char *text, size_t len, char *err,
                            size_t errlen);

/* Whether the configuration in force enables the detector of spec key
 * name (config_detector_enabled()).  Any thread. */
int pipeline_detector_enabled(struct pipeline *p, const char *name);

/* Generation of the configuration in force (metadata.generation). */
uint64_t pipeline_config_generation(struct pipeline *p);

/* Snapshot of the totals. */
void pipeline_counts(struct pipeline *p, struct pipeline_counts *out);

#endif

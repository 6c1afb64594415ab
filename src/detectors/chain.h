/*
 * chain.h - the detector chain: every enabled detector, in order, over
 * every event.
 *
 * A chain is built from one config snapshot and is immutable afterwards
 * apart from each detector's own bounded state, so a config change builds
 * a new chain and swaps it in.  chain_run() and chain_explain() belong to
 * the pipeline thread.
 */
#ifndef DD_CHAIN_H
#define DD_CHAIN_H

#include <jansson.h>

#include "config/config.h"
#include "core/metrics.h"
#include "detectors/finding.h"
#include "event/event.h"

/* Receives each finding; f is only valid during the call. */
typedef void chain_report_fn(void *ctx, const struct finding *f);

/*
 * One detector.  check() examines an event and calls report for each
 * finding (zero or more).  explain(), when not NULL, adds this detector's
 * verdict on a bare name to obj under its name.  free() releases state.
 *
 * Optional hooks (NULL when unused):
 * - poll() reports findings whose evidence arrived after check() returned
 *   (an asynchronous lookup).  The pipeline thread calls it after every
 *   batch and on idle ticks; wait_ms > 0 (end of a replay, shutdown) lets
 *   it wait that long for work in flight.  It must never block longer.
 * - reload() rereads the detector's own inputs (list files) on SIGHUP or
 *   a file change.  Called from a control thread, not the pipeline
 *   thread: it builds the new state aside and swaps it in atomically, so
 *   check() never pauses; on failure it keeps the old state, returns a
 *   negative errno and writes the reason to err.
 */
struct detector {
    const char *name;
    void (*check)(struct detector *d, const struct event *ev,
                  chain_report_fn *report, void *ctx);
    void (*explain)(struct detector *d, const char *qname, json_t *obj);
    void (*free)(struct detector *d);
    void (*poll)(struct detector *d, int wait_ms, chain_report_fn *report,
                 void *ctx);
    int (*reload)(struct detector *d, char *err, size_t errlen);
    struct metrics_series *fires;  /* detector_fires_total{detector} */
    struct metrics_series *cost;   /* per-detector time histogram */
};

struct chain;

/*
 * Build the chain for a config: one detector per enabled entry.  On error
 * returns NULL and writes a message to err (a list that fails to load,
 * say).  Detectors that are disabled are not built.
 */
struct chain *chain_create(const struct config *cfg, char *err,
                           size_t errlen);
void chain_free(struct chain *c);

/* Run every detector over ev; findings go to report(ctx, f). */
void chain_run(struct chain *c, const struct event *ev,
               chain_report_fn *report, void *ctx);

/*
 * Verdicts of every per-name detector on qname, as a new JSON object
 * {"name": ..., "<detector>": {...}, ...}.  The caller owns the result.
 */
json_t *chain_explain(struct chain *c, const char *qname);

/* Run every detector's poll() hook (pipeline thread). */
void chain_poll(struct chain *c, int wait_ms, chain_report_fn *report,
                void *ctx);

/*
 * Run every detector's reload() hook (control thread).  Returns 0 when
 * all succeeded, else the first error (the others still ran), with its
 * message in err.
 */
int chain_reload(struct chain *c, char *err, size_t errlen);

/*
 * The built detector called name ("blocklist", ...), or NULL.  The chain
 * keeps ownership; the pointer lives as long as the chain.
 */
struct detector *chain_find(struct chain *c, const char *name);

/* Number of detectors built. */
size_t chain_size(const struct chain *c);

/*
 * Constructors of the built-in detectors; each returns NULL and fills err
 * on failure.  Defined in the detector's own file.
 */
struct detector *blocklist_create(const struct config *cfg, char *err,
                                  size_t errlen);
struct detector *dga_create(const struct config *cfg, char *err,
                            size_t errlen);
struct detector *tunnel_create(const struct config *cfg, char *err,
                               size_t errlen);
struct detector *doh_create(const struct config *cfg, char *err,
                            size_t errlen);
struct detector *anomport_create(const struct config *cfg, char *err,
                                 size_t errlen);
struct detector *slowq_create(const struct config *cfg, char *err,
                              size_t errlen);
struct detector *young_create(const struct config *cfg, char *err,
                              size_t errlen);

#endif

/*
 * cmwatch.h - watch the blocklist ConfigMaps a DNSDetectConfig names
 * (spec.detectors.blocklist.namespaceConfigMaps) and feed their text to
 * the blocklist detector.
 *
 * One kclient list-then-watch per ConfigMap, on its namespace's
 * configmaps narrowed by fieldSelector=metadata.name=<name> (so a Role
 * limited with resourceNames is enough: get, list and watch on that
 * name).  cmwatch_follow() makes the set of watches equal to the lists
 * of the configuration just applied: new ones start, dropped ones stop,
 * and the text already known of every kept one is fed again (a chain
 * built by pipeline_apply_config() starts without fed lists).  Each
 * change of a ConfigMap's text (its data values concatenated with
 * newlines, in key order) is fed with pipeline_feed_blocklist() from its
 * watch thread and logged ("blocklist ConfigMap fed"); text the loader
 * refuses is logged ("blocklist ConfigMap rejected") and the previous
 * text stays.
 *
 * A ConfigMap deleted, missing or unreadable (403, API server gone)
 * keeps the last text fed in force, and a warning says so: once per
 * deletion, and once per change of the failure (not on each retry).
 * Nothing is removed from the detector until the config stops naming
 * the ConfigMap.
 */
#ifndef DD_CMWATCH_H
#define DD_CMWATCH_H

#include "config/config.h"
#include "daemon/pipeline.h"
#include "k8s/kclient.h"

struct cmwatch;

/* Make an empty watcher set.  kc and pipe are borrowed and must outlive
 * it.  Returns 0 and *out, or -ENOMEM. */
int cmwatch_new(struct kclient *kc, struct pipeline *pipe,
                struct cmwatch **out);

/*
 * Follow cfg's ConfigMap lists (none when the blocklist is disabled):
 * start, stop and feed again as above.  Call after each successful
 * pipeline_apply_config(), from one thread at a time (cfgwatch's watch
 * thread); it may wait for a dropped watch to stop (about a second).
 */
void cmwatch_follow(struct cmwatch *w, const struct config *cfg);

/* Stop every watch and free.  NULL is fine. */
void cmwatch_free(struct cmwatch *w);

#endif

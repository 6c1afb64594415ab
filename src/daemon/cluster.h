/*
 * cluster.h - Kubernetes mode (no --standalone): the API client, leader
 * election, the single dispatcher and the DNSDetectConfig follower
 * around a pipeline that main.c runs as in standalone live mode.
 *
 * Credentials: --kubeconfig, else the in-cluster ServiceAccount
 * ($UGALLU_SA_DIR or the standard mount, KUBERNETES_SERVICE_HOST/PORT).
 * Everything namespaced lives in --leader-election-namespace: the Lease
 * and the DNSDetectConfig --config-name.
 */
#ifndef DD_CLUSTER_H
#define DD_CLUSTER_H

#include "config/config.h"
#include "daemon/cli.h"
#include "daemon/pipeline.h"
#include "daemon/supervisor.h"
#include "enrich/podattr.h"

struct cluster;

struct cluster_options {
    const struct cli_options *opt; /* borrowed; outlives the cluster */
    struct pipeline *pipe;         /* borrowed; not started yet */
    const char *active_source;     /* status.activeSource at start */
    const char *(*active_source_fn)(void *ctx); /* then this, asked at
                                      each status patch; may be NULL */
    void *active_source_ctx;
    struct podattr *podattr;       /* borrowed: the Pod index of this
                                      node is fed into it; may be NULL */
};

/*
 * Connect and start leader election, the dispatcher (set as the
 * pipeline's extra sink, so call before pipeline_start()), the config
 * watch and the watch of this node's Pods (into o->podattr).  Main
 * thread.  Returns 0 and *out, or a negative errno after logging why.
 */
int cluster_start(const struct cluster_options *o, struct cluster **out);

/*
 * Wait up to timeout_ms for the DNSDetectConfig the watch reads, so the
 * sources can start from its spec.source.  Returns 0 with *out the
 * configuration, or -ENOENT (missing or refused) / -ETIMEDOUT after
 * logging that the sources start from the flags.  Main thread.
 */
int cluster_first_config(struct cluster *c, unsigned timeout_ms,
                         struct config *out);

/*
 * The DNSDetectConfig in force now (a copy): 0, or -ENOENT while there
 * is none.  Any thread.
 */
int cluster_current_config(struct cluster *c, struct config *out);

/* How many configurations were applied so far: a change of it says
 * cluster_current_config() may differ.  Any thread. */
uint64_t cluster_config_applied(struct cluster *c);

/*
 * Feed sup's CoreDNS sources from the API: the bearer token from Secret
 * src->token_secret in --leader-election-namespace, and, when discover,
 * the endpoints of src->coredns_service's EndpointSlices with port
 * src->coredns_port (corednsdisc.h).  Stopped by
 * cluster_unfollow_coredns() or cluster_stop(), one of which must come
 * before sup is freed.  Returns 0 or a negative errno after logging why.
 * Main thread, while not following already.
 */
int cluster_follow_coredns(struct cluster *c, struct supervisor *sup,
                           const struct config_source *src, int discover);

/* Stop what cluster_follow_coredns() started, if anything.  Main
 * thread; NULL is fine. */
void cluster_unfollow_coredns(struct cluster *c);

/*
 * Stop after the pipeline has stopped and flushed: the dispatcher
 * (delivering what is queued for up to 3 s), then the Lease, released
 * when held, then the config watch.  NULL is fine.
 */
void cluster_stop(struct cluster *c);

/*
 * Parse a duration: digits with a unit "ms", "s" or "m" (plain digits
 * are seconds).  Returns 0 and *ms, or -EINVAL (also for 0 and for more
 * than a day).
 */
int cluster_duration_ms(const char *text, unsigned *ms);

#endif

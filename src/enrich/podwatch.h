/*
 * podwatch.h - the Pod index of this node: a list-then-watch of the Pods
 * whose spec.nodeName is this node (kclient), each pod's status.podIPs
 * fed to podattr's index.
 *
 * Pods on the host network share the node's address, so they are left
 * out (their queries stay attributed to the address); so are pods that
 * have finished (phase Succeeded or Failed), whose address may already
 * be another pod's.  A relist replaces the whole index.
 *
 * Known shortcomings: only this node's Pods are indexed, so a query this
 * node's source sees from a pod elsewhere needs the resolver; while the
 * watch cannot reach the API server the index keeps its last state; a
 * pod name over 127 bytes does not fit the event and the pod is left
 * out (counted as malformed kind "k8s_pod").
 */
#ifndef DD_PODWATCH_H
#define DD_PODWATCH_H

#include <jansson.h>
#include <stddef.h>

#include "enrich/podattr.h"
#include "k8s/kclient.h"

/* Addresses kept per pod (dual stack needs two). */
#define PODWATCH_IPS_MAX 4

/* One Pod as the index needs it. */
struct podwatch_pod {
    struct podtable_pod pod;        /* namespace, name, uid */
    struct event_addr ips[PODWATCH_IPS_MAX]; /* from status.podIPs (or
                                                status.podIP) */
    size_t nips;
    int indexed;                    /* 0: host network, finished, or no
                                       address: keep it out */
};

struct podwatch;

/*
 * Start the watch (its own thread, kclient's backoff and relists).
 * kc and pa are borrowed and must outlive the watch; node must be a DNS
 * name.  Returns 0 and *out, -EINVAL or -ENOMEM.  Main thread.
 */
int podwatch_start(struct kclient *kc, const char *node, struct podattr *pa,
                   struct podwatch **out);

/* Stop the watch and free (the index keeps what it holds).  NULL is
   fine. */
void podwatch_stop(struct podwatch *w);

/*
 * Read one Pod object.  Returns 0 with *out, or -EBADMSG when it lacks
 * metadata.namespace, name or uid, or one does not fit.  Addresses that
 * do not parse are skipped.  Any thread.
 */
int podwatch_parse(const json_t *obj, struct podwatch_pod *out);

#endif

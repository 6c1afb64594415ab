/*
 * dispatch.h - the single dispatcher: SecurityEvents to the API server
 * from the leader only, forwarded to the leader from every other pod.
 *
 * The pipeline's extra sink (dispatch_sink) copies each SecurityEvent
 * into a bounded queue (drops: ugallu_dns_events_dropped_total
 * {reason="dispatch_full"}).  One dispatcher thread takes batches from
 * its head and removes them only once they are delivered:
 * - on the leader (lease_is_leader), each object is POSTed to
 *   /apis/security.ugallu.io/v1alpha1/securityevents.  Names are
 *   deterministic, so 409 AlreadyExists counts as delivered; 429, 5xx
 *   and no answer are retried with backoff; any other refusal is counted
 *   in ugallu_dns_securityevent_writes_total{sink="apiserver",outcome},
 *   logged once per outcome, and the object dropped;
 * - elsewhere, the batch (a JSON array) is POSTed to the leader's
 *   forward listener, http://<addr>/v1/findings, addr being the part of
 *   the Lease's holderIdentity after '@' (see lease.h).  Until a 200
 *   comes back the batch stays queued, across leader changes.
 * Every pod serves POST /v1/findings on its forward listener and
 * queues what it receives in its own dispatcher (503 when the queue has
 * no room for the whole batch, so the sender keeps it).  A sender puts
 * its ServiceAccount token in "Authorization: Bearer"; the listener
 * takes the batch only when tokenreview.h finds the token is of the
 * same user as its own (401 without a valid token, 403 for another
 * user, 503 when it cannot ask, so the sender keeps the batch), unless
 * forward_insecure is set.  Refusals are counted in
 * ugallu_dns_forward_refused_total{reason}.  The listener is plain HTTP:
 * a token sent to it can be read on the pod network (a known
 * shortcoming).
 */
#ifndef DD_DISPATCH_H
#define DD_DISPATCH_H

#include <stddef.h>

#include <jansson.h>

#include "daemon/pipeline.h"
#include "k8s/kclient.h"
#include "k8s/lease.h"

/* Objects sent in one request (API server) or one forward batch. */
#define DISPATCH_BATCH 64
/* Largest forward request body accepted, in bytes. */
#define DISPATCH_MAX_BODY (4u << 20)

struct dispatch;

struct dispatch_options {
    struct kclient *kc;        /* borrowed; outlives the dispatcher */
    struct lease *lease;       /* borrowed; outlives the dispatcher */
    const char *forward_addr;  /* listen "HOST:PORT" / ":PORT"; "" or
                                  "0": no listener */
    size_t capacity;           /* queued objects; 0 means 4096 */
    int forward_insecure;      /* take batches without checking the
                                  sender's token */
};

/* Start the listener and the dispatcher thread.  Returns 0 and *out, or
 * a negative errno with a message in err. */
int dispatch_start(const struct dispatch_options *o, struct dispatch **out,
                   char *err, size_t errlen);

/*
 * Stop: close the listener, keep delivering for up to drain_ms while
 * objects remain, then stop the thread and free (objects left are
 * counted as dropped, reason "dispatch_shutdown").  NULL is fine.
 */
void dispatch_stop(struct dispatch *d, unsigned drain_ms);

/* The pipeline sink (ctx: the dispatcher).  Pipeline thread; copies
 * obj, never blocks. */
pipeline_sink_fn dispatch_sink;

/* Queue one object (a new reference is taken).  Any thread.  Returns 0,
 * or -ENOSPC when full (counted as dropped, "dispatch_full"). */
int dispatch_enqueue(struct dispatch *d, json_t *obj);

/* Objects queued now.  Any thread. */
size_t dispatch_depth(struct dispatch *d);

#endif

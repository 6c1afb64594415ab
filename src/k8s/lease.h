/*
 * lease.h - leader election on a coordination.k8s.io/v1 Lease.
 *
 * One thread per struct lease tries to acquire or renew the Lease every
 * retry period, the way client-go's leaderelection does:
 * - the Lease is created when missing (409 AlreadyExists: someone else
 *   won the race);
 * - a Lease held by another identity is taken over only after it went
 *   unchanged for a whole lease duration, measured on this process's own
 *   monotonic clock from when the change was seen (no clock skew), or at
 *   once when its holderIdentity is empty (a released Lease);
 * - every write is a merge patch carrying metadata.resourceVersion, so
 *   the API server refuses it with 409 Conflict when another writer got
 *   there first (optimistic concurrency);
 * - a leader that cannot renew for the renew deadline stops being one,
 *   even while a request is still hanging (lease_is_leader() checks the
 *   deadline itself; the dispatcher asks it every half second, which
 *   keeps ugallu_dns_leader true to it).
 * lease_stop() releases a held Lease (holderIdentity "" and a 1 s
 * duration, as client-go does), so another candidate takes over at once.
 *
 * The identity is "<node>-<random hex>@<forward address>": unique per
 * process, and it tells non-leaders where to forward findings (see
 * dispatch.h).  Metric: ugallu_dns_leader (gauge 0/1).
 */
#ifndef DD_LEASE_H
#define DD_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "k8s/kclient.h"

/* The Lease the daemon pods share (DESIGN 4). */
#define LEASE_NAME "ugallu-dns-detect-leader"
/* Longest holder identity kept. */
#define LEASE_IDENTITY_MAX 256

struct lease;

struct lease_options {
    struct kclient *kc;       /* borrowed; outlives the lease */
    const char *namespace_;   /* Lease namespace (copied) */
    const char *name;         /* Lease name (copied); NULL: LEASE_NAME */
    const char *identity;     /* holderIdentity when leading (copied) */
    unsigned duration_ms;     /* lease duration, default 15000 */
    unsigned renew_ms;        /* renew deadline, default 10000 */
    unsigned retry_ms;        /* retry period, default 2000 */
};

/* Start the election thread.  Returns 0 and *out, -EINVAL or -ENOMEM. */
int lease_start(const struct lease_options *o, struct lease **out);

/*
 * Stop the thread and release the Lease when held.  l stays valid (and
 * not leader) for the other threads that still ask it, until
 * lease_free().  NULL is fine; so is a second call.
 */
void lease_stop(struct lease *l);

/* Free a stopped lease.  NULL is fine. */
void lease_free(struct lease *l);

/* 1 while this process holds the Lease and renewed it within the renew
 * deadline, else 0.  Any thread. */
int lease_is_leader(struct lease *l);

/*
 * Copy the holderIdentity last seen on the Lease (ours when leading, ""
 * when none or unknown) into buf.  Any thread.
 */
void lease_holder(struct lease *l, char *buf, size_t len);

/* This candidate's own identity (fixed at start).  Any thread. */
const char *lease_self(const struct lease *l);

/*
 * Decide from an observed Lease whether this candidate may write it:
 * holder the observed holderIdentity ("" for none), me our identity,
 * unchanged_ms how long the record has gone unchanged, duration_ms the
 * lease duration.  Returns 1 when it may (ours, released, or expired).
 * Pure; exposed for the unit tests.
 */
int lease_may_take(const char *holder, const char *me, uint64_t unchanged_ms,
                   unsigned duration_ms);

/* "<node>-<8 hex>@<addr>" into buf; rnd supplies the hex.  Returns 0 or
 * -ENAMETOOLONG.  Exposed for the unit tests. */
int lease_identity(char *buf, size_t len, const char *node,
                   const char *addr, uint32_t rnd);

/* The forward address part of an identity ("" when it has none):
 * everything after the last '@'. */
const char *lease_identity_addr(const char *identity);

#endif

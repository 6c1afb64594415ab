/*
 * txn.h - query/response matching into transactions.
 *
 * Sources emit one partial event per DNS message: the query side or the
 * response side.  A txn table pairs them by (role, client address and
 * port, server port, DNS id, qtype, qname) whichever arrives first, so
 * messages may come out of time order.  A pair leaves as one event with
 * both sides and, when both times are known, the latency.  An unpaired
 * query leaves after the hold time as EVENT_F_UNANSWERED; an unpaired
 * response leaves alone.  Flow events and events without a question pass
 * straight through.
 *
 * Time is event time: the table expires against the newest time it has
 * seen (the watermark), so a replay behaves like the live run it records.
 * Capacity is fixed at creation; when full, the oldest entry leaves early
 * and is counted in ugallu_dns_events_dropped_total{reason="txn_full"}
 * (the event is still emitted, only unpaired).  Not thread-safe: one
 * owner thread.
 */
#ifndef DD_TXN_H
#define DD_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

struct txn;

/*
 * Create a table of capacity entries (rounded up to a power of two)
 * holding an entry at most hold_ns of event time.  Completed events go to
 * emit(ctx, ev).  Returns NULL when out of memory.
 */
struct txn *txn_create(size_t capacity, uint64_t hold_ns,
                       event_emit_fn *emit, void *ctx);

/* Free the table; pending entries are dropped silently (flush first). */
void txn_free(struct txn *t);

/* Offer one partial event; may emit it, its pair, or expired entries. */
void txn_add(struct txn *t, const struct event *ev);

/*
 * Emit every entry older than now_ns - hold.  Live sources call this on a
 * timer with the wall clock so idle periods still flush.
 */
void txn_expire(struct txn *t, uint64_t now_ns);

/* Emit every pending entry (end of a replay, shutdown). */
void txn_flush(struct txn *t);

/* Entries currently held. */
size_t txn_pending(const struct txn *t);

#endif

/*
 * ring.h - a bounded queue of events between source threads and the
 * pipeline thread.
 *
 * Many producers, one consumer.  A push into a full ring fails at once
 * (the producer never waits) and the caller counts the drop.  The consumer
 * takes events in batches to keep lock traffic low.
 */
#ifndef DD_RING_H
#define DD_RING_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

struct ring;

/* Create a ring of capacity events.  Returns NULL when out of memory. */
struct ring *ring_create(size_t capacity);
void ring_free(struct ring *r);

/* Copy ev in.  Returns 0, or -ENOBUFS when full.  Any thread. */
int ring_push(struct ring *r, const struct event *ev);

/*
 * Like ring_push(), but when the ring is full wait up to timeout_ms for
 * room (a source that can push back on its sender, such as a socket).
 * Returns 0, or -ENOBUFS when still full.  Any thread.
 */
int ring_push_wait(struct ring *r, const struct event *ev, int timeout_ms);

/*
 * Move up to max events into out, waiting at most timeout_ms for the
 * first one.  Returns how many were taken (0 on timeout or close).
 * Consumer thread only.
 */
size_t ring_pop(struct ring *r, struct event *out, size_t max,
                int timeout_ms);

/* Wake the consumer; later pops return what is left, then 0 at once. */
void ring_close(struct ring *r);

/* Events waiting now. */
size_t ring_depth(struct ring *r);

#endif

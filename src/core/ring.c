/*
 * ring.c - bounded multi-producer, single-consumer event queue.
 */
#include "core/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct ring {
    pthread_mutex_t lock;
    pthread_cond_t ready;   /* signalled when the ring stops being empty */
    pthread_cond_t room;    /* signalled when the consumer takes events */
    struct event *slots;
    size_t capacity;
    size_t head;     /* next to pop */
    size_t count;
    int closed;
};

struct ring *
ring_create(size_t capacity)
{
    struct ring *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->slots = calloc(capacity, sizeof(*r->slots));
    if (r->slots == NULL || capacity == 0) {
        free(r->slots);
        free(r);
        return NULL;
    }
    r->capacity = capacity;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->ready, NULL);
    pthread_cond_init(&r->room, NULL);
    return r;
}

void
ring_free(struct ring *r)
{
    if (r != NULL) {
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->ready);
        pthread_cond_destroy(&r->room);
        free(r->slots);
        free(r);
    }
}

/* Wait on cond for at most timeout_ms; the lock is held. */
static void
ring_wait(struct ring *r, pthread_cond_t *cond, int timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cond, &r->lock, &ts);
}

int
ring_push_wait(struct ring *r, const struct event *ev, int timeout_ms)
{
    int rc = 0;

    pthread_mutex_lock(&r->lock);
    if (r->count == r->capacity && timeout_ms > 0 && !r->closed) {
        ring_wait(r, &r->room, timeout_ms);
    }
    if (r->count == r->capacity) {
        rc = -ENOBUFS;
    } else {
        r->slots[(r->head + r->count) % r->capacity] = *ev;
        if (r->count++ == 0) {
            pthread_cond_signal(&r->ready);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int
ring_push(struct ring *r, const struct event *ev)
{
    return ring_push_wait(r, ev, 0);
}

size_t
ring_pop(struct ring *r, struct event *out, size_t max, int timeout_ms)
{
    size_t n = 0;

    pthread_mutex_lock(&r->lock);
    if (r->count == 0 && !r->closed && timeout_ms > 0) {
        ring_wait(r, &r->ready, timeout_ms);
    }
    while (n < max && r->count > 0) {
        out[n++] = r->slots[r->head];
        r->head = (r->head + 1) % r->capacity;
        r->count--;
    }
    if (n > 0) {
        pthread_cond_broadcast(&r->room);
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

void
ring_close(struct ring *r)
{
    pthread_mutex_lock(&r->lock);
    r->closed = 1;
    pthread_cond_broadcast(&r->ready);
    pthread_cond_broadcast(&r->room);
    pthread_mutex_unlock(&r->lock);
}

size_t
ring_depth(struct ring *r)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}

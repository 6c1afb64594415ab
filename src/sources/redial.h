/*
 * redial.h - keep one gRPC server stream open: dial, read it to the end,
 * back off, dial again, until stopped.
 *
 * The loop the two stream sources share (the CoreDNS plugin's Subscribe
 * and Tetragon's GetEvents).  A struct redial owns one grpcstream and
 * one thread.  Before each dial it asks its source for the call
 * (prepare); every message read goes to deliver; the stream coming up
 * and going down goes to up; how an attempt ended goes to ended, unless
 * it ended because the loop was stopped.
 *
 * An attempt is healthy when its stream brought a message or stayed up
 * for REDIAL_HEALTHY_NS.  After an unhealthy one the loop waits a
 * full-jitter backoff: uniform in [0, ceiling], the ceiling starting at
 * REDIAL_BACKOFF_MIN_NS and doubling with each failure in a row up to
 * REDIAL_BACKOFF_MAX_NS; a healthy attempt starts the count again.
 * Every dial gets a fresh channel (grpcstream.h), so no state of an
 * earlier connection survives a redial.
 */
#ifndef DD_REDIAL_H
#define DD_REDIAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sources/grpcstream.h"

#define REDIAL_BACKOFF_MIN_NS 500000000ull
#define REDIAL_BACKOFF_MAX_NS 30000000000ull
/* A stream up this long counts as healthy even without a message. */
#define REDIAL_HEALTHY_NS 10000000000ull
/* Room prepare() gets for a secret (a bearer token) the options point
 * into; wiped once the dial is made. */
#define REDIAL_SECRET_MAX 4097

/* What the loop asks of its source; every call on the loop's thread. */
struct redial_ops {
    /* Fill the options and request of the next dial (they may point into
     * secret, secret_len bytes).  Returns 0 to dial, or a negative errno
     * to count the attempt as failed without dialling (prepare reports
     * why itself). */
    int (*prepare)(void *ctx, struct grpcstream_opts *o, const void **req,
                   size_t *reqlen, char *secret, size_t secret_len);
    /* One message of the stream, valid during the call. */
    void (*deliver)(void *ctx, const uint8_t *msg, size_t len);
    /* The stream came up (1) or went down (0). */
    void (*up)(void *ctx, int up);
    /* How an attempt ended: status is grpcstream_status() (-1 unknown),
     * open_rc grpcstream_open()'s result, details the server's message,
     * safe to quote in a log field (quotes, backslashes, control and
     * non-ASCII bytes made '?'). */
    void (*ended)(void *ctx, int status, int open_rc, const char *details);
    /* A dial after the first is about to be made. */
    void (*redialing)(void *ctx);
};

struct redial {
    const struct redial_ops *ops;
    void *ctx;
    struct grpcstream *gs;       /* owned by the thread while it runs */
    pthread_t thread;
    bool running;                /* thread started and not joined */
    pthread_mutex_t mu;          /* guards stop; cv wakes the backoff */
    pthread_cond_t cv;           /* on CLOCK_MONOTONIC */
    bool stop;
    _Atomic unsigned failures;   /* unhealthy attempts in a row */
    uint64_t rng;                /* jitter state; the thread's */
};

/*
 * Set r up (mutex, condition, stream object) for ops and ctx, with seed
 * for the jitter.  Needs grpcstream_global_init().  Returns 0, or
 * -ENOMEM with nothing to destroy.  Control thread.
 */
int redial_init(struct redial *r, const struct redial_ops *ops, void *ctx,
                uint64_t seed);

/* Start the thread.  Returns 0 or a negative errno.  Control thread. */
int redial_start(struct redial *r);

/* Ask the thread to stop and cancel its stream; does not wait.  Any
 * thread but the loop's. */
void redial_signal(struct redial *r);

/* Wait for the thread after redial_signal(); no callback runs after it
 * returns.  Control thread. */
void redial_join(struct redial *r);

/* Signal and join if needed, then release what init made. */
void redial_destroy(struct redial *r);

/* Whether the loop was told to stop.  Any thread. */
bool redial_stopping(struct redial *r);

/* Unhealthy attempts in a row so far.  Any thread. */
unsigned redial_failures(const struct redial *r);

/* Backoff ceiling after attempt + 1 failures in a row. */
uint64_t redial_backoff_ceiling_ns(unsigned attempt);

/* The delay itself: random % (ceiling + 1). */
uint64_t redial_backoff_ns(unsigned attempt, uint64_t random);

#endif

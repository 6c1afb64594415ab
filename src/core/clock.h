/*
 * clock.h - the clock and the interruptible wait every module shares.
 *
 * Header-only: both are a few lines and sit on hot or frequent paths.
 */
#ifndef DD_CLOCK_H
#define DD_CLOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_SEC 1000000000ull

/* Nanoseconds on the given clock (CLOCK_MONOTONIC, CLOCK_REALTIME...). */
static inline uint64_t
clock_ns(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * CLOCK_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The time ns from now on clock, as pthread_cond_timedwait() wants it
 * (the condition variable must use the same clock). */
static inline struct timespec
clock_deadline(clockid_t clock, uint64_t ns)
{
    uint64_t until = clock_ns(clock) + ns;
    struct timespec ts = {
        .tv_sec = (time_t)(until / CLOCK_NS_PER_SEC),
        .tv_nsec = (long)(until % CLOCK_NS_PER_SEC),
    };

    return ts;
}

/*
 * Sleep ns, or less when *stop turns true: the stopper sets *stop under
 * mu and signals cv.  cv must use CLOCK_MONOTONIC (pthread_condattr_
 * setclock).  The caller does not hold mu.
 */
static inline void
clock_wait(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop,
           uint64_t ns)
{
    struct timespec ts = clock_deadline(CLOCK_MONOTONIC, ns);

    pthread_mutex_lock(mu);
    while (!*stop && pthread_cond_timedwait(cv, mu, &ts) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(mu);
}

#endif

/*
 * redial.c - the dial, stream and back-off loop of the stream sources.
 */
#include "sources/redial.h"

#include <errno.h>
#include <string.h>

#include "core/clock.h"

uint64_t
redial_backoff_ceiling_ns(unsigned attempt)
{
    uint64_t c = REDIAL_BACKOFF_MIN_NS;

    for (unsigned i = 0; i < attempt && c < REDIAL_BACKOFF_MAX_NS; i++) {
        c *= 2;
    }
    return c < REDIAL_BACKOFF_MAX_NS ? c : REDIAL_BACKOFF_MAX_NS;
}

uint64_t
redial_backoff_ns(unsigned attempt, uint64_t random)
{
    return random % (redial_backoff_ceiling_ns(attempt) + 1);
}

/* splitmix64: the jitter needs spread, not secrecy. */
static uint64_t
redial_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool
redial_stopping(struct redial *r)
{
    bool stop;

    pthread_mutex_lock(&r->mu);
    stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

unsigned
redial_failures(const struct redial *r)
{
    return atomic_load(&r->failures);
}

/* Read an open stream to its end.  Returns whether it was healthy. */
static bool
redial_run(struct redial *r)
{
    uint64_t start = clock_ns(CLOCK_MONOTONIC);
    uint64_t messages = 0;
    const uint8_t *msg;
    size_t len;

    r->ops->up(r->ctx, 1);
    while (grpcstream_read(r->gs, &msg, &len) == 1) {
        r->ops->deliver(r->ctx, msg, len);
        messages++;
    }
    r->ops->up(r->ctx, 0);
    return messages > 0 ||
           clock_ns(CLOCK_MONOTONIC) - start >= REDIAL_HEALTHY_NS;
}

/* The server's status details made safe to quote in a log field. */
static void
redial_clean(char *text)
{
    for (; *text != '\0'; text++) {
        unsigned char c = (unsigned char)*text;

        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
            *text = '?';
        }
    }
}

/* One dial: prepare, open, read to the end, close, tell.  Returns
 * whether it was healthy. */
static bool
redial_attempt(struct redial *r)
{
    char secret[REDIAL_SECRET_MAX];
    char details[GRPCSTREAM_DETAILS_MAX];
    struct grpcstream_opts o;
    const void *req = NULL;
    size_t reqlen = 0;
    bool healthy = false;
    int rc, status;

    memset(&o, 0, sizeof(o));
    if (r->ops->prepare(r->ctx, &o, &req, &reqlen, secret,
                        sizeof(secret)) != 0) {
        explicit_bzero(secret, sizeof(secret));
        return false;
    }
    rc = grpcstream_open(r->gs, &o, req, reqlen);
    explicit_bzero(secret, sizeof(secret));
    if (rc == 0) {
        healthy = redial_run(r);
    }
    status = grpcstream_status(r->gs, details, sizeof(details));
    grpcstream_close(r->gs);
    redial_clean(details);

    if (rc != -ECANCELED && !redial_stopping(r)) {
        r->ops->ended(r->ctx, status, rc, details);
    }
    return healthy;
}

/* The thread: dial, stream, back off, again, until stopped. */
static void *
redial_main(void *arg)
{
    struct redial *r = arg;
    unsigned failures = 0;
    bool first = true;

    while (!redial_stopping(r)) {
        uint64_t delay;

        if (!first) {
            r->ops->redialing(r->ctx);
        }
        first = false;
        failures = redial_attempt(r) ? 0 : failures + (failures < 64);
        atomic_store(&r->failures, failures);

        delay = redial_backoff_ns(failures > 0 ? failures - 1 : 0,
                                  redial_random(&r->rng));
        clock_wait(&r->mu, &r->cv, &r->stop, delay);
    }
    return NULL;
}

/* The condition runs on the monotonic clock, as clock_wait() wants. */
static int
redial_cond(struct redial *r)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0) {
        return -ENOMEM;
    }
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0) {
        rc = pthread_cond_init(&r->cv, &attr);
    }
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -ENOMEM;
}

int
redial_init(struct redial *r, const struct redial_ops *ops, void *ctx,
            uint64_t seed)
{
    memset(r, 0, sizeof(*r));
    r->ops = ops;
    r->ctx = ctx;
    r->rng = seed;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        return -ENOMEM;
    }
    if (redial_cond(r) != 0) {
        pthread_mutex_destroy(&r->mu);
        return -ENOMEM;
    }
    r->gs = grpcstream_new();
    if (r->gs == NULL) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        return -ENOMEM;
    }
    return 0;
}

int
redial_start(struct redial *r)
{
    int rc = pthread_create(&r->thread, NULL, redial_main, r);

    r->running = rc == 0;
    return -rc;
}

void
redial_signal(struct redial *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    grpcstream_cancel(r->gs);
}

void
redial_join(struct redial *r)
{
    if (r->running) {
        pthread_join(r->thread, NULL);
        r->running = false;
    }
}

void
redial_destroy(struct redial *r)
{
    redial_signal(r);
    redial_join(r);
    grpcstream_free(r->gs);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

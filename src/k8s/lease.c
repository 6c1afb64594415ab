/*
 * lease.c - leader election on a coordination.k8s.io/v1 Lease.
 */
#include "k8s/lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

struct lease {
    struct kclient *kc;
    char path[KCLIENT_MAX_URL];       /* the Lease object */
    char coll[KCLIENT_MAX_URL];       /* the leases collection */
    char name[128];
    char me[LEASE_IDENTITY_MAX];
    unsigned duration_ms, renew_ms, retry_ms;

    pthread_t thread;
    pthread_mutex_t mu;               /* guards holder, stop; cond */
    pthread_cond_t cond;
    int stop;
    int joined;                       /* lease_stop() ran */
    char holder[LEASE_IDENTITY_MAX];  /* last holder seen */
    atomic_int leader;

    /* Election thread only. */
    char seen[LEASE_IDENTITY_MAX + KCLIENT_RV_LEN]; /* holder + renew */
    uint64_t seen_at_ms;              /* when seen last changed */
    atomic_uint_fast64_t renewed_at_ms; /* last successful write (read
                                         by lease_is_leader too) */
    long transitions;                 /* leaseTransitions seen */
    struct metrics_series *gauge;
};

static uint64_t
lease_now_ms(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

/* Now as a Kubernetes MicroTime: RFC 3339, six fractional digits. */
static void
lease_microtime(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char day[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.20s.%06uZ", day,
             (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

int
lease_may_take(const char *holder, const char *me, uint64_t unchanged_ms,
               unsigned duration_ms)
{
    if (holder[0] == '\0' || strcmp(holder, me) == 0) {
        return 1;
    }
    return unchanged_ms >= duration_ms;
}

int
lease_identity(char *buf, size_t len, const char *node, const char *addr,
               uint32_t rnd)
{
    int n = snprintf(buf, len, "%s-%08x@%s", node, (unsigned)rnd, addr);

    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const char *
lease_identity_addr(const char *identity)
{
    const char *at = strrchr(identity, '@');

    return at != NULL ? at + 1 : "";
}

static void
lease_set_holder(struct lease *l, const char *holder)
{
    pthread_mutex_lock(&l->mu);
    snprintf(l->holder, sizeof(l->holder), "%s", holder);
    pthread_mutex_unlock(&l->mu);
}

static void
lease_set_leader(struct lease *l, int on)
{
    int was = atomic_exchange(&l->leader, on);

    metrics_set(l->gauge, on);
    if (was != on) {
        log_info(on ? "became leader" : "lost leadership", "lease=%s id=%s",
                 l->name, l->me);
    }
}

/* The spec this candidate writes; holder "" releases. */
static json_t *
lease_spec(struct lease *l, const char *holder, unsigned duration_s,
           int acquired, long transitions)
{
    char now[48];
    json_t *spec;

    lease_microtime(now, sizeof(now));
    spec = json_pack("{s:s, s:i, s:s}", "holderIdentity", holder,
                     "leaseDurationSeconds", (json_int_t)duration_s,
                     "renewTime", now);
    if (spec != NULL && acquired) {
        json_object_set_new(spec, "acquireTime", json_string(now));
        json_object_set_new(spec, "leaseTransitions",
                            json_integer(transitions));
    }
    return spec;
}

static unsigned
lease_duration_s(const struct lease *l)
{
    return (l->duration_ms + 999u) / 1000u;
}

static int
lease_create(struct lease *l)
{
    json_t *obj;
    int rc;

    obj = json_pack("{s:s, s:s, s:{s:s}, s:o*}",
                    "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                    "metadata", "name", l->name, "spec",
                    lease_spec(l, l->me, lease_duration_s(l), 1, 0));
    if (obj == NULL) {
        return -ENOMEM;
    }
    rc = kclient_create(l->kc, l->coll, obj, NULL, NULL);
    json_decref(obj);
    return rc;
}

/* Merge-patch the spec, conditional on resourceVersion rv. */
static int
lease_write(struct lease *l, const char *rv, json_t *spec)
{
    json_t *patch;
    int rc;

    if (spec == NULL) {
        return -ENOMEM;
    }
    patch = json_pack("{s:{s:s}, s:o}", "metadata", "resourceVersion", rv,
                      "spec", spec);
    if (patch == NULL) {
        return -ENOMEM;
    }
    rc = kclient_merge_patch(l->kc, l->path, patch, NULL, NULL);
    json_decref(patch);
    return rc;
}

/* Note what the Lease says; restart the expiry clock when it changed. */
static void
lease_observe(struct lease *l, const char *holder, const char *renew)
{
    char seen[sizeof(l->seen)];

    snprintf(seen, sizeof(seen), "%s|%s", holder, renew);
    if (strcmp(seen, l->seen) != 0) {
        memcpy(l->seen, seen, sizeof(seen));
        l->seen_at_ms = lease_now_ms();
    }
    lease_set_holder(l, holder);
}

/* One attempt on an existing Lease object. */
static int
lease_try_existing(struct lease *l, json_t *obj)
{
    const char *holder = "", *renew = "", *rv = "";
    json_int_t trans = 0;
    int ours, rc;

    json_unpack(obj, "{s:{s?s}, s?{s?s, s?s, s?I}}", "metadata",
                "resourceVersion", &rv, "spec", "holderIdentity", &holder,
                "renewTime", &renew, "leaseTransitions", &trans);
    lease_observe(l, holder, renew);
    ours = strcmp(holder, l->me) == 0;
    if (!lease_may_take(holder, l->me, lease_now_ms() - l->seen_at_ms,
                        l->duration_ms)) {
        return -EBUSY;
    }
    rc = lease_write(l, rv, lease_spec(l, l->me, lease_duration_s(l), !ours,
                                       ours ? trans : trans + 1));
    if (rc == 0) {
        lease_set_holder(l, l->me);
    }
    return rc;
}

/* One acquire-or-renew round: 0 when we hold the Lease now. */
static int
lease_round(struct lease *l)
{
    json_t *obj = NULL;
    int rc;

    rc = kclient_get(l->kc, l->path, &obj, NULL);
    if (rc == -ENOENT) {
        rc = lease_create(l);
        if (rc == 0) {
            lease_set_holder(l, l->me);
        }
        return rc;
    }
    if (rc != 0) {
        return rc;
    }
    rc = lease_try_existing(l, obj);
    json_decref(obj);
    return rc;
}

/* After a round: keep, take or give up leadership. */
static void
lease_account(struct lease *l, int rc)
{
    uint64_t now = lease_now_ms();

    if (rc == 0) {
        atomic_store(&l->renewed_at_ms, now);
        lease_set_leader(l, 1);
        return;
    }
    if (rc == -EBUSY || rc == -EEXIST) {
        lease_set_leader(l, 0);   /* someone else holds it */
        return;
    }
    if (atomic_load(&l->leader) &&
        now - atomic_load(&l->renewed_at_ms) >= l->renew_ms) {
        log_warn("lease renew deadline passed", "error=%d", rc);
        lease_set_leader(l, 0);
    }
}

/* Wait ms or until stopped; returns 1 when stopped. */
static int
lease_sleep(struct lease *l, unsigned ms)
{
    struct timespec ts = clock_deadline(CLOCK_REALTIME, ms * 1000000ull);
    int stop;

    pthread_mutex_lock(&l->mu);
    while (!l->stop &&
           pthread_cond_timedwait(&l->cond, &l->mu, &ts) != ETIMEDOUT) {
    }
    stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    return stop;
}

static void *
lease_thread(void *arg)
{
    struct lease *l = arg;

    do {
        lease_account(l, lease_round(l));
    } while (!lease_sleep(l, l->retry_ms));
    return NULL;
}

int
lease_start(const struct lease_options *o, struct lease **out)
{
    struct lease *l;

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    l->kc = o->kc;
    snprintf(l->name, sizeof(l->name), "%s", o->name ? o->name : LEASE_NAME);
    snprintf(l->me, sizeof(l->me), "%s", o->identity);
    l->duration_ms = o->duration_ms ? o->duration_ms : 15000u;
    l->renew_ms = o->renew_ms ? o->renew_ms : 10000u;
    l->retry_ms = o->retry_ms ? o->retry_ms : 2000u;
    l->gauge = metrics_gauge("ugallu_dns_leader", "",
                             "1 while this pod holds the leader Lease.");
    if (kclient_path(l->coll, sizeof(l->coll), "coordination.k8s.io", "v1",
                     o->namespace_, "leases", NULL, NULL) != 0 ||
        kclient_path(l->path, sizeof(l->path), "coordination.k8s.io", "v1",
                     o->namespace_, "leases", l->name, NULL) != 0) {
        free(l);
        return -EINVAL;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cond, NULL);
    if (pthread_create(&l->thread, NULL, lease_thread, l) != 0) {
        free(l);
        return -ENOMEM;
    }
    *out = l;
    return 0;
}

/* Give the Lease back so another candidate need not wait it out. */
static void
lease_release(struct lease *l)
{
    json_t *obj = NULL;
    const char *holder = "", *rv = "";
    int rc;

    if (kclient_get(l->kc, l->path, &obj, NULL) != 0) {
        return;
    }
    json_unpack(obj, "{s:{s?s}, s?{s?s}}", "metadata", "resourceVersion",
                &rv, "spec", "holderIdentity", &holder);
    if (strcmp(holder, l->me) == 0) {
        rc = lease_write(l, rv, lease_spec(l, "", 1, 0, 0));
        log_info("lease released", "lease=%s rc=%d", l->name, rc);
    }
    json_decref(obj);
}

void
lease_stop(struct lease *l)
{
    int joined;

    if (l == NULL) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    joined = l->joined;
    l->joined = 1;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    if (joined) {
        return;
    }
    pthread_join(l->thread, NULL);
    if (atomic_load(&l->leader)) {
        lease_set_leader(l, 0);
        lease_release(l);
    }
}

void
lease_free(struct lease *l)
{
    if (l == NULL) {
        return;
    }
    lease_stop(l);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    free(l);
}

/*
 * The renew deadline is also checked here, not only after a round: a
 * request to an API server that accepts connections but never answers
 * holds the election thread for up to KCLIENT_REQUEST_TIMEOUT, and a
 * leader must not go on acting as one meanwhile.  A renewal landing
 * just as the deadline passes can lose leadership for one retry period.
 */
int
lease_is_leader(struct lease *l)
{
    if (!atomic_load(&l->leader)) {
        return 0;
    }
    if (lease_now_ms() - atomic_load(&l->renewed_at_ms) >= l->renew_ms) {
        lease_set_leader(l, 0);   /* logs "lost leadership" once */
        return 0;
    }
    return 1;
}

const char *
lease_self(const struct lease *l)
{
    return l->me;
}

void
lease_holder(struct lease *l, char *buf, size_t len)
{
    pthread_mutex_lock(&l->mu);
    snprintf(buf, len, "%s", l->holder);
    pthread_mutex_unlock(&l->mu);
}

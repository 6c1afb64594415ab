/*
 * cfgwatch.c - follow the DNSDetectConfig, feed ConfigMap blocklists,
 * report status.
 */
#include "k8s/cfgwatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "k8s/cmwatch.h"

#define CFGWATCH_GROUP "security.ugallu.io"
#define CFGWATCH_VERSION "v1alpha1"
#define CFGWATCH_API CFGWATCH_GROUP "/" CFGWATCH_VERSION

/* The detectors status reports, by their spec key. */
static const char *const cfgwatch_detectors[] = {
    "blocklist", "dga", "slowQuery", "tunneling", "exfiltration", "doh",
    "dot", "youngDomain", "anomalousPort",
};
#define CFGWATCH_NDETECTORS \
    (sizeof(cfgwatch_detectors) / sizeof(cfgwatch_detectors[0]))

/* Anomaly Events waiting for the status thread. */
#define CFGWATCH_NOTES_MAX 8

struct cfgwatch_note {
    char reason[32];
    char message[256];
};

struct cfgwatch {
    struct kclient *kc;
    struct pipeline *pipe;
    struct lease *lease;
    struct kclient_watch *watch;
    char ns[64], name[CONFIG_NAME_MAX], node[128], source[32];
    const char *(*source_fn)(void *ctx); /* the active source, if set */
    void *source_ctx;
    char coll[KCLIENT_MAX_URL], path[KCLIENT_MAX_URL];
    unsigned resync_ms;

    pthread_t thread;            /* status thread */
    int started;                 /* thread runs */
    int status_rc;               /* last status patch result */
    pthread_mutex_t mu;          /* guards what follows; cond */
    pthread_cond_t cond;
    int stop, kick;
    int missing;                 /* the object went away */
    struct config *cur;          /* applied configuration, or NULL */
    char loaded_at[48];          /* lastConfigLoadAt */
    char uid[64];                /* the object's metadata.uid */
    uint64_t seen_gen;           /* generation last applied or refused */
    int ready;                   /* Ready condition: 1 True, 0 False */
    char ready_since[48];        /* its lastTransitionTime */
    char error[256];             /* last refusal, "" when none */

    int listed;                  /* the first list has been seen */
    struct cfgwatch_note notes[CFGWATCH_NOTES_MAX]; /* Events to post */
    unsigned nnotes;

    struct cmwatch *cm;          /* the blocklist ConfigMaps' watches */
    atomic_uint_fast64_t applied;
    struct metrics_series *status_ok, *status_err;
};

static void
cfgwatch_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
cfgwatch_kick(struct cfgwatch *c)
{
    pthread_mutex_lock(&c->mu);
    c->kick = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

/* ---- Events -------------------------------------------------------- */

/* A Warning Event on the DNSDetectConfig, best effort; only from the
 * leader unless any_pod (a node's own anomaly). */
static void
cfgwatch_event(struct cfgwatch *c, const char *reason, const char *msg,
               int any_pod)
{
    char path[KCLIENT_MAX_URL], now[48], name[CONFIG_NAME_MAX + 32];
    struct timespec ts;
    json_t *ev;

    if ((!any_pod && !lease_is_leader(c->lease)) ||
        kclient_path(path, sizeof(path), NULL, "v1", c->ns, "events", NULL,
                     NULL) != 0) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    cfgwatch_now(now, sizeof(now));
    snprintf(name, sizeof(name), "%.200s.%llx", c->name,
             (unsigned long long)ts.tv_sec * 1000000000ull +
                 (unsigned long long)ts.tv_nsec);
    ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s},"
                   " s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i}",
                   "apiVersion", "v1", "kind", "Event", "metadata",
                   "name", name, "namespace", c->ns, "involvedObject",
                   "apiVersion", CFGWATCH_API, "kind", "DNSDetectConfig",
                   "name", c->name, "namespace", c->ns, "uid", c->uid,
                   "reason", reason, "message", msg, "type", "Warning",
                   "source", "component", "ugallu-dns-detect", "host",
                   c->node, "firstTimestamp", now, "lastTimestamp", now,
                   "count", 1);
    if (ev != NULL) {
        int rc = kclient_create(c->kc, path, ev, NULL, NULL);

        if (rc != 0) {
            log_warn("cannot create Event", "reason=%s rc=%d", reason, rc);
        }
        json_decref(ev);
    }
}

/* ---- applying ------------------------------------------------------ */

/* Parse obj into a new config; NULL with err filled on refusal. */
static struct config *
cfgwatch_parse(json_t *obj, char *err, size_t errlen)
{
    struct config *cfg = malloc(sizeof(*cfg));
    char *text = json_dumps(obj, JSON_COMPACT);
    int rc = -ENOMEM;

    if (cfg != NULL && text != NULL) {
        rc = config_parse(text, strlen(text), cfg, err, errlen);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(text);
    if (rc != 0) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

/* Swap cfg in as the current config (takes it). */
/* Note the outcome for the Ready condition (caller holds c->mu). */
static void
cfgwatch_set_ready(struct cfgwatch *c, int ready)
{
    if (c->ready != ready || c->ready_since[0] == '\0') {
        c->ready = ready;
        cfgwatch_now(c->ready_since, sizeof(c->ready_since));
    }
}

/* Swap cfg in as the current config (takes it). */
static void
cfgwatch_take(struct cfgwatch *c, struct config *cfg, const char *uid)
{
    pthread_mutex_lock(&c->mu);
    free(c->cur);
    c->cur = cfg;
    c->missing = 0;
    c->error[0] = '\0';
    c->seen_gen = cfg->generation;
    snprintf(c->uid, sizeof(c->uid), "%s", uid);
    cfgwatch_now(c->loaded_at, sizeof(c->loaded_at));
    cfgwatch_set_ready(c, 1);
    pthread_mutex_unlock(&c->mu);
}

static void
cfgwatch_refuse(struct cfgwatch *c, const char *err, const char *uid,
                uint64_t gen)
{
    log_error("DNSDetectConfig rejected, previous config stays",
              "name=%s/%s error=\"%s\"", c->ns, c->name, err);
    pthread_mutex_lock(&c->mu);
    snprintf(c->error, sizeof(c->error), "%s", err);
    snprintf(c->uid, sizeof(c->uid), "%s", uid);
    c->seen_gen = gen;
    c->missing = 0;
    cfgwatch_set_ready(c, 0);
    pthread_mutex_unlock(&c->mu);
    cfgwatch_event(c, "InvalidConfig", err, 0);
}

/* The spec was handled already: only status or metadata changed (our
 * own status patches come back this way), or the watch relisted. */
static int
cfgwatch_seen(struct cfgwatch *c, const char *uid, uint64_t gen)
{
    int seen;

    pthread_mutex_lock(&c->mu);
    seen = !c->missing && gen != 0 && gen == c->seen_gen &&
           strcmp(uid, c->uid) == 0;
    pthread_mutex_unlock(&c->mu);
    return seen;
}

static void
cfgwatch_apply(struct cfgwatch *c, json_t *obj)
{
    char err[512];
    const char *uid = "";
    json_int_t gen = 0;
    struct config *cfg;

    json_unpack(obj, "{s:{s?s, s?I}}", "metadata", "uid", &uid,
                "generation", &gen);
    if (cfgwatch_seen(c, uid, (uint64_t)gen)) {
        return;
    }
    cfg = cfgwatch_parse(obj, err, sizeof(err));
    if (cfg == NULL) {
        cfgwatch_refuse(c, err, uid, (uint64_t)gen);
    } else if (pipeline_apply_config(c->pipe, cfg, err, sizeof(err)) != 0) {
        free(cfg);
        cfgwatch_refuse(c, err, uid, (uint64_t)gen);
    } else {
        log_info("DNSDetectConfig applied", "name=%s/%s generation=%llu",
                 c->ns, c->name, (unsigned long long)cfg->generation);
        cmwatch_follow(c->cm, cfg);
        cfgwatch_take(c, cfg, uid);
        atomic_fetch_add(&c->applied, 1);
    }
    cfgwatch_kick(c);
}

static void
cfgwatch_gone(struct cfgwatch *c)
{
    pthread_mutex_lock(&c->mu);
    c->missing = 1;
    pthread_mutex_unlock(&c->mu);
    log_warn("DNSConfigMissing", "name=%s/%s note=\"%s\"", c->ns, c->name,
             "the configuration in force stays");
}

/* The first answer of the API (watch thread): wake cfgwatch_first(). */
static void
cfgwatch_listed(struct cfgwatch *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->listed) {
        c->listed = 1;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->mu);
}

/* The watch callback (watch thread). */
static void
cfgwatch_on_event(enum kclient_event type, json_t *obj, const char *rv,
                  void *arg)
{
    struct cfgwatch *c = arg;

    (void)rv;
    if (type == KCLIENT_ADDED || type == KCLIENT_MODIFIED) {
        cfgwatch_apply(c, obj);
    } else if (type == KCLIENT_DELETED) {
        cfgwatch_gone(c);
    } else if (type == KCLIENT_RELISTED) {
        if (json_array_size(obj) > 0) {
            cfgwatch_apply(c, json_array_get(obj, 0));
        } else {
            cfgwatch_gone(c);
        }
    }
    if (type != KCLIENT_BOOKMARK && type != KCLIENT_ERROR) {
        cfgwatch_listed(c);
    }
}

/* ---- status -------------------------------------------------------- */

static json_t *
cfgwatch_detectors_json(const struct config *cfg)
{
    json_t *d = json_object();
    char labels[64];

    for (size_t i = 0; i < CFGWATCH_NDETECTORS && d != NULL; i++) {
        snprintf(labels, sizeof(labels), "detector=\"%s\"",
                 cfgwatch_detectors[i]);
        json_object_set_new(d, cfgwatch_detectors[i], json_pack(
            "{s:b, s:I}", "enabled",
            config_detector_enabled(cfg, cfgwatch_detectors[i]) == 1,
            "fires",
            (json_int_t)metrics_value("ugallu_dns_detector_fires_total",
                                      labels)));
    }
    return d;
}

/* The Ready condition (caller holds c->mu). */
static json_t *
cfgwatch_condition(struct cfgwatch *c)
{
    const char *err = c->error;

    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "type", "Ready",
                     "status", err[0] ? "False" : "True",
                     "observedGeneration", (json_int_t)c->seen_gen,
                     "lastTransitionTime", c->ready_since, "reason",
                     err[0] ? "InvalidConfig" : "ConfigApplied", "message",
                     err[0] ? err : "configuration in force");
}

/* The status patch from the current state (caller holds c->mu).  Until
 * a config of the cluster was applied, only the generation seen, the
 * source and the condition are reported. */
static json_t *
cfgwatch_status_json(struct cfgwatch *c)
{
    json_t *st;

    if (c->source_fn != NULL) {
        snprintf(c->source, sizeof(c->source), "%s",
                 c->source_fn(c->source_ctx));
    }
    /* No source runs yet: no activeSource (null removes it). */
    st = json_pack("{s:I, s:o, s:I, s:[o]}", "observedGeneration",
                   (json_int_t)c->seen_gen, "activeSource",
                   c->source[0] != '\0' ? json_string(c->source)
                                        : json_null(),
                   "inflightLookups",
                   (json_int_t)metrics_value("ugallu_dns_inflight_lookups",
                                             ""),
                   "conditions", cfgwatch_condition(c));
    if (st == NULL) {
        return NULL;
    }
    if (c->cur != NULL) {
        json_object_set_new(st, "lastConfigLoadAt",
                            json_string(c->loaded_at));
        json_object_set_new(st, "detectors",
                            cfgwatch_detectors_json(c->cur));
    }
    return json_pack("{s:o}", "status", st);
}

/*
 * The object is missing (or was never seen): say so in the log, and
 * from the leader as a DNSConfigMissing anomaly (a SecurityEvent, whose
 * repeats within a minute fold into one, and an Event).
 */
static void
cfgwatch_missing(struct cfgwatch *c)
{
    char msg[CONFIG_NAME_MAX + 160];

    log_warn("DNSConfigMissing", "name=%s/%s retry_ms=%u", c->ns,
             c->name, c->resync_ms);
    if (!lease_is_leader(c->lease)) {
        return;
    }
    snprintf(msg, sizeof(msg), "DNSDetectConfig %s/%s not found; the "
             "configuration in force stays, retried every %u ms", c->ns,
             c->name, c->resync_ms);
    pipeline_report_anomaly(c->pipe, "DNSConfigMissing", "medium",
                            c->name, msg);
}

/* Post the anomaly Events queued by cfgwatch_anomaly(). */
static void
cfgwatch_post_notes(struct cfgwatch *c)
{
    struct cfgwatch_note notes[CFGWATCH_NOTES_MAX];
    unsigned n;

    pthread_mutex_lock(&c->mu);
    n = c->nnotes;
    memcpy(notes, c->notes, n * sizeof(notes[0]));
    c->nnotes = 0;
    pthread_mutex_unlock(&c->mu);
    for (unsigned i = 0; i < n; i++) {
        cfgwatch_event(c, notes[i].reason, notes[i].message, 1);
    }
}

void
cfgwatch_anomaly(void *ctx, const char *type, const char *message)
{
    struct cfgwatch *c = ctx;
    struct cfgwatch_note *note;

    pthread_mutex_lock(&c->mu);
    if (c->nnotes == CFGWATCH_NOTES_MAX) {
        pthread_mutex_unlock(&c->mu);
        metrics_dropped("k8s_event_queue_full");
        return;
    }
    note = &c->notes[c->nnotes++];
    snprintf(note->reason, sizeof(note->reason), "%s", type);
    snprintf(note->message, sizeof(note->message), "%s", message);
    c->kick = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

int
cfgwatch_first(struct cfgwatch *c, unsigned timeout_ms, struct config *out)
{
    struct timespec ts = clock_deadline(CLOCK_REALTIME,
                                        timeout_ms * 1000000ull);
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    while (!c->listed && rc == 0) {
        rc = pthread_cond_timedwait(&c->cond, &c->mu, &ts);
    }
    if (!c->listed) {
        rc = -ETIMEDOUT;
    } else if (c->cur == NULL) {
        rc = -ENOENT;
    } else {
        memcpy(out, c->cur, sizeof(*out));
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int
cfgwatch_current(struct cfgwatch *c, struct config *out)
{
    int rc = -ENOENT;

    pthread_mutex_lock(&c->mu);
    if (c->cur != NULL) {
        memcpy(out, c->cur, sizeof(*out));
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* One status round: patch, or log the missing object. */
static void
cfgwatch_status(struct cfgwatch *c)
{
    struct kclient_result res;
    json_t *patch = NULL;
    int rc, missing;

    pthread_mutex_lock(&c->mu);
    missing = c->missing || c->seen_gen == 0;
    if (!missing && lease_is_leader(c->lease)) {
        patch = cfgwatch_status_json(c);
    }
    pthread_mutex_unlock(&c->mu);
    if (missing) {
        cfgwatch_missing(c);
        return;
    }
    if (patch == NULL) {
        return;
    }
    rc = kclient_patch_status(c->kc, c->path, patch, NULL, &res);
    json_decref(patch);
    metrics_inc(rc == 0 ? c->status_ok : c->status_err);
    if (rc != 0 && rc != c->status_rc) {
        log_warn("status patch failed", "rc=%d status=%ld message=\"%s\" "
                 "note=\"%s\"", rc, res.status, res.message,
                 "logged again when the error changes");
    }
    c->status_rc = rc;
}

/* Wait for a kick or the period; returns 1 when stopped, and *ticked
 * when the period passed. */
static int
cfgwatch_wait(struct cfgwatch *c, int *ticked)
{
    struct timespec ts = clock_deadline(CLOCK_REALTIME,
                                        c->resync_ms * 1000000ull);
    int stop;

    pthread_mutex_lock(&c->mu);
    *ticked = 0;
    while (!c->stop && !c->kick && !*ticked) {
        *ticked = pthread_cond_timedwait(&c->cond, &c->mu, &ts) ==
                  ETIMEDOUT;
    }
    c->kick = 0;
    stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    return stop;
}

static void *
cfgwatch_thread(void *arg)
{
    struct cfgwatch *c = arg;
    int ticked;

    while (!cfgwatch_wait(c, &ticked)) {
        cfgwatch_post_notes(c);
        cfgwatch_status(c);
    }
    return NULL;
}

/* ---- life cycle ---------------------------------------------------- */

static int
cfgwatch_paths(struct cfgwatch *c)
{
    if (kclient_path(c->coll, sizeof(c->coll), CFGWATCH_GROUP,
                     CFGWATCH_VERSION, c->ns, "dnsdetectconfigs", NULL,
                     NULL) != 0 ||
        kclient_path(c->path, sizeof(c->path), CFGWATCH_GROUP,
                     CFGWATCH_VERSION, c->ns, "dnsdetectconfigs", c->name,
                     NULL) != 0) {
        return -EINVAL;
    }
    return 0;
}

static int
cfgwatch_init(struct cfgwatch *c, const struct cfgwatch_options *o)
{
    c->kc = o->kc;
    c->pipe = o->pipe;
    c->lease = o->lease;
    c->resync_ms = o->resync_ms ? o->resync_ms : 30000u;
    snprintf(c->ns, sizeof(c->ns), "%s", o->namespace_);
    snprintf(c->name, sizeof(c->name), "%s", o->name);
    snprintf(c->node, sizeof(c->node), "%s", o->node ? o->node : "");
    snprintf(c->source, sizeof(c->source), "%s",
             o->active_source ? o->active_source : "");
    c->source_fn = o->active_source_fn;
    c->source_ctx = o->active_source_ctx;
    c->status_ok = metrics_counter("ugallu_dns_status_writes_total",
                                   "outcome=\"ok\"",
                                   "DNSDetectConfig status patches.");
    c->status_err = metrics_counter("ugallu_dns_status_writes_total",
                                    "outcome=\"error\"",
                                    "DNSDetectConfig status patches.");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (cmwatch_new(c->kc, c->pipe, &c->cm) != 0) {
        return -ENOMEM;
    }
    return cfgwatch_paths(c);
}

int
cfgwatch_start(const struct cfgwatch_options *o, struct cfgwatch **out)
{
    char query[CONFIG_NAME_MAX + 64];
    struct kclient_watch_opts wo = {.fn = cfgwatch_on_event};
    struct cfgwatch *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return -ENOMEM;
    }
    if (cfgwatch_init(c, o) != 0) {
        cfgwatch_stop(c);
        return -EINVAL;
    }
    snprintf(query, sizeof(query), "fieldSelector=metadata.name%%3D%s",
             c->name);
    wo.path = c->coll;
    wo.query = query;
    wo.arg = c;
    if (pthread_create(&c->thread, NULL, cfgwatch_thread, c) != 0) {
        cfgwatch_stop(c);
        return -ENOMEM;
    }
    c->started = 1;
    if (kclient_watch_start(c->kc, &wo, &c->watch) != 0) {
        cfgwatch_stop(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void
cfgwatch_stop(struct cfgwatch *c)
{
    if (c == NULL) {
        return;
    }
    if (c->watch != NULL) {
        kclient_watch_stop(c->watch);
    }
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (c->started) {
        pthread_join(c->thread, NULL);
    }
    cmwatch_free(c->cm);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c->cur);
    free(c);
}

uint64_t
cfgwatch_applied(struct cfgwatch *c)
{
    return atomic_load(&c->applied);
}

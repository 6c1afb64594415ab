/*
 * supervisor.c - primary and fallback sources, the silence watch.
 */
#include "daemon/supervisor.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "sources/corednssrc.h"
#include "sources/tetragonsrc.h"
#include "sources/dnstap_listen.h"
#include "sources/pcapsrc.h"

#define SUPERVISOR_DEFAULT_SILENCE_NS 60000000000ull
/* Plain DNS sends without a name, and none with one, before the
 * detectors that judge names are reported degraded. */
#define SUPERVISOR_NAMELESS_MIN 3u

/* The sources of one spec, opened together. */
struct supervisor_set {
    struct supervisor *sup;
    const struct supervisor_spec *spec;
    const char *name;              /* supervisor_spec_name() */
    struct corednssrc *coredns;
    struct dnstap_listen *dnstap;
    struct pcapsrc *pcap;
    struct tetragonsrc *tetragon;
    pthread_t pcap_thread;
    int pcap_started;
    volatile sig_atomic_t stop;    /* pcapsrc_run's flag */
    _Atomic uint64_t last_ns;      /* monotonic time of the last event */
    _Atomic uint64_t named;        /* Tetragon: events with a name */
    _Atomic uint64_t nameless;     /* Tetragon: plain DNS sends as flows */
    int answers_told, names_told;  /* DNSDetectorDegraded reported... */
    uint64_t answers_gen, names_gen; /* ...for this config generation */
};

struct supervisor {
    struct supervisor_options opt;
    struct supervisor_set primary;
    struct supervisor_set *fallback;   /* NULL unless running; the
                                          supervisor thread's */
    struct supervisor_fsm fsm;
    _Atomic int on_fallback;

    pthread_t thread;
    int thread_started;
    int sync_ready;                    /* mu and cond initialised */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int quit;                          /* under mu */

    struct metrics_series *active[2];  /* primary, fallback */
    struct metrics_series *switches[2];

    /* What the Kubernetes code found for CoreDNS, kept for every
     * CoreDNS source opened now or later; all under cdns_mu. */
    pthread_mutex_t cdns_mu;
    char cdns_targets[COREDNSSRC_ENDPOINTS_MAX][COREDNSSRC_TARGET_MAX];
    size_t cdns_n;
    char cdns_token[COREDNSSRC_TOKEN_MAX + 1];
    struct supervisor_set *cdns_sets[2]; /* sets with a CoreDNS source
                                            open: primary, fallback */
};

void
supervisor_fsm_init(struct supervisor_fsm *m, uint64_t now,
                    uint64_t silence_ns)
{
    m->silence_ns = silence_ns;
    m->start_ns = now;
    m->seen_ns = 0;
    m->silent = 0;
}

enum supervisor_action
supervisor_fsm_step(struct supervisor_fsm *m, uint64_t now,
                    uint64_t last_ns)
{
    uint64_t mark = last_ns > m->start_ns ? last_ns : m->start_ns;

    if (m->silent) {
        if (last_ns == m->seen_ns) {
            return SUPERVISOR_NONE;
        }
        m->silent = 0;
        m->start_ns = now;
        return SUPERVISOR_RECOVERED;
    }
    if (now < mark || now - mark < m->silence_ns) {
        return SUPERVISOR_NONE;
    }
    m->silent = 1;
    m->seen_ns = last_ns;
    return SUPERVISOR_SILENT;
}

const char *
supervisor_spec_name(const struct supervisor_spec *spec)
{
    if (spec->ncoredns > 0 || spec->coredns_discover) {
        return "coredns-ugallu";
    }
    if (spec->dnstap_socket != NULL || spec->dnstap_tcp != NULL) {
        return "dnstap";
    }
    if (spec->tetragon != NULL) {
        return "tetragon";
    }
    return spec->interface != NULL ? "pcap" : "";
}

/* Emit wrappers: note the time, then hand the event on. */
static void
supervisor_emit(void *ctx, const struct event *ev)
{
    struct supervisor_set *set = ctx;

    atomic_store_explicit(&set->last_ns,
                          clock_ns(CLOCK_MONOTONIC_COARSE),
                          memory_order_relaxed);
    pipeline_submit_cb(set->sup->opt.pipe, ev);
}

/* Tetragon's events: also count those with and without a query name
 * (supervisor_degraded() judges the policy by them). */
static void
supervisor_emit_tetragon(void *ctx, const struct event *ev)
{
    struct supervisor_set *set = ctx;

    if (ev->qname_len > 0) {
        atomic_fetch_add_explicit(&set->named, 1, memory_order_relaxed);
    } else if (ev->kind == EVENT_KIND_FLOW &&
               ev->transport != EVENT_TRANSPORT_DOT) {
        atomic_fetch_add_explicit(&set->nameless, 1, memory_order_relaxed);
    }
    supervisor_emit(ctx, ev);
}

static void
supervisor_emit_wait(void *ctx, const struct event *ev)
{
    struct supervisor_set *set = ctx;

    atomic_store_explicit(&set->last_ns,
                          clock_ns(CLOCK_MONOTONIC_COARSE),
                          memory_order_relaxed);
    pipeline_submit_wait_cb(set->sup->opt.pipe, ev);
}

/* The slot of a set in cdns_sets: 0 for the primary, 1 the fallback. */
static int
supervisor_cdns_slot(const struct supervisor_set *set)
{
    return set == &set->sup->primary ? 0 : 1;
}

/* Give a discovering source the endpoints known now.  Under cdns_mu. */
static int
supervisor_cdns_apply(struct supervisor *s, struct supervisor_set *set)
{
    const char *t[COREDNSSRC_ENDPOINTS_MAX];

    if (!set->spec->coredns_discover) {
        return 0;
    }
    for (size_t i = 0; i < s->cdns_n; i++) {
        t[i] = s->cdns_targets[i];
    }
    return corednssrc_set_endpoints(set->coredns, t, s->cdns_n);
}

/* Hand the set's new CoreDNS source what the Kubernetes code found,
 * register it for later changes, and start it. */
static int
supervisor_cdns_attach(struct supervisor_set *set)
{
    struct supervisor *s = set->sup;
    int rc;

    pthread_mutex_lock(&s->cdns_mu);
    corednssrc_set_token(set->coredns, s->cdns_token);
    rc = supervisor_cdns_apply(s, set);
    if (rc == 0) {
        rc = corednssrc_start(set->coredns);
    }
    if (rc == 0) {
        s->cdns_sets[supervisor_cdns_slot(set)] = set;
    }
    pthread_mutex_unlock(&s->cdns_mu);
    return rc;
}

/* Forget a set's CoreDNS source before it is freed. */
static void
supervisor_cdns_detach(struct supervisor_set *set)
{
    struct supervisor *s = set->sup;
    int slot = supervisor_cdns_slot(set);

    pthread_mutex_lock(&s->cdns_mu);
    if (s->cdns_sets[slot] == set) {
        s->cdns_sets[slot] = NULL;
    }
    pthread_mutex_unlock(&s->cdns_mu);
}

int
supervisor_set_coredns_endpoints(struct supervisor *s,
                                 const char *const *targets, size_t n)
{
    int rc = 0;

    if (n > COREDNSSRC_ENDPOINTS_MAX) {
        log_warn("too many CoreDNS endpoints, extra ones ignored",
                 "found=%zu max=%d", n, COREDNSSRC_ENDPOINTS_MAX);
        n = COREDNSSRC_ENDPOINTS_MAX;
    }
    pthread_mutex_lock(&s->cdns_mu);
    for (size_t i = 0; i < n; i++) {
        snprintf(s->cdns_targets[i], sizeof(s->cdns_targets[i]), "%s",
                 targets[i]);
    }
    s->cdns_n = n;
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (s->cdns_sets[i] != NULL) {
            rc = supervisor_cdns_apply(s, s->cdns_sets[i]);
        }
    }
    pthread_mutex_unlock(&s->cdns_mu);
    return rc;
}

void
supervisor_set_coredns_token(struct supervisor *s, const char *token)
{
    pthread_mutex_lock(&s->cdns_mu);
    snprintf(s->cdns_token, sizeof(s->cdns_token), "%s",
             token != NULL ? token : "");
    for (int i = 0; i < 2; i++) {
        if (s->cdns_sets[i] != NULL) {
            corednssrc_set_token(s->cdns_sets[i]->coredns, s->cdns_token);
        }
    }
    pthread_mutex_unlock(&s->cdns_mu);
}

static int
supervisor_open_coredns(struct supervisor_set *set)
{
    const struct supervisor_options *o = &set->sup->opt;
    struct corednssrc_opts co = {
        .endpoints = set->spec->coredns,
        .nendpoints = set->spec->ncoredns,
        .token_file = o->coredns_token_file,
        .subscriber_id = o->node,
        .tls = o->coredns_tls,
        .ca_file = o->coredns_ca_file,
        /*
         * Clients the plugin cannot place on a node (host-network pods,
         * anything outside the pod CIDRs) reach every pod that asks.
         * Each pod raises the same findings for them, and the
         * deterministic SecurityEvent names fold those into one.
         */
        .include_unplaced = 1,
    };
    char err[512] = "";
    int rc;

    if (set->spec->coredns_discover) {
        co.nendpoints = 0;
    }
    set->coredns = corednssrc_open(&co, supervisor_emit, set, err,
                                   sizeof(err));
    if (set->coredns == NULL) {
        log_error("coredns-ugallu source failed", "error=\"%s\"", err);
        return -EINVAL;
    }
    rc = supervisor_cdns_attach(set);
    if (rc != 0) {
        log_error("coredns-ugallu source failed", "rc=%d", rc);
        return -EINVAL;
    }
    log_info("coredns-ugallu source started", "endpoints=%s node=%s",
             set->spec->coredns_discover ? "discovered" : "configured",
             o->node ? o->node : "");
    return 0;
}

static int
supervisor_open_dnstap(struct supervisor_set *set)
{
    char err[512] = "";

    set->dnstap = dnstap_listen_open(set->spec->dnstap_socket,
                                     set->spec->dnstap_tcp,
                                     supervisor_emit_wait, set, err,
                                     sizeof(err));
    if (set->dnstap == NULL || dnstap_listen_start(set->dnstap) != 0) {
        log_error("dnstap source failed", "error=\"%s\"", err);
        return -EINVAL;
    }
    return 0;
}

static void *
supervisor_pcap_thread(void *arg)
{
    struct supervisor_set *set = arg;

    pcapsrc_run(set->pcap, &set->stop);
    return NULL;
}

static int
supervisor_open_pcap(struct supervisor_set *set)
{
    const char *iface = set->spec->interface;
    int rc = pcapsrc_open_live(&set->pcap, iface, NULL, supervisor_emit,
                               set);

    if (rc != 0 || pthread_create(&set->pcap_thread, NULL,
                                  supervisor_pcap_thread, set) != 0) {
        log_error("pcap source failed", "interface=%s error=\"%s\"",
                  iface, strerror(rc < 0 ? -rc : EAGAIN));
        return -EINVAL;
    }
    set->pcap_started = 1;
    log_info("pcap source capturing", "interface=%s", iface);
    return 0;
}

/* Detectors that judge answers, and those that judge query names. */
static const char *const supervisor_need_answers[] = {"slowQuery"};
static const char *const supervisor_need_names[] = {
    "blocklist", "dga", "tunneling", "exfiltration", "youngDomain",
};

/* Report each enabled detector of names[0..n) as DNSDetectorDegraded. */
static void
supervisor_degrade(struct supervisor_set *set, const char *const *names,
                   size_t n, const char *lacks)
{
    struct pipeline *pipe = set->sup->opt.pipe;
    char msg[200];

    for (size_t i = 0; i < n; i++) {
        if (!pipeline_detector_enabled(pipe, names[i])) {
            continue;
        }
        snprintf(msg, sizeof(msg), "%s cannot fire: the %s source %s",
                 names[i], set->name, lacks);
        log_warn("detector degraded", "detector=%s source=%s lacks=\"%s\"",
                 names[i], set->name, lacks);
        pipeline_report_anomaly(pipe, "DNSDetectorDegraded", "medium",
                                names[i], msg);
    }
}

/*
 * Tetragon sees what processes send, never the answers: the detectors
 * that judge answers are reported once per configuration generation.
 * Names come only when the site's TracingPolicy captures the message
 * (the shipped one does not): once SUPERVISOR_NAMELESS_MIN plain DNS
 * sends arrived without a name and none with one, the detectors that
 * judge names are reported too, once per generation.  Supervisor
 * thread, for a running Tetragon set.
 */
static void
supervisor_degraded(struct supervisor_set *set)
{
    uint64_t gen = pipeline_config_generation(set->sup->opt.pipe);

    if (set->tetragon == NULL) {
        return;
    }
    if (!set->answers_told || set->answers_gen != gen) {
        supervisor_degrade(set, supervisor_need_answers,
                           sizeof(supervisor_need_answers) /
                               sizeof(supervisor_need_answers[0]),
                           "never sees answers (latency, rcode)");
        set->answers_told = 1;
        set->answers_gen = gen;
    }
    if (atomic_load_explicit(&set->named, memory_order_relaxed) == 0 &&
        atomic_load_explicit(&set->nameless, memory_order_relaxed) >=
            SUPERVISOR_NAMELESS_MIN &&
        (!set->names_told || set->names_gen != gen)) {
        supervisor_degrade(set, supervisor_need_names,
                           sizeof(supervisor_need_names) /
                               sizeof(supervisor_need_names[0]),
                           "delivers no query names (its TracingPolicy "
                           "captures no message)");
        set->names_told = 1;
        set->names_gen = gen;
    }
}

static int
supervisor_open_tetragon(struct supervisor_set *set)
{
    struct tetragonsrc_opts to = {.target = set->spec->tetragon};
    char err[512] = "";

    set->tetragon = tetragonsrc_open(&to, supervisor_emit_tetragon, set,
                                     err, sizeof(err));
    if (set->tetragon == NULL || tetragonsrc_start(set->tetragon) != 0) {
        log_error("tetragon source failed", "error=\"%s\"", err);
        return -EINVAL;
    }
    log_info("tetragon source started", "target=%s", set->spec->tetragon);
    supervisor_degraded(set);
    return 0;
}

/* Stop every source of a set: no emit call after this returns. */
static void
supervisor_set_stop(struct supervisor_set *set)
{
    set->stop = 1;
    if (set->coredns != NULL) {
        corednssrc_stop(set->coredns);
    }
    if (set->tetragon != NULL) {
        tetragonsrc_stop(set->tetragon);
    }
    if (set->dnstap != NULL) {
        dnstap_listen_stop(set->dnstap);
    }
    if (set->pcap_started) {
        pcapsrc_break(set->pcap);
        pthread_join(set->pcap_thread, NULL);
        set->pcap_started = 0;
    }
}

/* Stop and release the sources; the set itself stays. */
static void
supervisor_set_close(struct supervisor_set *set)
{
    supervisor_set_stop(set);
    if (set->coredns != NULL) {
        supervisor_cdns_detach(set);
        corednssrc_free(set->coredns);
        set->coredns = NULL;
    }
    if (set->tetragon != NULL) {
        tetragonsrc_free(set->tetragon);
        set->tetragon = NULL;
    }
    dnstap_listen_free(set->dnstap);
    set->dnstap = NULL;
    if (set->pcap != NULL) {
        pcapsrc_close(set->pcap);
        set->pcap = NULL;
    }
}

/* Open and start every source the spec names; all or nothing. */
static int
supervisor_set_open(struct supervisor_set *set, struct supervisor *sup,
                    const struct supervisor_spec *spec)
{
    int rc = 0;

    memset(set, 0, sizeof(*set));
    set->sup = sup;
    set->spec = spec;
    set->name = supervisor_spec_name(spec);
    if (spec->ncoredns > 0 || spec->coredns_discover) {
        rc = supervisor_open_coredns(set);
    }
    if (rc == 0 && (spec->dnstap_socket || spec->dnstap_tcp)) {
        rc = supervisor_open_dnstap(set);
    }
    if (rc == 0 && spec->tetragon != NULL) {
        rc = supervisor_open_tetragon(set);
    }
    if (rc == 0 && spec->interface != NULL) {
        rc = supervisor_open_pcap(set);
    }
    if (rc != 0) {
        supervisor_set_close(set);
    }
    return rc;
}

static int
supervisor_has_fallback(const struct supervisor *s)
{
    return supervisor_spec_name(&s->opt.fallback)[0] != '\0';
}

/* Make side 0 (primary) or 1 (fallback) the active source. */
static void
supervisor_set_active(struct supervisor *s, int fallback)
{
    atomic_store(&s->on_fallback, fallback);
    metrics_set(s->active[0], !fallback);
    if (s->active[1] != NULL) {
        metrics_set(s->active[1], fallback);
    }
}

static void
supervisor_metrics(struct supervisor *s)
{
    const char *names[2] = {
        s->primary.name, supervisor_spec_name(&s->opt.fallback),
    };
    char labels[64];

    for (int i = 0; i < 2; i++) {
        if (names[i][0] == '\0') {
            continue;
        }
        snprintf(labels, sizeof(labels), "source=\"%s\"", names[i]);
        s->active[i] = metrics_gauge("ugallu_dns_source_active", labels,
            "1 for the source in use, 0 for a standby one.");
        snprintf(labels, sizeof(labels), "to=\"%s\"", names[i]);
        s->switches[i] = metrics_counter(
            "ugallu_dns_source_switches_total", labels,
            "Switches between the primary and the fallback source.");
    }
    supervisor_set_active(s, 0);
}

/* Start the fallback and make it active; retried at every tick. */
static void
supervisor_to_fallback(struct supervisor *s)
{
    struct supervisor_set *set;

    if (!supervisor_has_fallback(s) || s->fallback != NULL) {
        return;
    }
    set = malloc(sizeof(*set));
    if (set == NULL || supervisor_set_open(set, s, &s->opt.fallback)) {
        free(set);
        return;
    }
    s->fallback = set;
    supervisor_set_active(s, 1);
    metrics_inc(s->switches[1]);
    log_warn("switched to the fallback source", "primary=%s fallback=%s",
             s->primary.name, set->name);
}

/* Stop the fallback (if any) and make the primary active. */
static void
supervisor_to_primary(struct supervisor *s)
{
    log_info("primary source delivers again", "source=%s",
             s->primary.name);
    if (s->fallback == NULL) {
        return;
    }
    supervisor_set_active(s, 0);
    supervisor_set_close(s->fallback);
    free(s->fallback);
    s->fallback = NULL;
    metrics_inc(s->switches[0]);
    log_info("switched back to the primary source", "source=%s",
             s->primary.name);
}

static void
supervisor_silent(struct supervisor *s)
{
    char msg[160];
    double secs = (double)s->fsm.silence_ns / 1e9;

    snprintf(msg, sizeof(msg), "no event from %s for %.1f s%s%s",
             s->primary.name, secs,
             supervisor_has_fallback(s) ? ", switching to " : "",
             supervisor_spec_name(&s->opt.fallback));
    log_warn("source silent", "source=%s silence_s=%.1f fallback=%s",
             s->primary.name, secs,
             supervisor_has_fallback(s)
                 ? supervisor_spec_name(&s->opt.fallback) : "none");
    pipeline_report_anomaly(s->opt.pipe, "DNSSourceSilent", "high",
                            s->primary.name, msg);
}

/* One check: the state machine, then what it asks. */
static void
supervisor_check(struct supervisor *s)
{
    uint64_t last = atomic_load_explicit(&s->primary.last_ns,
                                         memory_order_relaxed);
    enum supervisor_action a =
        supervisor_fsm_step(&s->fsm, clock_ns(CLOCK_MONOTONIC_COARSE),
                            last);

    if (a == SUPERVISOR_SILENT) {
        supervisor_silent(s);
    } else if (a == SUPERVISOR_RECOVERED) {
        supervisor_to_primary(s);
    }
    if (s->fsm.silent) {
        supervisor_to_fallback(s);
    }
    supervisor_degraded(&s->primary);
    if (s->fallback != NULL) {
        supervisor_degraded(s->fallback);
    }
}

static uint64_t
supervisor_tick_ns(const struct supervisor *s)
{
    uint64_t t = s->fsm.silence_ns / 4;

    return t < SUPERVISOR_TICK_MAX_NS ? t : SUPERVISOR_TICK_MAX_NS;
}

static void *
supervisor_main(void *arg)
{
    struct supervisor *s = arg;
    uint64_t tick = supervisor_tick_ns(s);
    struct timespec ts;
    uint64_t until;

    pthread_mutex_lock(&s->mu);
    while (!s->quit) {
        until = clock_ns(CLOCK_MONOTONIC) + tick;
        ts.tv_sec = (time_t)(until / 1000000000ull);
        ts.tv_nsec = (long)(until % 1000000000ull);
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        if (s->quit) {
            break;
        }
        pthread_mutex_unlock(&s->mu);
        supervisor_check(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int
supervisor_thread(struct supervisor *s)
{
    pthread_condattr_t ca;
    int rc;

    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->sync_ready = 1;
    rc = pthread_create(&s->thread, NULL, supervisor_main, s);
    if (rc != 0) {
        log_error("cannot start the source supervisor", "error=\"%s\"",
                  strerror(rc));
        return -rc;
    }
    s->thread_started = 1;
    return 0;
}

/* Ignore a fallback that is empty or the primary's own kind. */
static void
supervisor_check_fallback(struct supervisor *s)
{
    const char *fb = supervisor_spec_name(&s->opt.fallback);

    if (fb[0] != '\0' && strcmp(fb, s->primary.name) == 0) {
        log_warn("fallback is the primary's kind, ignored", "source=%s",
                 fb);
        memset(&s->opt.fallback, 0, sizeof(s->opt.fallback));
    }
}

int
supervisor_start(const struct supervisor_options *o,
                 struct supervisor **out)
{
    struct supervisor *s = calloc(1, sizeof(*s));
    uint64_t silence = o->silence_ns ? o->silence_ns
                                     : SUPERVISOR_DEFAULT_SILENCE_NS;

    if (s == NULL) {
        return -ENOMEM;
    }
    if (supervisor_spec_name(&o->primary)[0] == '\0') {
        free(s);
        return -EINVAL;
    }
    s->opt = *o;
    pthread_mutex_init(&s->cdns_mu, NULL);
    if (silence < SUPERVISOR_SILENCE_MIN_NS) {
        silence = SUPERVISOR_SILENCE_MIN_NS;
    }
    if (supervisor_set_open(&s->primary, s, &s->opt.primary) != 0) {
        pthread_mutex_destroy(&s->cdns_mu);
        free(s);
        return -EINVAL;
    }
    supervisor_check_fallback(s);
    supervisor_metrics(s);
    supervisor_fsm_init(&s->fsm, clock_ns(CLOCK_MONOTONIC_COARSE),
                        silence);
    if (supervisor_thread(s) != 0) {
        supervisor_free(s);
        return -EAGAIN;
    }
    *out = s;
    return 0;
}

void
supervisor_stop(struct supervisor *s)
{
    if (s == NULL) {
        return;
    }
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->thread_started = 0;
    }
    if (s->fallback != NULL) {
        supervisor_set_stop(s->fallback);
    }
    supervisor_set_stop(&s->primary);
}

void
supervisor_free(struct supervisor *s)
{
    if (s == NULL) {
        return;
    }
    supervisor_stop(s);
    for (int i = 0; i < 2; i++) {
        if (s->active[i] != NULL) {
            metrics_set(s->active[i], 0);  /* a later set may differ */
        }
    }
    if (s->fallback != NULL) {
        supervisor_set_close(s->fallback);
        free(s->fallback);
    }
    supervisor_set_close(&s->primary);
    if (s->sync_ready) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mu);
    }
    explicit_bzero(s->cdns_token, sizeof(s->cdns_token));
    pthread_mutex_destroy(&s->cdns_mu);
    free(s);
}

const char *
supervisor_active_source(const struct supervisor *s)
{
    if (s == NULL) {
        return "";
    }
    return atomic_load(&s->on_fallback)
               ? supervisor_spec_name(&s->opt.fallback)
               : s->primary.name;
}

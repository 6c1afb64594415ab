/*
 * main.c - ugallu-dns-detect: command line, modes, signals.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "daemon/cli.h"
#include "daemon/cluster.h"
#include "daemon/pipeline.h"
#include "http/httpd.h"
#include "daemon/supervisor.h"
#include "enrich/podattr.h"
#include "sources/replay.h"
#include "sources/tetragonsrc.h"

#define MAIN_VERSION "0.1.0"
#define MAIN_SECOND 1000000000ull
/* Largest --resolver-ca-file read. */
#define MAIN_CA_MAX (256u * 1024u)

/* Everything a run holds, released in one place. */
struct main_run {
    struct cli_options opt;
    struct config cfg;
    struct pipeline *pipe;
    FILE *findings;
    FILE *events;
    struct httpd *metrics_http;
    struct httpd *health_http;
    struct supervisor *sup;
    const char *coredns_targets[16];
    const char *coredns_fb_targets[16];
    char tetragon_target[300];     /* "unix:" and --tetragon-socket */
    struct cluster *cluster;       /* Kubernetes mode, else NULL */
    struct podattr *podattr;       /* live runs: pod attribution */
    char *resolver_ca;             /* --resolver-ca-file text, or NULL */
    struct config_source refused;  /* spec.source whose sources failed to
                                      start, not tried again */
    uint64_t applied_seen;         /* configs applied when last compared */
};

/* Guards main_run.sup against the status thread while sources change. */
static pthread_mutex_t main_sup_mu = PTHREAD_MUTEX_INITIALIZER;

static int
main_load_config(struct main_run *r)
{
    char err[512];

    if (r->opt.config_path == NULL) {
        config_defaults(&r->cfg);
        return 0;
    }
    if (config_load_file(r->opt.config_path, &r->cfg, err,
                         sizeof(err)) != 0) {
        log_error("config rejected", "file=%s error=\"%s\"",
                  r->opt.config_path, err);
        return -EINVAL;
    }
    log_info("config loaded", "file=%s name=%s", r->opt.config_path,
             r->cfg.name);
    return 0;
}

static FILE *
main_open_out(const char *path, FILE *dflt)
{
    FILE *f;

    if (path == NULL || strcmp(path, "-") == 0) {
        return dflt;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        log_error("cannot open output", "file=%s error=\"%s\"", path,
                  strerror(errno));
    }
    return f;
}

static int
main_open_pipeline(struct main_run *r)
{
    struct pipeline_options po = {
        .config = &r->cfg,
        .identity = {r->opt.cluster_name, r->opt.cluster_id,
                     r->opt.node_name, MAIN_VERSION},
        .queue_capacity = 65536,
        .txn_capacity = 16384,
        .txn_hold_ns = 5 * MAIN_SECOND,
        .dedup_window_ns = 60 * MAIN_SECOND,
        .live = r->opt.replay == NULL,
        .drain_ms = 5000,
    };
    char err[512];

    r->findings = main_open_out(r->opt.output, stdout);
    r->events = r->opt.events_out ? main_open_out(r->opt.events_out,
                                                  stdout) : NULL;
    if (r->findings == NULL || (r->opt.events_out && r->events == NULL)) {
        return -EIO;
    }
    po.findings = r->findings;
    po.events = r->events;
    r->pipe = pipeline_create(&po, err, sizeof(err));
    if (r->pipe == NULL) {
        log_error("cannot start detectors", "error=\"%s\"", err);
        return -EINVAL;
    }
    return 0;
}

/* ---- pod attribution (enrich/podattr.h) ------------------------------ */

/* --resolver-ca-file into r->resolver_ca. */
static int
main_resolver_ca(struct main_run *r)
{
    FILE *f;
    size_t n;

    if (r->opt.resolver_ca_file == NULL || r->opt.resolver_insecure) {
        return 0;
    }
    f = fopen(r->opt.resolver_ca_file, "r");
    r->resolver_ca = f != NULL ? malloc(MAIN_CA_MAX + 1) : NULL;
    n = r->resolver_ca != NULL ? fread(r->resolver_ca, 1, MAIN_CA_MAX + 1,
                                       f)
                               : 0;
    if (f != NULL) {
        fclose(f);
    }
    if (n == 0 || n > MAIN_CA_MAX) {
        log_error("cannot read --resolver-ca-file", "file=%s",
                  r->opt.resolver_ca_file);
        return -EINVAL;
    }
    r->resolver_ca[n] = '\0';
    return 0;
}

/* Live runs attribute clients to pods: the resolver unless
 * --resolver-disable; the Pod index is filled in cluster mode. */
static int
main_podattr(struct main_run *r)
{
    struct podattr_options o = {
        .resolver = !r->opt.resolver_disable,
        .ro = { .uds = r->opt.resolver_uds,
                .endpoint = r->opt.resolver_endpoint,
                .tls = !r->opt.resolver_insecure },
    };
    int rc = main_resolver_ca(r);

    o.ro.ca_pem = r->resolver_ca;
    if (rc == 0) {
        rc = podattr_create(&o, &r->podattr);
    }
    if (rc != 0) {
        log_error("pod attribution failed to start", "rc=%d", rc);
        return rc;
    }
    pipeline_set_podattr(r->pipe, r->podattr);
    log_info("pod attribution", "resolver=%s uds=%s endpoint=%s tls=%d",
             o.resolver ? "on" : "off", o.ro.uds, o.ro.endpoint, o.ro.tls);
    return 0;
}

static void
main_summary(struct main_run *r, const char *what)
{
    struct pipeline_counts c;

    pipeline_counts(r->pipe, &c);
    log_info(what,
             "messages=%llu queries=%llu responses=%llu flows=%llu "
             "events=%llu findings=%llu merged=%llu malformed=%llu "
             "dropped=%llu",
             (unsigned long long)c.messages, (unsigned long long)c.queries,
             (unsigned long long)c.responses, (unsigned long long)c.flows,
             (unsigned long long)c.events, (unsigned long long)c.findings,
             (unsigned long long)c.merged,
             (unsigned long long)metrics_family_sum(
                 "ugallu_dns_malformed_total"),
             (unsigned long long)metrics_family_sum(
                 "ugallu_dns_events_dropped_total"));
}

static int
main_replay(struct main_run *r)
{
    char err[512];
    int rc;

    rc = replay_file(r->opt.replay, pipeline_process_cb, r->pipe, err,
                     sizeof(err));
    pipeline_flush(r->pipe);
    if (rc != 0) {
        log_error("replay failed", "file=%s error=\"%s\"", r->opt.replay,
                  err);
        return 1;
    }
    main_summary(r, "replay done");
    return 0;
}

static int
main_http(struct main_run *r, int live)
{
    char err[256];
    const char *m = r->opt.metrics_addr, *h = r->opt.health_addr;

    if (!live && !r->opt.metrics_addr_set) {
        m = "";
    }
    if (!live && !r->opt.health_addr_set) {
        h = "";
    }
    r->metrics_http = httpd_start(m, err, sizeof(err));
    if (r->metrics_http == NULL && err[0] != '\0') {
        log_error("metrics listener failed", "error=\"%s\"", err);
        return -EINVAL;
    }
    if (strcmp(h, m) != 0) {
        r->health_http = httpd_start(h, err, sizeof(err));
        if (r->health_http == NULL && err[0] != '\0') {
            log_error("health listener failed", "error=\"%s\"", err);
            return -EINVAL;
        }
    }
    return 0;
}

/* spec.source.endpoints into out (at most 16).  Returns how many. */
static size_t
main_config_endpoints(const struct main_run *r, const char **out)
{
    size_t n = 0;

    for (; n < r->cfg.source.nendpoints && n < 16; n++) {
        out[n] = r->cfg.source.endpoints[n];
    }
    return n;
}

/*
 * The CoreDNS plugin endpoints to follow: --coredns-endpoint, else the
 * config's endpoints when its mode is coredns-ugallu.  Returns how many.
 */
static size_t
main_coredns_targets(const struct main_run *r, const char **out)
{
    size_t n = 0;

    for (int i = 0; i < r->opt.ncoredns; i++) {
        out[n++] = r->opt.coredns_endpoints[i];
    }
    if (n == 0 && strcmp(r->cfg.source.mode, "coredns-ugallu") == 0) {
        n = main_config_endpoints(r, out);
    }
    return n;
}

static const char *
main_nonempty(const char *flag, const char *cfg)
{
    if (flag != NULL) {
        return flag;
    }
    return cfg[0] != '\0' ? cfg : NULL;
}

/*
 * The primary: CoreDNS endpoints and whatever dnstap or capture the
 * flags name, all at once; without any of these, the config's dnstap
 * socket, TCP address and interface.
 */
/* Tetragon's gRPC target: the flag's socket, else Tetragon's default. */
static const char *
main_tetragon_target(struct main_run *r)
{
    if (r->opt.tetragon_socket == NULL) {
        return TETRAGONSRC_TARGET_DEFAULT;
    }
    snprintf(r->tetragon_target, sizeof(r->tetragon_target), "unix:%s",
             r->opt.tetragon_socket);
    return r->tetragon_target;
}

static void
main_primary(struct main_run *r, struct supervisor_spec *p)
{
    p->coredns = r->coredns_targets;
    p->ncoredns = main_coredns_targets(r, r->coredns_targets);
    p->dnstap_socket = r->opt.dnstap_socket;
    p->dnstap_tcp = r->opt.dnstap_tcp;
    p->interface = r->opt.interface;
    p->coredns_discover = supervisor_spec_name(p)[0] == '\0' &&
                          r->opt.tetragon_socket == NULL &&
                          r->cluster != NULL &&
                          strcmp(r->cfg.source.mode, "coredns-ugallu") == 0;
    if (r->opt.tetragon_socket != NULL ||
        (supervisor_spec_name(p)[0] == '\0' &&
         strcmp(r->cfg.source.mode, "tetragon") == 0)) {
        p->tetragon = main_tetragon_target(r);
    }
    if (supervisor_spec_name(p)[0] == '\0') {
        p->dnstap_socket = main_nonempty(NULL, r->cfg.source.dnstap_socket);
        p->dnstap_tcp = main_nonempty(NULL, r->cfg.source.dnstap_tcp);
        p->interface = main_nonempty(NULL, r->cfg.source.interface);
    }
}

/*
 * A coredns-ugallu fallback: the --coredns-endpoint flags (taken from
 * the primary), else the config's endpoints, else, in Kubernetes mode,
 * the endpoints found through the API.
 */
static void
main_coredns_fallback(struct main_run *r, struct supervisor_spec *p,
                      struct supervisor_spec *fb)
{
    fb->coredns = p->coredns;
    fb->ncoredns = p->ncoredns;
    p->ncoredns = 0;
    if (fb->ncoredns == 0) {
        fb->coredns = r->coredns_fb_targets;
        fb->ncoredns = main_config_endpoints(r, r->coredns_fb_targets);
    }
    fb->coredns_discover = fb->ncoredns == 0 && r->cluster != NULL;
}

/*
 * spec.source.fallback, when the primary is of another kind: dnstap or
 * pcap with the flags' settings, else the config's.  A flag taken by the
 * fallback leaves the primary.
 */
static void
main_fallback(struct main_run *r, struct supervisor_spec *p,
              struct supervisor_spec *fb)
{
    const char *mode = r->cfg.source.fallback;
    const struct config_source *c = &r->cfg.source;

    if (mode[0] == '\0' || strcmp(mode, supervisor_spec_name(p)) == 0) {
        return;
    }
    if (strcmp(mode, "dnstap") == 0) {
        fb->dnstap_socket = main_nonempty(r->opt.dnstap_socket,
                                          c->dnstap_socket);
        fb->dnstap_tcp = main_nonempty(r->opt.dnstap_tcp, c->dnstap_tcp);
        p->dnstap_socket = p->dnstap_tcp = NULL;
    } else if (strcmp(mode, "pcap") == 0) {
        fb->interface = main_nonempty(r->opt.interface, c->interface);
        p->interface = NULL;
    } else if (strcmp(mode, "tetragon") == 0) {
        fb->tetragon = main_tetragon_target(r);
        p->tetragon = NULL;
    } else if (strcmp(mode, "coredns-ugallu") == 0) {
        main_coredns_fallback(r, p, fb);
    }
    if (supervisor_spec_name(fb)[0] == '\0') {
        log_warn("fallback not usable, none", "fallback=%s hint=\"%s\"",
                 mode, "dnstap and pcap need their socket or interface");
    }
}

/* The silence window: --source-silence, else spec.source.silenceAfter. */
static int
main_silence(const struct main_run *r, uint64_t *ns)
{
    unsigned ms;

    if (r->opt.source_silence == NULL) {
        return 0;
    }
    if (cluster_duration_ms(r->opt.source_silence, &ms) != 0) {
        log_error("bad --source-silence", "value=%s",
                  r->opt.source_silence);
        return -EINVAL;
    }
    *ns = (uint64_t)ms * 1000000ull;
    return 0;
}

/* Open the live sources the flags or the config name. */
static int
main_sources(struct main_run *r)
{
    struct supervisor_options so = {
        .pipe = r->pipe,
        .node = r->opt.node_name,
        .coredns_token_file = r->opt.coredns_token_file,
        .coredns_ca_file = r->opt.coredns_ca_file,
        .coredns_tls = !r->opt.coredns_insecure,
        .silence_ns = r->cfg.source.silence_ns,
    };
    struct supervisor *sup;
    int rc;

    if (main_silence(r, &so.silence_ns) != 0) {
        return -EINVAL;
    }
    main_primary(r, &so.primary);
    main_fallback(r, &so.primary, &so.fallback);
    if (supervisor_spec_name(&so.primary)[0] == '\0') {
        log_error("no source", "hint=\"%s\"",
                  "give --replay, --dnstap-socket, --dnstap-tcp, "
                  "--interface, --coredns-endpoint or --tetragon-socket, "
                  "or spec.source in the config");
        return -EINVAL;
    }
    rc = supervisor_start(&so, &sup);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&main_sup_mu);
    r->sup = sup;
    pthread_mutex_unlock(&main_sup_mu);
    if (r->cluster != NULL && (so.primary.coredns_discover ||
                               so.primary.ncoredns > 0 ||
                               so.fallback.coredns_discover ||
                               so.fallback.ncoredns > 0)) {
        cluster_follow_coredns(r->cluster, sup, &r->cfg.source,
                               so.primary.coredns_discover ||
                                   so.fallback.coredns_discover);
    }
    return 0;
}

static void
main_stop_sources(struct main_run *r)
{
    supervisor_stop(r->sup);
}

/* Stop and free the sources and what follows CoreDNS for them. */
static void
main_drop_sources(struct main_run *r)
{
    struct supervisor *sup;

    cluster_unfollow_coredns(r->cluster);
    pthread_mutex_lock(&main_sup_mu);
    sup = r->sup;
    r->sup = NULL;
    pthread_mutex_unlock(&main_sup_mu);
    supervisor_free(sup);
}

/* 1 when a flag names a source: flags win over spec.source. */
static int
main_source_flags(const struct main_run *r)
{
    return r->opt.dnstap_socket != NULL || r->opt.dnstap_tcp != NULL ||
           r->opt.interface != NULL || r->opt.ncoredns > 0 ||
           r->opt.tetragon_socket != NULL;
}

/* Replace the running sources by those of src; if they fail to start,
 * the previous ones start again and src is not tried again. */
static void
main_swap_sources(struct main_run *r, const struct config_source *src)
{
    struct config_source old = r->cfg.source;

    main_drop_sources(r);
    r->cfg.source = *src;
    if (main_sources(r) == 0) {
        return;
    }
    log_error("new sources did not start, the previous ones come back",
              "mode=%s", src->mode);
    r->refused = *src;
    r->cfg.source = old;
    if (main_sources(r) != 0) {
        log_error("no source runs", "hint=\"%s\"",
                  "fix spec.source; the next change is tried");
    }
}

/*
 * Kubernetes mode, once a second: when a config was applied since the
 * last look and it names other sources than those running (mode,
 * fallback, endpoints, sockets, silenceAfter), stop them and start the
 * new ones.  A run given a source flag keeps it.
 *
 * Known shortcoming: every source restarts on any such change, even one
 * of the fallback alone; events that arrive meanwhile are lost, and a
 * fallback episode starts over.
 */
static void
main_follow_source(struct main_run *r)
{
    uint64_t applied = cluster_config_applied(r->cluster);
    struct config *now;

    if (main_source_flags(r) || applied == r->applied_seen ||
        (now = malloc(sizeof(*now))) == NULL) {
        return;
    }
    r->applied_seen = applied;
    if (cluster_current_config(r->cluster, now) == 0 &&
        !config_source_equal(&now->source, &r->cfg.source) &&
        !config_source_equal(&now->source, &r->refused)) {
        log_info("spec.source changed, restarting the sources",
                 "mode=%s fallback=%s endpoints=%zu", now->source.mode,
                 now->source.fallback[0] ? now->source.fallback : "none",
                 now->source.nendpoints);
        main_swap_sources(r, &now->source);
    }
    free(now);
}

/* The next signal of sigs, 0 after a second without one, -1 on error. */
static int
main_next_signal(const sigset_t *sigs)
{
    struct timespec second = {1, 0};
    int sig = sigtimedwait(sigs, NULL, &second);

    if (sig < 0) {
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    }
    return sig;
}

/* SIGHUP: reread list files; a failure keeps what is loaded. */
static void
main_reload(struct main_run *r)
{
    char err[512];

    if (pipeline_reload(r->pipe, err, sizeof(err)) != 0) {
        log_error("reload rejected, previous lists stay", "error=\"%s\"",
                  err);
    } else {
        log_info("reloaded", "signal=%s", "SIGHUP");
    }
}

/* Live mode: sources until SIGTERM or SIGINT. */
static int
main_live(struct main_run *r, const sigset_t *sigs)
{
    int sig = 0;

    if (pipeline_start(r->pipe) != 0 || main_sources(r) != 0) {
        main_stop_sources(r);
        pipeline_stop(r->pipe);
        return 1;
    }
    httpd_set_ready(1);
    log_info("running", "node=%s", r->opt.node_name);
    while (sig != SIGTERM && sig != SIGINT) {
        sig = main_next_signal(sigs);
        if (sig < 0) {
            break;
        }
        if (sig == SIGHUP) {
            main_reload(r);
        } else if (sig == 0 && r->cluster != NULL) {
            main_follow_source(r);
        }
    }
    log_info("stopping", "signal=%d", sig);
    httpd_set_ready(0);
    main_stop_sources(r);
    pipeline_stop(r->pipe);
    pipeline_flush(r->pipe);
    main_summary(r, "stopped");
    return 0;
}

static int
main_explain(struct main_run *r)
{
    char line[1024];

    for (int i = 0; i < r->opt.nnames; i++) {
        pipeline_explain(r->pipe, r->opt.names[i], stdout);
    }
    if (r->opt.nnames > 0) {
        return 0;
    }
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0') {
            pipeline_explain(r->pipe, line, stdout);
        }
    }
    return 0;
}

static void
main_cleanup(struct main_run *r)
{
    supervisor_free(r->sup);
    httpd_stop(r->metrics_http);
    httpd_stop(r->health_http);
    pipeline_free(r->pipe);
    podattr_free(r->podattr);
    free(r->resolver_ca);
    if (r->findings != NULL && r->findings != stdout) {
        fclose(r->findings);
    }
    if (r->events != NULL && r->events != stdout) {
        fclose(r->events);
    }
}

/*
 * status.activeSource as the supervisor sees it now, "" before the
 * sources start or while they change.  The status thread asks; r->sup
 * changes under main_sup_mu, and the last one stays until after the
 * cluster parts stop.
 */
static const char *
main_active_now(void *ctx)
{
    struct main_run *r = ctx;
    const char *name;

    pthread_mutex_lock(&main_sup_mu);
    name = r->sup != NULL ? supervisor_active_source(r->sup) : "";
    pthread_mutex_unlock(&main_sup_mu);
    return name;
}

/*
 * In Kubernetes mode the sources start from the DNSDetectConfig's
 * spec.source (main_follow_source() follows later changes).  Without an
 * answer within 10 s, the flags and defaults rule.
 */
static void
main_cluster_source(struct main_run *r)
{
    struct config *first = malloc(sizeof(*first));

    if (first != NULL && cluster_first_config(r->cluster, 10000,
                                              first) == 0) {
        r->cfg.source = first->source;
        log_info("sources from the DNSDetectConfig", "mode=%s "
                 "fallback=%s endpoints=%zu", r->cfg.source.mode,
                 r->cfg.source.fallback[0] ? r->cfg.source.fallback : "none",
                 r->cfg.source.nendpoints);
    }
    free(first);
}

/* Kubernetes mode: live mode with the cluster parts around it. */
static int
main_cluster(struct main_run *r, const sigset_t *sigs)
{
    struct cluster_options co = {
        .opt = &r->opt, .pipe = r->pipe,
        .active_source_fn = main_active_now, .active_source_ctx = r,
        .podattr = r->podattr,
    };
    struct cluster *c = NULL;
    int rc;

    if (r->opt.replay != NULL) {
        log_error("--replay needs --standalone", "replay=%s",
                  r->opt.replay);
        return 2;
    }
    if (main_http(r, 1) != 0 || cluster_start(&co, &c) != 0) {
        return 2;
    }
    r->cluster = c;
    main_cluster_source(r);
    rc = main_live(r, sigs);
    cluster_stop(c);
    return rc;
}

static int
main_dispatch(struct main_run *r, const sigset_t *sigs)
{
    if (main_load_config(r) != 0 || main_open_pipeline(r) != 0) {
        return 2;
    }
    if (r->opt.command == CLI_EXPLAIN) {
        return main_explain(r);
    }
    if (r->opt.replay == NULL && main_podattr(r) != 0) {
        return 2;
    }
    if (!r->opt.standalone) {
        return main_cluster(r, sigs);
    }
    if (main_http(r, r->opt.replay == NULL) != 0) {
        return 2;
    }
    return r->opt.replay != NULL ? main_replay(r) : main_live(r, sigs);
}

int
main(int argc, char **argv)
{
    static struct main_run run;
    char err[256];
    sigset_t sigs;
    int rc;

    if (cli_parse(argc, argv, &run.opt, err, sizeof(err)) != 0) {
        fprintf(stderr, "ugallu-dns-detect: %s (see --help)\n", err);
        return 2;
    }
    if (run.opt.command == CLI_HELP || run.opt.command == CLI_VERSION) {
        run.opt.command == CLI_HELP ? cli_usage(stdout)
                                    : (void)puts(MAIN_VERSION);
        return 0;
    }
    if (log_set_level(run.opt.log_level) != 0) {
        fprintf(stderr, "ugallu-dns-detect: bad --log-level '%s'\n",
                run.opt.log_level);
        return 2;
    }

    /* Signals are taken by sigwait in the main thread only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = main_dispatch(&run, &sigs);
    main_cleanup(&run);
    return rc;
}

/*
 * cluster.c - Kubernetes mode: wiring of kclient, lease, dispatch and
 * cfgwatch.
 */
#include "daemon/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "enrich/podwatch.h"
#include "http/httpd.h"
#include "k8s/cfgwatch.h"
#include "k8s/corednsdisc.h"
#include "k8s/dispatch.h"
#include "k8s/kclient.h"
#include "k8s/kubeconfig.h"
#include "k8s/lease.h"

#define CLUSTER_DRAIN_MS 3000u
#define CLUSTER_MAX_DURATION_MS (24u * 3600u * 1000u)

struct cluster {
    struct kclient *kc;
    struct lease *lease;
    struct dispatch *dispatch;
    struct cfgwatch *cfgwatch;
    struct corednsdisc *disc;
    const char *leader_ns;
    struct podwatch *podwatch;     /* Pod index of this node, or NULL */
};

int
cluster_duration_ms(const char *text, unsigned *ms)
{
    char *end;
    unsigned long long v, mult = 1000;

    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0) {
        return -EINVAL;
    }
    if (strcmp(end, "ms") == 0) {
        mult = 1;
    } else if (strcmp(end, "m") == 0) {
        mult = 60000;
    } else if (strcmp(end, "s") != 0 && end[0] != '\0') {
        return -EINVAL;
    }
    if (v == 0 || v > CLUSTER_MAX_DURATION_MS / mult) {
        return -EINVAL;
    }
    *ms = (unsigned)(v * mult);
    return 0;
}

static int
cluster_client(const struct cli_options *opt, struct kclient **out)
{
    struct kubeconfig kc = {0};
    char err[KUBECONFIG_ERR_LEN];
    int rc;

    rc = opt->kubeconfig != NULL
             ? kubeconfig_load(opt->kubeconfig, NULL, &kc, err, sizeof(err))
             : kubeconfig_in_cluster(NULL, &kc, err, sizeof(err));
    if (rc != 0) {
        log_error("no Kubernetes credentials", "kubeconfig=%s error=\"%s\"",
                  opt->kubeconfig ? opt->kubeconfig : "in-cluster", err);
        return rc;
    }
    rc = kclient_new(&kc, out);
    kubeconfig_free(&kc);
    if (rc != 0) {
        log_error("cannot make the API client", "rc=%d", rc);
    }
    return rc;
}

/* "<node>-<hex>@<advertised forward address>". */
static int
cluster_identity(const struct cli_options *opt, char *buf, size_t len)
{
    char host[128], addr[192];
    const char *pod_ip = getenv("POD_IP");
    unsigned port = 0;
    uint32_t rnd;

    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        rnd = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    }
    host[0] = '\0';
    if (opt->forward_addr[0] != '\0' && strcmp(opt->forward_addr, "0") &&
        httpd_split_addr(opt->forward_addr, host, sizeof(host),
                         &port) != 0) {
        log_error("bad --forward-bind-address", "value=%s",
                  opt->forward_addr);
        return -EINVAL;
    }
    if (pod_ip != NULL && pod_ip[0] != '\0') {
        snprintf(host, sizeof(host), "%s", pod_ip);
    } else if (host[0] == '\0') {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    snprintf(addr, sizeof(addr), port ? "%s:%u" : "", host, port);
    return lease_identity(buf, len, opt->node_name, addr, rnd);
}

/* The three --leader-* durations into o. */
static int
cluster_lease_times(const struct cli_options *opt, struct lease_options *o)
{
    if (cluster_duration_ms(opt->lease_duration, &o->duration_ms) != 0 ||
        cluster_duration_ms(opt->renew_deadline, &o->renew_ms) != 0 ||
        cluster_duration_ms(opt->retry_period, &o->retry_ms) != 0 ||
        o->renew_ms >= o->duration_ms || o->retry_ms >= o->renew_ms) {
        log_error("bad leader election timing", "hint=\"%s\"",
                  "need retry period < renew deadline < lease duration");
        return -EINVAL;
    }
    return 0;
}

static int
cluster_lease(struct cluster *c, const struct cli_options *opt)
{
    char id[LEASE_IDENTITY_MAX];
    struct lease_options lo = {
        .kc = c->kc, .namespace_ = opt->leader_ns, .identity = id,
    };

    if (cluster_lease_times(opt, &lo) != 0 ||
        cluster_identity(opt, id, sizeof(id)) != 0) {
        return -EINVAL;
    }
    log_info("leader election", "lease=%s/%s id=%s", opt->leader_ns,
             LEASE_NAME, id);
    return lease_start(&lo, &c->lease);
}

static int
cluster_dispatch(struct cluster *c, const struct cluster_options *o)
{
    struct dispatch_options dopt = {
        .kc = c->kc, .lease = c->lease,
        .forward_addr = o->opt->forward_addr,
        .forward_insecure = o->opt->forward_insecure,
    };
    char err[256] = "";
    int rc = dispatch_start(&dopt, &c->dispatch, err, sizeof(err));

    if (rc != 0) {
        log_error("dispatcher failed", "error=\"%s\" rc=%d", err, rc);
        return rc;
    }
    pipeline_set_sink(o->pipe, dispatch_sink, c->dispatch);
    return 0;
}

static int
cluster_cfgwatch(struct cluster *c, const struct cluster_options *o)
{
    struct cfgwatch_options co = {
        .kc = c->kc, .pipe = o->pipe, .lease = c->lease,
        .namespace_ = o->opt->leader_ns, .name = o->opt->config_name,
        .node = o->opt->node_name, .active_source = o->active_source,
        .active_source_fn = o->active_source_fn,
        .active_source_ctx = o->active_source_ctx,
    };

    int rc;

    if (cluster_duration_ms(o->opt->resync_period, &co.resync_ms) != 0) {
        log_error("bad --resync-period", "value=%s", o->opt->resync_period);
        return -EINVAL;
    }
    rc = cfgwatch_start(&co, &c->cfgwatch);
    if (rc == 0) {
        pipeline_set_anomaly_hook(o->pipe, cfgwatch_anomaly, c->cfgwatch);
    }
    return rc;
}

int
cluster_first_config(struct cluster *c, unsigned timeout_ms,
                     struct config *out)
{
    int rc = cfgwatch_first(c->cfgwatch, timeout_ms, out);

    if (rc == -ETIMEDOUT) {
        log_warn("no answer about the DNSDetectConfig yet", "waited_ms=%u "
                 "note=\"%s\"", timeout_ms, "sources start from the flags");
    } else if (rc != 0) {
        log_warn("no usable DNSDetectConfig yet", "note=\"%s\"",
                 "sources start from the flags");
    }
    return rc;
}

int
cluster_current_config(struct cluster *c, struct config *out)
{
    return cfgwatch_current(c->cfgwatch, out);
}

uint64_t
cluster_config_applied(struct cluster *c)
{
    return cfgwatch_applied(c->cfgwatch);
}

void
cluster_unfollow_coredns(struct cluster *c)
{
    if (c == NULL) {
        return;
    }
    corednsdisc_stop(c->disc);
    c->disc = NULL;
}

static void
cluster_endpoints_cb(void *ctx, const char *const *targets, size_t n)
{
    int rc = supervisor_set_coredns_endpoints(ctx, targets, n);

    if (rc != 0) {
        log_warn("CoreDNS endpoints not applied", "count=%zu rc=%d", n, rc);
    }
}

static void
cluster_token_cb(void *ctx, const char *token)
{
    supervisor_set_coredns_token(ctx, token);
}

int
cluster_follow_coredns(struct cluster *c, struct supervisor *sup,
                       const struct config_source *src, int discover)
{
    struct corednsdisc_options o = {
        .kc = c->kc, .port = src->coredns_port,
        .service = discover ? src->coredns_service : NULL,
        .secret_ns = c->leader_ns, .secret = src->token_secret,
        .endpoints_fn = cluster_endpoints_cb, .token_fn = cluster_token_cb,
        .ctx = sup,
    };
    int rc = corednsdisc_start(&o, &c->disc);

    if (rc != 0) {
        log_error("cannot follow CoreDNS through the API", "service=%s "
                  "secret=%s rc=%d", o.service ? o.service : "-",
                  o.secret, rc);
    } else {
        log_info("following CoreDNS through the API", "service=%s "
                 "secret=%s/%s", o.service ? o.service : "-", c->leader_ns,
                 o.secret);
    }
    return rc;
}

int
cluster_start(const struct cluster_options *o, struct cluster **out)
{
    struct cluster *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        return -ENOMEM;
    }
    c->leader_ns = o->opt->leader_ns;
    rc = cluster_client(o->opt, &c->kc);
    if (rc == 0) {
        rc = cluster_lease(c, o->opt);
    }
    if (rc == 0) {
        rc = cluster_dispatch(c, o);
    }
    if (rc == 0) {
        rc = cluster_cfgwatch(c, o);
    }
    if (rc == 0 && o->podattr != NULL) {
        rc = podwatch_start(c->kc, o->opt->node_name, o->podattr,
                            &c->podwatch);
    }
    if (rc != 0) {
        pipeline_set_sink(o->pipe, NULL, NULL);
        cluster_stop(c);
        return rc;
    }
    *out = c;
    return 0;
}

void
cluster_stop(struct cluster *c)
{
    if (c == NULL) {
        return;
    }
    /* Deliver first, then hand the Lease over, then the slow part (a
     * watch takes up to a second to stop). */
    dispatch_stop(c->dispatch, CLUSTER_DRAIN_MS);
    lease_stop(c->lease);
    corednsdisc_stop(c->disc);
    cfgwatch_stop(c->cfgwatch);
    podwatch_stop(c->podwatch);
    lease_free(c->lease);
    if (c->kc != NULL) {
        kclient_free(c->kc);
    }
    free(c);
}

/*
 * corednsdisc.c - CoreDNS replicas from EndpointSlices, the plugin's
 * token from its Secret.
 */
#include "k8s/corednsdisc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "k8s/kubeconfig.h"

struct corednsdisc {
    struct corednsdisc_options o;
    char svc_ns[64], svc_name[64];
    char secret_ns[64], secret[254];
    json_t *slices;                 /* slice name -> object; watch thread */
    char last[COREDNSDISC_TARGETS_MAX][COREDNSDISC_TARGET_LEN];
    size_t nlast;
    int reported;                   /* endpoints handed over once */
    struct kclient_watch *eps_watch;
    struct kclient_watch *secret_watch;
};

/* ---- EndpointSlices ------------------------------------------------ */

/* The slice's "ugallu-grpc" port, else dflt. */
static unsigned
corednsdisc_slice_port(const json_t *slice, unsigned dflt)
{
    const json_t *ports = json_object_get(slice, "ports");
    size_t i;
    json_t *p;

    json_array_foreach(ports, i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        json_int_t port = json_integer_value(json_object_get(p, "port"));

        if (name != NULL && strcmp(name, COREDNSDISC_PORT_NAME) == 0 &&
            port > 0 && port <= 65535) {
            return (unsigned)port;
        }
    }
    return dflt;
}

/* "a.b.c.d:port" or "[v6]:port" of a valid address; 0 or -EINVAL. */
static int
corednsdisc_format(const char *addr, int v6, unsigned port,
                   char out[COREDNSDISC_TARGET_LEN])
{
    unsigned char buf[16];

    if (addr == NULL || inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1) {
        return -EINVAL;
    }
    snprintf(out, COREDNSDISC_TARGET_LEN, v6 ? "[%s]:%u" : "%s:%u", addr,
             port);
    return 0;
}

/* An endpoint counts unless it says it is not ready. */
static int
corednsdisc_ready(const json_t *ep)
{
    const json_t *ready = json_object_get(json_object_get(ep, "conditions"),
                                          "ready");

    return !json_is_false(ready);
}

/* Append the targets of one slice; returns the new count. */
static size_t
corednsdisc_slice(const json_t *slice, unsigned dflt_port,
                  char (*out)[COREDNSDISC_TARGET_LEN], size_t n, size_t max,
                  size_t *cut)
{
    const char *type = json_string_value(json_object_get(slice,
                                                         "addressType"));
    unsigned port = corednsdisc_slice_port(slice, dflt_port);
    int v6 = type != NULL && strcmp(type, "IPv6") == 0;
    size_t i, j;
    json_t *ep, *a;

    if (type == NULL || (!v6 && strcmp(type, "IPv4") != 0)) {
        return n;
    }
    json_array_foreach(json_object_get(slice, "endpoints"), i, ep) {
        if (!corednsdisc_ready(ep)) {
            continue;
        }
        json_array_foreach(json_object_get(ep, "addresses"), j, a) {
            if (n == max) {
                (*cut)++;
            } else if (corednsdisc_format(json_string_value(a), v6, port,
                                          out[n]) == 0) {
                n++;
            }
        }
    }
    return n;
}

static int
corednsdisc_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Sort and drop repeats; returns the count left. */
static size_t
corednsdisc_unique(char (*t)[COREDNSDISC_TARGET_LEN], size_t n)
{
    size_t k = 0;

    qsort(t, n, sizeof(t[0]), corednsdisc_cmp);
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || strcmp(t[k - 1], t[i]) != 0) {
            memmove(t[k++], t[i], sizeof(t[0]));
        }
    }
    return k;
}

size_t
corednsdisc_targets(const json_t *slices, unsigned dflt_port,
                    char (*out)[COREDNSDISC_TARGET_LEN], size_t max,
                    size_t *cut)
{
    size_t n = 0, dummy = 0, i;
    json_t *slice;

    if (cut == NULL) {
        cut = &dummy;
    }
    *cut = 0;
    json_array_foreach(slices, i, slice) {
        n = corednsdisc_slice(slice, dflt_port, out, n, max, cut);
    }
    return corednsdisc_unique(out, n);
}

/* Hand the endpoints over when they changed (watch thread). */
static void
corednsdisc_publish(struct corednsdisc *d)
{
    char t[COREDNSDISC_TARGETS_MAX][COREDNSDISC_TARGET_LEN];
    const char *ptr[COREDNSDISC_TARGETS_MAX];
    json_t *arr = json_array(), *slice;
    const char *key;
    size_t n, cut;

    json_object_foreach(d->slices, key, slice) {
        json_array_append(arr, slice);
    }
    n = corednsdisc_targets(arr, d->o.port, t, COREDNSDISC_TARGETS_MAX,
                            &cut);
    json_decref(arr);
    if (d->reported && n == d->nlast &&
        memcmp(t, d->last, n * sizeof(t[0])) == 0) {
        return;
    }
    memcpy(d->last, t, n * sizeof(t[0]));
    d->nlast = n;
    d->reported = 1;
    for (size_t i = 0; i < n; i++) {
        ptr[i] = d->last[i];
    }
    log_info("CoreDNS endpoints", "service=%s/%s count=%zu first=%s "
             "cut=%zu", d->svc_ns, d->svc_name, n, n ? ptr[0] : "-", cut);
    d->o.endpoints_fn(d->o.ctx, ptr, n);
}

/* Keep one slice (or forget it, obj NULL). */
static void
corednsdisc_keep(struct corednsdisc *d, const json_t *obj, int gone)
{
    const char *name = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "name"));

    if (name == NULL) {
        return;
    }
    if (gone) {
        json_object_del(d->slices, name);
    } else {
        json_object_set(d->slices, name, (json_t *)obj);
    }
}

static void
corednsdisc_on_slice(enum kclient_event type, json_t *obj, const char *rv,
                     void *arg)
{
    struct corednsdisc *d = arg;
    size_t i;
    json_t *item;

    (void)rv;
    if (type == KCLIENT_RELISTED) {
        json_object_clear(d->slices);
        json_array_foreach(obj, i, item) {
            corednsdisc_keep(d, item, 0);
        }
    } else if (type == KCLIENT_ADDED || type == KCLIENT_MODIFIED ||
               type == KCLIENT_DELETED) {
        corednsdisc_keep(d, obj, type == KCLIENT_DELETED);
    } else {
        return;
    }
    corednsdisc_publish(d);
}

/* ---- the token Secret ---------------------------------------------- */

int
corednsdisc_secret_token(const json_t *secret, char *out, size_t len)
{
    const char *b64 = json_string_value(
        json_object_get(json_object_get(secret, "data"), "token"));
    unsigned char *raw;
    size_t start = 0, end;
    int rc;

    if (b64 == NULL) {
        return -ENOENT;
    }
    rc = kubeconfig_base64_decode(b64, strlen(b64), &raw, &end);
    if (rc != 0) {
        return rc;
    }
    while (start < end && strchr(" \t\r\n", raw[start]) != NULL) {
        start++;
    }
    while (end > start && strchr(" \t\r\n", raw[end - 1]) != NULL) {
        end--;
    }
    rc = end == start || memchr(raw + start, '\0', end - start) != NULL
             ? -EINVAL : end - start >= len ? -EMSGSIZE : 0;
    if (rc == 0) {
        memcpy(out, raw + start, end - start);
        out[end - start] = '\0';
    }
    explicit_bzero(raw, end);
    free(raw);
    return rc;
}

/* One Secret object: hand its token over, or keep the one in force. */
static void
corednsdisc_token(struct corednsdisc *d, const json_t *obj)
{
    char token[COREDNSDISC_TOKEN_MAX + 1];
    int rc = corednsdisc_secret_token(obj, token, sizeof(token));

    if (rc != 0) {
        log_warn("CoreDNS token Secret unusable, token in force stays",
                 "secret=%s/%s rc=%d", d->secret_ns, d->secret, rc);
        return;
    }
    log_info("CoreDNS token read", "secret=%s/%s", d->secret_ns,
             d->secret);
    d->o.token_fn(d->o.ctx, token);
    explicit_bzero(token, sizeof(token));
}

static void
corednsdisc_on_secret(enum kclient_event type, json_t *obj, const char *rv,
                      void *arg)
{
    struct corednsdisc *d = arg;

    (void)rv;
    if (type == KCLIENT_ADDED || type == KCLIENT_MODIFIED) {
        corednsdisc_token(d, obj);
    } else if (type == KCLIENT_RELISTED && json_array_size(obj) > 0) {
        corednsdisc_token(d, json_array_get(obj, 0));
    } else if (type == KCLIENT_RELISTED || type == KCLIENT_DELETED) {
        log_warn("CoreDNS token Secret missing, token in force stays",
                 "secret=%s/%s", d->secret_ns, d->secret);
    }
}

/* ---- life cycle ---------------------------------------------------- */

static int
corednsdisc_watch_slices(struct corednsdisc *d)
{
    char path[KCLIENT_MAX_URL], query[160];
    struct kclient_watch_opts wo = {
        .path = path, .query = query, .fn = corednsdisc_on_slice, .arg = d,
    };

    if (kclient_path(path, sizeof(path), "discovery.k8s.io", "v1",
                     d->svc_ns, "endpointslices", NULL, NULL) != 0) {
        return -EINVAL;
    }
    snprintf(query, sizeof(query),
             "labelSelector=kubernetes.io%%2Fservice-name%%3D%s",
             d->svc_name);
    d->slices = json_object();
    if (d->slices == NULL) {
        return -ENOMEM;
    }
    return kclient_watch_start(d->o.kc, &wo, &d->eps_watch);
}

static int
corednsdisc_watch_secret(struct corednsdisc *d)
{
    char path[KCLIENT_MAX_URL], query[320];
    struct kclient_watch_opts wo = {
        .path = path, .query = query, .fn = corednsdisc_on_secret,
        .arg = d,
    };

    /* The first path only checks the name's characters. */
    if (kclient_path(path, sizeof(path), NULL, "v1", d->secret_ns,
                     "secrets", d->secret, NULL) != 0 ||
        kclient_path(path, sizeof(path), NULL, "v1", d->secret_ns,
                     "secrets", NULL, NULL) != 0) {
        return -EINVAL;
    }
    snprintf(query, sizeof(query), "fieldSelector=metadata.name%%3D%s",
             d->secret);
    return kclient_watch_start(d->o.kc, &wo, &d->secret_watch);
}

/* Split "namespace/name" into d's fields. */
static int
corednsdisc_service(struct corednsdisc *d, const char *svc)
{
    const char *slash = strchr(svc, '/');

    if (slash == NULL || slash == svc || slash[1] == '\0' ||
        (size_t)(slash - svc) >= sizeof(d->svc_ns) ||
        strlen(slash + 1) >= sizeof(d->svc_name)) {
        return -EINVAL;
    }
    snprintf(d->svc_ns, sizeof(d->svc_ns), "%.*s", (int)(slash - svc),
             svc);
    snprintf(d->svc_name, sizeof(d->svc_name), "%s", slash + 1);
    return 0;
}

static int
corednsdisc_begin(struct corednsdisc *d)
{
    int rc = 0;

    if (d->o.service != NULL) {
        rc = d->o.endpoints_fn == NULL ? -EINVAL
                                       : corednsdisc_service(d, d->o.service);
        if (rc == 0) {
            rc = corednsdisc_watch_slices(d);
        }
    }
    if (rc == 0 && d->o.secret != NULL) {
        snprintf(d->secret_ns, sizeof(d->secret_ns), "%s",
                 d->o.secret_ns != NULL ? d->o.secret_ns : "");
        snprintf(d->secret, sizeof(d->secret), "%s", d->o.secret);
        rc = d->o.token_fn == NULL ? -EINVAL : corednsdisc_watch_secret(d);
    }
    return rc;
}

int
corednsdisc_start(const struct corednsdisc_options *o,
                  struct corednsdisc **out)
{
    struct corednsdisc *d = calloc(1, sizeof(*d));
    int rc;

    if (d == NULL) {
        return -ENOMEM;
    }
    d->o = *o;
    if (d->o.secret != NULL && d->o.secret[0] == '\0') {
        d->o.secret = NULL;
    }
    rc = corednsdisc_begin(d);
    /* The strings were borrowed until here (copied by begin). */
    d->o.service = d->o.secret = d->o.secret_ns = NULL;
    if (rc != 0) {
        corednsdisc_stop(d);
        return rc;
    }
    *out = d;
    return 0;
}

void
corednsdisc_stop(struct corednsdisc *d)
{
    if (d == NULL) {
        return;
    }
    if (d->eps_watch != NULL) {
        kclient_watch_stop(d->eps_watch);
    }
    if (d->secret_watch != NULL) {
        kclient_watch_stop(d->secret_watch);
    }
    json_decref(d->slices);
    free(d);
}

/*
 * podwatch.c - Pods of this node into the Pod index.
 */
#include "enrich/podwatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"

struct podwatch {
    struct podattr *pa;
    struct kclient_watch *watch;
};

/* Copy a string member of obj; returns 0, or -EBADMSG when absent,
 * empty or too long. */
static int
podwatch_str(const json_t *obj, const char *key, char *dst, size_t cap)
{
    const char *s = json_string_value(json_object_get(obj, key));

    if (s == NULL || s[0] == '\0' || strlen(s) >= cap) {
        return -EBADMSG;
    }
    snprintf(dst, cap, "%s", s);
    return 0;
}

static void
podwatch_add_ip(struct podwatch_pod *out, const char *text)
{
    uint8_t raw[16];
    struct event_addr *a;

    if (text == NULL || out->nips == PODWATCH_IPS_MAX) {
        return;
    }
    a = &out->ips[out->nips];
    if (inet_pton(AF_INET, text, raw) == 1) {
        event_addr_set(a, raw, 4);
    } else if (inet_pton(AF_INET6, text, raw) == 1) {
        event_addr_set(a, raw, 16);
    } else {
        return;
    }
    out->nips++;
}

/* status.podIPs[].ip, else status.podIP. */
static void
podwatch_ips(const json_t *status, struct podwatch_pod *out)
{
    const json_t *list = json_object_get(status, "podIPs");
    size_t i;
    json_t *item;

    json_array_foreach(list, i, item) {
        podwatch_add_ip(out, json_string_value(json_object_get(item,
                                                               "ip")));
    }
    if (out->nips == 0) {
        podwatch_add_ip(out, json_string_value(json_object_get(status,
                                                               "podIP")));
    }
}

int
podwatch_parse(const json_t *obj, struct podwatch_pod *out)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *status = json_object_get(obj, "status");
    const char *phase = json_string_value(json_object_get(status, "phase"));

    memset(out, 0, sizeof(*out));
    if (podwatch_str(meta, "namespace", out->pod.namespace_,
                     sizeof(out->pod.namespace_)) != 0 ||
        podwatch_str(meta, "name", out->pod.name,
                     sizeof(out->pod.name)) != 0 ||
        podwatch_str(meta, "uid", out->pod.uid,
                     sizeof(out->pod.uid)) != 0) {
        return -EBADMSG;
    }
    podwatch_ips(status, out);
    out->indexed = out->nips > 0 &&
                   !json_is_true(json_object_get(spec, "hostNetwork")) &&
                   (phase == NULL || (strcmp(phase, "Succeeded") != 0 &&
                                      strcmp(phase, "Failed") != 0));
    return 0;
}

/* One pod added or changed (or, gone, removed). */
static void
podwatch_apply(struct podwatch *w, const json_t *obj, int gone)
{
    struct podwatch_pod p;

    if (podwatch_parse(obj, &p) != 0) {
        metrics_malformed("k8s_pod");
        return;
    }
    if (gone || !p.indexed) {
        podattr_index_remove(w->pa, p.pod.uid);
        return;
    }
    podattr_index_set(w->pa, &p.pod, p.ips, p.nips);
}

static void
podwatch_relist(struct podwatch *w, json_t *items)
{
    size_t i;
    json_t *item;

    podattr_index_clear(w->pa);
    json_array_foreach(items, i, item) {
        podwatch_apply(w, item, 0);
    }
    log_info("pod index loaded", "pods=%zu", json_array_size(items));
}

static void
podwatch_on_event(enum kclient_event type, json_t *obj, const char *rv,
                  void *arg)
{
    struct podwatch *w = arg;

    (void)rv;
    switch (type) {
    case KCLIENT_ADDED:
    case KCLIENT_MODIFIED:
        podwatch_apply(w, obj, 0);
        break;
    case KCLIENT_DELETED:
        podwatch_apply(w, obj, 1);
        break;
    case KCLIENT_RELISTED:
        podwatch_relist(w, obj);
        break;
    default:
        break;
    }
}

static int
podwatch_node_ok(const char *node)
{
    size_t n = node != NULL ? strlen(node) : 0;

    return n > 0 && n < 254 &&
           strspn(node, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

int
podwatch_start(struct kclient *kc, const char *node, struct podattr *pa,
               struct podwatch **out)
{
    char query[320];
    struct kclient_watch_opts wo = {
        .path = "/api/v1/pods", .query = query, .fn = podwatch_on_event,
    };
    struct podwatch *w;

    if (!podwatch_node_ok(node)) {
        log_error("pod index needs a node name", "node=\"%s\"",
                  node != NULL ? node : "");
        return -EINVAL;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return -ENOMEM;
    }
    w->pa = pa;
    wo.arg = w;
    snprintf(query, sizeof(query), "fieldSelector=spec.nodeName%%3D%s",
             node);
    if (kclient_watch_start(kc, &wo, &w->watch) != 0) {
        free(w);
        return -ENOMEM;
    }
    *out = w;
    return 0;
}

void
podwatch_stop(struct podwatch *w)
{
    if (w != NULL) {
        kclient_watch_stop(w->watch);
        free(w);
    }
}

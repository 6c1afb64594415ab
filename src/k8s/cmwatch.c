/*
 * cmwatch.c - watch the blocklist ConfigMaps and feed their text.
 */
#include "k8s/cmwatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "detectors/blocklist.h"

/* Why a ConfigMap's last text is what stays (cmwatch_map.trouble). */
#define CMWATCH_OK 0
#define CMWATCH_MISSING 1     /* else a negative errno: unreadable */

/* One watched ConfigMap. */
struct cmwatch_map {
    struct cmwatch *owner;
    struct config_listref ref;
    struct kclient_watch *watch;
    char label[CONFIG_NAME_MAX + 80]; /* "configmap:<ns>/<name>" */
    /* Guarded by owner->mu. */
    char *text;                  /* last text fed, or NULL */
    size_t len;
    int dead;                    /* dropped by the config: feed nothing */
    int trouble;                 /* CMWATCH_OK, _MISSING or -errno */
};

struct cmwatch {
    struct kclient *kc;
    struct pipeline *pipe;
    pthread_mutex_t mu;          /* guards the maps' mutable fields and
                                    serialises feeds */
    struct cmwatch_map *maps[CONFIG_LISTS_MAX]; /* follow() thread only */
    size_t n;
};

/* ---- text ---------------------------------------------------------- */

/* The ConfigMap's data values, each followed by a newline, in key
 * order; "" without data.  NULL when out of memory. */
static char *
cmwatch_text(json_t *cm, size_t *len)
{
    json_t *data = json_object_get(cm, "data"), *v;
    const char *key;
    size_t n = 0;
    char *text;

    json_object_foreach(data, key, v) {
        n += json_is_string(v) ? json_string_length(v) + 1 : 0;
    }
    text = malloc(n + 1);
    if (text == NULL) {
        return NULL;
    }
    n = 0;
    json_object_foreach(data, key, v) {
        if (json_is_string(v)) {
            memcpy(text + n, json_string_value(v), json_string_length(v));
            n += json_string_length(v);
            text[n++] = '\n';
        }
    }
    text[n] = '\0';
    *len = n;
    return text;
}

/* Feed m's text to the detector (caller holds owner->mu). */
static int
cmwatch_feed(struct cmwatch_map *m, const char *text, size_t len)
{
    const struct config_listref *r = &m->ref;
    char err[256];
    int rc;

    rc = pipeline_feed_blocklist(m->owner->pipe, BLOCKLIST_BLOCK,
                                 r->cluster_wide ? "" : r->namespace_,
                                 m->label, text, len, err, sizeof(err));
    if (rc == 0) {
        log_info("blocklist ConfigMap fed", "configmap=%s bytes=%zu",
                 m->label + 10, len);
    } else {
        log_warn("blocklist ConfigMap rejected", "configmap=%s "
                 "error=\"%s\" note=\"%s\"", m->label + 10, err,
                 "the last list fed stays");
    }
    return rc;
}

/* ---- watch callbacks ---------------------------------------------- */

/* A version of the ConfigMap arrived: feed it when its text changed. */
static void
cmwatch_take(struct cmwatch_map *m, json_t *cm)
{
    size_t len = 0;
    char *text = cmwatch_text(cm, &len);
    int same;

    if (text == NULL) {
        return;
    }
    pthread_mutex_lock(&m->owner->mu);
    m->trouble = CMWATCH_OK;
    same = m->text != NULL && m->len == len &&
           memcmp(m->text, text, len) == 0;
    if (!m->dead && !same && cmwatch_feed(m, text, len) == 0) {
        free(m->text);
        m->text = text;
        m->len = len;
        text = NULL;
    }
    pthread_mutex_unlock(&m->owner->mu);
    free(text);
}

/* Deleted, missing or unreadable: say once that the last text stays. */
static void
cmwatch_trouble(struct cmwatch_map *m, int why, long status)
{
    int changed;

    pthread_mutex_lock(&m->owner->mu);
    changed = !m->dead && m->trouble != why;
    m->trouble = why;
    pthread_mutex_unlock(&m->owner->mu);
    if (!changed) {
        return;
    }
    if (why == CMWATCH_MISSING) {
        log_warn("blocklist ConfigMap missing", "configmap=%s note=\"%s\"",
                 m->label + 10, "the last list fed stays in force");
    } else {
        log_warn("blocklist ConfigMap unreadable", "configmap=%s rc=%d "
                 "status=%ld note=\"%s\"", m->label + 10, why, status,
                 "the last list fed stays in force; retrying");
    }
}

static void
cmwatch_on_event(enum kclient_event type, json_t *obj, const char *rv,
                 void *arg)
{
    struct cmwatch_map *m = arg;

    (void)rv;
    if (type == KCLIENT_ADDED || type == KCLIENT_MODIFIED) {
        cmwatch_take(m, obj);
    } else if (type == KCLIENT_DELETED) {
        cmwatch_trouble(m, CMWATCH_MISSING, 0);
    } else if (type == KCLIENT_RELISTED) {
        if (json_array_size(obj) > 0) {
            cmwatch_take(m, json_array_get(obj, 0));
        } else {
            cmwatch_trouble(m, CMWATCH_MISSING, 0);
        }
    }
}

static void
cmwatch_on_fail(int rc, long status, void *arg)
{
    cmwatch_trouble(arg, rc, status);
}

/* ---- the set ------------------------------------------------------- */

static void
cmwatch_map_free(struct cmwatch_map *m)
{
    kclient_watch_stop(m->watch);
    free(m->text);
    free(m);
}

/* A map for r with its watch running, or NULL (logged). */
static struct cmwatch_map *
cmwatch_map_start(struct cmwatch *w, const struct config_listref *r)
{
    char coll[KCLIENT_MAX_URL], obj[KCLIENT_MAX_URL];
    char query[CONFIG_NAME_MAX + 32];
    struct kclient_watch_opts wo = {
        .path = coll, .query = query, .fn = cmwatch_on_event,
        .fail_fn = cmwatch_on_fail,
    };
    struct cmwatch_map *m = calloc(1, sizeof(*m));

    if (m == NULL ||
        kclient_path(coll, sizeof(coll), NULL, "v1", r->namespace_,
                     "configmaps", NULL, NULL) != 0 ||
        kclient_path(obj, sizeof(obj), NULL, "v1", r->namespace_,
                     "configmaps", r->name, NULL) != 0) {
        log_warn("blocklist ConfigMap not watched", "configmap=%s/%s "
                 "error=\"%s\"", r->namespace_, r->name,
                 m == NULL ? "out of memory" : "bad name");
        free(m);
        return NULL;
    }
    m->owner = w;
    m->ref = *r;
    snprintf(m->label, sizeof(m->label), "configmap:%s/%s", r->namespace_,
             r->name);
    snprintf(query, sizeof(query), "fieldSelector=metadata.name%%3D%s",
             r->name);
    wo.arg = m;
    if (kclient_watch_start(w->kc, &wo, &m->watch) != 0) {
        log_warn("blocklist ConfigMap not watched", "configmap=%s "
                 "error=\"cannot start the watch\"", m->label + 10);
        free(m);
        return NULL;
    }
    log_info("blocklist ConfigMap watched", "configmap=%s", m->label + 10);
    return m;
}

static int
cmwatch_same(const struct config_listref *a, const struct config_listref *b)
{
    return strcmp(a->namespace_, b->namespace_) == 0 &&
           strcmp(a->name, b->name) == 0 &&
           a->cluster_wide == b->cluster_wide;
}

/* Index of r among refs (n of them), or -1. */
static int
cmwatch_find(const struct config_listref *refs, size_t n,
             const struct config_listref *r)
{
    for (size_t i = 0; i < n; i++) {
        if (cmwatch_same(&refs[i], r)) {
            return (int)i;
        }
    }
    return -1;
}

/* Keep the maps refs still names (feeding their text again), move the
 * others to gone (*ngone of them), marked dead. */
static void
cmwatch_sort_out(struct cmwatch *w, const struct config_listref *refs,
                 size_t nrefs, struct cmwatch_map **gone, size_t *ngone)
{
    size_t kept = 0;

    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->n; i++) {
        struct cmwatch_map *m = w->maps[i];

        if (cmwatch_find(refs, nrefs, &m->ref) < 0) {
            m->dead = 1;
            gone[(*ngone)++] = m;
            continue;
        }
        if (m->text != NULL) {
            cmwatch_feed(m, m->text, m->len);
        }
        w->maps[kept++] = m;
    }
    w->n = kept;
    pthread_mutex_unlock(&w->mu);
}

void
cmwatch_follow(struct cmwatch *w, const struct config *cfg)
{
    const struct config_blocklist *b = &cfg->blocklist;
    size_t nrefs = b->enabled ? b->nmaps : 0, ngone = 0;
    struct cmwatch_map *gone[CONFIG_LISTS_MAX], *m;

    cmwatch_sort_out(w, b->maps, nrefs, gone, &ngone);
    for (size_t i = 0; i < ngone; i++) {
        log_info("blocklist ConfigMap no longer watched", "configmap=%s",
                 gone[i]->label + 10);
        cmwatch_map_free(gone[i]);
    }

    for (size_t i = 0; i < nrefs && w->n < CONFIG_LISTS_MAX; i++) {
        int known = 0;

        for (size_t j = 0; j < w->n && !known; j++) {
            known = cmwatch_same(&w->maps[j]->ref, &b->maps[i]);
        }
        if (!known && (m = cmwatch_map_start(w, &b->maps[i])) != NULL) {
            pthread_mutex_lock(&w->mu);
            w->maps[w->n++] = m;
            pthread_mutex_unlock(&w->mu);
        }
    }
}

int
cmwatch_new(struct kclient *kc, struct pipeline *pipe, struct cmwatch **out)
{
    struct cmwatch *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        return -ENOMEM;
    }
    w->kc = kc;
    w->pipe = pipe;
    pthread_mutex_init(&w->mu, NULL);
    *out = w;
    return 0;
}

void
cmwatch_free(struct cmwatch *w)
{
    if (w == NULL) {
        return;
    }
    for (size_t i = 0; i < w->n; i++) {
        cmwatch_map_free(w->maps[i]);
    }
    pthread_mutex_destroy(&w->mu);
    free(w);
}

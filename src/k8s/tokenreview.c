/*
 * tokenreview.c - bearer tokens checked with the API server.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "k8s/tokenreview.h"

#define TOKENREVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define TOKENREVIEW_USER_MAX 256

/* One cached verdict. */
struct tokenreview_slot {
    char *token;                     /* owned; NULL: empty */
    enum tokenreview_verdict verdict;
    time_t until;                    /* CLOCK_MONOTONIC seconds */
};

struct tokenreview {
    struct kclient *kc;
    pthread_mutex_t mu;              /* guards everything below */
    char self[TOKENREVIEW_USER_MAX]; /* our user name; "" until known */
    unsigned next;                   /* slot replaced next */
    int logged;                      /* a failed review was logged */
    struct tokenreview_slot slots[TOKENREVIEW_SLOTS];
};

static const char *const tokenreview_names[] = {
    "ok", "unauthenticated", "forbidden", "unavailable",
};

const char *
tokenreview_name(enum tokenreview_verdict v)
{
    return tokenreview_names[v];
}

struct tokenreview *
tokenreview_new(struct kclient *kc)
{
    struct tokenreview *t = calloc(1, sizeof(*t));

    if (t != NULL) {
        t->kc = kc;
        pthread_mutex_init(&t->mu, NULL);
    }
    return t;
}

void
tokenreview_free(struct tokenreview *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < TOKENREVIEW_SLOTS; i++) {
        free(t->slots[i].token);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static time_t
tokenreview_now(void)
{
    return (time_t)(clock_ns(CLOCK_MONOTONIC) / 1000000000ull);
}

/*
 * Ask the API server whose token this is: 0 with the user name in user
 * (authenticated), -EACCES when it is not authenticated, or -EIO when
 * the review itself failed (logged once until one succeeds).
 */
static int
tokenreview_ask(struct tokenreview *t, const char *token, char *user,
                size_t len)
{
    struct kclient_result res = {0};
    json_t *req, *out = NULL;
    const char *name;
    int rc;

    req = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion",
                    "authentication.k8s.io/v1", "kind", "TokenReview",
                    "spec", "token", token);
    rc = req != NULL ? kclient_create(t->kc, TOKENREVIEW_PATH, req, &out,
                                      &res)
                     : -1;
    json_decref(req);
    if (rc != 0 || !json_is_object(out)) {
        if (!t->logged) {
            log_error("cannot review tokens of forwarding pods",
                      "status=%ld reason=\"%s\" hint=\"%s\"", res.status,
                      res.reason, "tokenreviews create must be granted");
            t->logged = 1;
        }
        json_decref(out);
        return -EIO;
    }
    t->logged = 0;
    rc = -EACCES;
    if (json_is_true(json_object_get(json_object_get(out, "status"),
                                     "authenticated"))) {
        name = json_string_value(json_object_get(json_object_get(
            json_object_get(out, "status"), "user"), "username"));
        snprintf(user, len, "%s", name != NULL ? name : "");
        rc = 0;
    }
    json_decref(out);
    return rc;
}

/* Our own user name, learnt once; 0, or -EIO. */
static int
tokenreview_self(struct tokenreview *t)
{
    char *own;
    int rc;

    if (t->self[0] != '\0') {
        return 0;
    }
    own = kclient_bearer(t->kc);
    if (own == NULL) {
        if (!t->logged) {
            log_error("no token of our own to compare forwarding pods "
                      "with", "hint=\"%s\"", "run with a ServiceAccount "
                      "token, or --forward-insecure");
            t->logged = 1;
        }
        return -EIO;
    }
    rc = tokenreview_ask(t, own, t->self, sizeof(t->self));
    free(own);
    if (rc == 0 && t->self[0] != '\0') {
        log_info("forwarding pods must run as", "user=%s", t->self);
    }
    return rc == 0 && t->self[0] != '\0' ? 0 : -EIO;
}

/* The cached verdict of token, or -1. */
static int
tokenreview_cached(struct tokenreview *t, const char *token, time_t now)
{
    for (size_t i = 0; i < TOKENREVIEW_SLOTS; i++) {
        struct tokenreview_slot *s = &t->slots[i];

        if (s->token != NULL && now < s->until &&
            strcmp(s->token, token) == 0) {
            return (int)s->verdict;
        }
    }
    return -1;
}

static void
tokenreview_remember(struct tokenreview *t, const char *token,
                     enum tokenreview_verdict v, time_t now)
{
    struct tokenreview_slot *s = &t->slots[t->next];
    char *copy = strdup(token);

    if (copy == NULL) {
        return;
    }
    t->next = (t->next + 1) % TOKENREVIEW_SLOTS;
    free(s->token);
    s->token = copy;
    s->verdict = v;
    s->until = now + (v == TOKENREVIEW_OK ? TOKENREVIEW_OK_TTL_S
                                          : TOKENREVIEW_NO_TTL_S);
}

/* A fresh verdict, with t->mu held. */
static enum tokenreview_verdict
tokenreview_review(struct tokenreview *t, const char *token)
{
    char user[TOKENREVIEW_USER_MAX];
    int rc;

    if (tokenreview_self(t) != 0) {
        return TOKENREVIEW_UNAVAILABLE;
    }
    rc = tokenreview_ask(t, token, user, sizeof(user));
    if (rc == -EIO) {
        return TOKENREVIEW_UNAVAILABLE;
    }
    if (rc != 0) {
        return TOKENREVIEW_UNAUTHENTICATED;
    }
    return strcmp(user, t->self) == 0 ? TOKENREVIEW_OK
                                      : TOKENREVIEW_FORBIDDEN;
}

enum tokenreview_verdict
tokenreview_check(struct tokenreview *t, const char *token)
{
    time_t now = tokenreview_now();
    enum tokenreview_verdict v;
    int cached;

    if (token == NULL || token[0] == '\0') {
        return TOKENREVIEW_UNAUTHENTICATED;
    }
    pthread_mutex_lock(&t->mu);
    cached = tokenreview_cached(t, token, now);
    if (cached >= 0) {
        v = (enum tokenreview_verdict)cached;
    } else {
        v = tokenreview_review(t, token);
        if (v != TOKENREVIEW_UNAVAILABLE) {
            tokenreview_remember(t, token, v, now);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return v;
}

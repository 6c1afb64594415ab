/*
 * dispatch.c - the single dispatcher and the forward listener.
 */
#include "k8s/dispatch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/httpd.h"
#include "k8s/tokenreview.h"

#define DISPATCH_PATH "/apis/security.ugallu.io/v1alpha1/securityevents"
#define DISPATCH_FORWARD_PATH "/v1/findings"
#define DISPATCH_BACKOFF_BASE_MS 200u
#define DISPATCH_BACKOFF_CAP_MS 5000u
#define DISPATCH_IDLE_MS 500u
#define DISPATCH_FORWARD_TIMEOUT_S 10L

/* Outcomes of one object, as metric labels. */
enum dispatch_outcome {
    DISPATCH_CREATED, DISPATCH_EXISTS, DISPATCH_RETRY, DISPATCH_DENIED,
    DISPATCH_INVALID, DISPATCH_ERROR, DISPATCH_OUTCOMES,
};

static const char *const dispatch_outcome_names[DISPATCH_OUTCOMES] = {
    "created", "exists", "retry", "denied", "invalid", "error",
};

struct dispatch {
    struct kclient *kc;
    struct lease *lease;
    struct MHD_Daemon *mhd;

    pthread_mutex_t mu;        /* guards the ring and stop */
    pthread_cond_t cond;
    json_t **ring;             /* owned references */
    size_t cap, head, count;
    int stop;
    uint64_t drain_until_ms;   /* when stopping: give up after this */

    pthread_t thread;
    CURL *curl;                /* forward requests; dispatcher thread */
    unsigned attempt;          /* consecutive failures */
    unsigned logged;           /* outcomes already logged (bit mask) */
    int fwd_refused_logged;    /* a 401/403 of the leader was logged */
    struct metrics_series *writes[DISPATCH_OUTCOMES];
    struct metrics_series *fwd_ok, *fwd_err, *received, *depth;
    struct tokenreview *review;  /* NULL: forward_insecure */
    struct metrics_series *refused[TOKENREVIEW_UNAVAILABLE + 1];
};

/* One forward request body being received. */
struct dispatch_body {
    char *data;
    size_t len;
    int too_big;
    enum tokenreview_verdict auth;  /* the sender's token */
};

static uint64_t
dispatch_now_ms(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

/* ---- the queue ----------------------------------------------------- */

int
dispatch_enqueue(struct dispatch *d, json_t *obj)
{
    pthread_mutex_lock(&d->mu);
    if (d->count == d->cap) {
        pthread_mutex_unlock(&d->mu);
        metrics_dropped("dispatch_full");
        return -ENOSPC;
    }
    d->ring[(d->head + d->count) % d->cap] = json_incref(obj);
    d->count++;
    metrics_set(d->depth, (int64_t)d->count);
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

void
dispatch_sink(void *ctx, const json_t *obj, const struct finding *f)
{
    json_t *copy = json_deep_copy(obj);

    (void)f;
    if (copy == NULL) {
        metrics_dropped("dispatch_nomem");
        return;
    }
    dispatch_enqueue(ctx, copy);
    json_decref(copy);
}

size_t
dispatch_depth(struct dispatch *d)
{
    size_t n;

    pthread_mutex_lock(&d->mu);
    n = d->count;
    pthread_mutex_unlock(&d->mu);
    return n;
}

/* Room for n more objects right now (the listener's all-or-nothing). */
static int
dispatch_room(struct dispatch *d, size_t n)
{
    int ok;

    pthread_mutex_lock(&d->mu);
    ok = d->cap - d->count >= n;
    pthread_mutex_unlock(&d->mu);
    return ok;
}

/* The first (up to) max objects, borrowed: only this thread pops. */
static size_t
dispatch_peek(struct dispatch *d, json_t **out, size_t max)
{
    size_t n;

    pthread_mutex_lock(&d->mu);
    n = d->count < max ? d->count : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = d->ring[(d->head + i) % d->cap];
    }
    pthread_mutex_unlock(&d->mu);
    return n;
}

static void
dispatch_pop(struct dispatch *d, size_t n)
{
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n && d->count > 0; i++) {
        json_decref(d->ring[d->head]);
        d->ring[d->head] = NULL;
        d->head = (d->head + 1) % d->cap;
        d->count--;
    }
    metrics_set(d->depth, (int64_t)d->count);
    pthread_mutex_unlock(&d->mu);
}

/* ---- to the API server (leader) ------------------------------------ */

static enum dispatch_outcome
dispatch_outcome_of(int rc)
{
    switch (rc) {
    case 0: return DISPATCH_CREATED;
    case -EEXIST: return DISPATCH_EXISTS;
    case -EAGAIN: case -EIO: return DISPATCH_RETRY;
    case -EACCES: return DISPATCH_DENIED;
    case -EINVAL: return DISPATCH_INVALID;
    default: return DISPATCH_ERROR;
    }
}

static void
dispatch_log_once(struct dispatch *d, enum dispatch_outcome o,
                  const struct kclient_result *res)
{
    if (d->logged & (1u << o)) {
        return;
    }
    d->logged |= 1u << o;
    log_warn("SecurityEvent write failed", "outcome=%s status=%ld "
             "message=\"%s\" note=\"%s\"", dispatch_outcome_names[o],
             res->status, res->message, "logged once per outcome");
}

/* Create objects in order; returns how many are done with (delivered
 * or refused for good).  Stops at the first retryable failure. */
static size_t
dispatch_to_api(struct dispatch *d, json_t **objs, size_t n, int *retry)
{
    struct kclient_result res;
    enum dispatch_outcome o;
    size_t i;

    *retry = 0;
    for (i = 0; i < n; i++) {
        memset(&res, 0, sizeof(res));
        o = dispatch_outcome_of(kclient_create(d->kc, DISPATCH_PATH, objs[i],
                                               NULL, &res));
        metrics_inc(d->writes[o]);
        if (o == DISPATCH_RETRY) {
            dispatch_log_once(d, o, &res);
            *retry = 1;
            break;
        }
        if (o != DISPATCH_CREATED && o != DISPATCH_EXISTS) {
            dispatch_log_once(d, o, &res);
        }
    }
    return i;
}

/* ---- to the leader (everyone else) --------------------------------- */

static size_t
dispatch_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

/* POST the batch to addr; 0 once the leader answered 200. */
static int
dispatch_post(struct dispatch *d, const char *addr, const char *body)
{
    char url[KCLIENT_MAX_URL];
    struct curl_slist *hdr;
    long status = 0;
    CURLcode cc;

    snprintf(url, sizeof(url), "http://%s%s", addr, DISPATCH_FORWARD_PATH);
    curl_easy_reset(d->curl);
    hdr = kclient_add_auth(d->kc, NULL);
    curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(d->curl, CURLOPT_URL, url);
    curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(d->curl, CURLOPT_TIMEOUT, DISPATCH_FORWARD_TIMEOUT_S);
    curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, dispatch_discard);
    cc = curl_easy_perform(d->curl);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdr);
    if ((status == 401 || status == 403) && !d->fwd_refused_logged) {
        log_warn("the leader refuses our token", "status=%ld hint=\"%s\"",
                 status, "every pod must run as the same ServiceAccount");
        d->fwd_refused_logged = 1;
    }
    return status == 200 ? 0 : -EAGAIN;
}

/* Forward a batch to the leader the Lease names; 0 when delivered. */
static int
dispatch_forward(struct dispatch *d, json_t **objs, size_t n)
{
    char holder[LEASE_IDENTITY_MAX];
    const char *addr;
    json_t *arr;
    char *body;
    int rc;

    lease_holder(d->lease, holder, sizeof(holder));
    addr = lease_identity_addr(holder);
    if (addr[0] == '\0' || strcmp(holder, lease_self(d->lease)) == 0) {
        return -EAGAIN;   /* no leader known, or our own stale record */
    }
    arr = json_array();
    if (arr == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_array_append(arr, objs[i]);
    }
    body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    rc = body != NULL ? dispatch_post(d, addr, body) : -ENOMEM;
    free(body);
    metrics_inc(rc == 0 ? d->fwd_ok : d->fwd_err);
    return rc;
}

/* ---- the thread ---------------------------------------------------- */

/* Wait up to ms (for work, unless backing off); returns 1 when the
 * thread should end. */
static int
dispatch_wait(struct dispatch *d, unsigned ms, int backoff)
{
    struct timespec ts = clock_deadline(CLOCK_REALTIME, ms * 1000000ull);
    int end;

    pthread_mutex_lock(&d->mu);
    if ((backoff || d->count == 0) && !d->stop) {
        pthread_cond_timedwait(&d->cond, &d->mu, &ts);
    }
    end = d->stop && (d->count == 0 ||
                      dispatch_now_ms() >= d->drain_until_ms);
    pthread_mutex_unlock(&d->mu);
    return end;
}

/* One batch; returns 0, or the backoff before the next attempt in ms. */
static unsigned
dispatch_round(struct dispatch *d)
{
    json_t *batch[DISPATCH_BATCH];
    size_t n, done = 0;
    int retry = 0;
    /* Asked even when idle: this also steps down a leader whose renewal
     * hangs past the deadline, so ugallu_dns_leader says so (lease.h). */
    int leader = lease_is_leader(d->lease);

    n = dispatch_peek(d, batch, DISPATCH_BATCH);
    if (n == 0) {
        return 0;
    }
    if (leader) {
        done = dispatch_to_api(d, batch, n, &retry);
    } else if (dispatch_forward(d, batch, n) == 0) {
        done = n;
    } else {
        retry = 1;
    }
    dispatch_pop(d, done);
    if (!retry) {
        d->attempt = 0;
        return 0;
    }
    if (d->attempt < 16) {
        d->attempt++;
    }
    return kclient_backoff_ms(d->attempt - 1, DISPATCH_BACKOFF_BASE_MS,
                              DISPATCH_BACKOFF_CAP_MS, (uint32_t)rand());
}

static void *
dispatch_thread(void *arg)
{
    struct dispatch *d = arg;
    unsigned delay = DISPATCH_IDLE_MS;
    int backoff = 0;

    while (!dispatch_wait(d, delay, backoff)) {
        delay = dispatch_round(d);
        backoff = delay != 0;
        delay = delay == 0 ? DISPATCH_IDLE_MS : delay;
    }
    return NULL;
}

/* ---- the forward listener ----------------------------------------- */

static enum MHD_Result
dispatch_reply(struct MHD_Connection *conn, unsigned status,
               const char *text)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        return MHD_NO;
    }
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The verdict on the request's bearer token (OK without a checker). */
static enum tokenreview_verdict
dispatch_sender(struct dispatch *d, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                "Authorization");

    if (d->review == NULL) {
        return TOKENREVIEW_OK;
    }
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0) {
        return TOKENREVIEW_UNAUTHENTICATED;
    }
    return tokenreview_check(d->review, h + 7);
}

/* Answer a sender whose token was not accepted. */
static enum MHD_Result
dispatch_refuse(struct dispatch *d, struct MHD_Connection *conn,
                enum tokenreview_verdict v)
{
    metrics_inc(d->refused[v]);
    if (v == TOKENREVIEW_UNAUTHENTICATED) {
        return dispatch_reply(conn, 401, "a valid bearer token needed\n");
    }
    if (v == TOKENREVIEW_FORBIDDEN) {
        return dispatch_reply(conn, 403, "not the daemon's account\n");
    }
    return dispatch_reply(conn, 503, "cannot check the token now\n");
}

/* Queue a received batch whole, or answer why not. */
static enum MHD_Result
dispatch_accept(struct dispatch *d, struct MHD_Connection *conn,
                const struct dispatch_body *b)
{
    json_t *arr, *obj;
    size_t i;

    if (b->auth != TOKENREVIEW_OK) {
        return dispatch_refuse(d, conn, b->auth);
    }
    if (b->too_big) {
        return dispatch_reply(conn, 413, "too large\n");
    }
    arr = json_loadb(b->data ? b->data : "", b->len, 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        metrics_malformed("forward_batch");
        return dispatch_reply(conn, 400, "want a JSON array\n");
    }
    if (!dispatch_room(d, json_array_size(arr))) {
        json_decref(arr);
        return dispatch_reply(conn, 503, "queue full\n");
    }
    json_array_foreach(arr, i, obj) {
        if (json_is_object(obj) && dispatch_enqueue(d, obj) == 0) {
            metrics_inc(d->received);
        }
    }
    json_decref(arr);
    return dispatch_reply(conn, 200, "ok\n");
}

static void
dispatch_append(struct dispatch_body *b, const char *data, size_t len)
{
    char *grown;

    if (b->too_big || b->len + len > DISPATCH_MAX_BODY) {
        b->too_big = 1;
        return;
    }
    grown = realloc(b->data, b->len + len + 1);
    if (grown == NULL) {
        b->too_big = 1;
        return;
    }
    memcpy(grown + b->len, data, len);
    b->data = grown;
    b->len += len;
    b->data[b->len] = '\0';
}

static enum MHD_Result
dispatch_handle(void *cls, struct MHD_Connection *conn, const char *url,
                const char *method, const char *version,
                const char *upload, size_t *upload_len, void **state)
{
    struct dispatch_body *b = *state;

    (void)version;
    if (strcmp(method, "POST") != 0 ||
        strcmp(url, DISPATCH_FORWARD_PATH) != 0) {
        return dispatch_reply(conn, 404, "not found\n");
    }
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *state = b;
        if (b == NULL) {
            return MHD_NO;
        }
        b->auth = dispatch_sender(cls, conn);
        return MHD_YES;
    }
    if (*upload_len > 0) {
        if (b->auth == TOKENREVIEW_OK) {
            dispatch_append(b, upload, *upload_len);
        }
        *upload_len = 0;
        return MHD_YES;
    }
    return dispatch_accept(cls, conn, b);
}

static void
dispatch_completed(void *cls, struct MHD_Connection *conn, void **state,
                   enum MHD_RequestTerminationCode code)
{
    struct dispatch_body *b = *state;

    (void)cls;
    (void)conn;
    (void)code;
    if (b != NULL) {
        free(b->data);
        free(b);
        *state = NULL;
    }
}

static int
dispatch_listen(struct dispatch *d, const char *addr, char *err,
                size_t errlen)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD, port;
    struct sockaddr_storage ss;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    char host[128];

    if (addr == NULL || addr[0] == '\0' || strcmp(addr, "0") == 0) {
        return 0;
    }
    memset(&ss, 0, sizeof(ss));
    if (httpd_split_addr(addr, host, sizeof(host), &port) != 0 ||
        (host[0] != '\0' && inet_pton(AF_INET, host, &v4->sin_addr) != 1)) {
        snprintf(err, errlen, "bad forward address '%s' (IPv4 or :PORT)",
                 addr);
        return -EINVAL;
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    d->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
                              dispatch_handle, d, MHD_OPTION_SOCK_ADDR, &ss,
                              MHD_OPTION_NOTIFY_COMPLETED,
                              dispatch_completed, d,
                              MHD_OPTION_CONNECTION_LIMIT, 256u,
                              MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                              MHD_OPTION_END);
    if (d->mhd == NULL) {
        snprintf(err, errlen, "cannot listen on '%s'", addr);
        return -EADDRINUSE;
    }
    return 0;
}

/* ---- life cycle ---------------------------------------------------- */

static void
dispatch_metrics(struct dispatch *d)
{
    char labels[96];

    for (int i = 0; i < DISPATCH_OUTCOMES; i++) {
        snprintf(labels, sizeof(labels), "sink=\"apiserver\",outcome=\"%s\"",
                 dispatch_outcome_names[i]);
        d->writes[i] = metrics_counter(
            "ugallu_dns_securityevent_writes_total", labels,
            "SecurityEvent writes, by sink and outcome.");
    }
    d->fwd_ok = metrics_counter("ugallu_dns_findings_forwarded_total",
                                "outcome=\"ok\"",
                                "Batches forwarded to the leader.");
    d->fwd_err = metrics_counter("ugallu_dns_findings_forwarded_total",
                                 "outcome=\"error\"",
                                 "Batches forwarded to the leader.");
    d->received = metrics_counter("ugallu_dns_findings_received_total", "",
                                  "SecurityEvents received from other pods.");
    d->depth = metrics_gauge("ugallu_dns_dispatch_queue_depth", "",
                             "SecurityEvents waiting for delivery.");
    for (int v = TOKENREVIEW_UNAUTHENTICATED; v <= TOKENREVIEW_UNAVAILABLE;
         v++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"",
                 tokenreview_name(v));
        d->refused[v] = metrics_counter(
            "ugallu_dns_forward_refused_total", labels,
            "Forwarded batches refused, by why the sender's token was.");
    }
}

static void
dispatch_free(struct dispatch *d)
{
    if (d->curl != NULL) {
        curl_easy_cleanup(d->curl);
    }
    tokenreview_free(d->review);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cond);
    free(d->ring);
    free(d);
}

int
dispatch_start(const struct dispatch_options *o, struct dispatch **out,
               char *err, size_t errlen)
{
    struct dispatch *d = calloc(1, sizeof(*d));
    int rc;

    if (d == NULL) {
        return -ENOMEM;
    }
    d->kc = o->kc;
    d->lease = o->lease;
    d->cap = o->capacity ? o->capacity : 4096u;
    d->ring = calloc(d->cap, sizeof(*d->ring));
    d->curl = curl_easy_init();
    if (!o->forward_insecure) {
        d->review = tokenreview_new(o->kc);
    }
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cond, NULL);
    dispatch_metrics(d);
    if (d->ring == NULL || d->curl == NULL ||
        (!o->forward_insecure && d->review == NULL)) {
        dispatch_free(d);
        return -ENOMEM;
    }
    rc = dispatch_listen(d, o->forward_addr, err, errlen);
    if (rc == 0 && pthread_create(&d->thread, NULL, dispatch_thread, d)) {
        rc = -ENOMEM;
    }
    if (rc != 0) {
        MHD_stop_daemon(d->mhd);
        dispatch_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void
dispatch_stop(struct dispatch *d, unsigned drain_ms)
{
    size_t left;

    if (d == NULL) {
        return;
    }
    if (d->mhd != NULL) {
        MHD_stop_daemon(d->mhd);
    }
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    d->drain_until_ms = dispatch_now_ms() + drain_ms;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    left = d->count;
    for (size_t i = 0; i < left; i++) {
        metrics_dropped("dispatch_shutdown");
    }
    dispatch_pop(d, left);
    if (left > 0) {
        log_warn("SecurityEvents undelivered at exit", "count=%zu", left);
    }
    dispatch_free(d);
}

/*
 * kclient.c - Kubernetes API requests and list-then-watch over libcurl.
 *
 * Each request makes its own easy handle; the handles share a connection
 * cache, TLS sessions and DNS through one CURLSH guarded by a mutex per
 * data kind, so calls from several threads reuse keep-alive connections.
 */
#include "k8s/kclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

/* Largest token file read. */
#define KCLIENT_MAX_TOKEN (64u * 1024)
/* Bytes of a watch error body kept (a Status object). */
#define KCLIENT_WATCH_ERRBODY 4096

struct kclient {
    struct kubeconfig kc;      /* moved in from the caller */
    CURLSH *share;             /* connection cache, TLS sessions, DNS */
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST]; /* one per kind */
    pthread_mutex_t token_mu;  /* guards the four fields below */
    char *token;               /* current bearer token, or NULL */
    struct stat token_st;      /* token file as last read */
    bool token_read;           /* token_st is valid */
};

/* One request's input and response body. */
struct kclient_req {
    const char *method;
    const char *path;
    const char *query;
    const char *ctype;  /* request body type, or NULL */
    const char *body;   /* request body, or NULL */
    char *buf;          /* response body, malloc'ed, NUL-terminated */
    size_t len;
    size_t cap;
    bool too_big;
};

static pthread_once_t kclient_once = PTHREAD_ONCE_INIT;

static void
kclient_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- paths and URLs ---------------------------------------------------- */

static bool
kclient_segment_ok(const char *s, bool allow_colon)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || strcmp(s, ".") == 0 ||
        strcmp(s, "..") == 0) {
        return false;
    }
    for (i = 0; s[i] != '\0'; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || (allow_colon && ch == ':'))) {
            return false;
        }
    }
    return true;
}

/* Append "/seg" to buf at *at; -ENAMETOOLONG when it does not fit. */
static int
kclient_append(char *buf, size_t len, size_t *at, const char *a,
               const char *b)
{
    int n = snprintf(buf + *at, len - *at, "%s%s", a, b);

    if (n < 0 || (size_t)n >= len - *at) {
        return -ENAMETOOLONG;
    }
    *at += (size_t)n;
    return 0;
}

int
kclient_path(char *buf, size_t len, const char *group, const char *version,
             const char *ns, const char *resource, const char *name,
             const char *sub)
{
    bool core = group == NULL || group[0] == '\0';
    size_t at = 0;
    int rc;

    if (len == 0 || (!core && !kclient_segment_ok(group, false)) ||
        !kclient_segment_ok(version, false) ||
        (ns != NULL && !kclient_segment_ok(ns, false)) ||
        !kclient_segment_ok(resource, false) ||
        (name != NULL && !kclient_segment_ok(name, true)) ||
        (sub != NULL && !kclient_segment_ok(sub, false))) {
        return -EINVAL;
    }
    buf[0] = '\0';

    rc = core ? kclient_append(buf, len, &at, "/api", "")
              : kclient_append(buf, len, &at, "/apis/", group);
    if (rc == 0) {
        rc = kclient_append(buf, len, &at, "/", version);
    }
    if (rc == 0 && ns != NULL) {
        rc = kclient_append(buf, len, &at, "/namespaces/", ns);
    }
    if (rc == 0) {
        rc = kclient_append(buf, len, &at, "/", resource);
    }
    if (rc == 0 && name != NULL) {
        rc = kclient_append(buf, len, &at, "/", name);
    }
    if (rc == 0 && sub != NULL) {
        rc = kclient_append(buf, len, &at, "/", sub);
    }
    return rc;
}

int
kclient_url(char *buf, size_t len, const char *server, const char *path,
            const char *query)
{
    bool q = query != NULL && query[0] != '\0';
    int n = snprintf(buf, len, "%s%s%s%s", server, path, q ? "?" : "",
                     q ? query : "");

    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Percent-encode s (query values) into buf. */
static int
kclient_escape(char *buf, size_t len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t at = 0;

    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL;

        if (at + 4 > len) {
            return -ENAMETOOLONG;
        }
        if (plain) {
            buf[at++] = (char)ch;
        } else {
            buf[at++] = '%';
            buf[at++] = hex[ch >> 4];
            buf[at++] = hex[ch & 15];
        }
    }
    if (at >= len) {
        return -ENAMETOOLONG;
    }
    buf[at] = '\0';
    return 0;
}

/* ---- status codes and backoff ------------------------------------------ */

int
kclient_status_rc(long status, const char *reason)
{
    if (status >= 200 && status < 300) {
        return 0;
    }
    switch (status) {
    case 0:
        return -EIO;
    case 400:
    case 422:
        return -EINVAL;
    case 401:
    case 403:
        return -EACCES;
    case 404:
        return -ENOENT;
    case 409:
        return reason != NULL && strcmp(reason, "AlreadyExists") == 0
                   ? -EEXIST : -EBUSY;
    case 410:
        return -ESTALE;
    case 429:
        return -EAGAIN;
    default:
        return status >= 500 && status < 600 ? -EAGAIN : -EPROTO;
    }
}

unsigned
kclient_backoff_ms(unsigned attempt, unsigned base_ms, unsigned cap_ms,
                   uint32_t rnd)
{
    uint64_t d = base_ms;
    unsigned i;

    for (i = 0; i < attempt && d < cap_ms; i++) {
        d *= 2;
    }
    if (d > cap_ms) {
        d = cap_ms;
    }
    return (unsigned)(d / 2 + rnd % (d / 2 + 1));
}

/* ---- client ------------------------------------------------------------ */

static void
kclient_share_lock(CURL *e, curl_lock_data data, curl_lock_access access,
                   void *arg)
{
    struct kclient *c = arg;

    (void)e;
    (void)access;
    pthread_mutex_lock(&c->share_mu[data]);
}

static void
kclient_share_unlock(CURL *e, curl_lock_data data, void *arg)
{
    struct kclient *c = arg;

    (void)e;
    pthread_mutex_unlock(&c->share_mu[data]);
}

static int
kclient_share_init(struct kclient *c)
{
    c->share = curl_share_init();
    if (c->share == NULL) {
        return -ENOMEM;
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, kclient_share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, kclient_share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return 0;
}

int
kclient_new(struct kubeconfig *kc, struct kclient **out)
{
    struct kclient *c;
    int i;

    if (kc == NULL || kc->server == NULL) {
        return -EINVAL;
    }
    pthread_once(&kclient_once, kclient_global_init);
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&c->share_mu[i], NULL);
    }
    pthread_mutex_init(&c->token_mu, NULL);

    if (kclient_share_init(c) < 0) {
        kclient_free(c);
        return -ENOMEM;
    }
    c->kc = *kc;
    memset(kc, 0, sizeof(*kc));
    *out = c;
    return 0;
}

void
kclient_free(struct kclient *c)
{
    int i;

    if (c == NULL) {
        return;
    }
    if (c->share != NULL) {
        curl_share_cleanup(c->share);
    }
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_destroy(&c->share_mu[i]);
    }
    pthread_mutex_destroy(&c->token_mu);
    free(c->token);
    kubeconfig_free(&c->kc);
    free(c);
}

const char *
kclient_namespace(const struct kclient *c)
{
    return c->kc.namespace;
}

/* ---- the token --------------------------------------------------------- */

static bool
kclient_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read the token file into c->token.  Called with token_mu held. */
static int
kclient_token_read(struct kclient *c, const struct stat *st)
{
    FILE *f = fopen(c->kc.token_file, "r");
    char *buf;
    size_t n;

    if (f == NULL) {
        return -errno;
    }
    buf = malloc(KCLIENT_MAX_TOKEN + 1);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    n = fread(buf, 1, KCLIENT_MAX_TOKEN, f);
    fclose(f);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL) {
        n--;
    }
    buf[n] = '\0';
    if (n == 0 || strpbrk(buf, "\r\n") != NULL) {
        free(buf);
        return -EINVAL;
    }

    free(c->token);
    c->token = buf;
    c->token_st = *st;
    c->token_read = true;
    return 0;
}

/*
 * A copy of the current token (NULL when there is none); re-read the
 * token file first when it changed (or always, when force is set).  A
 * file that cannot be read keeps the previous token.
 */
static char *
kclient_token_copy(struct kclient *c, bool force)
{
    const char *token = c->kc.token;
    struct stat st;
    char *copy;

    pthread_mutex_lock(&c->token_mu);
    if (c->kc.token_file != NULL && stat(c->kc.token_file, &st) == 0 &&
        (force || !c->token_read || !kclient_same_file(&st, &c->token_st))) {
        int rc = kclient_token_read(c, &st);

        if (rc < 0) {
            log_warn("kubernetes token file unreadable, keeping the "
                     "previous token", "file=%s err=%d",
                     c->kc.token_file, -rc);
        }
    }
    if (c->kc.token_file != NULL && c->token != NULL) {
        token = c->token;
    }
    copy = token != NULL ? strdup(token) : NULL;
    pthread_mutex_unlock(&c->token_mu);
    return copy;
}

/*
 * Add the Authorization header for the current token; re-read the token
 * file first when it changed (or always, when force is set).  A file
 * that cannot be read keeps the previous token.  A token rewritten in
 * place with the same size within one mtime tick is not noticed here;
 * the 401 it causes forces the re-read (kclient_perform()).
 */
static struct curl_slist *
kclient_auth_header(struct kclient *c, struct curl_slist *h, bool force)
{
    char *token = kclient_token_copy(c, force), *line;

    if (token != NULL && asprintf(&line, "Authorization: Bearer %s",
                                  token) >= 0) {
        struct curl_slist *nh = curl_slist_append(h, line);

        free(line);
        h = nh != NULL ? nh : h;
    }
    free(token);
    return h;
}

char *
kclient_bearer(struct kclient *c)
{
    return kclient_token_copy(c, false);
}

struct curl_slist *
kclient_add_auth(struct kclient *c, struct curl_slist *h)
{
    return kclient_auth_header(c, h, false);
}

/* ---- one easy handle --------------------------------------------------- */

static void
kclient_blob(CURL *e, CURLoption opt, const struct kubeconfig_blob *b)
{
    struct curl_blob blob = { b->data, b->len, CURL_BLOB_COPY };

    curl_easy_setopt(e, opt, &blob);
}

static void
kclient_easy_tls(struct kclient *c, CURL *e)
{
    const struct kubeconfig *kc = &c->kc;

    if (kc->ca.data != NULL || kc->ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    if (kc->ca.data != NULL) {
        kclient_blob(e, CURLOPT_CAINFO_BLOB, &kc->ca);
    } else if (kc->ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, kc->ca_file);
    }
    if (kc->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (kc->cert.data != NULL) {
        kclient_blob(e, CURLOPT_SSLCERT_BLOB, &kc->cert);
    } else if (kc->cert_file != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, kc->cert_file);
    }
    if (kc->key.data != NULL) {
        kclient_blob(e, CURLOPT_SSLKEY_BLOB, &kc->key);
    } else if (kc->key_file != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, kc->key_file);
    }
}

/* A handle for url with TLS, auth and the common options; *h receives
 * the header list the caller frees after the transfer. */
static CURL *
kclient_easy(struct kclient *c, const char *url, const char *ctype,
             bool force_token, struct curl_slist **h)
{
    CURL *e = curl_easy_init();
    char ct[96];

    if (e == NULL) {
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ugallu-dns-detect");
    kclient_easy_tls(c, e);

    *h = curl_slist_append(NULL, "Accept: application/json");
    if (ctype != NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        *h = curl_slist_append(*h, ct);
    }
    *h = kclient_auth_header(c, *h, force_token);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *h);
    return e;
}

/* ---- plain requests ---------------------------------------------------- */

static size_t
kclient_body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct kclient_req *rq = arg;
    size_t n = size * nmemb;

    if (rq->len + n > KCLIENT_MAX_RESPONSE) {
        rq->too_big = true;
        return 0;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 16384;
        char *nb;

        while (cap < rq->len + n + 1) {
            cap *= 2;
        }
        nb = realloc(rq->buf, cap);
        if (nb == NULL) {
            return 0;
        }
        rq->buf = nb;
        rq->cap = cap;
    }
    memcpy(rq->buf + rq->len, data, n);
    rq->len += n;
    rq->buf[rq->len] = '\0';
    return n;
}

/* Fill reason and message from a Status body. */
static void
kclient_status_body(const char *body, size_t len, struct kclient_result *res)
{
    json_t *doc = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    const char *msg = json_string_value(json_object_get(doc, "message"));

    if (reason != NULL) {
        snprintf(res->reason, sizeof(res->reason), "%s", reason);
    }
    if (msg != NULL) {
        snprintf(res->message, sizeof(res->message), "%s", msg);
    }
    json_decref(doc);
}

/* The outcome of a finished transfer, as a return code and res. */
static int
kclient_outcome(CURL *e, CURLcode cc, const struct kclient_req *rq,
                struct kclient_result *res)
{
    curl_off_t after = 0;

    memset(res, 0, sizeof(*res));
    if (rq->too_big) {
        snprintf(res->message, sizeof(res->message), "response over %u "
                 "bytes", KCLIENT_MAX_RESPONSE);
        return -EMSGSIZE;
    }
    if (cc != CURLE_OK) {
        snprintf(res->message, sizeof(res->message), "%s",
                 curl_easy_strerror(cc));
        res->retryable = true;
        return -EIO;
    }

    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res->status);
    curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &after);
    res->retry_after = after > 0 && after < 3600 ? (unsigned)after : 0;
    res->retryable = res->status == 429 || res->status >= 500;
    if (res->status >= 300) {
        kclient_status_body(rq->buf, rq->len, res);
    }
    return kclient_status_rc(res->status, res->reason);
}

static int
kclient_perform_once(struct kclient *c, struct kclient_req *rq,
                     bool force_token, struct kclient_result *res)
{
    char url[KCLIENT_MAX_URL];
    struct curl_slist *h = NULL;
    CURL *e;
    int rc;

    if (kclient_url(url, sizeof(url), c->kc.server, rq->path,
                    rq->query) < 0) {
        return -ENAMETOOLONG;
    }
    e = kclient_easy(c, url, rq->ctype, force_token, &h);
    if (e == NULL) {
        curl_slist_free_all(h);
        return -ENOMEM;
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)KCLIENT_REQUEST_TIMEOUT);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kclient_body_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rq);
    if (rq->body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
    }

    rc = kclient_outcome(e, curl_easy_perform(e), rq, res);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    return rc;
}

/* Perform rq; after a 401 with a token file, re-read it and retry once. */
static int
kclient_perform(struct kclient *c, struct kclient_req *rq,
                struct kclient_result *res)
{
    int rc = kclient_perform_once(c, rq, false, res);

    if (rc == -EACCES && res->status == 401 && c->kc.token_file != NULL) {
        free(rq->buf);
        rq->buf = NULL;
        rq->len = rq->cap = 0;
        rc = kclient_perform_once(c, rq, true, res);
    }
    return rc;
}

/* A JSON request: body (may be NULL) in, decoded answer to *out. */
static int
kclient_json(struct kclient *c, const char *method, const char *path,
             const char *query, const char *ctype, const json_t *body,
             json_t **out, struct kclient_result *res)
{
    struct kclient_req rq = { method, path, query, ctype, NULL, NULL, 0, 0,
                              false };
    struct kclient_result local;
    char *text = NULL;
    int rc;

    res = res != NULL ? res : &local;
    if (body != NULL &&
        (text = json_dumps(body, JSON_COMPACT)) == NULL) {
        return -ENOMEM;
    }
    rq.body = text;
    rc = kclient_perform(c, &rq, res);
    free(text);

    if (rc == 0 && out != NULL) {
        *out = rq.buf != NULL ? json_loadb(rq.buf, rq.len, 0, NULL) : NULL;
        if (*out == NULL) {
            rc = -EBADMSG;
        }
    }
    free(rq.buf);
    return rc;
}

int
kclient_get(struct kclient *c, const char *path, json_t **out,
            struct kclient_result *res)
{
    return kclient_json(c, "GET", path, NULL, NULL, NULL, out, res);
}

int
kclient_create(struct kclient *c, const char *path, const json_t *obj,
               json_t **out, struct kclient_result *res)
{
    return kclient_json(c, "POST", path, NULL, "application/json", obj,
                        out, res);
}

int
kclient_merge_patch(struct kclient *c, const char *path,
                    const json_t *patch, json_t **out,
                    struct kclient_result *res)
{
    return kclient_json(c, "PATCH", path, NULL,
                        "application/merge-patch+json", patch, out, res);
}

int
kclient_patch_status(struct kclient *c, const char *path,
                     const json_t *patch, json_t **out,
                     struct kclient_result *res)
{
    char sub[KCLIENT_MAX_URL];
    int n = snprintf(sub, sizeof(sub), "%s/status", path);

    if (n < 0 || (size_t)n >= sizeof(sub)) {
        return -ENAMETOOLONG;
    }
    return kclient_merge_patch(c, sub, patch, out, res);
}

int
kclient_delete(struct kclient *c, const char *path,
               struct kclient_result *res)
{
    return kclient_json(c, "DELETE", path, NULL, NULL, NULL, NULL, res);
}

/* ---- list -------------------------------------------------------------- */

/* The query of one page: limit, continue token, the caller's query. */
static int
kclient_page_query(char *buf, size_t len, const char *cont,
                   const char *query)
{
    char esc[KCLIENT_MAX_URL];
    int n;

    if (kclient_escape(esc, sizeof(esc), cont != NULL ? cont : "") < 0) {
        return -ENAMETOOLONG;
    }
    n = snprintf(buf, len, "limit=%d%s%s%s%s", KCLIENT_LIST_PAGE,
                 cont != NULL ? "&continue=" : "", esc,
                 query != NULL && query[0] ? "&" : "",
                 query != NULL ? query : "");
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Move one page's items into all; rv and *cont from its metadata. */
static int
kclient_page_take(json_t *page, json_t *all, char *rv, size_t rv_len,
                  char *cont, size_t cont_len)
{
    json_t *meta = json_object_get(page, "metadata");
    json_t *items = json_object_get(page, "items");
    const char *v = json_string_value(json_object_get(meta,
                                                      "resourceVersion"));
    const char *c = json_string_value(json_object_get(meta, "continue"));

    if (v == NULL || (items != NULL && !json_is_array(items))) {
        return -EBADMSG;
    }
    if (items != NULL && json_array_extend(all, items) < 0) {
        return -ENOMEM;
    }
    if (json_array_size(all) > KCLIENT_LIST_MAX_ITEMS) {
        return -EMSGSIZE;
    }
    snprintf(rv, rv_len, "%s", v);
    snprintf(cont, cont_len, "%s", c != NULL ? c : "");
    return strlen(cont) + 1 >= cont_len ? -ENAMETOOLONG : 0;
}

int
kclient_list(struct kclient *c, const char *path, const char *query,
             json_t **items, char *rv, size_t rv_len,
             struct kclient_result *res)
{
    char q[KCLIENT_MAX_URL], cont[1024] = "", first_rv[KCLIENT_RV_LEN] = "";
    json_t *all = json_array();
    int rc = all == NULL ? -ENOMEM : 0;

    while (rc == 0) {
        json_t *page = NULL;

        rc = kclient_page_query(q, sizeof(q), cont[0] ? cont : NULL, query);
        if (rc == 0) {
            rc = kclient_json(c, "GET", path, q, NULL, NULL, &page, res);
        }
        if (rc == 0) {
            rc = kclient_page_take(page, all, first_rv[0] ? rv : first_rv,
                                   first_rv[0] ? rv_len : sizeof(first_rv),
                                   cont, sizeof(cont));
        }
        json_decref(page);
        if (rc < 0 || cont[0] == '\0') {
            break;
        }
    }

    if (rc < 0) {
        json_decref(all);
        return rc;
    }
    snprintf(rv, rv_len, "%s", first_rv);
    *items = all;
    return 0;
}

/* ---- watch lines and events -------------------------------------------- */

int
kclient_lines_init(struct kclient_lines *lp, size_t cap,
                   int (*fn)(char *line, size_t len, void *arg), void *arg)
{
    memset(lp, 0, sizeof(*lp));
    lp->buf = malloc(cap + 1);
    if (lp->buf == NULL) {
        return -ENOMEM;
    }
    lp->cap = cap;
    lp->fn = fn;
    lp->arg = arg;
    return 0;
}

void
kclient_lines_reset(struct kclient_lines *lp)
{
    lp->len = 0;
    lp->skipping = false;
}

void
kclient_lines_free(struct kclient_lines *lp)
{
    free(lp->buf);
    memset(lp, 0, sizeof(*lp));
}

/*
 * Take n bytes of the current line (no newline among them).  A line over
 * the cap is dropped: the watcher misses that one event (an object over
 * KCLIENT_MAX_LINE) until the next relist brings the object back.
 */
static void
kclient_lines_take(struct kclient_lines *lp, const char *data, size_t n)
{
    if (lp->skipping) {
        return;
    }
    if (lp->len + n > lp->cap) {
        lp->skipping = true;
        lp->overlong++;
        metrics_malformed("k8s_watch_line");
        return;
    }
    memcpy(lp->buf + lp->len, data, n);
    lp->len += n;
}

int
kclient_lines_feed(struct kclient_lines *lp, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) : len;
        bool had = !lp->skipping;
        int rc = 0;

        kclient_lines_take(lp, data, n);
        data += n;
        len -= n;
        if (nl == NULL) {
            break;
        }
        data++;
        len--;

        if (had && !lp->skipping) {
            lp->buf[lp->len] = '\0';
            rc = lp->fn(lp->buf, lp->len, lp->arg);
        }
        kclient_lines_reset(lp);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int
kclient_event_type(const char *s, enum kclient_event *type)
{
    static const char *const names[] = {
        [KCLIENT_ADDED] = "ADDED",       [KCLIENT_MODIFIED] = "MODIFIED",
        [KCLIENT_DELETED] = "DELETED",   [KCLIENT_BOOKMARK] = "BOOKMARK",
        [KCLIENT_RELISTED] = "RELISTED", [KCLIENT_ERROR] = "ERROR",
    };
    size_t i;

    for (i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (i != KCLIENT_RELISTED && strcmp(s, names[i]) == 0) {
            *type = (enum kclient_event)i;
            return 0;
        }
    }
    return -EBADMSG;
}

int
kclient_event_parse(const char *line, size_t len, json_t **doc,
                    enum kclient_event *type, json_t **obj, char *rv,
                    size_t rv_len, long *code)
{
    json_t *d = json_loadb(line, len, 0, NULL);
    json_t *o = json_object_get(d, "object");
    const char *v;

    rv[0] = '\0';
    *code = 0;
    if (!json_is_object(o) ||
        kclient_event_type(json_string_value(json_object_get(d, "type")),
                           type) < 0) {
        json_decref(d);
        return -EBADMSG;
    }

    v = json_string_value(json_object_get(json_object_get(o, "metadata"),
                                          "resourceVersion"));
    if (v != NULL && strlen(v) < rv_len) {
        snprintf(rv, rv_len, "%s", v);
    }
    if (*type == KCLIENT_ERROR) {
        *code = (long)json_integer_value(json_object_get(o, "code"));
    }
    *doc = d;
    *obj = o;
    return 0;
}

/* ---- the watch thread -------------------------------------------------- */

struct kclient_watch {
    struct kclient *c;
    char *path;
    char *query;
    unsigned timeout;
    kclient_watch_fn fn;
    void (*fail_fn)(int rc, long status, void *arg);
    void *arg;

    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;          /* with cv: the interruptible pause */
    pthread_cond_t cv;

    char rv[KCLIENT_RV_LEN];     /* where the next watch starts */
    bool need_list;              /* list before the next watch */
    unsigned attempt;            /* consecutive failures */
    uint32_t rng;                /* jitter state (xorshift32) */
    struct kclient_lines lines;  /* the stream's line splitter */

    /* One stream's outcome, reset before each watch request. */
    bool gone;                   /* 410 seen */
    bool failed;                 /* another ERROR event */
    uint64_t delivered;          /* events given to fn on this stream */
    char errbody[KCLIENT_WATCH_ERRBODY]; /* non-200 body (a Status) */
    size_t errlen;
    CURL *easy;                  /* the stream's handle */

    _Atomic uint64_t st_events, st_bookmarks, st_relists, st_gone,
        st_reconnects, st_errors;
};

static void
kclient_watch_count(_Atomic uint64_t *v)
{
    atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
}

/* One event line of the stream: track rv, deliver, or end the stream. */
static int
kclient_watch_line(char *line, size_t len, void *arg)
{
    struct kclient_watch *w = arg;
    char rv[KCLIENT_RV_LEN];
    enum kclient_event type;
    json_t *doc, *obj;
    long code;

    if (len == 0) {
        return 0;
    }
    if (kclient_event_parse(line, len, &doc, &type, &obj, rv, sizeof(rv),
                            &code) < 0) {
        metrics_malformed("k8s_watch_event");
        return 0;
    }

    if (type == KCLIENT_ERROR) {
        w->gone = code == 410;
        w->failed = code != 410;
        log_info("kubernetes watch error event", "path=%s code=%ld",
                 w->path, code);
        json_decref(doc);
        return 1;
    }
    if (rv[0] != '\0') {
        memcpy(w->rv, rv, sizeof(rv));
    }
    kclient_watch_count(type == KCLIENT_BOOKMARK ? &w->st_bookmarks
                                                 : &w->st_events);
    w->delivered++;
    w->fn(type, obj, w->rv, w->arg);
    json_decref(doc);
    return 0;
}

static size_t
kclient_watch_body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct kclient_watch *w = arg;
    size_t n = size * nmemb, room;
    long status = 0;

    curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        room = sizeof(w->errbody) - 1 - w->errlen;
        memcpy(w->errbody + w->errlen, data, n < room ? n : room);
        w->errlen += n < room ? n : room;
        w->errbody[w->errlen] = '\0';
        return n;
    }
    return kclient_lines_feed(&w->lines, data, n) == 0 ? n : 0;
}

/* libcurl calls this about once a second: a way out for stop. */
static int
kclient_watch_progress_cb(void *arg, curl_off_t dt, curl_off_t dn,
                          curl_off_t ut, curl_off_t un)
{
    struct kclient_watch *w = arg;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return atomic_load(&w->stop) ? 1 : 0;
}

static int
kclient_watch_url(struct kclient_watch *w, char *url, size_t len)
{
    char rv[3 * KCLIENT_RV_LEN], q[KCLIENT_MAX_URL];
    int n;

    if (kclient_escape(rv, sizeof(rv), w->rv) < 0) {
        return -ENAMETOOLONG;
    }
    n = snprintf(q, sizeof(q), "watch=1&allowWatchBookmarks=true"
                 "&timeoutSeconds=%u&resourceVersion=%s%s%s", w->timeout,
                 rv, w->query != NULL ? "&" : "",
                 w->query != NULL ? w->query : "");
    if (n < 0 || (size_t)n >= sizeof(q)) {
        return -ENAMETOOLONG;
    }
    return kclient_url(url, len, w->c->kc.server, w->path, q);
}

/* One watch request, streamed to kclient_watch_line(). */
static int
kclient_watch_stream(struct kclient_watch *w, struct kclient_result *res)
{
    struct kclient_req none = { 0 };
    char url[KCLIENT_MAX_URL];
    struct curl_slist *h = NULL;
    CURLcode cc;
    int rc;

    w->gone = w->failed = false;
    w->delivered = 0;
    w->errlen = 0;
    kclient_lines_reset(&w->lines);
    if (kclient_watch_url(w, url, sizeof(url)) < 0 ||
        (w->easy = kclient_easy(w->c, url, NULL, false, &h)) == NULL) {
        curl_slist_free_all(h);
        return -ENOMEM;
    }

    curl_easy_setopt(w->easy, CURLOPT_TIMEOUT, (long)w->timeout + 30);
    curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, kclient_watch_body_cb);
    curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(w->easy, CURLOPT_XFERINFOFUNCTION,
                     kclient_watch_progress_cb);
    curl_easy_setopt(w->easy, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(w->easy, CURLOPT_NOPROGRESS, 0L);
    cc = curl_easy_perform(w->easy);

    none.buf = w->errbody;
    none.len = w->errlen;
    rc = kclient_outcome(w->easy, w->gone || w->failed ? CURLE_OK : cc,
                         &none, res);
    curl_easy_cleanup(w->easy);
    w->easy = NULL;
    curl_slist_free_all(h);
    return rc;
}

static uint32_t
kclient_watch_random(struct kclient_watch *w)
{
    uint32_t x = w->rng;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w->rng = x;
    return x;
}

/* Wait out the backoff (or Retry-After), returning early on stop. */
static void
kclient_watch_pause(struct kclient_watch *w, unsigned retry_after)
{
    unsigned ms = kclient_backoff_ms(w->attempt, KCLIENT_BACKOFF_BASE_MS,
                                     KCLIENT_BACKOFF_CAP_MS,
                                     kclient_watch_random(w));
    struct timespec until;

    if (retry_after * 1000u > ms) {
        ms = retry_after * 1000u;
    }
    w->attempt++;
    until = clock_deadline(CLOCK_MONOTONIC, (uint64_t)ms * 1000000ull);

    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stop) &&
           pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0) {
    }
    pthread_mutex_unlock(&w->mu);
}

/* List and deliver RELISTED; the watch then starts from the list's rv. */
static int
kclient_watch_relist(struct kclient_watch *w, struct kclient_result *res)
{
    json_t *items = NULL;
    char rv[KCLIENT_RV_LEN];
    int rc = kclient_list(w->c, w->path, w->query, &items, rv, sizeof(rv),
                          res);

    if (rc < 0) {
        log_warn("kubernetes list failed", "path=%s rc=%d status=%ld",
                 w->path, rc, res->status);
        if (w->fail_fn != NULL) {
            w->fail_fn(rc, res->status, w->arg);
        }
        return rc;
    }
    memcpy(w->rv, rv, sizeof(rv));
    w->need_list = false;
    kclient_watch_count(&w->st_relists);
    w->fn(KCLIENT_RELISTED, items, w->rv, w->arg);
    json_decref(items);
    return 0;
}

/*
 * After one stream: decide what comes next.  410 lists again (at once,
 * unless it follows a list that delivered nothing); a stream that ended
 * normally after delivering something or lasting a while reconnects at
 * once; anything else waits out the backoff.
 */
static void
kclient_watch_after(struct kclient_watch *w, int rc, bool just_listed,
                    time_t began, struct kclient_result *res)
{
    bool quick = time(NULL) - began < 2 && w->delivered == 0;

    if (w->delivered > 0) {
        w->attempt = 0;
    }
    if (w->gone || rc == -ESTALE) {
        kclient_watch_count(&w->st_gone);
        w->need_list = true;
        if (just_listed && w->delivered == 0) {
            kclient_watch_pause(w, 0);
        }
        return;
    }
    if (rc == 0 && !w->failed && !quick) {
        w->attempt = 0;
        return;
    }
    if (atomic_load(&w->stop)) {
        return;
    }
    kclient_watch_count(&w->st_errors);
    log_info("kubernetes watch interrupted", "path=%s rc=%d status=%ld "
             "msg=\"%.80s\"", w->path, rc, res->status, res->message);
    if (w->fail_fn != NULL) {
        w->fail_fn(rc < 0 ? rc : -EPROTO, res->status, w->arg);
    }
    kclient_watch_pause(w, res->retry_after);
}

static void *
kclient_watch_main(void *arg)
{
    struct kclient_watch *w = arg;
    bool first = true;

    while (!atomic_load(&w->stop)) {
        struct kclient_result res = { 0 };
        bool just_listed = w->need_list;
        time_t began;
        int rc;

        if (w->need_list && kclient_watch_relist(w, &res) < 0) {
            kclient_watch_count(&w->st_errors);
            kclient_watch_pause(w, res.retry_after);
            continue;
        }
        if (!first) {
            kclient_watch_count(&w->st_reconnects);
        }
        first = false;
        began = time(NULL);
        rc = kclient_watch_stream(w, &res);
        kclient_watch_after(w, rc, just_listed, began, &res);
    }
    return NULL;
}

static void
kclient_watch_free(struct kclient_watch *w)
{
    kclient_lines_free(&w->lines);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->path);
    free(w->query);
    free(w);
}

static int
kclient_watch_init(struct kclient_watch *w, struct kclient *c,
                   const struct kclient_watch_opts *o)
{
    pthread_condattr_t ca;
    const char *rv = o->resource_version;

    w->c = c;
    w->fn = o->fn;
    w->fail_fn = o->fail_fn;
    w->arg = o->arg;
    w->timeout = o->timeout_seconds ? o->timeout_seconds : 300;
    w->need_list = rv == NULL || rv[0] == '\0';
    snprintf(w->rv, sizeof(w->rv), "%s", w->need_list ? "" : rv);
    w->rng = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)w ^ 0x9e3779b9u;
    w->path = strdup(o->path);
    w->query = o->query != NULL && o->query[0] ? strdup(o->query) : NULL;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    if (w->path == NULL || (o->query != NULL && o->query[0] &&
                            w->query == NULL)) {
        return -ENOMEM;
    }
    return kclient_lines_init(&w->lines, KCLIENT_MAX_LINE,
                              kclient_watch_line, w);
}

int
kclient_watch_start(struct kclient *c, const struct kclient_watch_opts *o,
                    struct kclient_watch **out)
{
    struct kclient_watch *w;
    int rc;

    if (o == NULL || o->path == NULL || o->fn == NULL ||
        (o->resource_version != NULL &&
         strlen(o->resource_version) >= KCLIENT_RV_LEN)) {
        return -EINVAL;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return -ENOMEM;
    }
    rc = kclient_watch_init(w, c, o);
    if (rc == 0 && pthread_create(&w->thread, NULL, kclient_watch_main,
                                  w) != 0) {
        rc = -EAGAIN;
    }
    if (rc < 0) {
        kclient_watch_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void
kclient_watch_stop(struct kclient_watch *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, true);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    kclient_watch_free(w);
}

void
kclient_watch_stats(const struct kclient_watch *w,
                    struct kclient_watch_stats *out)
{
    out->events = atomic_load(&w->st_events);
    out->bookmarks = atomic_load(&w->st_bookmarks);
    out->relists = atomic_load(&w->st_relists);
    out->gone = atomic_load(&w->st_gone);
    out->reconnects = atomic_load(&w->st_reconnects);
    out->errors = atomic_load(&w->st_errors);
}

/*
 * kclient.h - a small Kubernetes API client: JSON requests (get, list,
 * create, merge patch, status patch, delete) and list-then-watch on a
 * thread of its own.  libcurl for HTTP, jansson for JSON.
 *
 * One struct kclient per API server.  Every request function may be
 * called from any thread at once: each call runs on its own curl easy
 * handle, and the handles share one connection cache, so keep-alive
 * connections are reused across calls and threads.
 *
 * Authentication is whatever the kubeconfig gave: a client certificate,
 * a fixed token, or a token file.  A token file is stat()ed before each
 * request and re-read when its inode, size or mtime changed, so a
 * rotated ServiceAccount token is used from the next request on; after a
 * 401 it is re-read once and the request retried.
 *
 * Errors: 0 or a negative errno, and the details in struct kclient_result.
 *   -ENOENT   404          -EEXIST   409 AlreadyExists
 *   -EBUSY    409 Conflict -EACCES   401, 403
 *   -ESTALE   410 Gone     -EINVAL   400, 422 (and bad arguments)
 *   -EAGAIN   429, 5xx (retryable; Retry-After in the result)
 *   -EIO      no answer (connection, TLS, timeout; retryable)
 *   -EMSGSIZE a response over KCLIENT_MAX_RESPONSE
 *   -EBADMSG  a 2xx answer that is not the JSON expected
 *   -EPROTO   any other status
 *
 * Paths are API paths such as
 * "/apis/security.ugallu.io/v1alpha1/namespaces/ns/dnsdetectconfigs/x";
 * kclient_path() builds them.
 */
#ifndef DD_KCLIENT_H
#define DD_KCLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s/kubeconfig.h"

/* Largest response body read, in bytes (a list page, an object). */
#define KCLIENT_MAX_RESPONSE (32u << 20)
/* Largest watch event line, in bytes; longer ones are skipped and
 * counted (malformed kind "k8s_watch_line"). */
#define KCLIENT_MAX_LINE (4u << 20)
/* Items per list page, and most items one list returns in all. */
#define KCLIENT_LIST_PAGE 500
#define KCLIENT_LIST_MAX_ITEMS 200000
/* Longest path or URL built. */
#define KCLIENT_MAX_URL 2048
/* Room for a resourceVersion (an opaque string, in practice digits). */
#define KCLIENT_RV_LEN 64
/* Seconds a plain request may take, connection included. */
#define KCLIENT_REQUEST_TIMEOUT 30
/* Watch reconnect backoff: first delay and cap, in milliseconds.  The
 * cap bounds how long after an API server comes back a watch resumes
 * (jittered, half the cap to the cap). */
#define KCLIENT_BACKOFF_BASE_MS 500
#define KCLIENT_BACKOFF_CAP_MS 8000

struct kclient;
struct kclient_watch;

/* What a request got back, besides the return code. */
struct kclient_result {
    long status;          /* HTTP status; 0 when no response came */
    bool retryable;       /* 429, 5xx or no response: try again later */
    unsigned retry_after; /* Retry-After in seconds, 0 when absent */
    char reason[64];      /* Status.reason of an error body
                             ("AlreadyExists", "Conflict", ...) or "" */
    char message[256];    /* Status.message, or a transport error, or "" */
};

/*
 * Make a client for the server kc describes.  kc is moved into the client
 * (on success *kc is zeroed; the caller no longer frees it).  Calls
 * curl_global_init() the first time (not thread-safe: call from the
 * main thread before starting others).  Returns 0, -ENOMEM or -EINVAL.
 */
int kclient_new(struct kubeconfig *kc, struct kclient **out);

/* Free a client.  Every watch on it must have been stopped first. */
void kclient_free(struct kclient *c);

/* The namespace of the kubeconfig context (or in-cluster namespace
 * file), or NULL.  Owned by the client. */
const char *kclient_namespace(const struct kclient *c);

/* GET path.  On 0, *out is the decoded object (caller decrefs).  res
 * may be NULL here and below. */
int kclient_get(struct kclient *c, const char *path, json_t **out,
                struct kclient_result *res);

/*
 * List the collection at path (query, e.g. "labelSelector=a%3Db", may be
 * NULL), page by page.  On 0, *items is a new JSON array of every item
 * (caller decrefs) and rv (rv_len bytes) holds the list's
 * resourceVersion, from which a watch can start.
 */
int kclient_list(struct kclient *c, const char *path, const char *query,
                 json_t **items, char *rv, size_t rv_len,
                 struct kclient_result *res);

/*
 * The bearer token the client's requests carry now (its file re-read
 * when it changed): a copy the caller frees, or NULL when the client has
 * none (a client certificate) or memory ran out.  Any thread.
 */
char *kclient_bearer(struct kclient *c);

struct curl_slist;

/*
 * h with the "Authorization: Bearer" header of kclient_bearer()
 * appended (h unchanged without a token), for a request of the caller's
 * own to a peer that checks the token.  Any thread.
 */
struct curl_slist *kclient_add_auth(struct kclient *c, struct curl_slist *h);

/* POST obj to the collection at path.  -EEXIST when an object of that
 * name exists (callers using deterministic names treat it as success).
 * *out (may be NULL) receives the created object. */
int kclient_create(struct kclient *c, const char *path, const json_t *obj,
                   json_t **out, struct kclient_result *res);

/* PATCH the object at path with a JSON merge patch (RFC 7386).  *out
 * (may be NULL) receives the patched object. */
int kclient_merge_patch(struct kclient *c, const char *path,
                        const json_t *patch, json_t **out,
                        struct kclient_result *res);

/* Merge-patch the status subresource of the object at path (path names
 * the object; "/status" is appended). */
int kclient_patch_status(struct kclient *c, const char *path,
                         const json_t *patch, json_t **out,
                         struct kclient_result *res);

/* DELETE the object at path. */
int kclient_delete(struct kclient *c, const char *path,
                   struct kclient_result *res);

/* ---- watch ------------------------------------------------------------- */

/* What a watch callback is told. */
enum kclient_event {
    KCLIENT_ADDED,
    KCLIENT_MODIFIED,
    KCLIENT_DELETED,
    KCLIENT_BOOKMARK, /* obj carries only metadata.resourceVersion */
    KCLIENT_RELISTED, /* obj is a JSON array: the whole collection now;
                         replace what you hold with it */
    KCLIENT_ERROR,    /* parsed, not delivered: restarts the watch */
};

/*
 * Called on the watch thread for every event, in order.  obj is borrowed
 * (json_incref it to keep it); rv is the resourceVersion reached.
 */
typedef void (*kclient_watch_fn)(enum kclient_event type, json_t *obj,
                                 const char *rv, void *arg);

/* What to watch. */
struct kclient_watch_opts {
    const char *path;             /* collection path (copied) */
    const char *query;            /* extra selectors, e.g.
                                     "fieldSelector=metadata.name%3Dx";
                                     NULL for none (copied) */
    const char *resource_version; /* start watching from here; NULL or ""
                                     lists first (a RELISTED event) */
    unsigned timeout_seconds;     /* per watch request; 0 means 300 */
    kclient_watch_fn fn;          /* required */
    void *arg;                    /* passed to fn and fail_fn */
    void (*fail_fn)(int rc, long status, void *arg); /* may be NULL:
                                     called on the watch thread when a
                                     list or watch request failed (rc as
                                     the request functions return,
                                     status the HTTP status or 0), before
                                     the backoff; not for a 410 */
};

/* Counters of one watch; read with kclient_watch_stats(). */
struct kclient_watch_stats {
    uint64_t events;     /* ADDED, MODIFIED and DELETED delivered */
    uint64_t bookmarks;  /* BOOKMARK delivered */
    uint64_t relists;    /* RELISTED delivered (the first list counts) */
    uint64_t gone;       /* 410s seen (HTTP or ERROR event) */
    uint64_t reconnects; /* watch requests after the first */
    uint64_t errors;     /* failed requests and non-410 ERROR events */
};

/*
 * Start a list-then-watch on a new thread: list (unless a
 * resourceVersion is given), then watch from the list's resourceVersion
 * with allowWatchBookmarks, following resourceVersion through every
 * event and bookmark.  A 410 Gone (HTTP or an ERROR event with code 410)
 * lists again and delivers RELISTED; other failures reconnect after
 * kclient_backoff_ms() (Retry-After honoured), and a watch that ends
 * normally reconnects at once.  Returns 0 and *out, or -ENOMEM/-EINVAL.
 */
int kclient_watch_start(struct kclient *c,
                        const struct kclient_watch_opts *opts,
                        struct kclient_watch **out);

/* Stop a watch and wait for its thread (at most about a second; the
 * callback is not called after this returns).  Frees w.  Not from the
 * callback itself. */
void kclient_watch_stop(struct kclient_watch *w);

/* Copy the watch's counters (any thread). */
void kclient_watch_stats(const struct kclient_watch *w,
                         struct kclient_watch_stats *out);

/* ---- parts exposed for the unit tests ---------------------------------- */

/*
 * Build an API path into buf (len bytes): "/api/v1" for group "" or
 * NULL, else "/apis/<group>/<version>", then "/namespaces/<ns>" when ns
 * is not NULL, "/<resource>", "/<name>" and "/<sub>" when not NULL.
 * Every segment must be non-empty and made of [a-z0-9.-] (names: also
 * ':' is refused).  Returns 0, -EINVAL or -ENAMETOOLONG.
 */
int kclient_path(char *buf, size_t len, const char *group,
                 const char *version, const char *ns, const char *resource,
                 const char *name, const char *sub);

/* server + path + ("?" query when query is not NULL or empty) into buf.
 * Returns 0 or -ENAMETOOLONG. */
int kclient_url(char *buf, size_t len, const char *server, const char *path,
                const char *query);

/*
 * The reconnect delay after `attempt` consecutive failures (0 is the
 * first): d = min(cap, base * 2^attempt), then d/2 plus a jitter of
 * rnd % (d/2 + 1), so delays spread over [d/2, d].
 */
unsigned kclient_backoff_ms(unsigned attempt, unsigned base_ms,
                            unsigned cap_ms, uint32_t rnd);

/* Map an HTTP status and Status.reason to the return code (see top). */
int kclient_status_rc(long status, const char *reason);

/*
 * A bounded line splitter for the watch stream.  Bytes go in by
 * kclient_lines_feed(), in pieces of any size; each complete line
 * (without its '\n', NUL-terminated in the buffer, possibly empty) goes
 * to fn.  A line longer than cap is dropped whole and counted in
 * overlong.  One buffer of cap + 1 bytes, made once.
 */
struct kclient_lines {
    char *buf;         /* owned; cap + 1 bytes */
    size_t cap;        /* longest line kept */
    size_t len;        /* bytes of the current line so far */
    bool skipping;     /* inside an over-long line */
    uint64_t overlong; /* lines dropped for length */
    int (*fn)(char *line, size_t len, void *arg); /* non-zero stops */
    void *arg;         /* passed to fn */
};

/* Set up lp with a cap-byte line buffer.  Returns 0 or -ENOMEM. */
int kclient_lines_init(struct kclient_lines *lp, size_t cap,
                       int (*fn)(char *line, size_t len, void *arg),
                       void *arg);

/* Feed len bytes; returns 0, or fn's non-zero value (the rest of data
 * is not consumed). */
int kclient_lines_feed(struct kclient_lines *lp, const char *data,
                       size_t len);

/* Forget a partial line (a new stream starts). */
void kclient_lines_reset(struct kclient_lines *lp);

void kclient_lines_free(struct kclient_lines *lp);

/*
 * Decode one watch line: *type, *obj (borrowed from *doc, which the
 * caller decrefs), the object's resourceVersion copied to rv (may be
 * left "" for ERROR) and, for ERROR, the Status code in *code.  Returns
 * 0 or -EBADMSG (not JSON, unknown type, no object).
 */
int kclient_event_parse(const char *line, size_t len, json_t **doc,
                        enum kclient_event *type, json_t **obj, char *rv,
                        size_t rv_len, long *code);

#endif

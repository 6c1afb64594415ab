/*
 * resolver.c - ugallu resolver requests, replies and calls.
 */
#include "enrich/resolver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/pbwire.h"
#include "sources/grpcstream.h"

#define RESOLVER_SVC "/ugallu.resolver.v1.Resolver/"
#define RESOLVER_TARGET_MAX 320

struct resolver {
    struct grpcstream *uds_call;   /* kept channel to the socket */
    struct grpcstream *tcp_call;   /* kept channel to the endpoint */
    char uds_path[256];            /* "" for none */
    char uds_target[RESOLVER_TARGET_MAX]; /* "unix:<path>" */
    char tcp_target[RESOLVER_TARGET_MAX]; /* "" for none */
    char *ca_pem;                  /* owned copy, or NULL */
    int tls;
    unsigned timeout_ms;
    uint8_t reply[RESOLVER_RESPONSE_MAX];
};

/* ---- wire format ------------------------------------------------------- */

static size_t
resolver_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int
resolver_encode(const struct podtable_key *k, uint8_t *buf,
                const char **method)
{
    struct event_addr a = { .family = k->family };
    char text[48];
    uint64_t id = 0;
    size_t n;

    if (k->kind == PODTABLE_CGROUP) {
        for (unsigned i = 0; i < 8; i++) {
            id |= (uint64_t)k->bytes[i] << (8 * i);
        }
        buf[0] = 0x08;   /* field 1, varint */
        *method = RESOLVER_SVC "ResolveByCgroupID";
        return (int)(1 + resolver_put_varint(buf + 1, id));
    }
    if (k->kind != PODTABLE_IP) {
        return -EINVAL;
    }
    memcpy(a.bytes, k->bytes, sizeof(a.bytes));
    event_addr_format(&a, text, sizeof(text));
    n = strlen(text);
    buf[0] = 0x0a;       /* field 1, length-delimited */
    buf[1] = (uint8_t)n; /* an address text is under 128 bytes */
    memcpy(buf + 2, text, n);
    *method = RESOLVER_SVC "ResolveByPodIP";
    return (int)(2 + n);
}

/* Whether s[0..n) is made of the bytes in set (and not empty). */
static int
resolver_text_ok(const uint8_t *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(set, s[i]) == NULL) {
            return 0;
        }
    }
    return n > 0;
}

/* Copy a checked string field; one that does not fit marks the answer
 * unusable instead of being cut. */
static int
resolver_copy(const struct pbwire_field *f, char *dst, size_t cap,
              const char *set, struct resolver_answer *out)
{
    if (f->wire != PBWIRE_BYTES) {
        return -EBADMSG;
    }
    if (f->len == 0) {
        dst[0] = '\0';
        return 0;
    }
    if (!resolver_text_ok(f->bytes, f->len, set)) {
        return -EBADMSG;
    }
    if (f->len >= cap) {
        out->unresolved = 1;
        snprintf(out->diagnostic, sizeof(out->diagnostic),
                 "a name longer than %zu bytes", cap - 1);
        return 0;
    }
    memcpy(dst, f->bytes, f->len);
    dst[f->len] = '\0';
    return 0;
}

static int
resolver_kind(const struct pbwire_field *f, struct resolver_answer *out)
{
    if (f->wire != PBWIRE_BYTES) {
        return -EBADMSG;
    }
    if (f->len > 0 && (f->len != 3 || memcmp(f->bytes, "Pod", 3) != 0)) {
        out->unresolved = 1;
        snprintf(out->diagnostic, sizeof(out->diagnostic),
                 "subject kind %.*s is not a Pod",
                 (int)(f->len < 32 ? f->len : 32), (const char *)f->bytes);
    }
    return 0;
}

static int
resolver_flag(const struct pbwire_field *f, int *dst)
{
    if (f->wire != PBWIRE_VARINT) {
        return -EBADMSG;
    }
    *dst = f->value != 0;
    return 0;
}

/* Diagnostic text, cut to fit; unusable bytes become '?'. */
static int
resolver_diag(const struct pbwire_field *f, struct resolver_answer *out)
{
    size_t n = f->len < RESOLVER_DIAG_MAX - 1 ? f->len
                                              : RESOLVER_DIAG_MAX - 1;

    if (f->wire != PBWIRE_BYTES) {
        return -EBADMSG;
    }
    if (out->diagnostic[0] != '\0') {
        return 0;   /* our own reason stays */
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = f->bytes[i];
        out->diagnostic[i] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c
                                                               : '?';
    }
    out->diagnostic[n] = '\0';
    return 0;
}

static int
resolver_field(const struct pbwire_field *f, struct resolver_answer *out)
{
    static const char dns[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
    static const char uid[] = "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";

    switch (f->number) {
    case 1: return resolver_kind(f, out);
    case 3: return resolver_copy(f, out->pod.name, sizeof(out->pod.name),
                                 dns, out);
    case 4: return resolver_copy(f, out->pod.namespace_,
                                 sizeof(out->pod.namespace_), dns, out);
    case 5: return resolver_copy(f, out->pod.uid, sizeof(out->pod.uid),
                                 uid, out);
    case 20: return resolver_flag(f, &out->partial);
    case 21: return resolver_flag(f, &out->tombstone);
    case 22: return resolver_flag(f, &out->unresolved);
    case 30: return resolver_diag(f, out);
    case 2: case 6: case 7: case 10:
        return f->wire == PBWIRE_BYTES ? 0 : -EBADMSG;
    default:
        return 0;   /* fields of a later version */
    }
}

int
resolver_decode(const uint8_t *msg, size_t len, struct resolver_answer *out)
{
    struct pbwire pb = { msg, msg + len };
    struct pbwire_field f;

    memset(out, 0, sizeof(*out));
    while (pb.p < pb.end) {
        if (pbwire_next(&pb, &f) != 0 || resolver_field(&f, out) != 0) {
            return -EBADMSG;
        }
    }
    if (!out->unresolved &&
        (out->pod.name[0] == '\0' || out->pod.namespace_[0] == '\0')) {
        out->unresolved = 1;   /* nothing to attribute to */
    }
    if (out->unresolved) {
        memset(&out->pod, 0, sizeof(out->pod));
    }
    return 0;
}

/* ---- calls ------------------------------------------------------------- */

/* ":9000" means this host (by address: no name lookup); other endpoints
 * are gRPC targets as given. */
static void
resolver_tcp_target(struct resolver *r, const char *endpoint)
{
    if (endpoint == NULL || endpoint[0] == '\0') {
        return;
    }
    snprintf(r->tcp_target, sizeof(r->tcp_target), "%s%s",
             endpoint[0] == ':' ? "127.0.0.1" : "", endpoint);
}

struct resolver *
resolver_new(const struct resolver_options *o)
{
    struct resolver *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    if (o->uds != NULL && o->uds[0] != '\0') {
        snprintf(r->uds_path, sizeof(r->uds_path), "%s", o->uds);
        snprintf(r->uds_target, sizeof(r->uds_target), "unix:%s", o->uds);
    }
    resolver_tcp_target(r, o->endpoint);
    r->tls = o->tls;
    r->timeout_ms = o->timeout_ms;
    r->ca_pem = o->ca_pem != NULL ? strdup(o->ca_pem) : NULL;
    grpcstream_global_init();
    r->uds_call = grpcstream_new();
    r->tcp_call = grpcstream_new();
    if (r->uds_call == NULL || r->tcp_call == NULL ||
        (o->ca_pem != NULL && r->ca_pem == NULL) ||
        (r->uds_path[0] == '\0' && r->tcp_target[0] == '\0')) {
        resolver_free(r);
        return NULL;
    }
    return r;
}

/* One call on one transport; the reply decoded into out. */
static int
resolver_call(struct resolver *r, struct grpcstream *s, const char *target,
              const uint8_t *req, size_t reqlen, const char *method,
              struct resolver_answer *out)
{
    struct grpcstream_opts o = {
        .target = target, .method = method, .tls = r->tls,
        .ca_pem = r->ca_pem,
    };
    size_t len = 0;
    int rc = grpcstream_unary(s, &o, req, reqlen, r->timeout_ms, r->reply,
                              sizeof(r->reply), &len);

    if (rc == -EMSGSIZE) {
        return -EBADMSG;
    }
    return rc == 0 ? resolver_decode(r->reply, len, out) : rc;
}

static int
resolver_uds_present(const struct resolver *r)
{
    struct stat st;

    return r->uds_path[0] != '\0' && stat(r->uds_path, &st) == 0 &&
           S_ISSOCK(st.st_mode);
}

int
resolver_lookup(struct resolver *r, const struct podtable_key *k,
                struct resolver_answer *out, const char **via)
{
    uint8_t req[RESOLVER_REQUEST_MAX];
    const char *method;
    int len = resolver_encode(k, req, &method);
    int rc = -ECONNREFUSED;

    *via = "none";
    if (len < 0) {
        return len;
    }
    if (resolver_uds_present(r)) {
        *via = "uds";
        rc = resolver_call(r, r->uds_call, r->uds_target, req,
                           (size_t)len, method, out);
    }
    if (rc == -ECONNREFUSED && r->tcp_target[0] != '\0') {
        *via = "tcp";
        rc = resolver_call(r, r->tcp_call, r->tcp_target, req,
                           (size_t)len, method, out);
    }
    return rc;
}

void
resolver_cancel(struct resolver *r)
{
    grpcstream_cancel(r->uds_call);
    grpcstream_cancel(r->tcp_call);
}

void
resolver_free(struct resolver *r)
{
    if (r == NULL) {
        return;
    }
    grpcstream_free(r->uds_call);
    grpcstream_free(r->tcp_call);
    grpcstream_global_shutdown();
    free(r->ca_pem);
    free(r);
}

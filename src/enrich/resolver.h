/*
 * resolver.h - client of the ugallu resolver (proto/ugallu_resolver.proto,
 * package ugallu.resolver.v1): who is behind a pod IP or a cgroup id.
 *
 * The requests are encoded and the SubjectResponse decoded here by hand,
 * without allocating; the calls go through grpcstream_unary(), unix
 * socket first (when the socket file exists), then TCP.  A struct
 * resolver belongs to one thread (podattr's resolver thread), except
 * resolver_cancel().
 *
 * Known shortcomings: TLS authenticates the server only (no client
 * certificate, no token); labels, tier1_json, resource_version and
 * partial are read past, not used.
 */
#ifndef DD_RESOLVER_H
#define DD_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

#include "enrich/podtable.h"

/* Longest request encoded: a field tag, a length and an IPv6 text. */
#define RESOLVER_REQUEST_MAX 64
/* Longest SubjectResponse read; labels and tier1_json make it grow. */
#define RESOLVER_RESPONSE_MAX 16384
/* Longest diagnostic kept; the rest is cut. */
#define RESOLVER_DIAG_MAX 128

/* What a SubjectResponse said, as far as pod attribution needs. */
struct resolver_answer {
    int unresolved;        /* field 22, or a subject not usable here (a
                              kind other than Pod, a name that does not
                              fit the event) */
    int tombstone;         /* field 21: the pod is gone */
    int partial;           /* field 20 */
    struct podtable_pod pod; /* fields 4, 3 and 5; valid unless
                                unresolved */
    char diagnostic[RESOLVER_DIAG_MAX]; /* field 30, or why the answer
                                           was not usable */
};

/* Where and how to call. */
struct resolver_options {
    const char *uds;        /* unix socket path; NULL or "" for none */
    const char *endpoint;   /* "host:port" or ":port" (127.0.0.1); NULL
                               or "" for none */
    int tls;                /* 1 TLS (both transports), 0 plaintext */
    const char *ca_pem;     /* TLS roots (PEM text, copied); NULL for
                               gRPC's default roots */
    unsigned timeout_ms;    /* deadline of one call */
};

struct resolver;

/*
 * Encode PodIPRequest{ip: text of a} or CgroupIDRequest{cgroup_id} for
 * key k into buf (RESOLVER_REQUEST_MAX bytes); *method gets the full
 * method name.  Returns the length, or -EINVAL for an empty key.
 */
int resolver_encode(const struct podtable_key *k, uint8_t *buf,
                    const char **method);

/*
 * Decode a SubjectResponse.  Fields not listed in struct resolver_answer
 * are skipped; namespace and name must be DNS-label text ([a-z0-9.-])
 * and uid [0-9a-zA-Z-].  Returns 0, or -EBADMSG for a malformed message
 * or a field of the wrong type or text.  Any thread.
 */
int resolver_decode(const uint8_t *msg, size_t len,
                    struct resolver_answer *out);

/* A client, or NULL when out of memory (or neither uds nor endpoint).
   Starts gRPC (grpcstream_global_init) for its life. */
struct resolver *resolver_new(const struct resolver_options *o);

/*
 * Ask about k: the unix socket first when its file exists, then the TCP
 * endpoint when the socket is absent or refuses.  Returns 0 with *out,
 * -ETIMEDOUT when the deadline passed, -ECONNREFUSED when no transport
 * answered, -EPROTO for an error status, -EBADMSG for a reply that does
 * not decode, -ECANCELED after resolver_cancel().  *via gets "uds" or
 * "tcp", the transport last tried.  Owner thread.
 */
int resolver_lookup(struct resolver *r, const struct podtable_key *k,
                    struct resolver_answer *out, const char **via);

/* Make the running and every later lookup fail with -ECANCELED.  Any
   thread. */
void resolver_cancel(struct resolver *r);

/* Free; the owner thread has stopped calling. */
void resolver_free(struct resolver *r);

#endif

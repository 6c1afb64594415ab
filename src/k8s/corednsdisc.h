/*
 * corednsdisc.h - find every CoreDNS replica and the plugin's token
 * through the Kubernetes API.
 *
 * The daemon must stream from each CoreDNS pod, not from one behind the
 * DNS Service's virtual IP.  This module list-watches the EndpointSlices
 * of that Service (label kubernetes.io/service-name) and hands the set of
 * ready pod addresses, each with the plugin's port, to a callback
 * whenever it changes.  The port is the slice's port named "ugallu-grpc"
 * when the Service declares one, else the configured port (the kube-dns
 * Service of most clusters lists only 53 and 9153).
 *
 * It also list-watches the Secret that holds the plugin's bearer token
 * (narrowed to its name by a field selector, so a Role limited to that
 * one name suffices) and hands the decoded data key "token" to a second
 * callback at start and at each rotation.  A deleted Secret, or one
 * without a usable token, keeps the token in force and says so in the
 * log.
 *
 * Callbacks run on the module's watch threads; the endpoints callback
 * may block while removed streams end.
 */
#ifndef DD_COREDNSDISC_H
#define DD_COREDNSDISC_H

#include <stddef.h>

#include <jansson.h>

#include "k8s/kclient.h"

/* Targets handed over at most (the CoreDNS source's limit). */
#define COREDNSDISC_TARGETS_MAX 16
/* Longest target text, NUL included: "[v6]:port". */
#define COREDNSDISC_TARGET_LEN 64
/* Longest token accepted, decoded. */
#define COREDNSDISC_TOKEN_MAX 4096
/* The slice port that names the plugin's stream, when present. */
#define COREDNSDISC_PORT_NAME "ugallu-grpc"

/* The current endpoints, as gRPC targets ("10.0.0.5:9253",
 * "[fd00::5]:9253"); n may be 0.  Borrowed for the call. */
typedef void corednsdisc_endpoints_fn(void *ctx, const char *const *targets,
                                      size_t n);
/* The current token (borrowed for the call; wipe copies when done). */
typedef void corednsdisc_token_fn(void *ctx, const char *token);

struct corednsdisc_options {
    struct kclient *kc;          /* borrowed; outlives the module */
    const char *service;         /* "namespace/name" of the DNS Service,
                                    or NULL: no endpoint discovery */
    unsigned port;               /* plugin port when no slice names one */
    const char *secret_ns;       /* namespace of the token Secret */
    const char *secret;          /* its name, or NULL: no token watch */
    corednsdisc_endpoints_fn *endpoints_fn; /* required with service */
    corednsdisc_token_fn *token_fn;         /* required with secret */
    void *ctx;                   /* passed to both */
};

struct corednsdisc;

/*
 * Start the watches the options ask for.  Returns 0 and *out, -EINVAL
 * for a bad service or secret name, or -ENOMEM.  Control thread.
 */
int corednsdisc_start(const struct corednsdisc_options *o,
                      struct corednsdisc **out);

/* Stop the watches (no callback after it returns) and free.  NULL is
 * fine.  Not from a callback. */
void corednsdisc_stop(struct corednsdisc *d);

/*
 * The targets of an array of EndpointSlice objects: every address of
 * every endpoint not marked unready (conditions.ready false), with the
 * slice's "ugallu-grpc" port or dflt_port, sorted, duplicates once, at
 * most max (the rest counted in *cut when cut is not NULL).  Slices of
 * an addressType other than IPv4 or IPv6, and addresses that do not
 * parse as one, are skipped.  Returns how many were written.  Pure.
 */
size_t corednsdisc_targets(const json_t *slices, unsigned dflt_port,
                           char (*out)[COREDNSDISC_TARGET_LEN], size_t max,
                           size_t *cut);

/*
 * The token of a Secret object: data.token, base64-decoded, surrounding
 * whitespace removed, into out (len bytes, NUL-terminated).  Returns 0,
 * -ENOENT when there is no data.token, -EINVAL when it is not base64 or
 * decodes to nothing usable (empty, a NUL byte), -EMSGSIZE when longer
 * than len - 1.  Pure.
 */
int corednsdisc_secret_token(const json_t *secret, char *out, size_t len);

#endif

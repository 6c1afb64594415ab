/*
 * corednssrc.h - the coredns-ugallu source: a gRPC Subscribe stream to
 * every CoreDNS replica that runs the ugallu plugin.
 *
 * Per endpoint (one CoreDNS address) one thread dials the plugin through
 * grpcstream, sends SubscribeRequest{subscriber_id = node name}, and
 * turns every DNSEvent it receives into a struct event handed to emit.
 * emit is called on the endpoint threads, several at once: it must be
 * thread-safe (the pipeline's pipeline_submit_cb is).
 *
 * A stream that fails or ends is dialled again after an exponential
 * backoff with full jitter (the loop of redial.h): a delay drawn
 * uniformly from [0, ceiling], where the ceiling is 500 ms doubled per
 * failed attempt up to 30 s.  A healthy stream (one that delivered an
 * event, or stayed up 10 s) resets the ceiling.  Failures are logged at
 * warn when an endpoint's state changes (up, refused token, unreachable,
 * ...), not at every retry.
 *
 * The bearer token is the one the Kubernetes code read from the Secret
 * ugallu-coredns-grpc-token (corednssrc_set_token()), else the content
 * of a file (the Secret mounted), read before every dial, so a rotated
 * Secret is used at the next reconnect.  The endpoint set can be
 * replaced at run time (corednssrc_set_endpoints()), which the
 * Kubernetes code does as the DNS Service's EndpointSlices change.
 *
 * Known shortcomings: the plugin sends no EDNS data, authority or
 * additional counts, so events from this source never carry EVENT_F_EDNS,
 * edns_udp_size, nscount or arcount; answer_bytes only covers the (at
 * most 8) answers the plugin sends, each cut at 256 bytes.  Events the
 * plugin drops for a slow subscriber are counted by the plugin only; the
 * client cannot see the gap.
 *
 * Series: ugallu_dns_source_connected{source="coredns-ugallu"} (streams
 * up now), ugallu_dns_coredns_reconnects_total,
 * ugallu_dns_coredns_events_total, ugallu_dns_coredns_auth_failures_total,
 * ugallu_dns_source_last_event_seconds{source="coredns-ugallu"} (Unix
 * time of the last event), and ugallu_dns_malformed_total{kind} with the
 * labels of corednssrc_error_name() for events that do not decode.
 */
#ifndef DD_COREDNSSRC_H
#define DD_COREDNSSRC_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

/* Endpoints served at once (the configuration's limit). */
#define COREDNSSRC_ENDPOINTS_MAX 16
/* Longest endpoint text, NUL included. */
#define COREDNSSRC_TARGET_MAX 254
/* Largest token file read; a longer file is refused. */
#define COREDNSSRC_TOKEN_MAX 4096
/* The plugin's Subscribe method. */
#define COREDNSSRC_METHOD "/ugallu.dnsstream.v1.UgalluDNSStream/Subscribe"

/* Why a DNSEvent was rejected, returned negated by corednssrc_decode(). */
enum corednssrc_error {
    COREDNSSRC_OK = 0,
    COREDNSSRC_E_PROTOBUF,   /* "coredns_protobuf": bad wire format (the
                                rules of dnstap.h), or a known field with
                                the wrong wire type */
    COREDNSSRC_E_BAD_FIELD,  /* "coredns_bad_field": a value out of its
                                range (port, qtype, qclass, id, flags or
                                response_rr above 65535, rcode above 4095,
                                an address neither 0, 4 nor 16 bytes, a
                                timestamp missing or not positive, a
                                negative latency) */
    COREDNSSRC_E_QNAME,      /* "coredns_qname": qname is not a valid
                                presentation-form name, or is too long */
    COREDNSSRC_E_COUNT       /* number of codes, not an error */
};

/* What the source dials and sends.  Strings are copied by open. */
struct corednssrc_opts {
    const char *const *endpoints; /* "host:port" of each CoreDNS (gRPC
                                     target syntax); may be empty, see
                                     corednssrc_set_endpoints() */
    size_t nendpoints;            /* at most COREDNSSRC_ENDPOINTS_MAX */
    const char *token_file;       /* bearer token file; read before each
                                     dial, surrounding whitespace ignored */
    const char *token;            /* the token itself, used when
                                     token_file is NULL (tests) */
    const char *subscriber_id;    /* node name; NULL or "" for $HOSTNAME,
                                     then gethostname() */
    int tls;                      /* 0 plaintext, 1 TLS */
    const char *ca_file;          /* TLS roots (PEM); NULL for defaults */
    const char *server_name;      /* TLS name to verify; NULL for the
                                     endpoint's host */
    uint32_t max_events_per_sec;  /* asked of the plugin; 0 its default */
    int include_unplaced;         /* also want clients the plugin cannot
                                     place on a node */
};

/* Counters of a source; see corednssrc_stats(). */
struct corednssrc_stats {
    uint64_t streams_up;      /* streams up now */
    uint64_t connects;        /* streams that came up */
    uint64_t reconnects;      /* dials after a failed or ended stream */
    uint64_t events;          /* events handed to emit */
    uint64_t malformed;       /* DNSEvents that did not decode */
    uint64_t auth_failures;   /* dials refused with UNAUTHENTICATED */
};

/* One endpoint as seen by corednssrc_endpoint_list(). */
struct corednssrc_endpoint_info {
    char target[COREDNSSRC_TARGET_MAX];
    uint64_t serial;          /* unique per endpoint object: a kept
                                 endpoint keeps it across a replacement */
    int up;                   /* 1 while its stream is up */
    unsigned attempt;         /* failures since the last healthy stream */
};

struct corednssrc;

/*
 * Check the options, read the CA file, work out the subscriber id and
 * build the SubscribeRequest.  Nothing is dialled until
 * corednssrc_start().  Returns the source, or NULL with a message in
 * err.  Control thread.
 */
struct corednssrc *corednssrc_open(const struct corednssrc_opts *o,
                                   event_emit_fn *emit, void *ctx,
                                   char *err, size_t errlen);

/*
 * Start one thread per endpoint.  Returns 0, -EALREADY after
 * corednssrc_stop(), or a negative errno.  Control thread.
 */
int corednssrc_start(struct corednssrc *s);

/*
 * Replace the endpoint set with targets[0..n) (duplicates count once).
 * Endpoints in both sets keep their streams untouched; removed ones are
 * cancelled and joined before this returns; new ones start at once when
 * the source is started.  Returns 0, -EINVAL (more than
 * COREDNSSRC_ENDPOINTS_MAX, or an empty or too long target; the set is
 * then unchanged) or -ENOMEM.  Control thread (the Kubernetes
 * EndpointSlice watcher); not from emit.
 */
int corednssrc_set_endpoints(struct corednssrc *s,
                             const char *const *targets, size_t n);

/*
 * Use token (copied; NULL or "" to go back to the file or option) for
 * every dial from now on; streams up stay up.  Returns 0, or -EINVAL
 * when longer than COREDNSSRC_TOKEN_MAX.  Any thread.
 */
int corednssrc_set_token(struct corednssrc *s, const char *token);

/*
 * Cancel every stream and join every thread.  No emit call happens
 * after it returns.  Safe when not started; not from emit.  Final: a
 * stopped source cannot be started again (its streams stay cancelled),
 * only freed.
 */
void corednssrc_stop(struct corednssrc *s);

/* Stop if needed and free everything. */
void corednssrc_free(struct corednssrc *s);

/*
 * CLOCK_MONOTONIC time (ns) of the last event handed to emit, 0 before
 * the first.  For the source supervisor's silence check; any thread.
 */
uint64_t corednssrc_last_event_ns(const struct corednssrc *s);

/* Snapshot of the counters; any thread. */
void corednssrc_stats(const struct corednssrc *s,
                      struct corednssrc_stats *out);

/*
 * Copy up to max endpoints into out, in set order.  Returns how many
 * endpoints there are.  Control thread.
 */
size_t corednssrc_endpoint_list(struct corednssrc *s,
                                struct corednssrc_endpoint_info *out,
                                size_t max);

/*
 * Decode one DNSEvent (serialized protobuf in msg[0..len)) into ev, which
 * is reset first.  Filled: kind DNS, source coredns, role CLIENT, flags
 * QUERY|RESPONSE, plus QUESTION when qname is not empty, LATENCY when
 * latency was sent, TRUNCATED when the TC bit is in flags; time_ns from
 * timestamp, latency_ns, response_ns = time_ns + latency_ns; client =
 * src_ip/src_port, server = dst_ip/dst_port; qname in the event's form
 * (escapes resolved, then lowercase, no trailing dot, bytes outside
 * [a-z0-9-_] as \DDD, "." for the root); qtype, qclass, rcode
 * (response_code), ancount (response_rr), id, dns_flags (flags),
 * transport, cgroup_id, query_size (request_size), response_size
 * (response_size, else payload_length); the first EVENT_ANSWERS_MAX
 * answers in answers[] (rdlen is the RDATA length as sent, which the
 * plugin cuts at 256) and answer_bytes summed over every answer sent.
 * node_name is checked for its wire type only.  Unknown fields are
 * skipped.  No allocation; thread-safe.
 *
 * Returns 0 or a negative enum corednssrc_error; after an error ev holds
 * partial data and should be dropped.
 */
int corednssrc_decode(const uint8_t *msg, size_t len, struct event *ev);

/* Stable label of a decode error (either sign): "coredns_protobuf"... */
const char *corednssrc_error_name(int err);

#endif

/*
 * tetragonsrc.h - the tetragon source: Tetragon's own gRPC API
 * (FineGuidanceSensors.GetEvents, on its unix socket) fed by the
 * TracingPolicy in deploy/tetragon/tracingpolicy.yaml.
 *
 * One thread dials Tetragon through grpcstream, asks for every event
 * (an empty GetEventsRequest; the policy does the filtering) and turns
 * each process_kprobe event that carries a socket into a struct event
 * handed to emit, on that thread.  Other event kinds are skipped.
 *
 * A kprobe event maps to: role CLIENT (the process that sends), client =
 * the socket's source address and port, server = its destination,
 * transport UDP, or DOT for TCP to port 853 (TCP elsewhere), pod_namespace
 * and pod_name from the process's pod, time from the response.  When an
 * argument holds the DNS message the process sent (a bytes argument; for
 * TCP to port 53 with its two-byte length) it is parsed as a query;
 * otherwise, and always for DOT whose bytes are encrypted, the event is
 * an EVENT_KIND_FLOW.
 *
 * A stream that fails or ends is dialled again after a backoff (the loop
 * of redial.h: full jitter, 500 ms doubling to 30 s, reset by a healthy
 * stream).
 *
 * Known shortcomings: Tetragon sees what a process sends, never the
 * answer, so events carry no response side: no rcode, latency, answers or
 * response size (see tetragonsrc_capabilities()).  The shipped policy
 * captures the socket and the size, not the payload: the kernel functions
 * it hooks take the message as an iovec Tetragon cannot read there, so
 * with that policy every event is a flow; a policy that adds a bytes
 * argument gets queries decoded.  struct event has no field for the
 * container, the binary or the pid: tetragonsrc_decode() hands them out
 * separately (struct tetragonsrc_proc) but the pipeline drops them.
 * The pod's uid is not in Tetragon's event, so Pod subjects from this
 * source carry none.
 *
 * Series: ugallu_dns_source_connected{source="tetragon"} (1 while the
 * stream is up), ugallu_dns_tetragon_reconnects_total,
 * ugallu_dns_tetragon_events_total, ugallu_dns_source_last_event_seconds
 * {source="tetragon"}, and ugallu_dns_malformed_total{kind} with the
 * labels of tetragonsrc_error_name().
 */
#ifndef DD_TETRAGONSRC_H
#define DD_TETRAGONSRC_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

/* Tetragon's method. */
#define TETRAGONSRC_METHOD "/tetragon.FineGuidanceSensors/GetEvents"
/* Tetragon's default socket, as a gRPC target. */
#define TETRAGONSRC_TARGET_DEFAULT "unix:/var/run/tetragon/tetragon.sock"
/* Longest target text, NUL included. */
#define TETRAGONSRC_TARGET_MAX 254

/* Why a GetEventsResponse was rejected, negated by tetragonsrc_decode(). */
enum tetragonsrc_error {
    TETRAGONSRC_OK = 0,
    TETRAGONSRC_E_PROTOBUF,  /* "tetragon_protobuf": bad wire format (the
                                rules of pbwire.h) or a field read here
                                with the wrong wire type */
    TETRAGONSRC_E_BAD_FIELD, /* "tetragon_bad_field": a port above 65535,
                                an address that is not IPv4/IPv6 text, a
                                time missing or not positive */
    TETRAGONSRC_E_DNS,       /* "tetragon_dns": the payload is no DNS
                                message; counted only, the event is still
                                handed on as a flow */
    TETRAGONSRC_E_COUNT      /* number of codes, not an error */
};

/* What a source can fill in: bits of tetragonsrc_capabilities(). */
#define TETRAGONSRC_CAP_QUERY    0x01u /* qname/qtype of queries (only
                                          with a payload-capturing policy) */
#define TETRAGONSRC_CAP_FLOW     0x02u /* client, server, ports, transport */
#define TETRAGONSRC_CAP_POD      0x04u /* pod_namespace of the client */
#define TETRAGONSRC_CAP_RESPONSE 0x08u /* response side: never set here */
#define TETRAGONSRC_CAP_RCODE    0x10u /* rcode: never set here */
#define TETRAGONSRC_CAP_LATENCY  0x20u /* latency: never set here */
#define TETRAGONSRC_CAP_ANSWERS  0x40u /* answers[]: never set here */

/* Process attribution of one event; strings are NUL-terminated and cut
   to fit. */
struct tetragonsrc_proc {
    uint32_t pid;            /* 0 when not sent */
    char binary[128];        /* process.binary */
    char pod_name[64];       /* process.pod.name, "" off Kubernetes */
    char container[80];      /* process.docker (container id) */
    char function[32];       /* the kprobe's function_name */
};

/* What the source dials. */
struct tetragonsrc_opts {
    const char *target;      /* gRPC target; NULL for
                                TETRAGONSRC_TARGET_DEFAULT; copied */
};

/* Counters of a source; see tetragonsrc_stats(). */
struct tetragonsrc_stats {
    uint64_t up;             /* 1 while the stream is up */
    uint64_t connects;       /* streams that came up */
    uint64_t reconnects;     /* dials after a failed or ended stream */
    uint64_t events;         /* events handed to emit */
    uint64_t skipped;        /* responses that were not for us */
    uint64_t malformed;      /* responses dropped as malformed */
};

struct tetragonsrc;

/*
 * Check the options.  Nothing is dialled until tetragonsrc_start().
 * Returns the source, or NULL with a message in err.  Needs
 * grpcstream_global_init().  Control thread.
 */
struct tetragonsrc *tetragonsrc_open(const struct tetragonsrc_opts *o,
                                     event_emit_fn *emit, void *ctx,
                                     char *err, size_t errlen);

/* Start the stream thread.  Returns 0, -EALREADY when started or
   stopped before, or a negative errno.  Control thread. */
int tetragonsrc_start(struct tetragonsrc *s);

/* Cancel the stream and join the thread: no emit call after it returns.
   Final; safe when not started.  Not from emit. */
void tetragonsrc_stop(struct tetragonsrc *s);

/* Stop if needed and free. */
void tetragonsrc_free(struct tetragonsrc *s);

/* CLOCK_MONOTONIC ns of the last event emitted, 0 before the first.
   Any thread. */
uint64_t tetragonsrc_last_event_ns(const struct tetragonsrc *s);

/* Snapshot of the counters; any thread. */
void tetragonsrc_stats(const struct tetragonsrc *s,
                       struct tetragonsrc_stats *out);

/*
 * What events of this source can hold, as TETRAGONSRC_CAP_* bits: QUERY,
 * FLOW and POD, never RESPONSE, RCODE, LATENCY or ANSWERS.  A detector
 * that needs a missing one should report itself degraded once instead of
 * never firing.  Constant; any thread.
 */
unsigned tetragonsrc_capabilities(void);

/*
 * Decode one GetEventsResponse (msg[0..len)) into ev (reset first) and,
 * when proc is not NULL, proc (cleared first).  Returns 1 when ev holds
 * an event, 0 when the response is not a process_kprobe with a sock, skb
 * or sockaddr argument (skip it), -TETRAGONSRC_E_DNS when ev holds a
 * flow but the payload was not DNS (emit ev, count the error), or
 * another negative enum tetragonsrc_error (drop).  Unknown fields are
 * skipped.  No allocation; thread-safe.
 */
int tetragonsrc_decode(const uint8_t *msg, size_t len, struct event *ev,
                       struct tetragonsrc_proc *proc);

/* Stable label of a decode error (either sign): "tetragon_protobuf"... */
const char *tetragonsrc_error_name(int err);

#endif

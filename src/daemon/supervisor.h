/*
 * supervisor.h - the live sources of a run: the primary, its silence
 * watch, and the fallback.
 *
 * The primary is the mode's source set (CoreDNS ugallu streams, a dnstap
 * listener, a packet capture, or several of them given together); the
 * fallback is spec.source.fallback with its own settings.  Every event
 * of a set goes through a wrapper that stores the time it passed (one
 * relaxed atomic store) and then to the pipeline.
 *
 * A supervisor thread looks at the primary's last-event time several
 * times per silence window (at most once a second).  After silence_ns
 * without an event it logs, reports DNSSourceSilent (class Anomaly)
 * through pipeline_report_anomaly(), starts the fallback and makes it the
 * active source.  The primary keeps running: a CoreDNS stream redials
 * with its own backoff, a dnstap listener keeps accepting.  As soon as
 * the primary delivers again the fallback is stopped and freed (a dnstap
 * fallback's unix socket is removed) and the primary is active again.
 * The fallback is built afresh at each switch, so no state of an earlier
 * episode survives.  Without a fallback the silence is still reported,
 * once per episode.
 *
 * Series: ugallu_dns_source_active{source} (1 for the active source, 0
 * for the other one) and ugallu_dns_source_switches_total{to}.
 *
 * DNSSourceSilent goes through the pipeline's deduplication like any
 * finding: episodes closer together than its window (60 s) fold into
 * the first one's mergedCount instead of each writing a SecurityEvent.
 *
 * CoreDNS endpoints found by the Kubernetes code (the DNS Service's
 * EndpointSlices) and the token read from its Secret are handed in with
 * supervisor_set_coredns_endpoints() and supervisor_set_coredns_token();
 * the supervisor keeps the latest of each and gives them to every
 * CoreDNS source it opens, primary or fallback, now or later.
 */
#ifndef DD_SUPERVISOR_H
#define DD_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/pipeline.h"

/* Longest time between two silence checks. */
#define SUPERVISOR_TICK_MAX_NS 1000000000ull
/* Shortest silence window accepted (shorter ones are raised to it). */
#define SUPERVISOR_SILENCE_MIN_NS 100000000ull

/* One source set: whatever is non-empty is opened.  Strings borrowed
 * until supervisor_free(). */
struct supervisor_spec {
    const char *const *coredns;  /* CoreDNS plugin endpoints */
    size_t ncoredns;
    int coredns_discover;        /* CoreDNS endpoints (and maybe the
                                    token) come later, through
                                    supervisor_set_coredns_*(); coredns
                                    and ncoredns are then ignored */
    const char *dnstap_socket;   /* dnstap unix socket path, or NULL */
    const char *dnstap_tcp;      /* dnstap "host:port", or NULL */
    const char *interface;       /* live capture interface, or NULL */
    const char *tetragon;        /* Tetragon's gRPC target
                                    ("unix:/path"), or NULL */
};

struct supervisor_options {
    struct pipeline *pipe;           /* borrowed; started before
                                        supervisor_start() */
    struct supervisor_spec primary;  /* must name at least one source */
    struct supervisor_spec fallback; /* all empty: no fallback */
    const char *node;                /* CoreDNS subscriber id */
    const char *coredns_token_file;  /* CoreDNS bearer token file */
    const char *coredns_ca_file;     /* TLS roots, NULL for defaults */
    int coredns_tls;                 /* 0 plaintext, 1 TLS */
    uint64_t silence_ns;             /* silenceAfter; 0 means 60 s */
};

/* What a state machine step asks of its caller. */
enum supervisor_action {
    SUPERVISOR_NONE = 0,
    SUPERVISOR_SILENT,     /* the primary went quiet: alarm, fallback */
    SUPERVISOR_RECOVERED,  /* the primary delivers again: switch back */
};

/*
 * The silence state machine, apart from threads and clocks so tests can
 * drive it with a fake clock.  All times are CLOCK_MONOTONIC ns.
 */
struct supervisor_fsm {
    uint64_t silence_ns;  /* window */
    uint64_t start_ns;    /* when watching began */
    uint64_t seen_ns;     /* primary's last-event time at the switch */
    int silent;           /* 1 between SILENT and RECOVERED */
};

/* Start watching at now with a silence window. */
void supervisor_fsm_init(struct supervisor_fsm *m, uint64_t now,
                         uint64_t silence_ns);

/*
 * One check at now, given the primary's last-event time (0 before the
 * first event).  Returns SUPERVISOR_SILENT once when the primary has been
 * quiet for the window (counted from start when it never spoke),
 * SUPERVISOR_RECOVERED once when, after that, its last-event time moves,
 * SUPERVISOR_NONE otherwise.
 */
enum supervisor_action supervisor_fsm_step(struct supervisor_fsm *m,
                                           uint64_t now, uint64_t last_ns);

struct supervisor;

/*
 * Open and start the primary set, then the supervisor thread.  Returns 0
 * and *out, or a negative errno after logging why (nothing is left
 * running then).  Main thread.
 */
int supervisor_start(const struct supervisor_options *o,
                     struct supervisor **out);

/*
 * Stop the thread and every source; no event reaches the pipeline after
 * it returns.  Main thread; NULL is fine.
 */
void supervisor_stop(struct supervisor *s);

/* Stop if needed and free; its sources' ugallu_dns_source_active
 * series read 0 afterwards.  NULL is fine. */
void supervisor_free(struct supervisor *s);

/*
 * Name of the source in use: "coredns-ugallu", "dnstap" or "pcap" for
 * the primary or the fallback, whichever is active.  Static string; any
 * thread.
 */
const char *supervisor_active_source(const struct supervisor *s);

/* Name of a spec's source: coredns-ugallu before dnstap before pcap;
 * "" when empty.  Static string. */
const char *supervisor_spec_name(const struct supervisor_spec *spec);

/*
 * The CoreDNS endpoints found now (targets[0..n), copied, at most
 * COREDNSSRC_ENDPOINTS_MAX; more are cut and logged), for every
 * coredns_discover set, running or opened later.  Returns 0 or a
 * negative errno from corednssrc_set_endpoints().  Any thread except a
 * source's emit; it may wait for removed streams to end.
 */
int supervisor_set_coredns_endpoints(struct supervisor *s,
                                     const char *const *targets, size_t n);

/*
 * The CoreDNS bearer token read from its Secret (copied; "" to go back
 * to the token file), for every CoreDNS set, running or opened later.
 * Any thread.
 */
void supervisor_set_coredns_token(struct supervisor *s, const char *token);

#endif

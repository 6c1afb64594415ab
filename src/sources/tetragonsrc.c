/*
 * tetragonsrc.c - Tetragon's GetEvents stream to struct event.
 *
 * The decoder reads only the fields it maps, in place, with pbwire.  The
 * field numbers are those of Tetragon's api/v1/tetragon/events.proto and
 * tetragon.proto (module github.com/cilium/tetragon/api v1.5.0); they are
 * part of Tetragon's public API and do not change between versions.
 */
#include "sources/tetragonsrc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pbwire.h"
#include "event/dnswire.h"
#include "sources/grpcstream.h"
#include "sources/redial.h"

/* GetEventsResponse */
#define TG_RESP_KPROBE 9u
#define TG_RESP_TIME 1001u
/* google.protobuf.Timestamp */
#define TG_TS_SECONDS 1u
#define TG_TS_NANOS 2u
/* ProcessKprobe */
#define TG_KP_PROCESS 1u
#define TG_KP_FUNCTION 3u
#define TG_KP_ARGS 4u
/* Process, Pod, google.protobuf.UInt32Value */
#define TG_PROC_PID 2u
#define TG_PROC_BINARY 5u
#define TG_PROC_POD 10u
#define TG_PROC_DOCKER 11u
#define TG_POD_NAMESPACE 1u
#define TG_POD_NAME 2u
#define TG_WRAP_VALUE 1u
/* KprobeArgument: the arg oneof members read here */
#define TG_ARG_SKB 3u
#define TG_ARG_SIZE 4u
#define TG_ARG_BYTES 5u
#define TG_ARG_TRUNCATED 8u
#define TG_ARG_SOCK 9u
#define TG_ARG_SOCKADDR 30u
/* KprobeTruncatedBytes */
#define TG_TRUNC_BYTES 1u

#define TETRAGONSRC_PORT_DOT 853u
#define TETRAGONSRC_ADDR_TEXT 64

static const char *const tetragonsrc_error_names[TETRAGONSRC_E_COUNT] = {
    [TETRAGONSRC_OK] = "ok",
    [TETRAGONSRC_E_PROTOBUF] = "tetragon_protobuf",
    [TETRAGONSRC_E_BAD_FIELD] = "tetragon_bad_field",
    [TETRAGONSRC_E_DNS] = "tetragon_dns",
};

/* Field numbers of the address fields in KprobeSock, KprobeSkb and
   KprobeSockaddr; 0 for a field the message lacks. */
struct tetragonsrc_layout {
    uint32_t saddr, daddr, sport, dport, protocol;
};

static const struct tetragonsrc_layout tetragonsrc_sock = { 6, 7, 8, 9, 3 };
static const struct tetragonsrc_layout tetragonsrc_skb = { 5, 6, 7, 8, 12 };
static const struct tetragonsrc_layout tetragonsrc_sockaddr = {
    0, 2, 0, 3, 0
};

/* A text or bytes field as found: a slice of the message. */
struct tetragonsrc_slice {
    const uint8_t *p;
    size_t len;
};

/* What the kprobe's arguments gave; the first of each kind wins. */
struct tetragonsrc_args {
    bool have_addr;
    struct tetragonsrc_slice saddr, daddr, protocol, payload;
    uint64_t sport, dport;
    bool have_payload;
    uint64_t size;
    bool have_size;
};

/* The top level and the kprobe, before mapping. */
struct tetragonsrc_msg {
    struct tetragonsrc_slice kprobe, time, function, process;
    bool have_kprobe, have_time;
    struct tetragonsrc_args args;
};

/* Next field, or -TETRAGONSRC_E_PROTOBUF. */
static int
tetragonsrc_next(struct pbwire *pb, struct pbwire_field *f)
{
    return pbwire_next(pb, f) < 0 ? -TETRAGONSRC_E_PROTOBUF : 0;
}

/* 0 when f has wire type wire, else -TETRAGONSRC_E_PROTOBUF. */
static int
tetragonsrc_want(const struct pbwire_field *f, unsigned wire)
{
    return f->wire == wire ? 0 : -TETRAGONSRC_E_PROTOBUF;
}

/* Keep a length-delimited field as a slice. */
static int
tetragonsrc_take(const struct pbwire_field *f, struct tetragonsrc_slice *s)
{
    if (f->wire != PBWIRE_BYTES) {
        return -TETRAGONSRC_E_PROTOBUF;
    }
    s->p = f->bytes;
    s->len = f->len;
    return 0;
}

/* Copy a text slice into out (size > 0), cut to fit, NUL-terminated. */
static void
tetragonsrc_copy(const struct tetragonsrc_slice *s, char *out, size_t size)
{
    size_t n = s->len < size - 1 ? s->len : size - 1;

    if (n > 0) {
        memcpy(out, s->p, n);
    }
    out[n] = '\0';
}

/* One field of an address message laid out as l. */
static int
tetragonsrc_addr_field(const struct pbwire_field *f,
                       const struct tetragonsrc_layout *l,
                       struct tetragonsrc_args *a)
{
    if (f->number == l->saddr) {
        return tetragonsrc_take(f, &a->saddr);
    }
    if (f->number == l->daddr) {
        return tetragonsrc_take(f, &a->daddr);
    }
    if (f->number == l->protocol) {
        return tetragonsrc_take(f, &a->protocol);
    }
    if (f->number == l->sport || f->number == l->dport) {
        if (f->wire != PBWIRE_VARINT) {
            return -TETRAGONSRC_E_PROTOBUF;
        }
        *(f->number == l->sport ? &a->sport : &a->dport) = f->value;
    }
    return 0;
}

/* A KprobeSock, KprobeSkb or KprobeSockaddr, by layout l. */
static int
tetragonsrc_read_addr(const struct pbwire_field *arg,
                      const struct tetragonsrc_layout *l,
                      struct tetragonsrc_args *a)
{
    struct pbwire pb = { arg->bytes, arg->bytes + arg->len };
    struct pbwire_field f;
    int rc = tetragonsrc_want(arg, PBWIRE_BYTES);

    while (rc == 0 && pb.p < pb.end) {
        rc = tetragonsrc_next(&pb, &f);
        if (rc == 0 && f.number != 0) {
            rc = tetragonsrc_addr_field(&f, l, a);
        }
    }
    a->have_addr = true;
    return rc;
}

/* The bytes of a KprobeTruncatedBytes: what Tetragon kept. */
static int
tetragonsrc_read_truncated(const struct pbwire_field *arg,
                           struct tetragonsrc_args *a)
{
    struct pbwire pb = { arg->bytes, arg->bytes + arg->len };
    struct pbwire_field f;
    int rc = tetragonsrc_want(arg, PBWIRE_BYTES);

    while (rc == 0 && pb.p < pb.end) {
        rc = tetragonsrc_next(&pb, &f);
        if (rc == 0 && f.number == TG_TRUNC_BYTES) {
            rc = tetragonsrc_take(&f, &a->payload);
            a->have_payload = true;
        }
    }
    return rc;
}

/* One member of a KprobeArgument's oneof; others are skipped. */
static int
tetragonsrc_arg_member(const struct pbwire_field *f,
                       struct tetragonsrc_args *a)
{
    switch (f->number) {
    case TG_ARG_SOCK:
        return a->have_addr ? 0 :
               tetragonsrc_read_addr(f, &tetragonsrc_sock, a);
    case TG_ARG_SKB:
        return a->have_addr ? 0 :
               tetragonsrc_read_addr(f, &tetragonsrc_skb, a);
    case TG_ARG_SOCKADDR:
        return a->have_addr ? 0 :
               tetragonsrc_read_addr(f, &tetragonsrc_sockaddr, a);
    case TG_ARG_BYTES:
        if (a->have_payload) {
            return tetragonsrc_want(f, PBWIRE_BYTES);
        }
        a->have_payload = true;
        return tetragonsrc_take(f, &a->payload);
    case TG_ARG_TRUNCATED:
        return a->have_payload ? tetragonsrc_want(f, PBWIRE_BYTES) :
               tetragonsrc_read_truncated(f, a);
    case TG_ARG_SIZE:
        a->size = a->have_size ? a->size : f->value;
        a->have_size = true;
        return tetragonsrc_want(f, PBWIRE_VARINT);
    default:
        return 0;
    }
}

/* One KprobeArgument. */
static int
tetragonsrc_read_arg(const struct pbwire_field *arg,
                     struct tetragonsrc_args *a)
{
    struct pbwire pb = { arg->bytes, arg->bytes + arg->len };
    struct pbwire_field f;
    int rc = tetragonsrc_want(arg, PBWIRE_BYTES);

    while (rc == 0 && pb.p < pb.end) {
        rc = tetragonsrc_next(&pb, &f);
        if (rc == 0) {
            rc = tetragonsrc_arg_member(&f, a);
        }
    }
    return rc;
}

/* The ProcessKprobe: process and function kept, arguments read. */
static int
tetragonsrc_read_kprobe(struct tetragonsrc_msg *m)
{
    struct pbwire pb = { m->kprobe.p, m->kprobe.p + m->kprobe.len };
    struct pbwire_field f;
    int rc = 0;

    while (rc == 0 && pb.p < pb.end) {
        rc = tetragonsrc_next(&pb, &f);
        if (rc < 0) {
            break;
        }
        if (f.number == TG_KP_PROCESS) {
            rc = tetragonsrc_take(&f, &m->process);
        } else if (f.number == TG_KP_FUNCTION) {
            rc = tetragonsrc_take(&f, &m->function);
        } else if (f.number == TG_KP_ARGS) {
            rc = tetragonsrc_read_arg(&f, &m->args);
        }
    }
    return rc;
}

/* The GetEventsResponse: the kprobe and the time, kept as slices. */
static int
tetragonsrc_read_top(const uint8_t *msg, size_t len,
                     struct tetragonsrc_msg *m)
{
    struct pbwire pb = { msg, msg + len };
    struct pbwire_field f;
    int rc = 0;

    while (rc == 0 && pb.p < pb.end) {
        rc = tetragonsrc_next(&pb, &f);
        if (rc < 0) {
            break;
        }
        if (f.number == TG_RESP_KPROBE) {
            rc = tetragonsrc_take(&f, &m->kprobe);
            m->have_kprobe = true;
        } else if (f.number == TG_RESP_TIME) {
            rc = tetragonsrc_take(&f, &m->time);
            m->have_time = true;
        }
    }
    return rc;
}

/* A Timestamp to Unix ns; a missing or non-positive one is refused. */
static int
tetragonsrc_time(const struct tetragonsrc_msg *m, uint64_t *ns)
{
    struct pbwire pb = { m->time.p, m->time.p + m->time.len };
    struct pbwire_field f;
    uint64_t sec = 0;
    uint64_t nanos = 0;

    while (pb.p < pb.end) {
        if (pbwire_next(&pb, &f) < 0 || f.wire != PBWIRE_VARINT) {
            return -TETRAGONSRC_E_PROTOBUF;
        }
        sec = f.number == TG_TS_SECONDS ? f.value : sec;
        nanos = f.number == TG_TS_NANOS ? f.value : nanos;
    }
    if (!m->have_time || sec == 0 || sec > INT64_MAX / 1000000000 ||
        nanos >= 1000000000) {
        return -TETRAGONSRC_E_BAD_FIELD;
    }
    *ns = sec * 1000000000ull + nanos;
    return 0;
}

/* Address text ("10.0.0.1", "fd00::1") into a; "" leaves it unknown. */
static int
tetragonsrc_addr(const struct tetragonsrc_slice *s, struct event_addr *a)
{
    char text[TETRAGONSRC_ADDR_TEXT];
    uint8_t raw[16];

    if (s->len == 0) {
        return 0;
    }
    if (s->len >= sizeof(text)) {
        return -TETRAGONSRC_E_BAD_FIELD;
    }
    tetragonsrc_copy(s, text, sizeof(text));
    if (inet_pton(AF_INET, text, raw) == 1) {
        event_addr_set(a, raw, 4);
    } else if (inet_pton(AF_INET6, text, raw) == 1) {
        event_addr_set(a, raw, 16);
    } else {
        return -TETRAGONSRC_E_BAD_FIELD;
    }
    return 0;
}

/* Whether slice s is the text t. */
static bool
tetragonsrc_is(const struct tetragonsrc_slice *s, const char *t)
{
    return s->len == strlen(t) && memcmp(s->p, t, s->len) == 0;
}

/* Whether slice s contains the text t. */
static bool
tetragonsrc_has(const struct tetragonsrc_slice *s, const char *t)
{
    size_t n = strlen(t);

    for (size_t i = 0; i + n <= s->len; i++) {
        if (memcmp(s->p + i, t, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Transport from the socket's protocol, else the function's name. */
static uint8_t
tetragonsrc_transport(const struct tetragonsrc_msg *m)
{
    const struct tetragonsrc_args *a = &m->args;
    bool udp = tetragonsrc_is(&a->protocol, "IPPROTO_UDP");
    bool tcp = tetragonsrc_is(&a->protocol, "IPPROTO_TCP");

    if (a->protocol.len == 0) {
        udp = tetragonsrc_has(&m->function, "udp");
        tcp = tetragonsrc_has(&m->function, "tcp");
    }
    if (tcp) {
        return a->dport == TETRAGONSRC_PORT_DOT ? EVENT_TRANSPORT_DOT :
               EVENT_TRANSPORT_TCP;
    }
    return udp ? EVENT_TRANSPORT_UDP : EVENT_TRANSPORT_UNKNOWN;
}

/* Addresses, ports and transport into ev. */
static int
tetragonsrc_flow(const struct tetragonsrc_msg *m, struct event *ev)
{
    const struct tetragonsrc_args *a = &m->args;

    if (a->sport > 65535 || a->dport > 65535 ||
        tetragonsrc_addr(&a->saddr, &ev->client) < 0 ||
        tetragonsrc_addr(&a->daddr, &ev->server) < 0) {
        return -TETRAGONSRC_E_BAD_FIELD;
    }
    ev->client_port = (uint16_t)a->sport;
    ev->server_port = (uint16_t)a->dport;
    ev->transport = tetragonsrc_transport(m);
    ev->kind = EVENT_KIND_FLOW;
    if (a->have_size && a->size <= UINT32_MAX) {
        ev->query_size = (uint32_t)a->size;
    }
    return 0;
}

/*
 * Parse the payload as a query.  TCP carries a two-byte length first;
 * a TCP write shorter than a DNS header (the length alone, sent apart)
 * stays a flow.  DOT is never parsed.
 */
static int
tetragonsrc_payload(const struct tetragonsrc_args *a, struct event *ev)
{
    const uint8_t *p = a->payload.p;
    size_t len = a->payload.len;
    struct event q;

    if (!a->have_payload || ev->transport == EVENT_TRANSPORT_DOT) {
        return 0;
    }
    if (ev->transport == EVENT_TRANSPORT_TCP) {
        if (len >= 2 && (size_t)(p[0] << 8 | p[1]) == len - 2) {
            p += 2;
            len -= 2;
        }
        if (len < 12) {
            return 0;
        }
    }
    q = *ev;
    if (dnswire_parse(p, len, &q) < 0) {
        return -TETRAGONSRC_E_DNS;
    }
    q.kind = EVENT_KIND_DNS;
    *ev = q;
    return 0;
}

/* One field of a Pod: the namespace into ev, the name into proc and,
 * when it fits whole, into ev. */
static int
tetragonsrc_pod_field(const struct pbwire_field *f, struct event *ev,
                      struct tetragonsrc_proc *proc)
{
    struct tetragonsrc_slice s;

    if (f->number != TG_POD_NAMESPACE && f->number != TG_POD_NAME) {
        return 0;
    }
    if (tetragonsrc_take(f, &s) < 0) {
        return -TETRAGONSRC_E_PROTOBUF;
    }
    if (f->number == TG_POD_NAMESPACE) {
        tetragonsrc_copy(&s, ev->pod_namespace, sizeof(ev->pod_namespace));
    } else {
        tetragonsrc_copy(&s, proc->pod_name, sizeof(proc->pod_name));
        if (s.len < sizeof(ev->pod_name)) {
            tetragonsrc_copy(&s, ev->pod_name, sizeof(ev->pod_name));
        }
    }
    return 0;
}

/* Read every field of the message in s with fn. */
static int
tetragonsrc_each(const struct tetragonsrc_slice *s,
                 int (*fn)(const struct pbwire_field *, struct event *,
                           struct tetragonsrc_proc *),
                 struct event *ev, struct tetragonsrc_proc *proc)
{
    struct pbwire pb = { s->p, s->p + s->len };
    struct pbwire_field f;
    int rc = 0;

    while (rc == 0 && pb.p < pb.end) {
        rc = tetragonsrc_next(&pb, &f);
        if (rc == 0) {
            rc = fn(&f, ev, proc);
        }
    }
    return rc;
}

/* The value of a google.protobuf.UInt32Value. */
static int
tetragonsrc_wrapped(const struct pbwire_field *f, uint32_t *out)
{
    struct pbwire pb = { f->bytes, f->bytes + f->len };
    struct pbwire_field v;

    if (f->wire != PBWIRE_BYTES) {
        return -TETRAGONSRC_E_PROTOBUF;
    }
    while (pb.p < pb.end) {
        if (pbwire_next(&pb, &v) < 0 || v.wire != PBWIRE_VARINT) {
            return -TETRAGONSRC_E_PROTOBUF;
        }
        *out = v.number == TG_WRAP_VALUE ? (uint32_t)v.value : *out;
    }
    return 0;
}

/* Copy a text field into out. */
static int
tetragonsrc_proc_text(const struct pbwire_field *f, char *out, size_t size)
{
    struct tetragonsrc_slice s;

    if (tetragonsrc_take(f, &s) < 0) {
        return -TETRAGONSRC_E_PROTOBUF;
    }
    tetragonsrc_copy(&s, out, size);
    return 0;
}

/* One field of a Process. */
static int
tetragonsrc_proc_field(const struct pbwire_field *f, struct event *ev,
                       struct tetragonsrc_proc *proc)
{
    struct tetragonsrc_proc *p = proc;
    struct tetragonsrc_slice pod;

    switch (f->number) {
    case TG_PROC_PID:
        return tetragonsrc_wrapped(f, &p->pid);
    case TG_PROC_BINARY:
        return tetragonsrc_proc_text(f, p->binary, sizeof(p->binary));
    case TG_PROC_DOCKER:
        return tetragonsrc_proc_text(f, p->container,
                                     sizeof(p->container));
    case TG_PROC_POD:
        if (tetragonsrc_take(f, &pod) < 0) {
            return -TETRAGONSRC_E_PROTOBUF;
        }
        return tetragonsrc_each(&pod, tetragonsrc_pod_field, ev, proc);
    default:
        return 0;
    }
}

int
tetragonsrc_decode(const uint8_t *msg, size_t len, struct event *ev,
                   struct tetragonsrc_proc *proc)
{
    struct tetragonsrc_msg m;
    struct tetragonsrc_proc scratch;
    int rc;

    event_reset(ev);
    memset(&m, 0, sizeof(m));
    proc = proc != NULL ? proc : &scratch;
    memset(proc, 0, sizeof(*proc));
    rc = tetragonsrc_read_top(msg, len, &m);
    if (rc == 0 && m.have_kprobe) {
        rc = tetragonsrc_read_kprobe(&m);
    }
    if (rc < 0 || !m.have_kprobe || !m.args.have_addr) {
        return rc < 0 ? rc : 0;
    }

    ev->source = EVENT_SOURCE_TETRAGON;
    ev->role = EVENT_ROLE_CLIENT;
    rc = tetragonsrc_time(&m, &ev->time_ns);
    if (rc == 0) {
        rc = tetragonsrc_flow(&m, ev);
    }
    if (rc == 0) {
        rc = tetragonsrc_each(&m.process, tetragonsrc_proc_field, ev, proc);
    }
    if (rc == 0) {
        tetragonsrc_copy(&m.function, proc->function,
                         sizeof(proc->function));
    }
    if (rc == 0) {
        rc = tetragonsrc_payload(&m.args, ev);
    }
    return rc == 0 ? 1 : rc;
}

const char *
tetragonsrc_error_name(int err)
{
    unsigned e = (unsigned)(err < 0 ? -err : err);

    return e < TETRAGONSRC_E_COUNT ? tetragonsrc_error_names[e] : "unknown";
}

unsigned
tetragonsrc_capabilities(void)
{
    return TETRAGONSRC_CAP_QUERY | TETRAGONSRC_CAP_FLOW |
           TETRAGONSRC_CAP_POD;
}

/* ---- the stream ---- */

#define TETRAGONSRC_OPEN_TIMEOUT_MS 10000u
#define TETRAGONSRC_KEEPALIVE_MS 30000u
#define TETRAGONSRC_NS 1000000000ull

struct tetragonsrc_counters {
    atomic_uint_fast64_t up, connects, reconnects, events, skipped;
    atomic_uint_fast64_t malformed, last_event_ns;
};

struct tetragonsrc {
    char target[TETRAGONSRC_TARGET_MAX];
    event_emit_fn *emit;
    void *ctx;
    struct redial loop;      /* the stream and its thread */
    bool loop_ready;         /* loop initialised */
    bool started;
    int state;               /* last reported stream state; loop thread */
    struct tetragonsrc_counters c;
    struct metrics_series *m_connected, *m_reconnects, *m_events;
    struct metrics_series *m_last_event;
};

/* Log a change of the stream's state at warn; repeats at debug. */
static void
tetragonsrc_report(struct tetragonsrc *s, int state, const char *why)
{
    int level = state == s->state ? LOG_DEBUG : LOG_WARN;

    s->state = state;
    if (state == GRPCSTREAM_OK) {
        log_info("tetragon stream up", "target=%s", s->target);
    } else if (state > 0) {
        log_at(level, "tetragon stream down", "target=%s status=%s "
               "details=\"%s\"", s->target, grpcstream_status_name(state),
               why);
    } else {
        log_at(level, "tetragon stream down", "target=%s error=\"%s\"",
               s->target, strerror(-state));
    }
}

/* Decode one response and hand it on, skip it, or count it. */
static void
tetragonsrc_deliver(void *ctx, const uint8_t *msg, size_t len)
{
    struct tetragonsrc *s = ctx;
    struct event ev;
    int rc = tetragonsrc_decode(msg, len, &ev, NULL);

    if (rc == 0) {
        atomic_fetch_add(&s->c.skipped, 1);
        return;
    }
    if (rc < 0) {
        metrics_malformed(tetragonsrc_error_name(rc));
        atomic_fetch_add(&s->c.malformed, 1);
    }
    if (rc < 0 && rc != -TETRAGONSRC_E_DNS) {
        return;
    }
    s->emit(s->ctx, &ev);

    atomic_fetch_add(&s->c.events, 1);
    atomic_store(&s->c.last_event_ns, clock_ns(CLOCK_MONOTONIC));
    metrics_inc(s->m_events);
    metrics_set(s->m_last_event,
                (int64_t)(clock_ns(CLOCK_REALTIME) / TETRAGONSRC_NS));
}

/* The stream came up or went down. */
static void
tetragonsrc_up(void *ctx, int up)
{
    struct tetragonsrc *s = ctx;

    atomic_store(&s->c.up, (uint64_t)up);
    metrics_set(s->m_connected, up);
    if (up) {
        atomic_fetch_add(&s->c.connects, 1);
        tetragonsrc_report(s, GRPCSTREAM_OK, "");
    }
}

/* The call of every dial: GetEventsRequest{}, all events (the policy
 * does the filtering). */
static int
tetragonsrc_prepare(void *ctx, struct grpcstream_opts *o, const void **req,
                    size_t *reqlen, char *secret, size_t secret_len)
{
    static const uint8_t request[1];
    struct tetragonsrc *s = ctx;

    (void)secret;
    (void)secret_len;
    o->target = s->target;
    o->method = TETRAGONSRC_METHOD;
    o->keepalive_ms = TETRAGONSRC_KEEPALIVE_MS;
    o->open_timeout_ms = TETRAGONSRC_OPEN_TIMEOUT_MS;
    *req = request;
    *reqlen = 0;
    return 0;
}

/* How an attempt ended: a call that ended cleanly still means the
 * stream is gone. */
static void
tetragonsrc_ended(void *ctx, int status, int open_rc, const char *details)
{
    tetragonsrc_report(ctx, status > 0 ? status :
                       (open_rc < 0 ? open_rc : GRPCSTREAM_UNAVAILABLE),
                       details);
}

static void
tetragonsrc_redialing(void *ctx)
{
    struct tetragonsrc *s = ctx;

    atomic_fetch_add(&s->c.reconnects, 1);
    metrics_inc(s->m_reconnects);
}

static const struct redial_ops tetragonsrc_ops = {
    .prepare = tetragonsrc_prepare,
    .deliver = tetragonsrc_deliver,
    .up = tetragonsrc_up,
    .ended = tetragonsrc_ended,
    .redialing = tetragonsrc_redialing,
};

static void
tetragonsrc_metrics(struct tetragonsrc *s)
{
    const char *src = "source=\"tetragon\"";

    s->m_connected = metrics_gauge("ugallu_dns_source_connected", src,
        "Senders or streams of a source connected now.");
    s->m_reconnects = metrics_counter("ugallu_dns_tetragon_reconnects_total",
        "", "Dials of Tetragon after a failed or ended stream.");
    s->m_events = metrics_counter("ugallu_dns_tetragon_events_total", "",
        "Tetragon kprobe events handed on.");
    s->m_last_event = metrics_gauge("ugallu_dns_source_last_event_seconds",
        src, "Unix time of the last event from a source.");
}

struct tetragonsrc *
tetragonsrc_open(const struct tetragonsrc_opts *o, event_emit_fn *emit,
                 void *ctx, char *err, size_t errlen)
{
    const char *target = o->target != NULL ? o->target :
                         TETRAGONSRC_TARGET_DEFAULT;
    struct tetragonsrc *s;

    if (emit == NULL || target[0] == '\0' ||
        strlen(target) >= TETRAGONSRC_TARGET_MAX) {
        snprintf(err, errlen, "tetragon: empty or too long target");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "tetragon: out of memory");
        return NULL;
    }
    /* Paired with the shutdown in tetragonsrc_free(); gRPC counts. */
    grpcstream_global_init();
    if (redial_init(&s->loop, &tetragonsrc_ops, s,
                    clock_ns(CLOCK_MONOTONIC)) != 0) {
        tetragonsrc_free(s);
        snprintf(err, errlen, "tetragon: out of memory");
        return NULL;
    }
    s->loop_ready = true;

    snprintf(s->target, sizeof(s->target), "%s", target);
    s->emit = emit;
    s->ctx = ctx;
    s->state = -1000;
    tetragonsrc_metrics(s);
    return s;
}

int
tetragonsrc_start(struct tetragonsrc *s)
{
    int rc;

    if (s->started) {
        return -EALREADY;
    }
    s->started = true;
    rc = redial_start(&s->loop);
    return rc;
}

void
tetragonsrc_stop(struct tetragonsrc *s)
{
    redial_signal(&s->loop);
    s->started = true;
    redial_join(&s->loop);
}

void
tetragonsrc_free(struct tetragonsrc *s)
{
    if (s == NULL) {
        return;
    }
    if (s->loop_ready) {
        redial_destroy(&s->loop);
    }
    free(s);
    grpcstream_global_shutdown();
}

uint64_t
tetragonsrc_last_event_ns(const struct tetragonsrc *s)
{
    return atomic_load(&s->c.last_event_ns);
}

void
tetragonsrc_stats(const struct tetragonsrc *s, struct tetragonsrc_stats *out)
{
    out->up = atomic_load(&s->c.up);
    out->connects = atomic_load(&s->c.connects);
    out->reconnects = atomic_load(&s->c.reconnects);
    out->events = atomic_load(&s->c.events);
    out->skipped = atomic_load(&s->c.skipped);
    out->malformed = atomic_load(&s->c.malformed);
}

/*
 * corednssrc.c - the coredns-ugallu source: DNSEvent decoding, and one
 * reconnecting Subscribe stream per CoreDNS endpoint.
 *
 * Decoding reads the protobuf wire format by hand, like dnstap.c: one
 * pass records where each field lies (later copies of a scalar win, as
 * protobuf wants), answers are summarised as they come, and the event is
 * filled afterwards.  Field numbers follow proto/ugallu_dns_stream.proto.
 *
 * Threads: each endpoint has its own thread and its own grpcstream (one
 * completion queue per endpoint), which keeps every stream independent
 * and makes a stop simple: set the endpoint's flag, cancel its stream,
 * wake its backoff wait, join.  A CoreDNS deployment has a handful of
 * replicas, so a thread each is cheap.  set_mu serialises the control
 * calls (start, set_endpoints, stop) against each other.
 */
#include "sources/corednssrc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pbwire.h"
#include "event/dnswire.h"
#include "sources/grpcstream.h"
#include "sources/redial.h"
#include "ugallu_dns_stream.pb-c.h"

/* ------------------------------------------------------------------ */
/* DNSEvent decoding                                                  */
/* ------------------------------------------------------------------ */


/* Fields of DNSEvent. */
enum corednssrc_field {
    COREDNSSRC_F_TIMESTAMP = 1,
    COREDNSSRC_F_NODE_NAME = 2,
    COREDNSSRC_F_SRC_IP = 3,
    COREDNSSRC_F_CGROUP = 4,
    COREDNSSRC_F_DST_IP = 5,
    COREDNSSRC_F_DST_PORT = 6,
    COREDNSSRC_F_QNAME = 7,
    COREDNSSRC_F_QTYPE = 8,
    COREDNSSRC_F_QCLASS = 9,
    COREDNSSRC_F_RCODE = 10,
    COREDNSSRC_F_RESPONSE_RR = 11,
    COREDNSSRC_F_LATENCY = 12,
    COREDNSSRC_F_PAYLOAD_LEN = 13,
    COREDNSSRC_F_SRC_PORT = 14,
    COREDNSSRC_F_TRANSPORT = 15,
    COREDNSSRC_F_ANSWERS = 16,
    COREDNSSRC_F_REQUEST_SIZE = 17,
    COREDNSSRC_F_RESPONSE_SIZE = 18,
    COREDNSSRC_F_ID = 19,
    COREDNSSRC_F_FLAGS = 20,
    COREDNSSRC_F_COUNT = 21,   /* one past the last field */
};

/* Fields of Answer. */
#define COREDNSSRC_A_TYPE 1u
#define COREDNSSRC_A_TTL 2u
#define COREDNSSRC_A_DATA 3u

/* Largest value of each scalar field; 0 marks a bytes field. */
static const uint64_t corednssrc_field_max[COREDNSSRC_F_COUNT] = {
    [COREDNSSRC_F_TIMESTAMP] = INT64_MAX,
    [COREDNSSRC_F_CGROUP] = UINT64_MAX,
    [COREDNSSRC_F_DST_PORT] = UINT16_MAX,
    [COREDNSSRC_F_QTYPE] = UINT16_MAX,
    [COREDNSSRC_F_QCLASS] = UINT16_MAX,
    [COREDNSSRC_F_RCODE] = 4095,
    [COREDNSSRC_F_RESPONSE_RR] = UINT16_MAX,
    [COREDNSSRC_F_LATENCY] = INT64_MAX,
    [COREDNSSRC_F_PAYLOAD_LEN] = UINT32_MAX,
    [COREDNSSRC_F_SRC_PORT] = UINT16_MAX,
    [COREDNSSRC_F_TRANSPORT] = UINT64_MAX,  /* unknown values tolerated */
    [COREDNSSRC_F_REQUEST_SIZE] = UINT32_MAX,
    [COREDNSSRC_F_RESPONSE_SIZE] = UINT32_MAX,
    [COREDNSSRC_F_ID] = UINT16_MAX,
    [COREDNSSRC_F_FLAGS] = UINT16_MAX,
};

/* Longest wire name, and the buffer that builds one with room to spare. */
#define PBWIRE_NAME_MAX 255
#define COREDNSSRC_LABEL_MAX 63

static const char *const corednssrc_error_names[COREDNSSRC_E_COUNT] = {
    [COREDNSSRC_OK] = "ok",
    [COREDNSSRC_E_PROTOBUF] = "coredns_protobuf",
    [COREDNSSRC_E_BAD_FIELD] = "coredns_bad_field",
    [COREDNSSRC_E_QNAME] = "coredns_qname",
};

/* Where the fields of a DNSEvent lie; only bits of present are valid. */
struct corednssrc_msg {
    uint32_t present;        /* bit n: field n was seen */
    uint64_t value[COREDNSSRC_F_COUNT];
    const uint8_t *bytes[COREDNSSRC_F_COUNT];
    size_t len[COREDNSSRC_F_COUNT];
};

/* The next field, with our error code. */
static int
corednssrc_next(struct pbwire *pb, struct pbwire_field *f)
{
    return pbwire_next(pb, f) < 0 ? -COREDNSSRC_E_PROTOBUF : 0;
}

/* One Answer as read from the wire. */
struct corednssrc_ans {
    uint64_t type;
    uint64_t ttl;
    const uint8_t *data;
    size_t len;
};

/* Read the fields of one Answer; unknown ones are skipped. */
static int
corednssrc_answer_read(const uint8_t *p, size_t len,
                       struct corednssrc_ans *a)
{
    struct pbwire pb = { p, p + len };
    struct pbwire_field f;

    memset(a, 0, sizeof(*a));
    while (pb.p < pb.end) {
        int rc = corednssrc_next(&pb, &f);
        bool bytes = f.number == COREDNSSRC_A_DATA;

        if (rc < 0) {
            return rc;
        }
        if (f.number > COREDNSSRC_A_DATA) {
            continue;
        }
        if (f.wire != (bytes ? PBWIRE_BYTES
                             : PBWIRE_VARINT)) {
            return -COREDNSSRC_E_PROTOBUF;
        }
        if (f.number == COREDNSSRC_A_TYPE) {
            a->type = f.value;
        } else if (f.number == COREDNSSRC_A_TTL) {
            a->ttl = f.value;
        } else {
            a->data = f.bytes;
            a->len = f.len;
        }
    }
    return 0;
}

/* Decode one Answer into the event's summary (the first few kept). */
static int
corednssrc_answer(const uint8_t *p, size_t len, struct event *ev)
{
    struct corednssrc_ans a;
    int rc = corednssrc_answer_read(p, len, &a);

    if (rc < 0) {
        return rc;
    }
    if (a.type > UINT16_MAX || a.ttl > UINT32_MAX || a.len > UINT16_MAX) {
        return -COREDNSSRC_E_BAD_FIELD;
    }

    ev->answer_bytes += (uint32_t)a.len;
    if (ev->answer_count < EVENT_ANSWERS_MAX) {
        struct event_answer *out = &ev->answers[ev->answer_count++];
        size_t keep = a.len < sizeof(out->data) ? a.len : sizeof(out->data);

        out->type = (uint16_t)a.type;
        out->ttl = (uint32_t)a.ttl;
        out->rdlen = (uint16_t)a.len;
        if (keep > 0) {
            memcpy(out->data, a.data, keep);
        }
    }
    return 0;
}

/* Check f's wire type against the field it claims to be. */
static int
corednssrc_wire_ok(const struct pbwire_field *f)
{
    bool bytes = corednssrc_field_max[f->number] == 0;

    if (bytes) {
        return f->wire == PBWIRE_BYTES;
    }
    return f->wire == PBWIRE_VARINT;
}

/* Record the fields of a DNSEvent; answers are decoded as they come. */
static int
corednssrc_read(const uint8_t *p, size_t len, struct corednssrc_msg *m,
                struct event *ev)
{
    struct pbwire pb = { p, p + len };
    struct pbwire_field f;

    while (pb.p < pb.end) {
        int rc = corednssrc_next(&pb, &f);

        if (rc < 0) {
            return rc;
        }
        if (f.number >= COREDNSSRC_F_COUNT) {
            continue;   /* unknown: skipped */
        }
        if (!corednssrc_wire_ok(&f)) {
            return -COREDNSSRC_E_PROTOBUF;
        }
        if (f.number == COREDNSSRC_F_ANSWERS) {
            rc = corednssrc_answer(f.bytes, f.len, ev);
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        m->present |= 1u << f.number;
        m->value[f.number] = f.value;
        m->bytes[f.number] = f.bytes;
        m->len[f.number] = f.len;
    }
    return 0;
}

/* Check every scalar against its range. */
static int
corednssrc_ranges(const struct corednssrc_msg *m)
{
    for (unsigned n = 1; n < COREDNSSRC_F_COUNT; n++) {
        uint64_t max = corednssrc_field_max[n];

        if ((m->present & 1u << n) && max != 0 && m->value[n] > max) {
            return -COREDNSSRC_E_BAD_FIELD;
        }
    }
    if (!(m->present & 1u << COREDNSSRC_F_TIMESTAMP) ||
        m->value[COREDNSSRC_F_TIMESTAMP] == 0) {
        return -COREDNSSRC_E_BAD_FIELD;
    }
    return 0;
}

/* An address field: absent or empty gives family 0. */
static int
corednssrc_addr(const struct corednssrc_msg *m, unsigned n,
                struct event_addr *a)
{
    size_t len = m->len[n];

    if (!(m->present & 1u << n) || len == 0) {
        return 0;
    }
    if (len != 4 && len != 16) {
        return -COREDNSSRC_E_BAD_FIELD;
    }
    event_addr_set(a, m->bytes[n], len);
    return 0;
}

/* Presentation text -> wire name state. */
struct corednssrc_name {
    uint8_t wire[PBWIRE_NAME_MAX + 2];
    size_t w;        /* next byte to write */
    size_t label;    /* where the current label's length byte goes */
};

static int
corednssrc_name_put(struct corednssrc_name *n, unsigned byte)
{
    if (n->w >= PBWIRE_NAME_MAX ||
        n->w - n->label > COREDNSSRC_LABEL_MAX) {
        return -COREDNSSRC_E_QNAME;
    }
    n->wire[n->w++] = (uint8_t)byte;
    return 0;
}

/* Close the current label; an empty one is an error unless last. */
static int
corednssrc_name_label(struct corednssrc_name *n, bool last)
{
    size_t llen = n->w - n->label - 1;

    if (llen == 0) {
        if (!last) {
            return -COREDNSSRC_E_QNAME;   /* "a..b" or a leading dot */
        }
        n->w = n->label;   /* a trailing dot: the root label ends it */
    } else {
        n->wire[n->label] = (uint8_t)llen;
        if (!last) {
            n->label = n->w++;
        }
    }
    if (last) {
        n->wire[n->w++] = 0;
    }
    return n->w <= PBWIRE_NAME_MAX ? 0 : -COREDNSSRC_E_QNAME;
}

/* Read one escape at t[*i] (after the backslash): \X or \DDD. */
static int
corednssrc_name_escape(const uint8_t *t, size_t len, size_t *i,
                       unsigned *byte)
{
    unsigned v = 0;

    if (*i >= len) {
        return -COREDNSSRC_E_QNAME;
    }
    if (t[*i] < '0' || t[*i] > '9') {
        *byte = t[(*i)++];
        return 0;
    }
    for (unsigned k = 0; k < 3; k++) {
        if (*i >= len || t[*i] < '0' || t[*i] > '9') {
            return -COREDNSSRC_E_QNAME;
        }
        v = v * 10 + (unsigned)(t[(*i)++] - '0');
    }
    *byte = v;
    return v <= 255 ? 0 : -COREDNSSRC_E_QNAME;
}

/* Turn presentation text into a wire name in n. */
static int
corednssrc_name_wire(const uint8_t *t, size_t len,
                     struct corednssrc_name *n)
{
    size_t i = 0;

    n->label = 0;
    n->w = 1;
    if (len == 1 && t[0] == '.') {
        n->wire[0] = 0;   /* the root */
        n->w = 1;
        return 0;
    }
    while (i < len) {
        unsigned byte = t[i++];
        int rc = 0;

        if (byte == '.') {
            rc = corednssrc_name_label(n, false);
        } else if (byte == '\\') {
            rc = corednssrc_name_escape(t, len, &i, &byte);
            rc = rc < 0 ? rc : corednssrc_name_put(n, byte);
        } else {
            rc = corednssrc_name_put(n, byte);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return corednssrc_name_label(n, true);
}

/*
 * qname in the event's form: resolve the escapes into a wire name, then
 * let dnswire write it exactly as the other sources do.
 */
static int
corednssrc_qname(const uint8_t *t, size_t len, struct event *ev)
{
    struct corednssrc_name n;
    size_t off = 0;
    size_t outlen = 0;

    if (len == 0) {
        return 0;   /* no question */
    }
    if (corednssrc_name_wire(t, len, &n) < 0 ||
        dnswire_name(n.wire, n.w, &off, ev->qname, &outlen) < 0) {
        return -COREDNSSRC_E_QNAME;
    }
    ev->qname_len = (uint8_t)outlen;
    ev->flags |= EVENT_F_QUESTION;
    return 0;
}

static uint8_t
corednssrc_transport(uint64_t t)
{
    switch (t) {
    case 1:
        return EVENT_TRANSPORT_UDP;
    case 2:
        return EVENT_TRANSPORT_TCP;
    case 3:
        return EVENT_TRANSPORT_DOT;
    case 4:
        return EVENT_TRANSPORT_DOH;
    case 5:
        return EVENT_TRANSPORT_DOQ;
    default:
        return EVENT_TRANSPORT_UNKNOWN;   /* gRPC, unset, unknown */
    }
}

/* Times: query time, latency and response time. */
static int
corednssrc_times(const struct corednssrc_msg *m, struct event *ev)
{
    uint64_t lat = m->value[COREDNSSRC_F_LATENCY];

    ev->time_ns = m->value[COREDNSSRC_F_TIMESTAMP];
    if (!(m->present & 1u << COREDNSSRC_F_LATENCY)) {
        return 0;
    }
    if (lat > UINT64_MAX - ev->time_ns) {
        return -COREDNSSRC_E_BAD_FIELD;
    }
    ev->latency_ns = lat;
    ev->response_ns = ev->time_ns + lat;
    ev->flags |= EVENT_F_LATENCY;
    return 0;
}

/* The scalar fields that map one to one. */
static void
corednssrc_scalars(const struct corednssrc_msg *m, struct event *ev)
{
    const uint64_t *v = m->value;

    ev->cgroup_id = v[COREDNSSRC_F_CGROUP];
    ev->server_port = (uint16_t)v[COREDNSSRC_F_DST_PORT];
    ev->client_port = (uint16_t)v[COREDNSSRC_F_SRC_PORT];
    ev->qtype = (uint16_t)v[COREDNSSRC_F_QTYPE];
    ev->qclass = (uint16_t)v[COREDNSSRC_F_QCLASS];
    ev->rcode = (uint16_t)v[COREDNSSRC_F_RCODE];
    ev->ancount = (uint16_t)v[COREDNSSRC_F_RESPONSE_RR];
    ev->id = (uint16_t)v[COREDNSSRC_F_ID];
    ev->dns_flags = (uint16_t)v[COREDNSSRC_F_FLAGS];
    ev->transport = corednssrc_transport(v[COREDNSSRC_F_TRANSPORT]);
    ev->query_size = (uint32_t)v[COREDNSSRC_F_REQUEST_SIZE];
    ev->response_size = (uint32_t)v[COREDNSSRC_F_RESPONSE_SIZE];
    if (ev->response_size == 0) {
        ev->response_size = (uint32_t)v[COREDNSSRC_F_PAYLOAD_LEN];
    }
    if (ev->dns_flags & DNSWIRE_FLAG_TC) {
        ev->flags |= EVENT_F_TRUNCATED;
    }
}

int
corednssrc_decode(const uint8_t *msg, size_t len, struct event *ev)
{
    struct corednssrc_msg m;
    int rc;

    event_reset(ev);
    memset(&m, 0, sizeof(m));
    ev->kind = EVENT_KIND_DNS;
    ev->source = EVENT_SOURCE_COREDNS;
    ev->role = EVENT_ROLE_CLIENT;
    ev->flags = EVENT_F_QUERY | EVENT_F_RESPONSE;

    rc = corednssrc_read(msg, len, &m, ev);
    if (rc == 0) {
        rc = corednssrc_ranges(&m);
    }
    if (rc == 0) {
        rc = corednssrc_times(&m, ev);
    }
    if (rc == 0) {
        rc = corednssrc_addr(&m, COREDNSSRC_F_SRC_IP, &ev->client);
    }
    if (rc == 0) {
        rc = corednssrc_addr(&m, COREDNSSRC_F_DST_IP, &ev->server);
    }
    if (rc == 0) {
        rc = corednssrc_qname(m.bytes[COREDNSSRC_F_QNAME],
                              m.len[COREDNSSRC_F_QNAME], ev);
    }
    if (rc == 0) {
        corednssrc_scalars(&m, ev);
    }
    return rc;
}

const char *
corednssrc_error_name(int err)
{
    unsigned e = (unsigned)(err < 0 ? -err : err);

    if (e >= COREDNSSRC_E_COUNT) {
        return "coredns_unknown";
    }
    return corednssrc_error_names[e];
}

/* ------------------------------------------------------------------ */
/* Backoff                                                            */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* The source                                                         */
/* ------------------------------------------------------------------ */

/* Connect and keepalive timing given to grpcstream. */
#define COREDNSSRC_OPEN_TIMEOUT_MS 10000u
#define COREDNSSRC_KEEPALIVE_MS 30000u   /* the plugin permits 10 s */
/* Largest CA file read. */
#define COREDNSSRC_CA_MAX (1u << 20)
/* A packed SubscribeRequest: an id of at most 253 bytes and two
   numbers. */
#define COREDNSSRC_REQUEST_MAX 320
#define COREDNSSRC_NS 1000000000ull

/* What an endpoint last reported, so a failure is logged once. */
enum corednssrc_state {
    COREDNSSRC_ST_NEW = -100,      /* never dialled */
    COREDNSSRC_ST_UP = -101,       /* stream up */
    COREDNSSRC_ST_NO_TOKEN = -102, /* token file unreadable or empty */
    /* otherwise: a gRPC status code, or a negative errno from open */
};

struct corednssrc;

/* One CoreDNS address, its thread and its stream. */
struct corednssrc_ep {
    struct corednssrc *src;
    char target[COREDNSSRC_TARGET_MAX];
    uint64_t serial;
    struct redial loop;            /* the stream and its thread */

    _Atomic int up;
    int state;                     /* enum corednssrc_state; thread */
};

struct corednssrc_counters {
    _Atomic uint64_t up;
    _Atomic uint64_t connects;
    _Atomic uint64_t reconnects;
    _Atomic uint64_t events;
    _Atomic uint64_t malformed;
    _Atomic uint64_t auth_failures;
    _Atomic uint64_t last_event_ns;    /* CLOCK_MONOTONIC */
};

struct corednssrc {
    event_emit_fn *emit;
    void *ctx;
    char token_file[COREDNSSRC_TARGET_MAX];
    char token[COREDNSSRC_TOKEN_MAX + 1];
    pthread_mutex_t token_mu;      /* guards api_token */
    char api_token[COREDNSSRC_TOKEN_MAX + 1]; /* corednssrc_set_token();
                                                 wins when not empty */
    char server_name[COREDNSSRC_TARGET_MAX];
    char *ca_pem;                  /* NULL for gRPC's default roots */
    int tls;
    uint8_t request[COREDNSSRC_REQUEST_MAX];
    size_t request_len;

    pthread_mutex_t set_mu;        /* serialises the control calls */
    bool started;
    bool stopped;                  /* stop ran: start refused */
    size_t neps;
    struct corednssrc_ep *eps[COREDNSSRC_ENDPOINTS_MAX];
    uint64_t next_serial;

    struct corednssrc_counters c;
    struct metrics_series *m_connected;
    struct metrics_series *m_reconnects;
    struct metrics_series *m_events;
    struct metrics_series *m_auth;
    struct metrics_series *m_last_event;
};

/* Read a small file whole into buf (NUL-terminated).  Returns its
   length or a negative errno; -EFBIG when it does not fit. */
static ssize_t
corednssrc_read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        return -errno;
    }
    n = fread(buf, 1, size - 1, f);
    if (ferror(f)) {
        fclose(f);
        return -EIO;
    }
    if (n == size - 1 && fgetc(f) != EOF) {
        fclose(f);
        return -EFBIG;
    }
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

/* The token without surrounding whitespace: the one set through the
   API, else the file's, else the option's.  Returns 0, or a negative
   errno (-ENOKEY when empty). */
static int
corednssrc_token(struct corednssrc *s, char *out, size_t size)
{
    const char *p = s->token;
    size_t n;

    pthread_mutex_lock(&s->token_mu);
    snprintf(out, size, "%s", s->api_token);
    pthread_mutex_unlock(&s->token_mu);
    if (out[0] != '\0') {
        p = out;
    } else if (s->token_file[0] != '\0') {
        ssize_t rc = corednssrc_read_file(s->token_file, out, size);

        if (rc < 0) {
            return (int)rc;
        }
        p = out;
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
        p++;
    }
    n = strlen(p);
    while (n > 0 && strchr(" \t\r\n", p[n - 1]) != NULL) {
        n--;
    }
    memmove(out, p, n);
    out[n] = '\0';
    return n > 0 ? 0 : -ENOKEY;
}

/* Log what an endpoint reports, at warn only when its state changes;
 * why is safe to quote (redial.h, or text of our own). */
static void
corednssrc_report(struct corednssrc_ep *ep, int state, const char *why)
{
    int level = state == ep->state ? LOG_DEBUG : LOG_WARN;

    ep->state = state;
    if (state == COREDNSSRC_ST_UP) {
        log_info("coredns stream up", "endpoint=%s", ep->target);
    } else if (state == COREDNSSRC_ST_NO_TOKEN) {
        log_at(level, "coredns token unusable", "endpoint=%s file=%s "
               "error=\"%s\"", ep->target, ep->src->token_file, why);
    } else if (state == GRPCSTREAM_UNAUTHENTICATED) {
        log_at(level, "coredns refused the token", "endpoint=%s "
               "details=\"%s\"", ep->target, why);
    } else if (state >= 0) {
        log_at(level, "coredns stream down", "endpoint=%s status=%s "
               "details=\"%s\"", ep->target, grpcstream_status_name(state),
               why);
    } else {
        log_at(level, "coredns stream down", "endpoint=%s error=\"%s\"",
               ep->target, strerror(-state));
    }
}

/* Decode one message and hand it on, or count it as malformed. */
static void
corednssrc_deliver(void *ctx, const uint8_t *msg, size_t len)
{
    struct corednssrc *s = ((struct corednssrc_ep *)ctx)->src;
    struct event ev;
    int rc = corednssrc_decode(msg, len, &ev);

    if (rc < 0) {
        metrics_malformed(corednssrc_error_name(rc));
        atomic_fetch_add(&s->c.malformed, 1);
        return;
    }
    s->emit(s->ctx, &ev);

    atomic_fetch_add(&s->c.events, 1);
    atomic_store(&s->c.last_event_ns, clock_ns(CLOCK_MONOTONIC));
    metrics_inc(s->m_events);
    metrics_set(s->m_last_event,
                (int64_t)(clock_ns(CLOCK_REALTIME) / COREDNSSRC_NS));
}

/* A stream came up (1) or went down (0): count it. */
static void
corednssrc_up(void *ctx, int is_up)
{
    struct corednssrc_ep *ep = ctx;
    struct corednssrc *s = ep->src;
    uint64_t up;

    atomic_store(&ep->up, is_up);
    if (is_up) {
        up = atomic_fetch_add(&s->c.up, 1) + 1;
        atomic_fetch_add(&s->c.connects, 1);
        corednssrc_report(ep, COREDNSSRC_ST_UP, "");
    } else {
        up = atomic_fetch_sub(&s->c.up, 1) - 1;
    }
    metrics_set(s->m_connected, (int64_t)up);
}

/* The call of the next dial, with the token in force (in secret). */
static int
corednssrc_prepare(void *ctx, struct grpcstream_opts *o, const void **req,
                   size_t *reqlen, char *secret, size_t secret_len)
{
    struct corednssrc_ep *ep = ctx;
    const struct corednssrc *s = ep->src;
    int rc = corednssrc_token(ep->src, secret, secret_len);

    if (rc < 0) {
        corednssrc_report(ep, COREDNSSRC_ST_NO_TOKEN, strerror(-rc));
        return rc;
    }
    o->target = ep->target;
    o->method = COREDNSSRC_METHOD;
    o->token = secret;
    o->tls = s->tls;
    o->ca_pem = s->ca_pem;
    o->server_name = s->server_name[0] != '\0' ? s->server_name : NULL;
    o->keepalive_ms = COREDNSSRC_KEEPALIVE_MS;
    o->open_timeout_ms = COREDNSSRC_OPEN_TIMEOUT_MS;
    *req = s->request;
    *reqlen = s->request_len;
    return 0;
}

/* How an attempt ended; refused tokens are counted. */
static void
corednssrc_ended(void *ctx, int status, int open_rc, const char *details)
{
    struct corednssrc_ep *ep = ctx;
    struct corednssrc *s = ep->src;

    if (status == GRPCSTREAM_UNAUTHENTICATED) {
        atomic_fetch_add(&s->c.auth_failures, 1);
        metrics_inc(s->m_auth);
    }
    corednssrc_report(ep, status >= 0 ? status : open_rc, details);
}

static void
corednssrc_redialing(void *ctx)
{
    struct corednssrc *s = ((struct corednssrc_ep *)ctx)->src;

    atomic_fetch_add(&s->c.reconnects, 1);
    metrics_inc(s->m_reconnects);
}

static const struct redial_ops corednssrc_ops = {
    .prepare = corednssrc_prepare,
    .deliver = corednssrc_deliver,
    .up = corednssrc_up,
    .ended = corednssrc_ended,
    .redialing = corednssrc_redialing,
};

static void
corednssrc_ep_free(struct corednssrc_ep *ep)
{
    if (ep == NULL) {
        return;
    }
    redial_destroy(&ep->loop);
    free(ep);
}

/* A new endpoint, not started.  NULL when out of memory. */
static struct corednssrc_ep *
corednssrc_ep_new(struct corednssrc *s, const char *target)
{
    struct corednssrc_ep *ep = calloc(1, sizeof(*ep));

    if (ep == NULL) {
        return NULL;
    }
    ep->src = s;
    snprintf(ep->target, sizeof(ep->target), "%s", target);
    ep->serial = ++s->next_serial;
    ep->state = COREDNSSRC_ST_NEW;
    if (redial_init(&ep->loop, &corednssrc_ops, ep,
                    clock_ns(CLOCK_MONOTONIC) ^ (ep->serial << 32)) != 0) {
        free(ep);
        return NULL;
    }
    return ep;
}


/* Stop, join and free a list of endpoints: all signalled first, so
   they wind down in parallel. */
static void
corednssrc_ep_drop(struct corednssrc_ep **eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        redial_signal(&eps[i]->loop);
    }
    for (size_t i = 0; i < n; i++) {
        redial_join(&eps[i]->loop);
        corednssrc_ep_free(eps[i]);
    }
}

/* Check a target list: count, and each non-empty and short enough. */
static int
corednssrc_targets_ok(const char *const *targets, size_t n)
{
    if (n > COREDNSSRC_ENDPOINTS_MAX || (n > 0 && targets == NULL)) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (targets[i] == NULL || targets[i][0] == '\0' ||
            strlen(targets[i]) >= COREDNSSRC_TARGET_MAX) {
            return -EINVAL;
        }
    }
    return 0;
}

/* The endpoint of target in list[0..n), or NULL. */
static struct corednssrc_ep *
corednssrc_find(struct corednssrc_ep *const *list, size_t n,
                const char *target)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i]->target, target) == 0) {
            return list[i];
        }
    }
    return NULL;
}

/* Whether ep is in list[0..n). */
static bool
corednssrc_member(struct corednssrc_ep *const *list, size_t n,
                  const struct corednssrc_ep *ep)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i] == ep) {
            return true;
        }
    }
    return false;
}

/*
 * Build the new set into next[]: current endpoints whose target stays
 * are reused, others are created (fresh[k] set).  Returns the count, or
 * -ENOMEM after freeing what it created; the current set is untouched.
 */
static ssize_t
corednssrc_build_set(struct corednssrc *s, const char *const *targets,
                     size_t n, struct corednssrc_ep **next, bool *fresh)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        struct corednssrc_ep *ep;

        if (corednssrc_find(next, k, targets[i]) != NULL) {
            continue;   /* a duplicate */
        }
        ep = corednssrc_find(s->eps, s->neps, targets[i]);
        fresh[k] = ep == NULL;
        if (ep == NULL && (ep = corednssrc_ep_new(s, targets[i])) == NULL) {
            for (size_t j = 0; j < k; j++) {
                if (fresh[j]) {
                    corednssrc_ep_free(next[j]);
                }
            }
            return -ENOMEM;
        }
        next[k++] = ep;
    }
    return (ssize_t)k;
}

int
corednssrc_set_endpoints(struct corednssrc *s,
                         const char *const *targets, size_t n)
{
    struct corednssrc_ep *next[COREDNSSRC_ENDPOINTS_MAX];
    struct corednssrc_ep *gone[COREDNSSRC_ENDPOINTS_MAX];
    bool fresh[COREDNSSRC_ENDPOINTS_MAX];
    size_t ngone = 0;
    ssize_t k;

    if (corednssrc_targets_ok(targets, n) < 0) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->set_mu);
    k = corednssrc_build_set(s, targets, n, next, fresh);
    if (k < 0) {
        pthread_mutex_unlock(&s->set_mu);
        return (int)k;
    }

    for (size_t i = 0; i < s->neps; i++) {
        if (!corednssrc_member(next, (size_t)k, s->eps[i])) {
            gone[ngone++] = s->eps[i];
        }
    }
    corednssrc_ep_drop(gone, ngone);
    for (ssize_t i = 0; i < k; i++) {
        s->eps[i] = next[i];
        if (fresh[i] && s->started) {
            redial_start(&next[i]->loop);
        }
    }
    s->neps = (size_t)k;
    pthread_mutex_unlock(&s->set_mu);

    log_info("coredns endpoints set", "count=%zu removed=%zu", s->neps,
             ngone);
    return 0;
}

static void
corednssrc_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, fmt, arg);
    }
}

/* The node name: the option, else $HOSTNAME, else gethostname(). */
static int
corednssrc_subscriber(const char *opt, char *out, size_t size)
{
    const char *env = getenv("HOSTNAME");

    if (opt != NULL && opt[0] != '\0') {
        snprintf(out, size, "%s", opt);
    } else if (env != NULL && env[0] != '\0') {
        snprintf(out, size, "%s", env);
    } else if (gethostname(out, size) != 0) {
        return -errno;
    }
    out[size - 1] = '\0';
    return out[0] != '\0' ? 0 : -EINVAL;
}

/* Pack SubscribeRequest (generated protobuf-c code) into s->request. */
static int
corednssrc_pack_request(struct corednssrc *s, const char *id,
                        const struct corednssrc_opts *o)
{
    Ugallu__Dnsstream__V1__SubscribeRequest r =
        UGALLU__DNSSTREAM__V1__SUBSCRIBE_REQUEST__INIT;

    r.subscriber_id = (char *)id;
    r.max_events_per_sec = o->max_events_per_sec;
    r.include_unplaced = o->include_unplaced != 0;
    if (ugallu__dnsstream__v1__subscribe_request__get_packed_size(&r) >
        sizeof(s->request)) {
        return -EINVAL;
    }
    s->request_len = ugallu__dnsstream__v1__subscribe_request__pack(
        &r, s->request);
    return 0;
}

/* Copy the options that are strings; read the CA file. */
static int
corednssrc_copy_opts(struct corednssrc *s, const struct corednssrc_opts *o,
                     char *err, size_t errlen)
{
    ssize_t n;

    snprintf(s->token_file, sizeof(s->token_file), "%s",
             o->token_file != NULL ? o->token_file : "");
    snprintf(s->token, sizeof(s->token), "%s",
             o->token != NULL ? o->token : "");
    snprintf(s->server_name, sizeof(s->server_name), "%s",
             o->server_name != NULL ? o->server_name : "");
    s->tls = o->tls != 0;
    if (!s->tls || o->ca_file == NULL) {
        return 0;
    }
    s->ca_pem = malloc(COREDNSSRC_CA_MAX + 1);
    if (s->ca_pem == NULL) {
        return -ENOMEM;
    }
    n = corednssrc_read_file(o->ca_file, s->ca_pem, COREDNSSRC_CA_MAX + 1);
    if (n <= 0) {
        corednssrc_err(err, errlen, "cannot read CA file %s", o->ca_file);
        return n < 0 ? (int)n : -EINVAL;
    }
    return 0;
}

static void
corednssrc_metrics(struct corednssrc *s)
{
    const char *src = "source=\"coredns-ugallu\"";

    s->m_connected = metrics_gauge("ugallu_dns_source_connected", src,
        "Senders or streams of a source connected now.");
    s->m_reconnects = metrics_counter("ugallu_dns_coredns_reconnects_total",
        "", "Dials of a CoreDNS endpoint after a failed or ended stream.");
    s->m_events = metrics_counter("ugallu_dns_coredns_events_total", "",
        "DNSEvents received from CoreDNS and handed on.");
    s->m_auth = metrics_counter("ugallu_dns_coredns_auth_failures_total",
        "", "Subscribe calls refused with UNAUTHENTICATED.");
    s->m_last_event = metrics_gauge("ugallu_dns_source_last_event_seconds",
        src, "Unix time of the last event from a source.");
}

/* Everything of open after the allocation. */
static int
corednssrc_setup(struct corednssrc *s, const struct corednssrc_opts *o,
                 char *err, size_t errlen)
{
    char id[COREDNSSRC_TARGET_MAX];
    int rc = corednssrc_copy_opts(s, o, err, errlen);

    if (rc < 0) {
        return rc;
    }
    if (s->token_file[0] == '\0' && s->token[0] == '\0') {
        corednssrc_err(err, errlen, "%s", "no token file or token given");
        return -EINVAL;
    }
    if (corednssrc_subscriber(o->subscriber_id, id, sizeof(id)) < 0 ||
        corednssrc_pack_request(s, id, o) < 0) {
        corednssrc_err(err, errlen, "%s", "no usable subscriber id");
        return -EINVAL;
    }
    rc = corednssrc_set_endpoints(s, o->endpoints, o->nendpoints);
    if (rc < 0) {
        corednssrc_err(err, errlen, "%s", "bad or too many endpoints");
        return rc;
    }
    log_info("coredns source ready", "subscriber=%s endpoints=%zu tls=%d",
             id, s->neps, s->tls);
    return 0;
}

struct corednssrc *
corednssrc_open(const struct corednssrc_opts *o, event_emit_fn *emit,
                void *ctx, char *err, size_t errlen)
{
    struct corednssrc *s = calloc(1, sizeof(*s));

    if (s == NULL || pthread_mutex_init(&s->set_mu, NULL) != 0) {
        free(s);
        corednssrc_err(err, errlen, "%s", "out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&s->token_mu, NULL) != 0) {
        pthread_mutex_destroy(&s->set_mu);
        free(s);
        corednssrc_err(err, errlen, "%s", "out of memory");
        return NULL;
    }
    grpcstream_global_init();
    s->emit = emit;
    s->ctx = ctx;
    corednssrc_metrics(s);

    if (corednssrc_setup(s, o, err, errlen) < 0) {
        corednssrc_free(s);
        return NULL;
    }
    return s;
}

int
corednssrc_set_token(struct corednssrc *s, const char *token)
{
    size_t n = token != NULL ? strlen(token) : 0;

    if (n > COREDNSSRC_TOKEN_MAX) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->token_mu);
    snprintf(s->api_token, sizeof(s->api_token), "%s",
             token != NULL ? token : "");
    pthread_mutex_unlock(&s->token_mu);
    return 0;
}

int
corednssrc_start(struct corednssrc *s)
{
    int rc = 0;

    pthread_mutex_lock(&s->set_mu);
    if (s->stopped) {
        pthread_mutex_unlock(&s->set_mu);
        return -EALREADY;
    }
    s->started = true;
    for (size_t i = 0; i < s->neps && rc == 0; i++) {
        if (!s->eps[i]->loop.running) {
            rc = redial_start(&s->eps[i]->loop);
        }
    }
    pthread_mutex_unlock(&s->set_mu);
    return rc;
}

void
corednssrc_stop(struct corednssrc *s)
{
    pthread_mutex_lock(&s->set_mu);
    s->started = false;
    s->stopped = true;
    for (size_t i = 0; i < s->neps; i++) {
        redial_signal(&s->eps[i]->loop);
    }
    for (size_t i = 0; i < s->neps; i++) {
        redial_join(&s->eps[i]->loop);
    }
    pthread_mutex_unlock(&s->set_mu);
}

void
corednssrc_free(struct corednssrc *s)
{
    if (s == NULL) {
        return;
    }
    corednssrc_stop(s);
    corednssrc_ep_drop(s->eps, s->neps);
    s->neps = 0;
    free(s->ca_pem);
    explicit_bzero(s->api_token, sizeof(s->api_token));
    pthread_mutex_destroy(&s->token_mu);
    pthread_mutex_destroy(&s->set_mu);
    free(s);
    grpcstream_global_shutdown();
}

uint64_t
corednssrc_last_event_ns(const struct corednssrc *s)
{
    return atomic_load(&s->c.last_event_ns);
}

void
corednssrc_stats(const struct corednssrc *s, struct corednssrc_stats *out)
{
    out->streams_up = atomic_load(&s->c.up);
    out->connects = atomic_load(&s->c.connects);
    out->reconnects = atomic_load(&s->c.reconnects);
    out->events = atomic_load(&s->c.events);
    out->malformed = atomic_load(&s->c.malformed);
    out->auth_failures = atomic_load(&s->c.auth_failures);
}

size_t
corednssrc_endpoint_list(struct corednssrc *s,
                         struct corednssrc_endpoint_info *out, size_t max)
{
    size_t n;

    pthread_mutex_lock(&s->set_mu);
    n = s->neps;
    for (size_t i = 0; i < n && i < max; i++) {
        const struct corednssrc_ep *ep = s->eps[i];

        snprintf(out[i].target, sizeof(out[i].target), "%s", ep->target);
        out[i].serial = ep->serial;
        out[i].up = atomic_load(&ep->up);
        out[i].attempt = redial_failures(&ep->loop);
    }
    pthread_mutex_unlock(&s->set_mu);
    return n;
}

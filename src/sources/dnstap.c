/*
 * dnstap.c - dnstap protobuf decoding with a hand-written wire reader.
 *
 * Field numbers follow dnstap.proto: Dnstap{message 14, type 15} and
 * Message{1 type ... 14 response_message}.  A message is read in one
 * pass that records where each field of interest lies; the event is
 * filled afterwards, because protobuf fields may come in any order.
 */
#include "sources/dnstap.h"

#include <string.h>

#include "core/pbwire.h"
#include "event/dnswire.h"

/* Fields of the outer Dnstap message. */
#define DNSTAP_FIELD_MESSAGE 14u
#define DNSTAP_FIELD_TYPE 15u
#define DNSTAP_TYPE_MESSAGE 1u

/* Fields of Message. */
enum dnstap_msg_field {
    DNSTAP_MSG_TYPE = 1,
    DNSTAP_MSG_FAMILY = 2,
    DNSTAP_MSG_PROTOCOL = 3,
    DNSTAP_MSG_QUERY_ADDRESS = 4,
    DNSTAP_MSG_RESPONSE_ADDRESS = 5,
    DNSTAP_MSG_QUERY_PORT = 6,
    DNSTAP_MSG_RESPONSE_PORT = 7,
    DNSTAP_MSG_QUERY_SEC = 8,
    DNSTAP_MSG_QUERY_NSEC = 9,
    DNSTAP_MSG_QUERY_MESSAGE = 10,
    DNSTAP_MSG_QUERY_ZONE = 11,
    DNSTAP_MSG_RESPONSE_SEC = 12,
    DNSTAP_MSG_RESPONSE_NSEC = 13,
    DNSTAP_MSG_RESPONSE_MESSAGE = 14,
    DNSTAP_MSG_FIELDS = 15,  /* one past the last field read */
};

/* Wire type each Message field must have. */
static const uint8_t dnstap_msg_wire[DNSTAP_MSG_FIELDS] = {
    [DNSTAP_MSG_TYPE] = PBWIRE_VARINT,
    [DNSTAP_MSG_FAMILY] = PBWIRE_VARINT,
    [DNSTAP_MSG_PROTOCOL] = PBWIRE_VARINT,
    [DNSTAP_MSG_QUERY_ADDRESS] = PBWIRE_BYTES,
    [DNSTAP_MSG_RESPONSE_ADDRESS] = PBWIRE_BYTES,
    [DNSTAP_MSG_QUERY_PORT] = PBWIRE_VARINT,
    [DNSTAP_MSG_RESPONSE_PORT] = PBWIRE_VARINT,
    [DNSTAP_MSG_QUERY_SEC] = PBWIRE_VARINT,
    [DNSTAP_MSG_QUERY_NSEC] = PBWIRE_FIXED32,
    [DNSTAP_MSG_QUERY_MESSAGE] = PBWIRE_BYTES,
    [DNSTAP_MSG_QUERY_ZONE] = PBWIRE_BYTES,
    [DNSTAP_MSG_RESPONSE_SEC] = PBWIRE_VARINT,
    [DNSTAP_MSG_RESPONSE_NSEC] = PBWIRE_FIXED32,
    [DNSTAP_MSG_RESPONSE_MESSAGE] = PBWIRE_BYTES,
};

/* Highest Message.type (UPDATE_RESPONSE). */
#define DNSTAP_TYPE_MAX 14u
/* Largest seconds value whose nanoseconds fit in 64 bits. */
#define DNSTAP_SEC_MAX 18446744072ull
#define DNSTAP_NS 1000000000ull

static const char *const dnstap_error_names[DNSTAP_E_COUNT] = {
    [DNSTAP_OK] = "ok",
    [DNSTAP_E_PROTOBUF] = "dnstap_protobuf",
    [DNSTAP_E_NO_MESSAGE] = "dnstap_no_message",
    [DNSTAP_E_BAD_TYPE] = "dnstap_bad_type",
    [DNSTAP_E_BAD_FIELD] = "dnstap_bad_field",
};

/* Where the fields of a Message lie; only bits of present are valid. */
struct dnstap_msg {
    uint32_t present;        /* bit n: field n was seen */
    uint64_t value[DNSTAP_MSG_FIELDS];
    const uint8_t *bytes[DNSTAP_MSG_FIELDS];
    size_t len[DNSTAP_MSG_FIELDS];
};

/* Record the fields of a Message; later copies of a field win. */
static int
dnstap_read_message(const uint8_t *p, size_t len, struct dnstap_msg *m)
{
    struct pbwire pb = { p, p + len };
    struct pbwire_field f;

    m->present = 0;
    while (pb.p < pb.end) {
        if (pbwire_next(&pb, &f) < 0) {
            return -DNSTAP_E_PROTOBUF;
        }
        if (f.number >= DNSTAP_MSG_FIELDS) {
            continue;
        }
        if (f.wire != dnstap_msg_wire[f.number]) {
            return -DNSTAP_E_PROTOBUF;
        }
        m->present |= 1u << f.number;
        m->value[f.number] = f.value;
        m->bytes[f.number] = f.bytes;
        m->len[f.number] = f.len;
    }
    return 0;
}

/* Find the Message inside the outer Dnstap message. */
static int
dnstap_read_outer(const uint8_t *p, size_t len, struct pbwire_field *msg)
{
    struct pbwire pb = { p, p + len };
    struct pbwire_field f;
    int found = 0;

    while (pb.p < pb.end) {
        if (pbwire_next(&pb, &f) < 0) {
            return -DNSTAP_E_PROTOBUF;
        }
        if (f.number == DNSTAP_FIELD_TYPE) {
            if (f.wire != PBWIRE_VARINT) {
                return -DNSTAP_E_PROTOBUF;
            }
            if (f.value != DNSTAP_TYPE_MESSAGE) {
                return -DNSTAP_E_BAD_TYPE;
            }
        } else if (f.number == DNSTAP_FIELD_MESSAGE || f.number <= 3) {
            if (f.wire != PBWIRE_BYTES) {
                return -DNSTAP_E_PROTOBUF;
            }
            if (f.number == DNSTAP_FIELD_MESSAGE) {
                *msg = f;
                found = 1;
            }
        }
    }
    return found ? 0 : -DNSTAP_E_NO_MESSAGE;
}

static int
dnstap_has(const struct dnstap_msg *m, unsigned field)
{
    return (m->present >> field & 1u) != 0;
}

/* Seconds and nanoseconds as Unix nanoseconds; 0 when absent. */
static int
dnstap_time(const struct dnstap_msg *m, unsigned sec, unsigned nsec,
            uint64_t *out)
{
    uint64_t ns = dnstap_has(m, nsec) ? m->value[nsec] : 0;

    *out = 0;
    if (!dnstap_has(m, sec)) {
        return 0;
    }
    if (m->value[sec] > DNSTAP_SEC_MAX || ns >= DNSTAP_NS) {
        return -DNSTAP_E_BAD_FIELD;
    }
    *out = m->value[sec] * DNSTAP_NS + ns;
    return 0;
}

/* Client or server address and port. */
static int
dnstap_endpoint(const struct dnstap_msg *m, unsigned addr, unsigned port,
                struct event_addr *out, uint16_t *out_port)
{
    if (dnstap_has(m, addr)) {
        event_addr_set(out, m->bytes[addr], m->len[addr]);
    }
    if (dnstap_has(m, port)) {
        if (m->value[port] > UINT16_MAX) {
            return -DNSTAP_E_BAD_FIELD;
        }
        *out_port = (uint16_t)m->value[port];
    }
    return 0;
}

/* Query and response times, and the latency between them. */
static int
dnstap_fill_times(const struct dnstap_msg *m, struct event *ev)
{
    uint64_t q, r;

    if (dnstap_time(m, DNSTAP_MSG_QUERY_SEC, DNSTAP_MSG_QUERY_NSEC, &q) < 0 ||
        dnstap_time(m, DNSTAP_MSG_RESPONSE_SEC, DNSTAP_MSG_RESPONSE_NSEC,
                    &r) < 0) {
        return -DNSTAP_E_BAD_FIELD;
    }

    ev->response_ns = r;
    ev->time_ns = dnstap_has(m, DNSTAP_MSG_QUERY_SEC) ? q : r;
    if (dnstap_has(m, DNSTAP_MSG_QUERY_SEC) &&
        dnstap_has(m, DNSTAP_MSG_RESPONSE_SEC) && r >= q) {
        ev->flags |= EVENT_F_LATENCY;
        ev->latency_ns = r - q;
    }
    return 0;
}

/* Run the DNS parser over the query and response messages. */
static int
dnstap_fill_dns(const struct dnstap_msg *m, struct event *ev)
{
    static const unsigned fields[2] = {
        DNSTAP_MSG_QUERY_MESSAGE, DNSTAP_MSG_RESPONSE_MESSAGE,
    };

    for (unsigned i = 0; i < 2; i++) {
        unsigned f = fields[i];
        int rc;

        if (!dnstap_has(m, f)) {
            continue;
        }
        rc = dnswire_parse(m->bytes[f], m->len[f], ev);
        if (rc < 0) {
            return -(DNSTAP_E_DNS_BASE + -rc);
        }
    }
    return 0;
}

static int
dnstap_fill(const struct dnstap_msg *m, struct event *ev)
{
    uint64_t type;
    int rc;

    if (!dnstap_has(m, DNSTAP_MSG_TYPE)) {
        return -DNSTAP_E_BAD_TYPE;
    }
    type = m->value[DNSTAP_MSG_TYPE];
    if (type < 1 || type > DNSTAP_TYPE_MAX) {
        return -DNSTAP_E_BAD_TYPE;
    }
    ev->role = (uint8_t)((type + 1) / 2);
    if (type % 2 == 1) {
        ev->flags |= EVENT_F_QUERY;
    }
    if (dnstap_has(m, DNSTAP_MSG_PROTOCOL) &&
        m->value[DNSTAP_MSG_PROTOCOL] <= EVENT_TRANSPORT_DOQ) {
        ev->transport = (uint8_t)m->value[DNSTAP_MSG_PROTOCOL];
    }

    rc = dnstap_endpoint(m, DNSTAP_MSG_QUERY_ADDRESS, DNSTAP_MSG_QUERY_PORT,
                         &ev->client, &ev->client_port);
    if (rc == 0) {
        rc = dnstap_endpoint(m, DNSTAP_MSG_RESPONSE_ADDRESS,
                             DNSTAP_MSG_RESPONSE_PORT, &ev->server,
                             &ev->server_port);
    }
    if (rc == 0) {
        rc = dnstap_fill_times(m, ev);
    }
    return rc < 0 ? rc : dnstap_fill_dns(m, ev);
}

int
dnstap_decode(const uint8_t *frame, size_t len, struct event *ev)
{
    struct pbwire_field outer;
    struct dnstap_msg m;
    int rc;

    event_reset(ev);
    ev->kind = EVENT_KIND_DNS;
    ev->source = EVENT_SOURCE_DNSTAP;

    rc = dnstap_read_outer(frame, len, &outer);
    if (rc < 0) {
        return rc;
    }
    rc = dnstap_read_message(outer.bytes, outer.len, &m);
    if (rc < 0) {
        return rc;
    }
    return dnstap_fill(&m, ev);
}

const char *
dnstap_error_name(int err)
{
    int base = DNSTAP_E_DNS_BASE;

    if (err < -(base + DNSWIRE_E_COUNT) || err > base + DNSWIRE_E_COUNT) {
        return "dnstap_unknown_error";
    }
    if (err < 0) {
        err = -err;
    }
    if (err >= base && err < base + DNSWIRE_E_COUNT) {
        return dnswire_error_name(err - base);
    }
    if (err >= DNSTAP_E_COUNT) {
        return "dnstap_unknown_error";
    }
    return dnstap_error_names[err];
}

/*
 * dnstap.h - decode one dnstap message (a Frame Streams data frame of
 * content type "protobuf:dnstap.Dnstap") into a struct event.
 *
 * The protobuf wire format is read by hand: only the fields the event
 * needs are looked at, unknown fields are skipped, and nothing is
 * allocated.  The reader is strict: a varint longer than 10 bytes or
 * overflowing 64 bits, a length past the end of its enclosing message, a
 * field number of 0, the group wire types 3 and 4, the unused types 6
 * and 7, and a known field sent with the wrong wire type are all
 * rejected as DNSTAP_E_PROTOBUF.  Thread-safe: no state.
 */
#ifndef DD_DNSTAP_H
#define DD_DNSTAP_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

/* Why a frame was rejected, returned negated. */
enum dnstap_error {
    DNSTAP_OK = 0,
    DNSTAP_E_PROTOBUF,      /* "dnstap_protobuf": bad wire format */
    DNSTAP_E_NO_MESSAGE,    /* "dnstap_no_message": no Message field */
    DNSTAP_E_BAD_TYPE,      /* "dnstap_bad_type": Dnstap.type sent and
                               not MESSAGE (left out is tolerated), or
                               Message.type missing or not 1..14 */
    DNSTAP_E_BAD_FIELD,     /* "dnstap_bad_field": a port above 65535,
                               nanoseconds above 999999999, or seconds
                               past the year 2554 */
    DNSTAP_E_COUNT          /* number of codes, not an error */
};

/*
 * An error in a DNS message carried by the frame is returned as
 * -(DNSTAP_E_DNS_BASE + enum dnswire_error), so the caller can tell the
 * kind; dnstap_error_name() gives dnswire_error_name()'s label for it.
 */
#define DNSTAP_E_DNS_BASE 64

/*
 * Decode the Dnstap message in frame[0..len) into ev, which is reset
 * first.  Filled: kind DNS, source dnstap, role from Message.type
 * ((type + 1) / 2), transport from socket_protocol (unknown values give
 * EVENT_TRANSPORT_UNKNOWN), client from query_address/query_port, server
 * from response_address/response_port, time_ns from the query time
 * (seconds * 1e9 + nanoseconds) when sent, else from the response time,
 * and response_ns from the response time when sent.  Both times present
 * with response >= query give EVENT_F_LATENCY and latency_ns.
 *
 * query_message, when present, goes through dnswire_parse(), and then
 * response_message does too, filling the response side.  A *_QUERY type
 * always sets EVENT_F_QUERY, even with no query_message (the event then
 * has no question: EVENT_F_QUESTION is clear).  A *_RESPONSE type with
 * no response_message sets no response flag: its rcode would be unknown.
 *
 * Returns 0, or a negative enum dnstap_error, or a negative DNS error as
 * above; after an error ev holds partial data and should be dropped.
 */
int dnstap_decode(const uint8_t *frame, size_t len, struct event *ev);

/*
 * Stable snake_case label of a return value of dnstap_decode() (positive
 * or negative): "dnstap_protobuf", ..., or the dnswire label of a DNS
 * error.  Never NULL.
 */
const char *dnstap_error_name(int err);

#endif

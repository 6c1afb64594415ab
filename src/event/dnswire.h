/*
 * dnswire.h - strict, allocation-free DNS message parsing (RFC 1035,
 * RFC 6891 for EDNS0).
 *
 * The parser reads a message in place and never reads outside [msg,
 * msg+len).  Names are decoded with compression, bounded to 63-byte
 * labels and 255-byte names, and every compression pointer must point
 * strictly backwards, so a loop cannot form.  Thread-safe: no state.
 */
#ifndef DD_DNSWIRE_H
#define DD_DNSWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

/* Why a message was rejected; dnswire_error_name() gives the label. */
enum dnswire_error {
    DNSWIRE_OK = 0,
    DNSWIRE_E_SHORT_HEADER,   /* fewer than 12 bytes */
    DNSWIRE_E_TRUNCATED,      /* a record or name runs past the end */
    DNSWIRE_E_LOOP,           /* compression pointer not backwards */
    DNSWIRE_E_LABEL_LEN,      /* label longer than 63 bytes: a label
                                 byte with prefix 01 (0x40-0x7f) */
    DNSWIRE_E_NAME_LEN,       /* name longer than 255 bytes, or its
                                 escaped text longer than 255 chars */
    DNSWIRE_E_LABEL_TYPE,     /* reserved label type, prefix 10 (0x80) */
    DNSWIRE_E_COUNTS,         /* section counts larger than the message */
    DNSWIRE_E_NO_QUESTION,    /* QDCOUNT is 0 */
    DNSWIRE_E_BAD_OPT,        /* malformed or misplaced OPT record */
    DNSWIRE_E_COUNT           /* number of codes, not an error */
};

/* Header of a message, host byte order. */
struct dnswire_header {
    uint16_t id;
    uint16_t flags;   /* QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode */
    uint16_t qdcount;
    uint16_t ancount;
    uint16_t nscount;
    uint16_t arcount;
};

#define DNSWIRE_FLAG_QR 0x8000u
#define DNSWIRE_FLAG_TC 0x0200u

/*
 * Decode the name at *off into out (presentation form, lowercase, no
 * trailing dot, "." for the root; at most 255 characters plus NUL; bytes
 * outside [a-z0-9-_] are written as \DDD).  On success *off moves past the
 * name as it sits in the message (after the first pointer, if any) and
 * *outlen gets strlen(out).  A name whose escaped text would pass 255
 * characters gives -DNSWIRE_E_NAME_LEN even if its wire form fits.  On
 * error *off is unchanged and out may hold partial text.  Returns 0 or
 * -enum dnswire_error.
 */
int dnswire_name(const uint8_t *msg, size_t len, size_t *off,
                 char out[EVENT_QNAME_MAX], size_t *outlen);

/* Read the 12-byte header.  Returns 0 or -DNSWIRE_E_SHORT_HEADER. */
int dnswire_header(const uint8_t *msg, size_t len, struct dnswire_header *h);

/*
 * Parse a whole message into the DNS fields of ev: id, question (qname,
 * qtype, qclass, EVENT_F_QUESTION), and then either the query side
 * (EVENT_F_QUERY, query_size) or, when QR is set, the response side
 * (EVENT_F_RESPONSE, response_size, rcode with EDNS extended bits,
 * dns_flags, section counts, answers[] summary, answer_bytes,
 * EVENT_F_TRUNCATED).  EVENT_F_EDNS and edns_udp_size come from an OPT
 * record.  Other fields of ev are left as they are.  Every record of every
 * section is walked and bounds-checked.  Returns 0 or -enum dnswire_error;
 * on error ev may hold partial data.
 */
int dnswire_parse(const uint8_t *msg, size_t len, struct event *ev);

/* Stable snake_case label for an error code (positive or negative). */
const char *dnswire_error_name(int err);

/*
 * Mnemonics: "A", "AAAA", "HTTPS", "SVCB", ...; NULL when unknown (print
 * "TYPE<n>" / "CLASS<n>" / "RCODE<n>" then).  dnswire_type_value() is the
 * reverse, case-insensitive, also accepting "TYPE<n>"; returns -1 when
 * unknown.
 */
const char *dnswire_type_name(unsigned type);
const char *dnswire_class_name(unsigned qclass);
const char *dnswire_rcode_name(unsigned rcode);
int dnswire_type_value(const char *name);

/* Format type/class/rcode into buf (>= 16 bytes), with fallbacks. */
const char *dnswire_type_format(unsigned type, char *buf, size_t len);
const char *dnswire_rcode_format(unsigned rcode, char *buf, size_t len);

#endif

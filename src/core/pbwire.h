/*
 * pbwire.h - reading the protobuf wire format in place.
 *
 * The decoders of dnstap frames and CoreDNS stream events read only the
 * fields they need, without allocating: a cursor walks the message and
 * hands out one field at a time, its integer value or a pointer into the
 * buffer for length-delimited payloads.  Every read is bounds-checked;
 * varints longer than 64 bits, lengths past the end, field number 0 and
 * the group wire types are errors.  Header-only so the hot loops inline.
 */
#ifndef DD_PBWIRE_H
#define DD_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

/* Wire types a decoder may meet (groups, 3 and 4, are refused). */
enum pbwire_type {
    PBWIRE_VARINT = 0,
    PBWIRE_FIXED64 = 1,
    PBWIRE_BYTES = 2,
    PBWIRE_FIXED32 = 5,
};

/* A cursor over one message: [p, end). */
struct pbwire {
    const uint8_t *p;
    const uint8_t *end;
};

/* One field as read. */
struct pbwire_field {
    uint32_t number;
    uint32_t wire;           /* enum pbwire_type */
    uint64_t value;          /* varint, fixed32 or fixed64 (little end) */
    const uint8_t *bytes;    /* length-delimited payload, inside the */
    size_t len;              /* message; NULL and 0 for other types */
};

/* Read a varint.  Returns 0, or -1 when cut short or over 64 bits. */
static inline int
pbwire_varint(struct pbwire *pb, uint64_t *out)
{
    const uint8_t *p = pb->p;
    uint64_t v = 0;

    if (p < pb->end && *p < 0x80) {
        *out = *pb->p++;
        return 0;
    }
    for (unsigned i = 0; i < 10 && p < pb->end; i++) {
        uint8_t b = *p++;

        if (i == 9 && b > 1) {
            return -1;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            pb->p = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* The payload of f, by its wire type.  Returns 0 or -1. */
static inline int
pbwire_payload(struct pbwire *pb, struct pbwire_field *f)
{
    size_t avail = (size_t)(pb->end - pb->p);
    unsigned fixed = f->wire == PBWIRE_FIXED32 ? 4 : 8;

    switch (f->wire) {
    case PBWIRE_VARINT:
        return pbwire_varint(pb, &f->value);
    case PBWIRE_FIXED32:
    case PBWIRE_FIXED64:
        if (avail < fixed) {
            return -1;
        }
        f->value = 0;
        for (unsigned i = fixed; i > 0; i--) {
            f->value = f->value << 8 | pb->p[i - 1];
        }
        pb->p += fixed;
        return 0;
    case PBWIRE_BYTES:
        if (pbwire_varint(pb, &f->value) < 0 ||
            f->value > (uint64_t)(pb->end - pb->p)) {
            return -1;
        }
        f->bytes = pb->p;
        f->len = (size_t)f->value;
        pb->p += f->len;
        return 0;
    default:
        return -1;
    }
}

/*
 * Read the next field; the caller checks pb->p < pb->end first.  Returns
 * 0 or -1 (malformed); on -1 the cursor is left where it failed.
 */
static inline int
pbwire_next(struct pbwire *pb, struct pbwire_field *f)
{
    uint64_t tag;

    if (pbwire_varint(pb, &tag) < 0 || tag > UINT32_MAX || tag >> 3 == 0) {
        return -1;
    }
    f->number = (uint32_t)(tag >> 3);
    f->wire = (uint32_t)(tag & 7);
    f->bytes = NULL;
    f->len = 0;
    return pbwire_payload(pb, f);
}

#endif

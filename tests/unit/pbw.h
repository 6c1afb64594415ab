/*
 * pbw.h - a tiny protobuf writer for the unit tests of the decoders
 * (the CoreDNS stream's DNSEvent, Tetragon's GetEventsResponse).
 *
 * Fields are appended to a fixed buffer; after each top-level field the
 * offset where it ends is noted in bounds[], so a test can cut a message
 * at every field boundary.  No bounds checks: tests write small messages.
 */
#ifndef DD_TEST_PBW_H
#define DD_TEST_PBW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct pbw {
    uint8_t buf[4096];
    size_t len;
    size_t bounds[64];   /* offsets where a top-level field ends */
    size_t nbounds;
};

static inline void
pbw_varint(struct pbw *w, uint64_t v)
{
    while (v >= 0x80) {
        w->buf[w->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->buf[w->len++] = (uint8_t)v;
}

static inline void
pbw_mark(struct pbw *w)
{
    w->bounds[w->nbounds++] = w->len;
}

/* A varint field. */
static inline void
pbw_uint(struct pbw *w, unsigned field, uint64_t v)
{
    pbw_varint(w, (uint64_t)field << 3);
    pbw_varint(w, v);
    pbw_mark(w);
}

/* A length-delimited field. */
static inline void
pbw_bytes(struct pbw *w, unsigned field, const void *p, size_t n)
{
    pbw_varint(w, (uint64_t)field << 3 | 2);
    pbw_varint(w, n);
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    pbw_mark(w);
}

static inline void
pbw_str(struct pbw *w, unsigned field, const char *s)
{
    pbw_bytes(w, field, s, strlen(s));
}

#endif

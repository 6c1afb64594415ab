/*
 * test_dnswire.c - the DNS wire parser on hand-built messages: valid
 * queries and responses, every error kind, compression loops, bounds,
 * truncation at every offset, and the mnemonic tables.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event/dnswire.h"
#include "event/event.h"

/* ---- fixtures, checked against dnspython when written ---- */

/* Query www.Example.COM A IN, RD, EDNS 1232 with an 8-byte cookie. */
static const uint8_t query_www[] = {
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
    3, 'w', 'W', 'w', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e',
    3, 'C', 'O', 'M', 0, 0, 1, 0, 1,
    0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12,
    0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

/*
 * Response: www.example.com CNAME cdn.example.com (rdata at 45, itself
 * compressed to 16), then two A records owned by a pointer to 45;
 * EDNS 4096 with DO.
 */
static const uint8_t resp_cname[] = {
    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 1,
    /* 12 */ 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
    3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
    /* 33 */ 0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 6,
    /* 45 */ 3, 'c', 'd', 'n', 0xc0, 0x10,
    /* 51 */ 0xc0, 0x2d, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34,
    /* 67 */ 0xc0, 0x2d, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 35,
    /* 83 */ 0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0,
};

/* Response v6.test AAAA 2001:db8::1, TTL 300. */
static const uint8_t resp_aaaa[] = {
    0x06, 0x06, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
    2, 'v', '6', 4, 't', 'e', 's', 't', 0, 0, 28, 0, 1,
    0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0x01, 0x2c, 0, 16,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
};

/* Response _dns.resolver.arpa SVCB 1 dns.example.net alpn=h2. */
static const uint8_t resp_svcb[] = {
    0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
    4, '_', 'd', 'n', 's', 8, 'r', 'e', 's', 'o', 'l', 'v', 'e', 'r',
    4, 'a', 'r', 'p', 'a', 0, 0, 64, 0, 1,
    0xc0, 0x0c, 0, 64, 0, 1, 0, 0, 0x0e, 0x10, 0, 26,
    0, 1, 3, 'd', 'n', 's', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
    3, 'n', 'e', 't', 0, 0, 1, 0, 3, 2, 'h', '2',
};

/* Response Example.ORG HTTPS 1 . alpn=h2,h3. */
static const uint8_t resp_https[] = {
    0x00, 0x42, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
    7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'O', 'R', 'G', 0, 0, 65, 0, 1,
    0xc0, 0x0c, 0, 65, 0, 1, 0, 0, 0x01, 0x2c, 0, 13,
    0, 1, 0, 0, 1, 0, 6, 2, 'h', '2', 2, 'h', '3',
};

/* Response x. A with OPT extended rcode 1 and header rcode 0: BADVERS. */
static const uint8_t resp_badvers[] = {
    0x07, 0x07, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 1,
    1, 'x', 0, 0, 1, 0, 1,
    /* 19 */ 0, 0, 41, 0x04, 0xd0, 1, 0, 0, 0, 0, 0,
};

struct fixture {
    const uint8_t *msg;
    size_t len;
};

#define FIXTURE(a) { (a), sizeof(a) }

static const struct fixture valid[] = {
    FIXTURE(query_www), FIXTURE(resp_cname), FIXTURE(resp_aaaa),
    FIXTURE(resp_svcb), FIXTURE(resp_https), FIXTURE(resp_badvers),
};

/* ---- a small builder for generated messages ---- */

struct mbuf {
    uint8_t b[1024];
    size_t n;
};

static void
mb_u8(struct mbuf *m, unsigned v)
{
    assert_true(m->n < sizeof(m->b));
    m->b[m->n++] = (uint8_t)v;
}

static void
mb_u16(struct mbuf *m, unsigned v)
{
    mb_u8(m, v >> 8);
    mb_u8(m, v & 0xff);
}

static void
mb_header(struct mbuf *m, unsigned flags, unsigned qd, unsigned an,
          unsigned ns, unsigned ar)
{
    m->n = 0;
    mb_u16(m, 0xbeef);
    mb_u16(m, flags);
    mb_u16(m, qd);
    mb_u16(m, an);
    mb_u16(m, ns);
    mb_u16(m, ar);
}

/* A label of len bytes of fill (len may be an invalid length byte). */
static void
mb_label(struct mbuf *m, unsigned len, uint8_t fill)
{
    mb_u8(m, len);
    for (unsigned i = 0; i < len; i++) {
        mb_u8(m, fill);
    }
}

static void
mb_qtail(struct mbuf *m, unsigned qtype)
{
    mb_u16(m, qtype);
    mb_u16(m, 1);
}

/* Fixed part of a record after its owner name. */
static void
mb_rr(struct mbuf *m, unsigned type, unsigned rclass, uint32_t ttl,
      unsigned rdlen)
{
    mb_u16(m, type);
    mb_u16(m, rclass);
    mb_u16(m, ttl >> 16);
    mb_u16(m, ttl & 0xffff);
    mb_u16(m, rdlen);
}

/* Parse from an exact-size heap copy, so ASan sees any over-read. */
static int
parse_copy(const uint8_t *msg, size_t len, struct event *ev)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    int rc;

    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, msg, len);
    }
    rc = dnswire_parse(copy, len, ev);
    free(copy);
    return rc;
}

static int
parse_mb(const struct mbuf *m, struct event *ev)
{
    return parse_copy(m->b, m->n, ev);
}

static void
assert_parse_error(const uint8_t *msg, size_t len, int want)
{
    struct event ev;

    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(msg, len, &ev), -want);
}

/* ---- valid messages ---- */

static void
test_header(void **state)
{
    struct dnswire_header h;

    (void)state;
    assert_int_equal(dnswire_header(resp_cname, sizeof(resp_cname), &h), 0);
    assert_int_equal(h.id, 0x1234);
    assert_int_equal(h.flags, 0x8180);
    assert_int_equal(h.qdcount, 1);
    assert_int_equal(h.ancount, 3);
    assert_int_equal(h.nscount, 0);
    assert_int_equal(h.arcount, 1);
    for (size_t n = 0; n < 12; n++) {
        assert_int_equal(dnswire_header(resp_cname, n, &h),
                         -DNSWIRE_E_SHORT_HEADER);
    }
}

static void
test_query(void **state)
{
    struct event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(query_www, sizeof(query_www), &ev), 0);
    assert_int_equal(ev.id, 0x1234);
    assert_string_equal(ev.qname, "www.example.com");
    assert_int_equal(ev.qname_len, 15);
    assert_int_equal(ev.qtype, 1);
    assert_int_equal(ev.qclass, 1);
    assert_int_equal(ev.dns_flags, 0x0100);
    assert_int_equal(ev.query_size, sizeof(query_www));
    assert_int_equal(ev.edns_udp_size, 1232);
    assert_int_equal(ev.flags,
                     EVENT_F_QUERY | EVENT_F_QUESTION | EVENT_F_EDNS);
    assert_int_equal(ev.response_size, 0);
    assert_int_equal(ev.answer_count, 0);
}

static void
test_response_compressed(void **state)
{
    static const uint8_t cname_rdata[6] = { 3, 'c', 'd', 'n', 0xc0, 0x10 };
    static const uint8_t addr[4] = { 93, 184, 216, 35 };
    struct event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(resp_cname, sizeof(resp_cname), &ev), 0);
    assert_string_equal(ev.qname, "www.example.com");
    assert_int_equal(ev.flags, EVENT_F_RESPONSE | EVENT_F_QUESTION |
                     EVENT_F_EDNS);
    assert_int_equal(ev.rcode, 0);
    assert_int_equal(ev.dns_flags, 0x8180);
    assert_int_equal(ev.ancount, 3);
    assert_int_equal(ev.nscount, 0);
    assert_int_equal(ev.arcount, 1);
    assert_int_equal(ev.edns_udp_size, 4096);
    assert_int_equal(ev.response_size, sizeof(resp_cname));

    assert_int_equal(ev.answer_count, 3);
    assert_int_equal(ev.answer_bytes, 6 + 4 + 4);
    assert_int_equal(ev.answers[0].type, 5);
    assert_int_equal(ev.answers[0].rdlen, 6);
    assert_int_equal(ev.answers[0].ttl, 3600);
    assert_memory_equal(ev.answers[0].data, cname_rdata, 6);
    assert_int_equal(ev.answers[0].data[6], 0);
    assert_int_equal(ev.answers[2].type, 1);
    assert_int_equal(ev.answers[2].ttl, 60);
    assert_memory_equal(ev.answers[2].data, addr, 4);
}

static void
test_response_aaaa(void **state)
{
    static const uint8_t addr[16] = {
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    };
    struct event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(resp_aaaa, sizeof(resp_aaaa), &ev), 0);
    assert_string_equal(ev.qname, "v6.test");
    assert_int_equal(ev.qtype, 28);
    assert_int_equal(ev.answer_count, 1);
    assert_int_equal(ev.answers[0].type, 28);
    assert_int_equal(ev.answers[0].rdlen, 16);
    assert_int_equal(ev.answers[0].ttl, 300);
    assert_memory_equal(ev.answers[0].data, addr, 16);
    assert_int_equal(ev.answer_bytes, 16);
    assert_int_equal(ev.flags & EVENT_F_EDNS, 0);
}

static void
test_response_svcb_https(void **state)
{
    struct event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(resp_svcb, sizeof(resp_svcb), &ev), 0);
    assert_string_equal(ev.qname, "_dns.resolver.arpa");
    assert_int_equal(ev.qtype, 64);
    assert_int_equal(ev.answers[0].type, 64);
    assert_int_equal(ev.answers[0].rdlen, 26);
    assert_int_equal(ev.answer_bytes, 26);
    /* Only the first 16 bytes of longer RDATA are kept. */
    assert_memory_equal(ev.answers[0].data, resp_svcb + 48, 16);

    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(resp_https, sizeof(resp_https), &ev), 0);
    assert_string_equal(ev.qname, "example.org");
    assert_int_equal(ev.qtype, 65);
    assert_int_equal(ev.answers[0].type, 65);
    assert_int_equal(ev.answers[0].rdlen, 13);
    assert_memory_equal(ev.answers[0].data, resp_https + 41, 13);
    assert_int_equal(ev.answers[0].data[13], 0);
}

static void
test_extended_rcode(void **state)
{
    uint8_t msg[sizeof(resp_badvers)];
    struct event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(resp_badvers, sizeof(msg), &ev), 0);
    assert_int_equal(ev.rcode, 16);
    assert_string_equal(dnswire_rcode_name(ev.rcode), "BADVERS");
    assert_int_equal(ev.edns_udp_size, 1232);

    /* Header rcode 3 with extended 1 is 0x13, BADMODE. */
    memcpy(msg, resp_badvers, sizeof(msg));
    msg[3] = 0x83;
    assert_int_equal(parse_copy(msg, sizeof(msg), &ev), 0);
    assert_int_equal(ev.rcode, 19);

    /* Extended 0 leaves the header rcode alone. */
    msg[19 + 5] = 0;
    assert_int_equal(parse_copy(msg, sizeof(msg), &ev), 0);
    assert_int_equal(ev.rcode, 3);

    /* Extended 0xff reaches the top of the 12-bit space. */
    msg[19 + 5] = 0xff;
    msg[3] = 0x8f;
    assert_int_equal(parse_copy(msg, sizeof(msg), &ev), 0);
    assert_int_equal(ev.rcode, 0xfff);
}

static void
test_answers_capped(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0x8180, 1, 6, 0, 0);
    mb_label(&m, 1, 'a');
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    for (unsigned i = 0; i < 6; i++) {
        mb_u16(&m, 0xc00c);
        mb_rr(&m, 1, 1, 100 + i, 4);
        mb_u16(&m, 0x0a00);
        mb_u16(&m, i);
    }

    memset(&ev, 0xaa, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), 0);
    assert_int_equal(ev.ancount, 6);
    assert_int_equal(ev.answer_count, EVENT_ANSWERS_MAX);
    assert_int_equal(ev.answer_bytes, 24);
    assert_int_equal(ev.answers[3].ttl, 103);
    assert_int_equal(ev.answers[3].data[3], 3);
    assert_int_equal(ev.answers[3].data[4], 0);
}

static void
test_truncated_flag(void **state)
{
    uint8_t msg[sizeof(resp_aaaa)];
    struct event ev;

    (void)state;
    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[2] |= 0x02;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(msg, sizeof(msg), &ev), 0);
    assert_true(ev.flags & EVENT_F_TRUNCATED);

    msg[2] &= (uint8_t)~0x02;
    assert_int_equal(parse_copy(msg, sizeof(msg), &ev), 0);
    assert_false(ev.flags & EVENT_F_TRUNCATED);
}

static void
test_query_after_response(void **state)
{
    struct event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_copy(resp_cname, sizeof(resp_cname), &ev), 0);
    assert_int_equal(parse_copy(query_www, sizeof(query_www), &ev), 0);
    assert_int_equal(ev.flags & (EVENT_F_QUERY | EVENT_F_RESPONSE),
                     EVENT_F_QUERY | EVENT_F_RESPONSE);
    assert_int_equal(ev.dns_flags, 0x8180);
    assert_int_equal(ev.edns_udp_size, 4096);
    assert_int_equal(ev.query_size, sizeof(query_www));
    assert_int_equal(ev.response_size, sizeof(resp_cname));
    assert_int_equal(ev.answer_count, 3);
}

static void
test_root_and_more_questions(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0, 2, 0, 0, 0);
    mb_u8(&m, 0);
    mb_qtail(&m, 2);
    mb_u16(&m, 0xc00c);
    mb_qtail(&m, 1);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), 0);
    assert_string_equal(ev.qname, ".");
    assert_int_equal(ev.qname_len, 1);
    assert_int_equal(ev.qtype, 2);
}

/* The smallest records the counts allow are accepted. */
static void
test_counts_exact_fit(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0x8000, 1, 1, 1, 0);
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    for (int i = 0; i < 2; i++) {
        mb_u8(&m, 0);
        mb_rr(&m, 10, 1, 0, 0);
    }
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), 0);
    assert_int_equal(ev.answer_count, 1);
    assert_int_equal(ev.answers[0].rdlen, 0);

    /* One byte less and the counts alone rule it out. */
    m.n--;
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_COUNTS);
    m.n++;
    m.b[9] = 2;
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_COUNTS);
}

/* ---- names ---- */

static void
test_name_offsets(void **state)
{
    char out[EVENT_QNAME_MAX];
    size_t off = 45;
    size_t n = 0;

    (void)state;
    assert_int_equal(dnswire_name(resp_cname, sizeof(resp_cname), &off,
                                  out, &n), 0);
    assert_string_equal(out, "cdn.example.com");
    assert_int_equal(n, 15);
    assert_int_equal(off, 51);

    off = 33;
    assert_int_equal(dnswire_name(resp_cname, sizeof(resp_cname), &off,
                                  out, &n), 0);
    assert_string_equal(out, "www.example.com");
    assert_int_equal(off, 35);

    off = 12;
    assert_int_equal(dnswire_name(resp_cname, sizeof(resp_cname), &off,
                                  out, &n), 0);
    assert_int_equal(off, 29);

    /* Errors leave *off alone. */
    off = 33;
    assert_int_equal(dnswire_name(resp_cname, 34, &off, out, &n),
                     -DNSWIRE_E_TRUNCATED);
    assert_int_equal(off, 33);
}

static void
test_name_escapes(void **state)
{
    static const uint8_t wire[] = {
        3, 'a', '.', 'b', 1, '\\', 1, '*', 2, ' ', 'x', 1, 0xff,
        5, 'U', 'P', '-', '_', '9', 1, 0, 0,
    };
    char out[EVENT_QNAME_MAX];
    size_t off = 0;
    size_t n = 0;

    (void)state;
    assert_int_equal(dnswire_name(wire, sizeof(wire), &off, out, &n), 0);
    assert_string_equal(out, "a\\046b.\\092.\\042.\\032x.\\255.up-_9.\\000");
    assert_int_equal(n, strlen(out));
    assert_int_equal(off, sizeof(wire));
}

/* Escaped text may use all 255 characters, and not one more. */
static void
test_name_escaped_length(void **state)
{
    struct mbuf m;
    char out[EVENT_QNAME_MAX];
    size_t off = 0;
    size_t n = 0;

    (void)state;
    m.n = 0;
    mb_label(&m, 61, '.');
    mb_label(&m, 10, 'a');
    mb_u8(&m, 0);
    assert_int_equal(dnswire_name(m.b, m.n, &off, out, &n), 0);
    assert_int_equal(n, 255);
    assert_int_equal(strlen(out), 255);

    m.n = 0;
    off = 0;
    mb_label(&m, 61, '.');
    mb_label(&m, 11, 'a');
    mb_u8(&m, 0);
    assert_int_equal(dnswire_name(m.b, m.n, &off, out, &n),
                     -DNSWIRE_E_NAME_LEN);

    /* Full after the second label: the next dot does not fit. */
    m.n = 0;
    off = 0;
    mb_label(&m, 61, '.');
    mb_label(&m, 10, 'a');
    mb_label(&m, 1, 'b');
    mb_u8(&m, 0);
    assert_int_equal(dnswire_name(m.b, m.n, &off, out, &n),
                     -DNSWIRE_E_NAME_LEN);

    /* An escape that would straddle the end. */
    m.n = 0;
    off = 0;
    mb_label(&m, 11, 'a');
    mb_label(&m, 61, 0);
    mb_u8(&m, 0);
    assert_int_equal(dnswire_name(m.b, m.n, &off, out, &n),
                     -DNSWIRE_E_NAME_LEN);
}

/* 255 wire octets parse; 256 fail. */
static void
test_name_wire_length(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0, 1, 0, 0, 0);
    mb_label(&m, 63, 'a');
    mb_label(&m, 63, 'b');
    mb_label(&m, 63, 'c');
    mb_label(&m, 61, 'd');
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), 0);
    assert_int_equal(ev.qname_len, 253);
    assert_int_equal(strlen(ev.qname), 253);

    mb_header(&m, 0, 1, 0, 0, 0);
    mb_label(&m, 63, 'a');
    mb_label(&m, 63, 'b');
    mb_label(&m, 63, 'c');
    mb_label(&m, 62, 'd');
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_NAME_LEN);
    assert_false(ev.flags & EVENT_F_QUESTION);
}

/* A compressed name is also limited to 255 octets in total. */
static void
test_name_wire_length_compressed(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0x8000, 1, 1, 0, 0);
    mb_label(&m, 63, 'a');
    mb_label(&m, 63, 'b');
    mb_label(&m, 63, 'c');
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    mb_label(&m, 63, 'e');      /* 64 + 193 octets: 257 */
    mb_u16(&m, 0xc00c);
    mb_rr(&m, 1, 1, 0, 0);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_NAME_LEN);
}

/* ---- errors ---- */

static void
test_error_short_header(void **state)
{
    (void)state;
    assert_parse_error(query_www, 0, DNSWIRE_E_SHORT_HEADER);
    assert_parse_error(query_www, 11, DNSWIRE_E_SHORT_HEADER);
}

static void
test_error_no_question(void **state)
{
    uint8_t msg[sizeof(resp_aaaa)];

    (void)state;
    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[5] = 0;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_NO_QUESTION);
    assert_parse_error(msg, 12, DNSWIRE_E_NO_QUESTION);
}

static void
test_error_counts(void **state)
{
    uint8_t msg[sizeof(resp_aaaa)];

    (void)state;
    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[7] = 100;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_COUNTS);

    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[10] = 0xff;
    msg[11] = 0xff;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_COUNTS);

    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[4] = 0xff;
    msg[5] = 0xff;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_COUNTS);

    memset(msg, 0xff, 12);
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_COUNTS);
}

static void
test_error_truncated(void **state)
{
    uint8_t msg[sizeof(resp_aaaa)];

    (void)state;
    /* The question runs into the end: no qtype/qclass. */
    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[7] = 0;
    assert_parse_error(msg, 12 + 9 + 2, DNSWIRE_E_TRUNCATED);

    /* RDATA length past the end, counts still plausible. */
    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[36] = 17;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_TRUNCATED);

    /* A label longer than what is left. */
    memcpy(msg, resp_aaaa, sizeof(msg));
    msg[15] = 60;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_TRUNCATED);
}

static void
test_error_label_len(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0, 1, 0, 0, 0);
    mb_label(&m, 64, 'a');
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LABEL_LEN);

    m.b[12] = 0x7f;
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LABEL_LEN);

    /* 63 is the longest label. */
    mb_header(&m, 0, 1, 0, 0, 0);
    mb_label(&m, 63, 'a');
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    assert_int_equal(parse_mb(&m, &ev), 0);
    assert_int_equal(ev.qname_len, 63);
}

static void
test_error_label_type(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0, 1, 0, 0, 0);
    mb_u8(&m, 0x80);
    mb_u8(&m, 0);
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LABEL_TYPE);

    m.b[12] = 0xbf;
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LABEL_TYPE);
}

static void
test_error_loop_self(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0, 1, 0, 0, 0);
    mb_u16(&m, 0xc00c);
    mb_qtail(&m, 1);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LOOP);

    /* After a label, pointing back at the name's own start. */
    mb_header(&m, 0, 1, 0, 0, 0);
    mb_label(&m, 1, 'a');
    mb_u16(&m, 0xc00c);
    mb_qtail(&m, 1);
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LOOP);

    /* Forward pointers, even to a valid name, are refused. */
    mb_header(&m, 0, 1, 0, 0, 0);
    mb_u16(&m, 0xc00e);
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LOOP);
}

/*
 * An answer owner points back into RDATA (allowed), where the chain then
 * turns: at 31 a pointer to 33 and at 33 a pointer to 31.  Both are
 * below the owner's own offset, so only the per-hop limit stops them.
 */
static void
test_error_loop_pair(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0x8000, 1, 2, 0, 0);
    mb_label(&m, 1, 'q');
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    mb_u16(&m, 0xc00c);           /* 19 */
    mb_rr(&m, 10, 1, 0, 4);
    mb_u16(&m, 0xc021);           /* 31: to 33 */
    mb_u16(&m, 0xc01f);           /* 33: to 31 */
    mb_u16(&m, 0xc01f);           /* 35: owner, to 31 */
    mb_rr(&m, 1, 1, 0, 0);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(m.n, 47);
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LOOP);

    /* A label then a pointer to that label: z.z.z... */
    m.b[31] = 1;
    m.b[32] = 'z';
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_LOOP);

    /* Resolve 33 to the question name and it parses. */
    m.b[33] = 0xc0;
    m.b[34] = 0x0c;
    assert_int_equal(parse_mb(&m, &ev), 0);
}

static void
test_error_bad_opt(void **state)
{
    uint8_t msg[sizeof(resp_badvers)];
    struct mbuf m;
    struct event ev;

    (void)state;
    /* Owner not the root. */
    mb_header(&m, 0x8000, 1, 0, 0, 1);
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    mb_label(&m, 1, 'o');
    mb_u8(&m, 0);
    mb_rr(&m, 41, 1232, 0, 0);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_BAD_OPT);

    /* In the answer section. */
    memcpy(msg, resp_badvers, sizeof(msg));
    msg[7] = 1;
    msg[11] = 0;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_BAD_OPT);

    /* In the authority section. */
    msg[7] = 0;
    msg[9] = 1;
    assert_parse_error(msg, sizeof(msg), DNSWIRE_E_BAD_OPT);

    /* An option longer than the RDATA. */
    mb_header(&m, 0x8000, 1, 0, 0, 1);
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    mb_u8(&m, 0);
    mb_rr(&m, 41, 1232, 0, 6);
    mb_u16(&m, 10);
    mb_u16(&m, 8);
    mb_u16(&m, 0);
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_BAD_OPT);

    /* A partial option header. */
    if (m.n < 7) {
        fail();
        return;
    }
    m.b[m.n - 7] = 3;
    m.n -= 3;
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_BAD_OPT);
}

static void
test_error_two_opts(void **state)
{
    struct mbuf m;
    struct event ev;

    (void)state;
    mb_header(&m, 0x8000, 1, 0, 0, 2);
    mb_u8(&m, 0);
    mb_qtail(&m, 1);
    for (int i = 0; i < 2; i++) {
        mb_u8(&m, 0);
        mb_rr(&m, 41, 1232, 0, 0);
    }
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(parse_mb(&m, &ev), -DNSWIRE_E_BAD_OPT);

    m.b[11] = 1;
    m.n -= 11;
    assert_int_equal(parse_mb(&m, &ev), 0);
    assert_true(ev.flags & EVENT_F_EDNS);
}

/* Every shorter prefix of a valid message fails, and nothing over-reads. */
static void
test_truncate_everywhere(void **state)
{
    struct event ev;

    (void)state;
    for (size_t f = 0; f < sizeof(valid) / sizeof(valid[0]); f++) {
        memset(&ev, 0, sizeof(ev));
        assert_int_equal(parse_copy(valid[f].msg, valid[f].len, &ev), 0);
        for (size_t n = 0; n < valid[f].len; n++) {
            int rc = parse_copy(valid[f].msg, n, &ev);

            assert_true(rc < 0);
            assert_true(-rc > DNSWIRE_OK && -rc < DNSWIRE_E_COUNT);
        }
    }
}

/* ---- mnemonics ---- */

static const struct {
    const char *name;
    int value;
} known_types[] = {
    { "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "NULL", 10 },
    { "PTR", 12 }, { "HINFO", 13 }, { "MX", 15 }, { "TXT", 16 },
    { "AAAA", 28 }, { "SRV", 33 }, { "NAPTR", 35 }, { "DNAME", 39 },
    { "OPT", 41 }, { "DS", 43 }, { "SSHFP", 44 }, { "RRSIG", 46 },
    { "NSEC", 47 }, { "DNSKEY", 48 }, { "NSEC3", 50 }, { "TLSA", 52 },
    { "CDS", 59 }, { "CDNSKEY", 60 }, { "ZONEMD", 63 }, { "SVCB", 64 },
    { "HTTPS", 65 }, { "SPF", 99 }, { "IXFR", 251 }, { "AXFR", 252 },
    { "ANY", 255 }, { "URI", 256 }, { "CAA", 257 }, { "DLV", 32769 },
};

static void
test_type_names(void **state)
{
    char buf[16];

    (void)state;
    for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]);
         i++) {
        assert_string_equal(dnswire_type_name(known_types[i].value),
                            known_types[i].name);
        assert_int_equal(dnswire_type_value(known_types[i].name),
                         known_types[i].value);
    }
    assert_int_equal(dnswire_type_value("aaaa"), 28);
    assert_int_equal(dnswire_type_value("Https"), 65);
    assert_int_equal(dnswire_type_value("type65"), 65);
    assert_int_equal(dnswire_type_value("TYPE65535"), 65535);
    assert_int_equal(dnswire_type_value("TYPE65536"), -1);
    assert_int_equal(dnswire_type_value("TYPE123456"), -1);
    assert_int_equal(dnswire_type_value("TYPE"), -1);
    assert_int_equal(dnswire_type_value("TYPE1x"), -1);
    assert_int_equal(dnswire_type_value("bogus"), -1);
    assert_int_equal(dnswire_type_value(""), -1);
    assert_int_equal(dnswire_type_value(NULL), -1);
    assert_null(dnswire_type_name(0));
    assert_null(dnswire_type_name(65280));
    assert_string_equal(dnswire_type_format(28, buf, sizeof(buf)), "AAAA");
    assert_string_equal(dnswire_type_format(65280, buf, sizeof(buf)),
                        "TYPE65280");
}

/* Every value formats to text that reads back as the same value. */
static void
test_type_round_trip_all(void **state)
{
    char buf[16];

    (void)state;
    for (unsigned v = 0; v <= UINT16_MAX; v++) {
        const char *name = dnswire_type_name(v);

        if (name != NULL) {
            assert_int_equal(dnswire_type_value(name), (int)v);
        }
        dnswire_type_format(v, buf, sizeof(buf));
        assert_int_equal(dnswire_type_value(buf), (int)v);
    }
}

static void
test_class_and_rcode_names(void **state)
{
    static const char *const rcodes[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
        "DSOTYPENI",
    };
    static const char *const badcodes[] = {
        "BADVERS", "BADKEY", "BADTIME", "BADMODE", "BADNAME", "BADALG",
        "BADTRUNC", "BADCOOKIE",
    };
    char buf[16];

    (void)state;
    for (unsigned i = 0; i < 12; i++) {
        assert_string_equal(dnswire_rcode_name(i), rcodes[i]);
    }
    for (unsigned i = 12; i < 16; i++) {
        assert_null(dnswire_rcode_name(i));
    }
    for (unsigned i = 0; i < 8; i++) {
        assert_string_equal(dnswire_rcode_name(16 + i), badcodes[i]);
    }
    assert_null(dnswire_rcode_name(24));
    assert_null(dnswire_rcode_name(4095));
    assert_string_equal(dnswire_rcode_format(3, buf, sizeof(buf)),
                        "NXDOMAIN");
    assert_string_equal(dnswire_rcode_format(12, buf, sizeof(buf)),
                        "RCODE12");

    assert_string_equal(dnswire_class_name(1), "IN");
    assert_string_equal(dnswire_class_name(3), "CH");
    assert_string_equal(dnswire_class_name(4), "HS");
    assert_string_equal(dnswire_class_name(254), "NONE");
    assert_string_equal(dnswire_class_name(255), "ANY");
    assert_null(dnswire_class_name(2));
    assert_null(dnswire_class_name(0));
}

static void
test_error_names(void **state)
{
    static const char *const names[DNSWIRE_E_COUNT] = {
        "dns_ok", "dns_short_header", "dns_truncated",
        "dns_compression_loop", "dns_label_too_long", "dns_name_too_long",
        "dns_bad_label_type", "dns_bad_counts", "dns_no_question",
        "dns_bad_opt",
    };

    (void)state;
    for (int i = 0; i < DNSWIRE_E_COUNT; i++) {
        assert_string_equal(dnswire_error_name(i), names[i]);
        assert_string_equal(dnswire_error_name(-i), names[i]);
    }
    assert_int_equal(DNSWIRE_E_BAD_OPT, 9);
    assert_string_equal(dnswire_error_name(DNSWIRE_E_COUNT), "dns_unknown");
    assert_string_equal(dnswire_error_name(-1000), "dns_unknown");
    assert_string_equal(dnswire_error_name(INT_MIN), "dns_unknown");
    assert_string_equal(dnswire_error_name(INT_MAX), "dns_unknown");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_response_compressed),
        cmocka_unit_test(test_response_aaaa),
        cmocka_unit_test(test_response_svcb_https),
        cmocka_unit_test(test_extended_rcode),
        cmocka_unit_test(test_answers_capped),
        cmocka_unit_test(test_truncated_flag),
        cmocka_unit_test(test_query_after_response),
        cmocka_unit_test(test_root_and_more_questions),
        cmocka_unit_test(test_counts_exact_fit),
        cmocka_unit_test(test_name_offsets),
        cmocka_unit_test(test_name_escapes),
        cmocka_unit_test(test_name_escaped_length),
        cmocka_unit_test(test_name_wire_length),
        cmocka_unit_test(test_name_wire_length_compressed),
        cmocka_unit_test(test_error_short_header),
        cmocka_unit_test(test_error_no_question),
        cmocka_unit_test(test_error_counts),
        cmocka_unit_test(test_error_truncated),
        cmocka_unit_test(test_error_label_len),
        cmocka_unit_test(test_error_label_type),
        cmocka_unit_test(test_error_loop_self),
        cmocka_unit_test(test_error_loop_pair),
        cmocka_unit_test(test_error_bad_opt),
        cmocka_unit_test(test_error_two_opts),
        cmocka_unit_test(test_truncate_everywhere),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_type_round_trip_all),
        cmocka_unit_test(test_class_and_rcode_names),
        cmocka_unit_test(test_error_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

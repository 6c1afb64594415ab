/*
 * dnswire.c - strict, allocation-free DNS message parsing.
 *
 * Compression: a name starts with a limit equal to its own offset.  Each
 * pointer must target an offset below the limit, and its target becomes
 * the new limit.  Offsets strictly decrease along a chain, so a walk
 * always ends and no loop can form (a pointer to itself, or two pointers
 * that point at each other, fail as DNSWIRE_E_LOOP).
 *
 * Label bytes: prefix 00 is a length (0 to 63) and prefix 11 a pointer.
 * Of the other two, prefix 01 reads as a length of 64 to 127, which is
 * what an over-long label looks like on the wire (the extended label
 * types that prefix once introduced are not in use, RFC 6891 section 5),
 * so it is reported as DNSWIRE_E_LABEL_LEN; prefix 10, reserved since
 * RFC 1035, is DNSWIRE_E_LABEL_TYPE.
 *
 * Presentation form: a label byte outside [a-z0-9-_] (after lowercasing)
 * is written as \DDD.  A name whose escaped form would pass 255
 * characters does not fit EVENT_QNAME_MAX and is rejected with
 * DNSWIRE_E_NAME_LEN, even when its wire form is within 255 octets.
 *
 * Names outside the question are only walked (bounds, pointers, lengths),
 * never turned into text.  Names inside RDATA are not walked: RDATA is
 * bounds-checked as a whole, and only OPT options are looked into.
 */
#include "event/dnswire.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DNSWIRE_HEADER_LEN 12
#define DNSWIRE_QUESTION_MIN 5   /* root name, type, class */
#define DNSWIRE_RR_MIN 11        /* root name, type, class, TTL, rdlen */
#define DNSWIRE_RR_FIXED 10      /* type, class, TTL, rdlen */
#define DNSWIRE_NAME_WIRE_MAX 255
#define DNSWIRE_NAME_TEXT_MAX (EVENT_QNAME_MAX - 1)
#define DNSWIRE_TYPE_OPT 41
#define DNSWIRE_RCODE_MASK 0x000fu

/* Walks the labels of one name in place, following pointers. */
struct dnswire_cursor {
    const uint8_t *msg;
    size_t len;
    size_t pos;       /* next byte to read */
    size_t limit;     /* a pointer must target an offset below this */
    size_t end;       /* offset just past the name in place; 0 until known */
    unsigned wire;    /* uncompressed octets so far, root included */
};

/* One resource record, its RDATA left in the message. */
struct dnswire_rr {
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;
    uint16_t rdlen;
    size_t rdata;     /* offset of the RDATA */
    int owner_wire;   /* wire octets of the owner name; 1 is the root */
};

enum dnswire_section {
    DNSWIRE_ANSWER,
    DNSWIRE_AUTHORITY,
    DNSWIRE_ADDITIONAL,
};

/* State of one dnswire_parse() call. */
struct dnswire_state {
    const uint8_t *msg;
    size_t len;
    size_t off;               /* next unread byte */
    struct dnswire_header h;
    int opt_seen;
    uint8_t ext_rcode;        /* upper 8 bits of the rcode, from OPT */
    uint16_t udp_size;        /* from OPT */
};

static inline uint16_t
dnswire_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
dnswire_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void
dnswire_cursor_init(struct dnswire_cursor *c, const uint8_t *msg,
                    size_t len, size_t off)
{
    c->msg = msg;
    c->len = len;
    c->pos = off;
    c->limit = off;
    c->end = 0;
    c->wire = 0;
}

/* Follow pointers until a label byte; returns it or -error. */
static inline int
dnswire_cursor_follow(struct dnswire_cursor *c)
{
    for (;;) {
        uint8_t b;
        size_t target;

        if (c->pos >= c->len) {
            return -DNSWIRE_E_TRUNCATED;
        }
        b = c->msg[c->pos];
        if ((b & 0xc0) != 0xc0) {
            return b;
        }

        if (c->len - c->pos < 2) {
            return -DNSWIRE_E_TRUNCATED;
        }
        target = ((size_t)(b & 0x3f) << 8) | c->msg[c->pos + 1];
        if (target >= c->limit) {
            return -DNSWIRE_E_LOOP;
        }
        if (c->end == 0) {
            c->end = c->pos + 2;
        }
        c->limit = target;
        c->pos = target;
    }
}

/*
 * Step over the next label.  Returns its length, 0 for the root (the
 * name is complete), or -error.  The label's bytes end at c->pos.
 */
static inline int
dnswire_cursor_next(struct dnswire_cursor *c)
{
    int n = dnswire_cursor_follow(c);

    if (n < 0) {
        return n;
    }
    if ((n & 0xc0) == 0x40) {
        return -DNSWIRE_E_LABEL_LEN;
    }
    if ((n & 0xc0) == 0x80) {
        return -DNSWIRE_E_LABEL_TYPE;
    }

    c->wire += (unsigned)n + 1;
    if (c->wire > DNSWIRE_NAME_WIRE_MAX) {
        return -DNSWIRE_E_NAME_LEN;
    }
    if ((size_t)n >= c->len - c->pos) {
        return -DNSWIRE_E_TRUNCATED;
    }
    c->pos += (size_t)n + 1;
    if (n == 0 && c->end == 0) {
        c->end = c->pos;
    }
    return n;
}

/*
 * Check the name at *off and move *off past it.  Returns its wire length
 * (1 for the root) or -error.
 */
static int
dnswire_name_skip(const uint8_t *msg, size_t len, size_t *off)
{
    struct dnswire_cursor c;
    int n;

    dnswire_cursor_init(&c, msg, len, *off);
    do {
        n = dnswire_cursor_next(&c);
        if (n < 0) {
            return n;
        }
    } while (n > 0);

    *off = c.end;
    return (int)c.wire;
}

/* The byte as written in a name, lowercased; 0 when it needs \DDD. */
static inline char
dnswire_plain(uint8_t b)
{
    if ((unsigned)(b - 'a') < 26 || (unsigned)(b - '0') < 10 ||
        b == '-' || b == '_') {
        return (char)b;
    }
    if ((unsigned)(b - 'A') < 26) {
        return (char)(b + ('a' - 'A'));
    }
    return 0;
}

/*
 * Append one label to out at *n, after a dot unless it is the first.
 * Returns 0, or -DNSWIRE_E_NAME_LEN when the text would pass 255 chars.
 */
static int
dnswire_label_text(const uint8_t *p, int llen, char *out, size_t *n)
{
    size_t k = *n;

    if (k > 0) {
        if (k >= DNSWIRE_NAME_TEXT_MAX) {
            return -DNSWIRE_E_NAME_LEN;
        }
        out[k++] = '.';
    }
    for (int i = 0; i < llen; i++) {
        char ch = dnswire_plain(p[i]);

        if (ch != 0 && k < DNSWIRE_NAME_TEXT_MAX) {
            out[k++] = ch;
            continue;
        }
        if (k + (ch != 0 ? 1 : 4) > DNSWIRE_NAME_TEXT_MAX) {
            return -DNSWIRE_E_NAME_LEN;
        }
        out[k++] = '\\';
        out[k++] = (char)('0' + p[i] / 100);
        out[k++] = (char)('0' + p[i] / 10 % 10);
        out[k++] = (char)('0' + p[i] % 10);
    }

    *n = k;
    return 0;
}

int
dnswire_name(const uint8_t *msg, size_t len, size_t *off,
             char out[EVENT_QNAME_MAX], size_t *outlen)
{
    struct dnswire_cursor c;
    size_t n = 0;
    int llen;

    dnswire_cursor_init(&c, msg, len, *off);
    while ((llen = dnswire_cursor_next(&c)) > 0) {
        int rc = dnswire_label_text(msg + c.pos - llen, llen, out, &n);

        if (rc < 0) {
            return rc;
        }
    }
    if (llen < 0) {
        return llen;
    }

    if (n == 0) {
        out[n++] = '.';
    }
    out[n] = '\0';
    *outlen = n;
    *off = c.end;
    return 0;
}

int
dnswire_header(const uint8_t *msg, size_t len, struct dnswire_header *h)
{
    if (len < DNSWIRE_HEADER_LEN) {
        return -DNSWIRE_E_SHORT_HEADER;
    }
    h->id = dnswire_u16(msg);
    h->flags = dnswire_u16(msg + 2);
    h->qdcount = dnswire_u16(msg + 4);
    h->ancount = dnswire_u16(msg + 6);
    h->nscount = dnswire_u16(msg + 8);
    h->arcount = dnswire_u16(msg + 10);
    return 0;
}

/* Reject counts whose smallest possible records could not fit. */
static int
dnswire_counts_check(const struct dnswire_header *h, size_t len)
{
    uint64_t records = (uint64_t)h->ancount + h->nscount + h->arcount;
    uint64_t need;

    if (h->qdcount == 0) {
        return -DNSWIRE_E_NO_QUESTION;
    }
    need = (uint64_t)h->qdcount * DNSWIRE_QUESTION_MIN +
           records * DNSWIRE_RR_MIN;
    if (need > len - DNSWIRE_HEADER_LEN) {
        return -DNSWIRE_E_COUNTS;
    }
    return 0;
}

/* Decode the first question into ev; walk the others. */
static int
dnswire_questions(struct dnswire_state *s, struct event *ev)
{
    size_t textlen;
    int rc;

    ev->flags &= ~EVENT_F_QUESTION;
    rc = dnswire_name(s->msg, s->len, &s->off, ev->qname, &textlen);
    if (rc < 0) {
        return rc;
    }
    if (s->len - s->off < 4) {
        return -DNSWIRE_E_TRUNCATED;
    }
    ev->qname_len = (uint8_t)textlen;
    ev->qtype = dnswire_u16(s->msg + s->off);
    ev->qclass = dnswire_u16(s->msg + s->off + 2);
    ev->flags |= EVENT_F_QUESTION;
    s->off += 4;

    for (unsigned i = 1; i < s->h.qdcount; i++) {
        rc = dnswire_name_skip(s->msg, s->len, &s->off);
        if (rc < 0) {
            return rc;
        }
        if (s->len - s->off < 4) {
            return -DNSWIRE_E_TRUNCATED;
        }
        s->off += 4;
    }
    return 0;
}

/* Read the record at *off and move *off past its RDATA. */
static int
dnswire_rr_read(const uint8_t *msg, size_t len, size_t *off,
                struct dnswire_rr *rr)
{
    size_t p = *off;
    int wire = dnswire_name_skip(msg, len, &p);

    if (wire < 0) {
        return wire;
    }
    if (len - p < DNSWIRE_RR_FIXED) {
        return -DNSWIRE_E_TRUNCATED;
    }

    rr->owner_wire = wire;
    rr->type = dnswire_u16(msg + p);
    rr->rclass = dnswire_u16(msg + p + 2);
    rr->ttl = dnswire_u32(msg + p + 4);
    rr->rdlen = dnswire_u16(msg + p + 8);
    rr->rdata = p + DNSWIRE_RR_FIXED;
    if (rr->rdlen > len - rr->rdata) {
        return -DNSWIRE_E_TRUNCATED;
    }

    *off = rr->rdata + rr->rdlen;
    return 0;
}

/* Options of an OPT record must fill its RDATA exactly. */
static int
dnswire_opt_options(const uint8_t *p, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        if (len - pos < 4) {
            return -DNSWIRE_E_BAD_OPT;
        }
        pos += 4 + (size_t)dnswire_u16(p + pos + 2);
    }
    return pos == len ? 0 : -DNSWIRE_E_BAD_OPT;
}

/* Accept one OPT: additional section, root owner, once per message. */
static int
dnswire_opt(struct dnswire_state *s, const struct dnswire_rr *rr,
            enum dnswire_section section)
{
    if (section != DNSWIRE_ADDITIONAL || s->opt_seen ||
        rr->owner_wire != 1) {
        return -DNSWIRE_E_BAD_OPT;
    }
    if (dnswire_opt_options(s->msg + rr->rdata, rr->rdlen) < 0) {
        return -DNSWIRE_E_BAD_OPT;
    }

    s->opt_seen = 1;
    s->udp_size = rr->rclass;
    s->ext_rcode = (uint8_t)(rr->ttl >> 24);
    return 0;
}

/* Count an answer record, and summarise it if there is room. */
static void
dnswire_answer_add(struct event *ev, const uint8_t *msg,
                   const struct dnswire_rr *rr)
{
    struct event_answer *a;
    size_t n = rr->rdlen < sizeof(a->data) ? rr->rdlen : sizeof(a->data);

    ev->answer_bytes += rr->rdlen;
    if (ev->answer_count >= EVENT_ANSWERS_MAX) {
        return;
    }

    a = &ev->answers[ev->answer_count++];
    a->type = rr->type;
    a->rdlen = rr->rdlen;
    a->ttl = rr->ttl;
    memset(a->data, 0, sizeof(a->data));
    memcpy(a->data, msg + rr->rdata, n);
}

/* Walk one section; ev is NULL when answers are not summarised. */
static int
dnswire_section(struct dnswire_state *s, unsigned count,
                enum dnswire_section section, struct event *ev)
{
    struct dnswire_rr rr;

    for (unsigned i = 0; i < count; i++) {
        int rc = dnswire_rr_read(s->msg, s->len, &s->off, &rr);

        if (rc < 0) {
            return rc;
        }
        if (rr.type == DNSWIRE_TYPE_OPT) {
            rc = dnswire_opt(s, &rr, section);
            if (rc < 0) {
                return rc;
            }
        }
        if (ev != NULL && section == DNSWIRE_ANSWER) {
            dnswire_answer_add(ev, s->msg, &rr);
        }
    }
    return 0;
}

static int
dnswire_sections(struct dnswire_state *s, struct event *answers_to)
{
    int rc;

    rc = dnswire_section(s, s->h.ancount, DNSWIRE_ANSWER, answers_to);
    if (rc < 0) {
        return rc;
    }
    rc = dnswire_section(s, s->h.nscount, DNSWIRE_AUTHORITY, NULL);
    if (rc < 0) {
        return rc;
    }
    return dnswire_section(s, s->h.arcount, DNSWIRE_ADDITIONAL, NULL);
}

static void
dnswire_response_fill(const struct dnswire_state *s, struct event *ev)
{
    ev->flags |= EVENT_F_RESPONSE;
    ev->response_size = (uint32_t)s->len;
    ev->dns_flags = s->h.flags;
    ev->rcode = (uint16_t)(((unsigned)s->ext_rcode << 4) |
                           (s->h.flags & DNSWIRE_RCODE_MASK));
    ev->ancount = s->h.ancount;
    ev->nscount = s->h.nscount;
    ev->arcount = s->h.arcount;

    if (s->h.flags & DNSWIRE_FLAG_TC) {
        ev->flags |= EVENT_F_TRUNCATED;
    } else {
        ev->flags &= ~EVENT_F_TRUNCATED;
    }
    if (s->opt_seen) {
        ev->flags |= EVENT_F_EDNS;
        ev->edns_udp_size = s->udp_size;
    }
}

/*
 * A query does not overwrite dns_flags or edns_udp_size that a response
 * already parsed into the same event has set: the response's win.
 */
static void
dnswire_query_fill(const struct dnswire_state *s, struct event *ev)
{
    int have_response = (ev->flags & EVENT_F_RESPONSE) != 0;

    ev->flags |= EVENT_F_QUERY;
    ev->query_size = (uint32_t)s->len;
    if (!have_response) {
        ev->dns_flags = s->h.flags;
    }
    if (s->opt_seen) {
        ev->flags |= EVENT_F_EDNS;
        if (!have_response || ev->edns_udp_size == 0) {
            ev->edns_udp_size = s->udp_size;
        }
    }
}

int
dnswire_parse(const uint8_t *msg, size_t len, struct event *ev)
{
    struct dnswire_state s = { .msg = msg, .len = len };
    int response;
    int rc;

    rc = dnswire_header(msg, len, &s.h);
    if (rc == 0) {
        rc = dnswire_counts_check(&s.h, len);
    }
    if (rc < 0) {
        return rc;
    }

    s.off = DNSWIRE_HEADER_LEN;
    ev->id = s.h.id;
    rc = dnswire_questions(&s, ev);
    if (rc < 0) {
        return rc;
    }

    response = (s.h.flags & DNSWIRE_FLAG_QR) != 0;
    if (response) {
        ev->answer_count = 0;
        ev->answer_bytes = 0;
    }
    rc = dnswire_sections(&s, response ? ev : NULL);
    if (rc < 0) {
        return rc;
    }

    if (response) {
        dnswire_response_fill(&s, ev);
    } else {
        dnswire_query_fill(&s, ev);
    }
    return 0;
}

const char *
dnswire_error_name(int err)
{
    static const char *const names[DNSWIRE_E_COUNT] = {
        [DNSWIRE_OK] = "dns_ok",
        [DNSWIRE_E_SHORT_HEADER] = "dns_short_header",
        [DNSWIRE_E_TRUNCATED] = "dns_truncated",
        [DNSWIRE_E_LOOP] = "dns_compression_loop",
        [DNSWIRE_E_LABEL_LEN] = "dns_label_too_long",
        [DNSWIRE_E_NAME_LEN] = "dns_name_too_long",
        [DNSWIRE_E_LABEL_TYPE] = "dns_bad_label_type",
        [DNSWIRE_E_COUNTS] = "dns_bad_counts",
        [DNSWIRE_E_NO_QUESTION] = "dns_no_question",
        [DNSWIRE_E_BAD_OPT] = "dns_bad_opt",
    };
    unsigned code = err < 0 ? 0u - (unsigned)err : (unsigned)err;

    if (code >= DNSWIRE_E_COUNT) {
        return "dns_unknown";
    }
    return names[code];
}

/* Type mnemonics from the IANA registry, sorted by value. */
static const struct {
    uint16_t value;
    const char *name;
} dnswire_types[] = {
    { 1, "A" }, { 2, "NS" }, { 3, "MD" }, { 4, "MF" }, { 5, "CNAME" },
    { 6, "SOA" }, { 7, "MB" }, { 8, "MG" }, { 9, "MR" }, { 10, "NULL" },
    { 11, "WKS" }, { 12, "PTR" }, { 13, "HINFO" }, { 14, "MINFO" },
    { 15, "MX" }, { 16, "TXT" }, { 17, "RP" }, { 18, "AFSDB" },
    { 19, "X25" }, { 20, "ISDN" }, { 21, "RT" }, { 22, "NSAP" },
    { 23, "NSAP-PTR" }, { 24, "SIG" }, { 25, "KEY" }, { 26, "PX" },
    { 27, "GPOS" }, { 28, "AAAA" }, { 29, "LOC" }, { 30, "NXT" },
    { 33, "SRV" }, { 35, "NAPTR" }, { 36, "KX" }, { 37, "CERT" },
    { 38, "A6" }, { 39, "DNAME" }, { 41, "OPT" }, { 42, "APL" },
    { 43, "DS" }, { 44, "SSHFP" }, { 45, "IPSECKEY" }, { 46, "RRSIG" },
    { 47, "NSEC" }, { 48, "DNSKEY" }, { 49, "DHCID" }, { 50, "NSEC3" },
    { 51, "NSEC3PARAM" }, { 52, "TLSA" }, { 53, "SMIMEA" },
    { 55, "HIP" }, { 56, "NINFO" }, { 57, "RKEY" }, { 58, "TALINK" },
    { 59, "CDS" }, { 60, "CDNSKEY" }, { 61, "OPENPGPKEY" },
    { 62, "CSYNC" }, { 63, "ZONEMD" }, { 64, "SVCB" }, { 65, "HTTPS" },
    { 66, "DSYNC" }, { 99, "SPF" }, { 104, "NID" }, { 105, "L32" },
    { 106, "L64" }, { 107, "LP" }, { 108, "EUI48" }, { 109, "EUI64" },
    { 249, "TKEY" }, { 250, "TSIG" }, { 251, "IXFR" }, { 252, "AXFR" },
    { 253, "MAILB" }, { 254, "MAILA" }, { 255, "ANY" }, { 256, "URI" },
    { 257, "CAA" }, { 258, "AVC" }, { 259, "DOA" }, { 260, "AMTRELAY" },
    { 261, "RESINFO" }, { 32768, "TA" }, { 32769, "DLV" },
};

#define DNSWIRE_TYPES_LEN (sizeof(dnswire_types) / sizeof(dnswire_types[0]))

const char *
dnswire_type_name(unsigned type)
{
    size_t lo = 0;
    size_t hi = DNSWIRE_TYPES_LEN;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (dnswire_types[mid].value == type) {
            return dnswire_types[mid].name;
        }
        if (dnswire_types[mid].value < type) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const char *
dnswire_class_name(unsigned qclass)
{
    switch (qclass) {
    case 1:
        return "IN";
    case 3:
        return "CH";
    case 4:
        return "HS";
    case 254:
        return "NONE";
    case 255:
        return "ANY";
    default:
        return NULL;
    }
}

const char *
dnswire_rcode_name(unsigned rcode)
{
    /* 16 is BADVERS from OPT and BADSIG from TSIG; ours come from OPT. */
    static const char *const names[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
        "DSOTYPENI", NULL, NULL, NULL, NULL, "BADVERS", "BADKEY",
        "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
    };

    if (rcode >= sizeof(names) / sizeof(names[0])) {
        return NULL;
    }
    return names[rcode];
}

/* Digits of a "TYPE<n>" name; returns n or -1. */
static int
dnswire_type_number(const char *digits)
{
    unsigned long v = 0;
    size_t i;

    for (i = 0; digits[i] != '\0'; i++) {
        if (i >= 5 || digits[i] < '0' || digits[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned long)(digits[i] - '0');
    }
    if (i == 0 || v > UINT16_MAX) {
        return -1;
    }
    return (int)v;
}

int
dnswire_type_value(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    for (size_t i = 0; i < DNSWIRE_TYPES_LEN; i++) {
        if (strcasecmp(name, dnswire_types[i].name) == 0) {
            return dnswire_types[i].value;
        }
    }
    if (strncasecmp(name, "TYPE", 4) == 0) {
        return dnswire_type_number(name + 4);
    }
    return -1;
}

const char *
dnswire_type_format(unsigned type, char *buf, size_t len)
{
    const char *name = dnswire_type_name(type);

    if (name != NULL) {
        snprintf(buf, len, "%s", name);
    } else {
        snprintf(buf, len, "TYPE%u", type);
    }
    return buf;
}

const char *
dnswire_rcode_format(unsigned rcode, char *buf, size_t len)
{
    const char *name = dnswire_rcode_name(rcode);

    if (name != NULL) {
        snprintf(buf, len, "%s", name);
    } else {
        snprintf(buf, len, "RCODE%u", rcode);
    }
    return buf;
}

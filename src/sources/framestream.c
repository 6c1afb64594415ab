/*
 * framestream.c - incremental Frame Streams decoder and control frame
 * encoder.  The protocol is described in framestream.h.
 */
#include "sources/framestream.h"

#include <stdlib.h>
#include <string.h>

/* What the next bytes of the stream are. */
enum framestream_phase {
    FRAMESTREAM_PHASE_LENGTH = 0,   /* a frame length, 0 = escape */
    FRAMESTREAM_PHASE_CONTROL_LENGTH, /* the length after an escape */
    FRAMESTREAM_PHASE_CONTROL,      /* a control frame payload */
    FRAMESTREAM_PHASE_DATA,         /* a data frame */
    FRAMESTREAM_PHASE_SKIP,         /* an oversized data frame, dropped */
};

/* Control frame field type of CONTENT_TYPE. */
#define FRAMESTREAM_FIELD_CONTENT_TYPE 1u

static const char *const framestream_error_names[FRAMESTREAM_E_COUNT] = {
    [FRAMESTREAM_OK] = "ok",
    [FRAMESTREAM_E_BAD_CONTROL] = "fstrm_bad_control",
    [FRAMESTREAM_E_UNKNOWN_CONTROL] = "fstrm_unknown_control",
    [FRAMESTREAM_E_UNEXPECTED_CONTROL] = "fstrm_unexpected_control",
    [FRAMESTREAM_E_UNEXPECTED_DATA] = "fstrm_unexpected_data",
    [FRAMESTREAM_E_FRAME_TOO_BIG] = "fstrm_frame_too_big",
    [FRAMESTREAM_E_TRUNCATED] = "fstrm_truncated",
    [FRAMESTREAM_E_BAD_CONTENT_TYPE] = "fstrm_bad_content_type",
    [FRAMESTREAM_E_NO_SPACE] = "fstrm_no_space",
    [FRAMESTREAM_E_NO_MEMORY] = "fstrm_no_memory",
};

static uint32_t
framestream_load32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
framestream_store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int
framestream_reader_init(struct framestream_reader *r, size_t max_frame)
{
    memset(r, 0, sizeof(*r));
    if (max_frame == 0) {
        max_frame = FRAMESTREAM_DEFAULT_MAX_FRAME;
    }
    if (max_frame < FRAMESTREAM_CONTROL_MAX) {
        max_frame = FRAMESTREAM_CONTROL_MAX;
    }

    r->buf = malloc(max_frame);
    if (r->buf == NULL) {
        return -FRAMESTREAM_E_NO_MEMORY;
    }
    r->max_frame = max_frame;
    return 0;
}

void
framestream_reader_free(struct framestream_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

void
framestream_reader_reset(struct framestream_reader *r)
{
    r->need = 0;
    r->have = 0;
    r->skip = 0;
    r->phase = FRAMESTREAM_PHASE_LENGTH;
    r->state = FRAMESTREAM_STATE_IDLE;
    r->error = 0;
}

enum framestream_state
framestream_reader_state(const struct framestream_reader *r)
{
    return (enum framestream_state)r->state;
}

static void
framestream_report(const struct framestream_callbacks *cb, int err)
{
    if (cb->on_error != NULL) {
        cb->on_error(cb->ctx, err);
    }
}

/* Split a control payload into its type and CONTENT_TYPE fields. */
static int
framestream_parse_control(const uint8_t *p, size_t len,
                          struct framestream_control *ctl)
{
    size_t off = 4;

    ctl->type = framestream_load32(p);
    ctl->content_type_count = 0;
    if (ctl->type < FRAMESTREAM_CONTROL_ACCEPT ||
        ctl->type > FRAMESTREAM_CONTROL_FINISH) {
        return -FRAMESTREAM_E_UNKNOWN_CONTROL;
    }

    while (off < len) {
        uint32_t field, flen;
        struct framestream_content_type *ct;

        if (len - off < 8) {
            return -FRAMESTREAM_E_BAD_CONTROL;
        }
        field = framestream_load32(p + off);
        flen = framestream_load32(p + off + 4);
        off += 8;
        if (field != FRAMESTREAM_FIELD_CONTENT_TYPE ||
            flen > FRAMESTREAM_CONTENT_TYPE_MAX || flen > len - off ||
            ctl->content_type_count == FRAMESTREAM_CONTENT_TYPES_MAX) {
            return -FRAMESTREAM_E_BAD_CONTROL;
        }
        ct = &ctl->content_types[ctl->content_type_count++];
        ct->bytes = p + off;
        ct->len = flen;
        off += flen;
    }
    return 0;
}

/* How many CONTENT_TYPE fields each control type may carry. */
static int
framestream_check_fields(const struct framestream_control *ctl)
{
    unsigned n = ctl->content_type_count;

    if (ctl->type == FRAMESTREAM_CONTROL_START && n > 1) {
        return -FRAMESTREAM_E_BAD_CONTROL;
    }
    if ((ctl->type == FRAMESTREAM_CONTROL_STOP ||
         ctl->type == FRAMESTREAM_CONTROL_FINISH) && n > 0) {
        return -FRAMESTREAM_E_BAD_CONTROL;
    }
    return 0;
}

/* Move through IDLE -> STARTED -> STOPPED, refusing frames out of turn. */
static int
framestream_advance(struct framestream_reader *r, uint32_t type)
{
    switch (type) {
    case FRAMESTREAM_CONTROL_READY:
        if (r->state != FRAMESTREAM_STATE_IDLE) {
            return -FRAMESTREAM_E_UNEXPECTED_CONTROL;
        }
        return 0;
    case FRAMESTREAM_CONTROL_START:
        if (r->state == FRAMESTREAM_STATE_STARTED) {
            return -FRAMESTREAM_E_UNEXPECTED_CONTROL;
        }
        r->state = FRAMESTREAM_STATE_STARTED;
        return 0;
    case FRAMESTREAM_CONTROL_STOP:
        if (r->state != FRAMESTREAM_STATE_STARTED) {
            return -FRAMESTREAM_E_UNEXPECTED_CONTROL;
        }
        r->state = FRAMESTREAM_STATE_STOPPED;
        return 0;
    default:
        return 0;
    }
}

static int
framestream_deliver_control(struct framestream_reader *r,
                            const uint8_t *p, size_t len,
                            const struct framestream_callbacks *cb)
{
    struct framestream_control ctl;
    int rc;

    rc = framestream_parse_control(p, len, &ctl);
    if (rc == -FRAMESTREAM_E_UNKNOWN_CONTROL) {
        framestream_report(cb, rc);
        return 0;
    }
    if (rc == 0) {
        rc = framestream_check_fields(&ctl);
    }
    if (rc == 0) {
        rc = framestream_advance(r, ctl.type);
    }
    if (rc < 0) {
        return rc;
    }

    r->control_frames++;
    return cb->on_control != NULL ? cb->on_control(cb->ctx, &ctl) : 0;
}

static int
framestream_deliver_data(struct framestream_reader *r, const uint8_t *p,
                         size_t len, const struct framestream_callbacks *cb)
{
    r->data_frames++;
    return cb->on_data != NULL ? cb->on_data(cb->ctx, p, len) : 0;
}

/* Act on a complete length prefix. */
static int
framestream_on_length(struct framestream_reader *r, uint32_t v,
                      const struct framestream_callbacks *cb)
{
    if (r->phase == FRAMESTREAM_PHASE_CONTROL_LENGTH) {
        if (v < 4 || v > FRAMESTREAM_CONTROL_MAX) {
            return -FRAMESTREAM_E_BAD_CONTROL;
        }
        r->need = v;
        r->phase = FRAMESTREAM_PHASE_CONTROL;
        return 0;
    }

    if (v == 0) {
        r->phase = FRAMESTREAM_PHASE_CONTROL_LENGTH;
        return 0;
    }
    if (r->state != FRAMESTREAM_STATE_STARTED) {
        return -FRAMESTREAM_E_UNEXPECTED_DATA;
    }

    if (v > r->max_frame) {
        r->skip = v;
        r->phase = FRAMESTREAM_PHASE_SKIP;
        framestream_report(cb, -FRAMESTREAM_E_FRAME_TOO_BIG);
        return 0;
    }
    r->need = v;
    r->phase = FRAMESTREAM_PHASE_DATA;
    return 0;
}

/* Gather a 4-byte length prefix; returns the bytes consumed. */
static size_t
framestream_take_length(struct framestream_reader *r, const uint8_t *buf,
                        size_t len, const struct framestream_callbacks *cb,
                        int *rc)
{
    size_t n = 4 - r->have;

    if (n > len) {
        n = len;
    }
    memcpy(r->head + r->have, buf, n);
    r->have += n;
    if (r->have < 4) {
        return n;
    }

    r->have = 0;
    *rc = framestream_on_length(r, framestream_load32(r->head), cb);
    return n;
}

/*
 * Gather a frame body and deliver it when complete; a body that lies
 * whole in buf is delivered from there.  Returns the bytes consumed.
 */
static size_t
framestream_take_body(struct framestream_reader *r, const uint8_t *buf,
                      size_t len, const struct framestream_callbacks *cb,
                      int *rc)
{
    const uint8_t *frame = buf;
    size_t n = r->need;
    uint8_t phase = r->phase;

    if (r->have != 0 || len < r->need) {
        n = r->need - r->have;
        if (n > len) {
            n = len;
        }
        memcpy(r->buf + r->have, buf, n);
        r->have += n;
        if (r->have < r->need) {
            return n;
        }
        frame = r->buf;
    }

    r->have = 0;
    r->phase = FRAMESTREAM_PHASE_LENGTH;
    if (phase == FRAMESTREAM_PHASE_DATA) {
        *rc = framestream_deliver_data(r, frame, r->need, cb);
    } else {
        *rc = framestream_deliver_control(r, frame, r->need, cb);
    }
    return n;
}

/* Drop bytes of an oversized frame; returns the bytes consumed. */
static size_t
framestream_take_skip(struct framestream_reader *r, size_t len)
{
    size_t n = len;

    if (r->skip < n) {
        n = (size_t)r->skip;
    }
    r->skip -= n;
    if (r->skip == 0) {
        r->phase = FRAMESTREAM_PHASE_LENGTH;
    }
    return n;
}

int
framestream_feed(struct framestream_reader *r, const uint8_t *buf,
                 size_t len, const struct framestream_callbacks *cb)
{
    int rc = 0;

    if (r->state == FRAMESTREAM_STATE_FAILED) {
        return r->error;
    }

    while (len > 0 && rc == 0) {
        size_t used;

        if (r->phase == FRAMESTREAM_PHASE_SKIP) {
            used = framestream_take_skip(r, len);
        } else if (r->phase == FRAMESTREAM_PHASE_LENGTH ||
                   r->phase == FRAMESTREAM_PHASE_CONTROL_LENGTH) {
            used = framestream_take_length(r, buf, len, cb, &rc);
        } else {
            used = framestream_take_body(r, buf, len, cb, &rc);
        }
        buf += used;
        len -= used;
    }

    if (rc < 0) {
        r->state = FRAMESTREAM_STATE_FAILED;
        r->error = rc;
    }
    return rc;
}

int
framestream_finish(const struct framestream_reader *r)
{
    if (r->state == FRAMESTREAM_STATE_FAILED) {
        return r->error;
    }
    if (r->phase != FRAMESTREAM_PHASE_LENGTH || r->have != 0) {
        return -FRAMESTREAM_E_TRUNCATED;
    }
    return 0;
}

bool
framestream_control_has_type(const struct framestream_control *ctl,
                             const char *name, bool allow_none)
{
    size_t len = strlen(name);

    if (ctl->content_type_count == 0) {
        return allow_none;
    }
    for (unsigned i = 0; i < ctl->content_type_count; i++) {
        const struct framestream_content_type *ct = &ctl->content_types[i];

        if (ct->len == len && memcmp(ct->bytes, name, len) == 0) {
            return true;
        }
    }
    return false;
}

int
framestream_encode_control(uint8_t *out, size_t cap, uint32_t type,
                           const char *content_type)
{
    size_t ctlen = content_type != NULL ? strlen(content_type) : 0;
    size_t payload = 4 + (content_type != NULL ? 8 + ctlen : 0);

    if (type < FRAMESTREAM_CONTROL_ACCEPT ||
        type > FRAMESTREAM_CONTROL_FINISH ||
        ctlen > FRAMESTREAM_CONTENT_TYPE_MAX) {
        return -FRAMESTREAM_E_BAD_CONTROL;
    }
    if (cap < 8 + payload) {
        return -FRAMESTREAM_E_NO_SPACE;
    }

    framestream_store32(out, 0);
    framestream_store32(out + 4, (uint32_t)payload);
    framestream_store32(out + 8, type);
    if (content_type != NULL) {
        framestream_store32(out + 12, FRAMESTREAM_FIELD_CONTENT_TYPE);
        framestream_store32(out + 16, (uint32_t)ctlen);
        memcpy(out + 20, content_type, ctlen);
    }
    return (int)(8 + payload);
}

bool
framestream_sniff(const uint8_t *buf, size_t len)
{
    uint32_t clen;

    if (len < 12 || framestream_load32(buf) != 0) {
        return false;
    }
    clen = framestream_load32(buf + 4);
    return clen >= 4 && clen <= FRAMESTREAM_CONTROL_MAX &&
           framestream_load32(buf + 8) == FRAMESTREAM_CONTROL_START;
}

const char *
framestream_error_name(int err)
{
    if (err <= -FRAMESTREAM_E_COUNT || err >= FRAMESTREAM_E_COUNT) {
        return "fstrm_unknown_error";
    }
    return framestream_error_names[err < 0 ? -err : err];
}

const char *
framestream_control_name(uint32_t type)
{
    static const char *const names[] = {
        [FRAMESTREAM_CONTROL_ACCEPT] = "ACCEPT",
        [FRAMESTREAM_CONTROL_START] = "START",
        [FRAMESTREAM_CONTROL_STOP] = "STOP",
        [FRAMESTREAM_CONTROL_READY] = "READY",
        [FRAMESTREAM_CONTROL_FINISH] = "FINISH",
    };

    if (type < FRAMESTREAM_CONTROL_ACCEPT ||
        type > FRAMESTREAM_CONTROL_FINISH) {
        return "UNKNOWN";
    }
    return names[type];
}

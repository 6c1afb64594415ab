/*
 * test_framestream.c - the Frame Streams reader and control encoder.
 *
 * Streams are built here byte by byte, independently of the encoder
 * under test, and fed whole, split at every boundary, and one byte at a
 * time; every way must give the same frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sources/framestream.h"

#define DNSTAP_CT "protobuf:dnstap.Dnstap"

/* ---- building streams ---- */

struct stream {
    uint8_t bytes[8192];
    size_t len;
};

static void
put32(struct stream *s, uint32_t v)
{
    assert_true(s->len + 4 <= sizeof(s->bytes));
    s->bytes[s->len++] = (uint8_t)(v >> 24);
    s->bytes[s->len++] = (uint8_t)(v >> 16);
    s->bytes[s->len++] = (uint8_t)(v >> 8);
    s->bytes[s->len++] = (uint8_t)v;
}

static void
put_bytes(struct stream *s, const void *p, size_t n)
{
    assert_true(s->len + n <= sizeof(s->bytes));
    memcpy(s->bytes + s->len, p, n);
    s->len += n;
}

/* A control frame with up to two content types (NULL to stop). */
static void
put_control(struct stream *s, uint32_t type, const char *ct1,
            const char *ct2)
{
    uint32_t len = 4;

    len += ct1 != NULL ? 8 + (uint32_t)strlen(ct1) : 0;
    len += ct2 != NULL ? 8 + (uint32_t)strlen(ct2) : 0;
    put32(s, 0);
    put32(s, len);
    put32(s, type);
    for (int i = 0; i < 2; i++) {
        const char *ct = i == 0 ? ct1 : ct2;

        if (ct != NULL) {
            put32(s, 1);
            put32(s, (uint32_t)strlen(ct));
            put_bytes(s, ct, strlen(ct));
        }
    }
}

static void
put_data(struct stream *s, const void *p, size_t n)
{
    put32(s, (uint32_t)n);
    put_bytes(s, p, n);
}

/* A data frame of n bytes, each byte (seed + i). */
static void
put_pattern(struct stream *s, size_t n, uint8_t seed)
{
    put32(s, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        assert_true(s->len < sizeof(s->bytes));
        s->bytes[s->len++] = (uint8_t)(seed + i);
    }
}

/* ---- collecting what the reader delivers ---- */

#define MAX_SEEN 16

struct seen {
    size_t ndata;
    size_t data_len[MAX_SEEN];
    uint8_t data[MAX_SEEN][64];
    size_t nctl;
    uint32_t ctl_type[MAX_SEEN];
    unsigned ctl_ntypes[MAX_SEEN];
    char ctl_first[MAX_SEEN][64];
    bool ctl_dnstap[MAX_SEEN];
    size_t nerr;
    int err[MAX_SEEN];
    int fail_on_data;   /* return this from on_data when non-zero */
};

static int
seen_data(void *ctx, const uint8_t *p, size_t len)
{
    struct seen *s = ctx;
    size_t keep = len < 64 ? len : 64;

    assert_true(len > 0);
    assert_true(s->ndata < MAX_SEEN);
    s->data_len[s->ndata] = len;
    memcpy(s->data[s->ndata], p, keep);
    s->ndata++;
    return s->fail_on_data;
}

static int
seen_control(void *ctx, const struct framestream_control *ctl)
{
    struct seen *s = ctx;
    size_t i = s->nctl++;

    assert_true(i < MAX_SEEN);
    s->ctl_type[i] = ctl->type;
    s->ctl_ntypes[i] = ctl->content_type_count;
    if (ctl->content_type_count > 0) {
        const struct framestream_content_type *ct = &ctl->content_types[0];

        assert_true(ct->len < 64);
        memcpy(s->ctl_first[i], ct->bytes, ct->len);
        s->ctl_first[i][ct->len] = '\0';
    }
    s->ctl_dnstap[i] = framestream_control_has_type(ctl, DNSTAP_CT, false);
    return 0;
}

static void
seen_error(void *ctx, int err)
{
    struct seen *s = ctx;

    assert_true(s->nerr < MAX_SEEN);
    s->err[s->nerr++] = err;
}

static struct framestream_callbacks
callbacks(struct seen *s)
{
    struct framestream_callbacks cb = {
        .on_data = seen_data,
        .on_control = seen_control,
        .on_error = seen_error,
        .ctx = s,
    };
    return cb;
}

/* Feed a stream cut at the given offsets (ascending, may be empty). */
static int
feed_cut(struct framestream_reader *r, const struct stream *st,
         struct seen *s, const size_t *cuts, size_t ncuts)
{
    struct framestream_callbacks cb = callbacks(s);
    size_t from = 0;
    int rc = 0;

    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : st->len;

        rc = framestream_feed(r, st->bytes + from, to - from, &cb);
        from = to;
    }
    return rc;
}

static int
feed_all(struct framestream_reader *r, const struct stream *st,
         struct seen *s)
{
    return feed_cut(r, st, s, NULL, 0);
}

/* ---- a reference stream and its checks ---- */

static void
reference_stream(struct stream *st)
{
    memset(st, 0, sizeof(*st));
    put_control(st, FRAMESTREAM_CONTROL_READY, "other", DNSTAP_CT);
    put_control(st, FRAMESTREAM_CONTROL_START, DNSTAP_CT, NULL);
    put_data(st, "hello", 5);
    put_pattern(st, 40, 7);
    put_data(st, "x", 1);
    put_control(st, FRAMESTREAM_CONTROL_STOP, NULL, NULL);
}

static void
check_reference(const struct seen *s)
{
    assert_int_equal(s->nctl, 3);
    assert_int_equal(s->ctl_type[0], FRAMESTREAM_CONTROL_READY);
    assert_int_equal(s->ctl_ntypes[0], 2);
    assert_string_equal(s->ctl_first[0], "other");
    assert_true(s->ctl_dnstap[0]);
    assert_int_equal(s->ctl_type[1], FRAMESTREAM_CONTROL_START);
    assert_int_equal(s->ctl_ntypes[1], 1);
    assert_string_equal(s->ctl_first[1], DNSTAP_CT);
    assert_int_equal(s->ctl_type[2], FRAMESTREAM_CONTROL_STOP);
    assert_int_equal(s->ctl_ntypes[2], 0);

    assert_int_equal(s->ndata, 3);
    assert_int_equal(s->data_len[0], 5);
    assert_memory_equal(s->data[0], "hello", 5);
    assert_int_equal(s->data_len[1], 40);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(s->data[1][i], (uint8_t)(7 + i));
    }
    assert_int_equal(s->data_len[2], 1);
    assert_int_equal(s->data[2][0], 'x');
    assert_int_equal(s->nerr, 0);
}

static void
test_whole_stream(void **state)
{
    struct framestream_reader r;
    struct stream st;
    struct seen s = { 0 };

    (void)state;
    reference_stream(&st);
    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(framestream_reader_state(&r), FRAMESTREAM_STATE_IDLE);

    assert_int_equal(feed_all(&r, &st, &s), 0);
    check_reference(&s);
    assert_int_equal(framestream_reader_state(&r),
                     FRAMESTREAM_STATE_STOPPED);
    assert_int_equal(framestream_finish(&r), 0);
    assert_int_equal(r.data_frames, 3);
    assert_int_equal(r.control_frames, 3);
    framestream_reader_free(&r);
}

static void
test_split_every_boundary(void **state)
{
    struct stream st;

    (void)state;
    reference_stream(&st);
    for (size_t cut = 0; cut <= st.len; cut++) {
        struct framestream_reader r;
        struct seen s = { 0 };

        assert_int_equal(framestream_reader_init(&r, 0), 0);
        assert_int_equal(feed_cut(&r, &st, &s, &cut, 1), 0);
        check_reference(&s);
        assert_int_equal(framestream_finish(&r), 0);
        framestream_reader_free(&r);
    }
}

static void
test_split_two_boundaries(void **state)
{
    struct stream st;

    (void)state;
    reference_stream(&st);
    for (size_t a = 0; a <= st.len; a++) {
        for (size_t b = a; b <= st.len; b++) {
            struct framestream_reader r;
            struct seen s = { 0 };
            size_t cuts[2] = { a, b };

            assert_int_equal(framestream_reader_init(&r, 0), 0);
            assert_int_equal(feed_cut(&r, &st, &s, cuts, 2), 0);
            check_reference(&s);
            framestream_reader_free(&r);
        }
    }
}

static void
test_byte_at_a_time(void **state)
{
    struct framestream_reader r;
    struct stream st;
    struct seen s = { 0 };
    struct framestream_callbacks cb = callbacks(&s);

    (void)state;
    reference_stream(&st);
    assert_int_equal(framestream_reader_init(&r, 0), 0);
    for (size_t i = 0; i < st.len; i++) {
        size_t before = s.ndata + s.nctl;

        assert_int_equal(framestream_feed(&r, st.bytes + i, 1, &cb), 0);
        /* Only a byte that completes a frame ends on a boundary. */
        assert_int_equal(framestream_finish(&r),
                         s.ndata + s.nctl > before
                             ? 0 : -FRAMESTREAM_E_TRUNCATED);
    }
    check_reference(&s);
    assert_int_equal(framestream_finish(&r), 0);
    framestream_reader_free(&r);
}

static void
test_unidirectional_and_empty_feed(void **state)
{
    struct framestream_reader r;
    struct stream st = { 0 };
    struct seen s = { 0 };
    struct framestream_callbacks cb = callbacks(&s);

    (void)state;
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put_data(&st, "abc", 3);
    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(framestream_feed(&r, NULL, 0, &cb), 0);
    assert_int_equal(feed_all(&r, &st, &s), 0);

    assert_int_equal(s.nctl, 1);
    assert_int_equal(s.ctl_ntypes[0], 0);
    assert_false(s.ctl_dnstap[0]);
    assert_int_equal(s.ndata, 1);
    assert_int_equal(framestream_reader_state(&r),
                     FRAMESTREAM_STATE_STARTED);
    assert_int_equal(framestream_finish(&r), 0);
    framestream_reader_free(&r);
}

/* ---- oversized frames ---- */

static void
test_oversized_frame_skipped(void **state)
{
    struct stream st = { 0 };

    (void)state;
    put_control(&st, FRAMESTREAM_CONTROL_START, DNSTAP_CT, NULL);
    put_data(&st, "a", 1);
    put_pattern(&st, 600, 0);     /* > 512, the smallest max_frame */
    put_data(&st, "b", 1);
    put_pattern(&st, 512, 3);     /* exactly max_frame: kept */

    for (size_t cut = 0; cut <= st.len; cut += 7) {
        struct framestream_reader r;
        struct seen s = { 0 };

        assert_int_equal(framestream_reader_init(&r, 100), 0);
        assert_int_equal(r.max_frame, FRAMESTREAM_CONTROL_MAX);
        assert_int_equal(feed_cut(&r, &st, &s, &cut, 1), 0);
        assert_int_equal(s.nerr, 1);
        assert_int_equal(s.err[0], -FRAMESTREAM_E_FRAME_TOO_BIG);
        assert_int_equal(s.ndata, 3);
        assert_int_equal(s.data[0][0], 'a');
        assert_int_equal(s.data[1][0], 'b');
        assert_int_equal(s.data_len[2], 512);
        assert_int_equal(s.data[2][1], 4);
        assert_int_equal(framestream_finish(&r), 0);
        framestream_reader_free(&r);
    }
}

static void
test_oversized_frame_cut_short(void **state)
{
    struct framestream_reader r;
    struct stream st = { 0 };
    struct seen s = { 0 };

    (void)state;
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put32(&st, 0x7fffffffu);      /* a huge frame that never ends */
    put_bytes(&st, "abc", 3);
    assert_int_equal(framestream_reader_init(&r, 1024), 0);
    assert_int_equal(feed_all(&r, &st, &s), 0);
    assert_int_equal(s.nerr, 1);
    assert_int_equal(s.ndata, 0);
    assert_int_equal(framestream_finish(&r), -FRAMESTREAM_E_TRUNCATED);
    framestream_reader_free(&r);
}

/* ---- garbage and malformed control frames ---- */

static void
expect_fatal(const struct stream *st, int want)
{
    struct framestream_reader r;
    struct seen s = { 0 };
    struct framestream_callbacks cb = callbacks(&s);

    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(feed_all(&r, st, &s), want);
    assert_int_equal(framestream_reader_state(&r), FRAMESTREAM_STATE_FAILED);
    /* The error sticks. */
    assert_int_equal(framestream_feed(&r, st->bytes, st->len, &cb), want);
    assert_int_equal(framestream_finish(&r), want);
    assert_int_equal(s.ndata, 0);
    framestream_reader_free(&r);
}

static void
test_garbage_before_start(void **state)
{
    struct stream st = { 0 };

    (void)state;
    put_bytes(&st, "GET / HTTP/1.1\r\n", 16);
    expect_fatal(&st, -FRAMESTREAM_E_UNEXPECTED_DATA);
}

static void
test_bad_control_lengths(void **state)
{
    struct stream st;

    (void)state;
    for (uint32_t len = 0; len < 4; len++) {
        memset(&st, 0, sizeof(st));
        put32(&st, 0);
        put32(&st, len);
        put_bytes(&st, "\0\0\0\2", 4);
        expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);
    }

    memset(&st, 0, sizeof(st));
    put32(&st, 0);
    put32(&st, FRAMESTREAM_CONTROL_MAX + 1);
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);
}

static void
test_bad_control_fields(void **state)
{
    struct stream st;
    char long_ct[FRAMESTREAM_CONTENT_TYPE_MAX + 2];

    (void)state;
    /* Unknown field type. */
    memset(&st, 0, sizeof(st));
    put32(&st, 0);
    put32(&st, 4 + 8 + 1);
    put32(&st, FRAMESTREAM_CONTROL_START);
    put32(&st, 2);
    put32(&st, 1);
    put_bytes(&st, "x", 1);
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);

    /* Field longer than the frame. */
    memset(&st, 0, sizeof(st));
    put32(&st, 0);
    put32(&st, 4 + 8 + 1);
    put32(&st, FRAMESTREAM_CONTROL_START);
    put32(&st, 1);
    put32(&st, 2);
    put_bytes(&st, "x", 1);
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);

    /* A field header cut short. */
    memset(&st, 0, sizeof(st));
    put32(&st, 0);
    put32(&st, 4 + 4);
    put32(&st, FRAMESTREAM_CONTROL_READY);
    put32(&st, 1);
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);

    /* Content type longer than 256 bytes. */
    memset(long_ct, 'a', sizeof(long_ct) - 1);
    long_ct[sizeof(long_ct) - 1] = '\0';
    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_READY, long_ct, NULL);
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);
}

static void
test_bad_control_counts(void **state)
{
    struct stream st;

    (void)state;
    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_START, "a", "b");
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);

    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put_control(&st, FRAMESTREAM_CONTROL_STOP, "a", NULL);
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);

    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_FINISH, "a", NULL);
    expect_fatal(&st, -FRAMESTREAM_E_BAD_CONTROL);
}

static void
test_control_order(void **state)
{
    struct stream st;

    (void)state;
    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_STOP, NULL, NULL);
    expect_fatal(&st, -FRAMESTREAM_E_UNEXPECTED_CONTROL);

    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put_control(&st, FRAMESTREAM_CONTROL_READY, NULL, NULL);
    expect_fatal(&st, -FRAMESTREAM_E_UNEXPECTED_CONTROL);

    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    expect_fatal(&st, -FRAMESTREAM_E_UNEXPECTED_CONTROL);

    memset(&st, 0, sizeof(st));
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put_control(&st, FRAMESTREAM_CONTROL_STOP, NULL, NULL);
    put_data(&st, "late", 4);
    expect_fatal(&st, -FRAMESTREAM_E_UNEXPECTED_DATA);
}

static void
test_concatenated_streams(void **state)
{
    struct framestream_reader r;
    struct stream st = { 0 };
    struct seen s = { 0 };

    (void)state;
    for (int i = 0; i < 2; i++) {
        put_control(&st, FRAMESTREAM_CONTROL_START, DNSTAP_CT, NULL);
        put_data(&st, i == 0 ? "one" : "two", 3);
        put_control(&st, FRAMESTREAM_CONTROL_STOP, NULL, NULL);
    }
    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(feed_all(&r, &st, &s), 0);
    assert_int_equal(s.ndata, 2);
    assert_memory_equal(s.data[1], "two", 3);
    assert_int_equal(s.nctl, 4);
    framestream_reader_free(&r);
}

static void
test_unknown_control_skipped(void **state)
{
    struct framestream_reader r;
    struct stream st = { 0 };
    struct seen s = { 0 };

    (void)state;
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put32(&st, 0);
    put32(&st, 10);
    put32(&st, 9);                /* a future control type */
    put_bytes(&st, "\1\2\3\4\5\6", 6);
    put_data(&st, "after", 5);
    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(feed_all(&r, &st, &s), 0);
    assert_int_equal(s.nerr, 1);
    assert_int_equal(s.err[0], -FRAMESTREAM_E_UNKNOWN_CONTROL);
    assert_int_equal(s.nctl, 1);
    assert_int_equal(s.ndata, 1);
    assert_memory_equal(s.data[0], "after", 5);
    framestream_reader_free(&r);
}

static void
test_zero_length_is_escape(void **state)
{
    struct framestream_reader r;
    struct stream st = { 0 };
    struct seen s = { 0 };

    (void)state;
    /* Length 0 inside a stream must read a control frame, not data. */
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put32(&st, 0);
    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(feed_all(&r, &st, &s), 0);
    assert_int_equal(s.ndata, 0);
    assert_int_equal(framestream_finish(&r), -FRAMESTREAM_E_TRUNCATED);

    /* That escape followed by a control length of 0 is malformed. */
    memset(&st, 0, sizeof(st));
    put32(&st, 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(feed_all(&r, &st, &s), -FRAMESTREAM_E_BAD_CONTROL);
    framestream_reader_free(&r);
}

static void
test_callback_stops_feed(void **state)
{
    struct framestream_reader r;
    struct stream st = { 0 };
    struct seen s = { .fail_on_data = -1234 };

    (void)state;
    put_control(&st, FRAMESTREAM_CONTROL_START, NULL, NULL);
    put_data(&st, "a", 1);
    put_data(&st, "b", 1);
    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(feed_all(&r, &st, &s), -1234);
    assert_int_equal(s.ndata, 1);
    assert_int_equal(framestream_reader_state(&r), FRAMESTREAM_STATE_FAILED);

    framestream_reader_reset(&r);
    s.fail_on_data = 0;
    assert_int_equal(feed_all(&r, &st, &s), 0);
    assert_int_equal(s.ndata, 3);
    framestream_reader_free(&r);
}

/* ---- encoding ---- */

static void
test_encode_accept_and_finish(void **state)
{
    uint8_t out[FRAMESTREAM_ENCODED_CONTROL_MAX];
    struct stream want = { 0 };
    int n;

    (void)state;
    put_control(&want, FRAMESTREAM_CONTROL_ACCEPT, DNSTAP_CT, NULL);
    n = framestream_encode_control(out, sizeof(out),
                                   FRAMESTREAM_CONTROL_ACCEPT,
                                   FRAMESTREAM_DNSTAP_CONTENT_TYPE);
    assert_int_equal(n, want.len);
    assert_int_equal(n, 8 + 4 + 8 + 22);
    assert_memory_equal(out, want.bytes, want.len);

    memset(&want, 0, sizeof(want));
    put_control(&want, FRAMESTREAM_CONTROL_FINISH, NULL, NULL);
    n = framestream_encode_control(out, sizeof(out),
                                   FRAMESTREAM_CONTROL_FINISH, NULL);
    assert_int_equal(n, 12);
    assert_memory_equal(out, want.bytes, 12);

    assert_int_equal(framestream_encode_control(out, 11,
                                                FRAMESTREAM_CONTROL_FINISH,
                                                NULL),
                     -FRAMESTREAM_E_NO_SPACE);
    assert_int_equal(framestream_encode_control(out, sizeof(out), 6, NULL),
                     -FRAMESTREAM_E_BAD_CONTROL);
}

static void
test_encoded_frames_decode(void **state)
{
    struct framestream_reader r;
    struct stream st = { 0 };
    struct seen s = { 0 };
    int n;

    (void)state;
    n = framestream_encode_control(st.bytes, sizeof(st.bytes),
                                   FRAMESTREAM_CONTROL_ACCEPT, DNSTAP_CT);
    assert_true(n > 0);
    st.len = (size_t)n;
    n = framestream_encode_control(st.bytes + st.len,
                                   sizeof(st.bytes) - st.len,
                                   FRAMESTREAM_CONTROL_FINISH, NULL);
    assert_true(n > 0);
    st.len += (size_t)n;

    assert_int_equal(framestream_reader_init(&r, 0), 0);
    assert_int_equal(feed_all(&r, &st, &s), 0);
    assert_int_equal(s.nctl, 2);
    assert_int_equal(s.ctl_type[0], FRAMESTREAM_CONTROL_ACCEPT);
    assert_true(s.ctl_dnstap[0]);
    assert_int_equal(s.ctl_type[1], FRAMESTREAM_CONTROL_FINISH);
    framestream_reader_free(&r);
}

static void
test_sniff_and_names(void **state)
{
    struct stream st = { 0 };

    (void)state;
    put_control(&st, FRAMESTREAM_CONTROL_START, DNSTAP_CT, NULL);
    assert_true(framestream_sniff(st.bytes, st.len));
    assert_false(framestream_sniff(st.bytes, 11));
    st.bytes[11] = FRAMESTREAM_CONTROL_READY;
    assert_false(framestream_sniff(st.bytes, st.len));
    assert_false(framestream_sniff((const uint8_t *)"\xd4\xc3\xb2\xa1"
                                   "\2\0\4\0\0\0\0\0", 12));

    assert_string_equal(framestream_error_name(-FRAMESTREAM_E_BAD_CONTROL),
                        "fstrm_bad_control");
    assert_string_equal(framestream_error_name(FRAMESTREAM_E_FRAME_TOO_BIG),
                        "fstrm_frame_too_big");
    assert_string_equal(
        framestream_error_name(-FRAMESTREAM_E_UNEXPECTED_DATA),
        "fstrm_unexpected_data");
    assert_string_equal(framestream_error_name(-FRAMESTREAM_E_TRUNCATED),
                        "fstrm_truncated");
    assert_string_equal(framestream_error_name(-1000),
                        "fstrm_unknown_error");
    assert_string_equal(framestream_error_name(-2147483647 - 1),
                        "fstrm_unknown_error");
    assert_string_equal(framestream_control_name(2), "START");
    assert_string_equal(framestream_control_name(0), "UNKNOWN");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream),
        cmocka_unit_test(test_split_every_boundary),
        cmocka_unit_test(test_split_two_boundaries),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_unidirectional_and_empty_feed),
        cmocka_unit_test(test_oversized_frame_skipped),
        cmocka_unit_test(test_oversized_frame_cut_short),
        cmocka_unit_test(test_garbage_before_start),
        cmocka_unit_test(test_bad_control_lengths),
        cmocka_unit_test(test_bad_control_fields),
        cmocka_unit_test(test_bad_control_counts),
        cmocka_unit_test(test_control_order),
        cmocka_unit_test(test_concatenated_streams),
        cmocka_unit_test(test_unknown_control_skipped),
        cmocka_unit_test(test_zero_length_is_escape),
        cmocka_unit_test(test_callback_stops_feed),
        cmocka_unit_test(test_encode_accept_and_finish),
        cmocka_unit_test(test_encoded_frames_decode),
        cmocka_unit_test(test_sniff_and_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

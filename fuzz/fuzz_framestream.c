/*
 * fuzz_framestream.c - the Frame Streams reader on arbitrary streams.
 *
 * Input: one byte that seeds how the stream is cut, then the stream.  The
 * stream is decoded twice, once in a single feed and once in pieces of
 * pseudo-random sizes (1 to 300 bytes), and both runs must deliver the
 * same frames, the same recoverable errors and the same result: a split
 * may never change what the reader sees.  The reader's buffer is kept
 * small (1024 bytes) so that oversized frames are common.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/framestream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one decoding run delivered. */
struct fuzz_fs_trace {
    uint64_t hash;      /* over every frame's kind, length and bytes */
    uint64_t frames;
    uint64_t errors;
};

static void
fuzz_fs_mix(struct fuzz_fs_trace *t, const uint8_t *p, size_t len,
            uint64_t tag)
{
    t->hash = (t->hash ^ tag ^ len) * 1099511628211ull;
    for (size_t i = 0; i < len; i++) {
        t->hash = (t->hash ^ p[i]) * 1099511628211ull;
    }
}

static int
fuzz_fs_data(void *ctx, const uint8_t *p, size_t len)
{
    struct fuzz_fs_trace *t = ctx;

    if (len == 0 || len > 1024) {
        abort();
    }
    t->frames++;
    fuzz_fs_mix(t, p, len, 1);
    return 0;
}

static int
fuzz_fs_control(void *ctx, const struct framestream_control *ctl)
{
    struct fuzz_fs_trace *t = ctx;

    t->frames++;
    fuzz_fs_mix(t, NULL, 0, 2 + ((uint64_t)ctl->type << 8));
    for (unsigned i = 0; i < ctl->content_type_count; i++) {
        const struct framestream_content_type *ct = &ctl->content_types[i];

        if (ct->len > FRAMESTREAM_CONTENT_TYPE_MAX) {
            abort();
        }
        fuzz_fs_mix(t, ct->bytes, ct->len, 3);
    }
    return 0;
}

static void
fuzz_fs_error(void *ctx, int err)
{
    struct fuzz_fs_trace *t = ctx;

    t->errors++;
    fuzz_fs_mix(t, NULL, 0, 4 + ((uint64_t)-err << 8));
}

/* Decode the stream in pieces; seed 0 means one single feed. */
static int
fuzz_fs_run(const uint8_t *p, size_t len, unsigned seed,
            struct fuzz_fs_trace *t)
{
    struct framestream_callbacks cb = {
        fuzz_fs_data, fuzz_fs_control, fuzz_fs_error, t,
    };
    struct framestream_reader r;
    uint32_t state = seed * 2654435761u + 1;
    int rc = 0;

    memset(t, 0, sizeof(*t));
    if (framestream_reader_init(&r, 1024) < 0) {
        abort();
    }
    while (len > 0 && rc == 0) {
        size_t n = len;

        if (seed != 0) {
            state = state * 1103515245u + 12345u;
            n = 1 + (state >> 16) % 300;
            n = n < len ? n : len;
        }
        rc = framestream_feed(&r, p, n, &cb);
        p += n;
        len -= n;
    }
    if (rc == 0) {
        rc = framestream_finish(&r);
    }
    framestream_reader_free(&r);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_fs_trace whole, split;
    int rc_whole, rc_split;

    if (size < 1) {
        return 0;
    }
    rc_whole = fuzz_fs_run(data + 1, size - 1, 0, &whole);
    rc_split = fuzz_fs_run(data + 1, size - 1, data[0] + 1u, &split);

    if (rc_whole != rc_split || whole.hash != split.hash ||
        whole.frames != split.frames || whole.errors != split.errors) {
        abort();
    }
    if (framestream_error_name(rc_whole) == NULL) {
        abort();
    }
    return 0;
}

/*
 * framestream.h - incremental Frame Streams decoder and control frame
 * encoder (the fstrm protocol that carries dnstap).
 *
 * A stream is a sequence of frames, each a 32-bit big-endian length and
 * that many bytes.  A length of zero is an escape: a control frame
 * follows, itself a 32-bit length (4 to 512) and a payload made of a
 * 32-bit control type and optional CONTENT_TYPE fields.  A receiver sees
 * READY (bidirectional senders only), START, data frames, then STOP; it
 * answers READY with ACCEPT and STOP with FINISH.
 *
 * The reader takes bytes in pieces of any size, as they come from a file
 * or a socket, and calls back once per complete frame.  It owns one
 * buffer of max_frame bytes, allocated at init, and allocates nothing
 * after that.  A frame that arrives whole inside one feed is handed over
 * in place, without a copy; only a frame split across feeds is gathered in
 * the buffer.
 *
 * Errors are negative enum framestream_error codes.  Two kinds of problem
 * are recoverable and reported through on_error while decoding goes on:
 * a data frame longer than max_frame (skipped byte by byte, so the stream
 * stays in step; its length prefix is the only framing there is), and a
 * control frame of an unknown type (skipped whole, as the protocol asks
 * for forward compatibility).  Everything else breaks the framing and is
 * fatal: framestream_feed() returns the code and every later feed returns
 * it again, so the caller closes the connection or abandons the file.
 *
 * Not thread-safe: one reader belongs to one thread at a time.
 */
#ifndef DD_FRAMESTREAM_H
#define DD_FRAMESTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Content type of dnstap streams. */
#define FRAMESTREAM_DNSTAP_CONTENT_TYPE "protobuf:dnstap.Dnstap"

/* Default and smallest buffer size for framestream_reader_init(). */
#define FRAMESTREAM_DEFAULT_MAX_FRAME (256u * 1024u)
/* Longest control frame payload the protocol allows. */
#define FRAMESTREAM_CONTROL_MAX 512u
/* Longest CONTENT_TYPE field the protocol allows. */
#define FRAMESTREAM_CONTENT_TYPE_MAX 256u
/* Most CONTENT_TYPE fields a 512-byte control frame can hold. */
#define FRAMESTREAM_CONTENT_TYPES_MAX 64u
/* Bytes framestream_encode_control() needs at most. */
#define FRAMESTREAM_ENCODED_CONTROL_MAX (8u + FRAMESTREAM_CONTROL_MAX)

/* Control frame types (protocol values). */
enum framestream_control_type {
    FRAMESTREAM_CONTROL_ACCEPT = 1,
    FRAMESTREAM_CONTROL_START = 2,
    FRAMESTREAM_CONTROL_STOP = 3,
    FRAMESTREAM_CONTROL_READY = 4,
    FRAMESTREAM_CONTROL_FINISH = 5,
};

/* Error codes, returned negated; framestream_error_name() labels them. */
enum framestream_error {
    FRAMESTREAM_OK = 0,
    FRAMESTREAM_E_BAD_CONTROL,        /* malformed control frame (fatal) */
    FRAMESTREAM_E_UNKNOWN_CONTROL,    /* unknown control type (skipped) */
    FRAMESTREAM_E_UNEXPECTED_CONTROL, /* control frame out of order */
    FRAMESTREAM_E_UNEXPECTED_DATA,    /* data frame outside START..STOP */
    FRAMESTREAM_E_FRAME_TOO_BIG,      /* data frame > max_frame (skipped) */
    FRAMESTREAM_E_TRUNCATED,          /* stream ended inside a frame */
    FRAMESTREAM_E_BAD_CONTENT_TYPE,   /* peer speaks something else */
    FRAMESTREAM_E_NO_SPACE,           /* encode: output buffer too small */
    FRAMESTREAM_E_NO_MEMORY,          /* init: allocation failed */
    FRAMESTREAM_E_COUNT               /* number of codes, not an error */
};

/* One CONTENT_TYPE field; bytes point into the frame, not NUL-ended. */
struct framestream_content_type {
    const uint8_t *bytes;
    size_t len;                 /* at most FRAMESTREAM_CONTENT_TYPE_MAX */
};

/*
 * A decoded control frame.  The content type bytes point into the
 * reader's buffer or the caller's feed buffer and are valid only during
 * the on_control call.
 */
struct framestream_control {
    uint32_t type;              /* enum framestream_control_type */
    unsigned content_type_count;
    struct framestream_content_type
        content_types[FRAMESTREAM_CONTENT_TYPES_MAX];
};

/*
 * What framestream_feed() calls, on the caller's thread.  A callback
 * that returns a negative value stops the feed, which returns that value
 * and leaves the reader failed; return 0 to go on.
 */
struct framestream_callbacks {
    /* One data frame (len > 0); frame is valid during the call only. */
    int (*on_data)(void *ctx, const uint8_t *frame, size_t len);
    /* One well-formed control frame of a known type, in order. */
    int (*on_control)(void *ctx, const struct framestream_control *ctl);
    /* A recoverable problem (-FRAMESTREAM_E_FRAME_TOO_BIG or
       -FRAMESTREAM_E_UNKNOWN_CONTROL); may be NULL. */
    void (*on_error)(void *ctx, int err);
    void *ctx;                  /* passed to every callback */
};

/* Where the reader stands in the stream; see framestream_feed(). */
enum framestream_state {
    FRAMESTREAM_STATE_IDLE = 0, /* before START (READY may come) */
    FRAMESTREAM_STATE_STARTED,  /* after START: data frames flow */
    FRAMESTREAM_STATE_STOPPED,  /* after STOP: a new START may follow */
    FRAMESTREAM_STATE_FAILED,   /* a fatal error was returned */
};

/*
 * Decoder state for one stream.  The fields are private to
 * framestream.c; read them through the functions below.
 */
struct framestream_reader {
    uint8_t *buf;               /* owned, max_frame bytes */
    size_t max_frame;           /* longest data frame kept */
    size_t need;                /* bytes of the frame being gathered */
    size_t have;                /* bytes of it gathered so far */
    uint64_t skip;              /* bytes left of a skipped frame */
    uint8_t head[4];            /* a length prefix split across feeds */
    uint8_t phase;              /* what the next bytes are (private) */
    uint8_t state;              /* enum framestream_state */
    int error;                  /* the fatal error, once failed */
    uint64_t data_frames;       /* data frames delivered */
    uint64_t control_frames;    /* control frames delivered */
};

/*
 * Prepare r with a buffer of max_frame bytes (raised to
 * FRAMESTREAM_CONTROL_MAX if smaller; 0 gives the default).  Returns 0 or
 * -FRAMESTREAM_E_NO_MEMORY.  Free with framestream_reader_free().
 */
int framestream_reader_init(struct framestream_reader *r, size_t max_frame);

/* Release the buffer; r may be initialised again.  Safe on a zeroed r. */
void framestream_reader_free(struct framestream_reader *r);

/* Forget any partial frame and go back to IDLE, keeping the buffer. */
void framestream_reader_reset(struct framestream_reader *r);

/*
 * Decode len bytes, calling cb for every frame they complete; bytes of an
 * unfinished frame are kept for the next call.  Enforced order: READY is
 * only accepted before START, data frames and STOP only between START
 * and STOP, START only before the first START or after a STOP (so
 * concatenated files read as one).  ACCEPT and FINISH are passed on
 * whenever they come, for a sender's use.  Returns 0, a fatal negative
 * framestream error, or a callback's negative value.
 */
int framestream_feed(struct framestream_reader *r, const uint8_t *buf,
                     size_t len, const struct framestream_callbacks *cb);

/*
 * Call at the end of the input.  Returns 0 when the stream ended on a
 * frame boundary, -FRAMESTREAM_E_TRUNCATED when a frame was cut short, or
 * the reader's fatal error.
 */
int framestream_finish(const struct framestream_reader *r);

/* Current enum framestream_state of r. */
enum framestream_state framestream_reader_state(
    const struct framestream_reader *r);

/*
 * True when ctl carries the content type name (a C string), or carries
 * none at all when allow_none is set.
 */
bool framestream_control_has_type(const struct framestream_control *ctl,
                                  const char *name, bool allow_none);

/*
 * Write a complete control frame (escape, length, type, and one
 * CONTENT_TYPE field when content_type is not NULL) into out.  Returns
 * the number of bytes written, -FRAMESTREAM_E_NO_SPACE when cap is too
 * small, or -FRAMESTREAM_E_BAD_CONTROL for an unknown type or a content
 * type longer than FRAMESTREAM_CONTENT_TYPE_MAX.
 */
int framestream_encode_control(uint8_t *out, size_t cap, uint32_t type,
                               const char *content_type);

/*
 * True when buf (the first bytes of a file) begins with a START control
 * frame: a cheap test of whether a capture is a Frame Streams file.
 */
bool framestream_sniff(const uint8_t *buf, size_t len);

/* Stable snake_case label of an error code (positive or negative). */
const char *framestream_error_name(int err);

/* Name of a control type ("START", ...), "UNKNOWN" for others. */
const char *framestream_control_name(uint32_t type);

#endif

/*
 * dnstap_listen.h - the dnstap source: a Frame Streams receiver on a unix
 * socket and/or a TCP address, and a reader for dnstap capture files.
 *
 * Senders (unbound, BIND, Knot, CoreDNS, dnsdist, ...) connect and either
 * shake hands (READY, our ACCEPT, START, data..., STOP, our FINISH) or
 * start straight away (START, data..., STOP).  Each connection has its own
 * framestream reader; every data frame is decoded with dnstap_decode()
 * into an event on the stack and handed to emit.
 *
 * One thread serves every listener and connection with poll() over
 * non-blocking sockets.  At most DNSTAP_LISTEN_MAX_CONN senders are
 * served at once; a connection beyond that is closed on accept and
 * counted.  What goes wrong is counted, never fatal to the source:
 *   - a frame that does not decode: ugallu_dns_malformed_total{kind} with
 *     the dnstap error label, and the connection goes on;
 *   - an oversized frame (fstrm_frame_too_big) is skipped, the connection
 *     goes on;
 *   - a broken stream (bad control frame, data before START, wrong
 *     content type, ...): counted under its fstrm_* label and that
 *     connection alone is closed;
 *   - a sender gone in the middle of a frame: counted as fstrm_truncated.
 * Series: ugallu_dns_source_connected{source="dnstap"} (senders connected
 * now), ugallu_dns_dnstap_connections_total,
 * ugallu_dns_dnstap_connections_rejected_total and
 * ugallu_dns_dnstap_frames_total.
 */
#ifndef DD_DNSTAP_LISTEN_H
#define DD_DNSTAP_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

/* Senders served at once. */
#define DNSTAP_LISTEN_MAX_CONN 64
/* Bytes read from a connection or a file at a time. */
#define DNSTAP_LISTEN_READ_SIZE 65536

struct dnstap_listen;

/* Counters of one listener, as read by dnstap_listen_stats(). */
struct dnstap_listen_stats {
    uint64_t accepted;   /* connections accepted and served */
    uint64_t rejected;   /* connections closed at once: table full or
                            out of memory */
    uint64_t active;     /* connections open now */
    uint64_t frames;     /* data frames received */
    uint64_t events;     /* events handed to emit */
    uint64_t malformed;  /* frames dropped or streams broken, any kind */
};

/*
 * Bind the listeners: unix_path (a stale socket there is removed first;
 * the new one is made mode 0666 so unprivileged servers can connect)
 * and/or tcp_addr ("host:port", "[v6addr]:port" or ":port" for every
 * address; port 0 picks a free one).  At least one must be non-NULL.
 * Nothing is read until dnstap_listen_start().  emit(ctx, ev) is later
 * called on the listener's thread for every decoded event.  Returns the
 * listener, or NULL with a message in err.
 */
struct dnstap_listen *dnstap_listen_open(const char *unix_path,
                                         const char *tcp_addr,
                                         event_emit_fn *emit, void *ctx,
                                         char *err, size_t errlen);

/* Start the listener's thread.  Returns 0 or a negative errno. */
int dnstap_listen_start(struct dnstap_listen *l);

/*
 * Wake the thread, close every connection and join it.  No emit call
 * happens after it returns.  Safe when not started; not from emit.
 */
void dnstap_listen_stop(struct dnstap_listen *l);

/* Stop if needed, close the listeners, remove the unix socket, free. */
void dnstap_listen_free(struct dnstap_listen *l);

/* Bound TCP port (useful with port 0), or -1 without a TCP listener. */
int dnstap_listen_tcp_port(const struct dnstap_listen *l);

/* Snapshot of the counters; any thread. */
void dnstap_listen_stats(const struct dnstap_listen *l,
                         struct dnstap_listen_stats *out);

/*
 * Decode a dnstap capture file (as written by fstrm_capture, BIND's
 * dnstap-output file or `dnstap -w`) with the same reader and decoder,
 * calling emit(ctx, ev) on the caller's thread for every decoded event.
 * Malformed frames are counted and skipped, and a file cut inside its
 * last frame counts fstrm_truncated.  *frames (may be NULL) gets the
 * number of data frames read.  Returns 0 at the end of the file, a
 * negative errno on an I/O error, or -EBADMSG with a message in err when
 * the file is not a dnstap Frame Streams file or its framing breaks.
 */
int dnstap_listen_read_file(const char *path, event_emit_fn *emit,
                            void *ctx, uint64_t *frames, char *err,
                            size_t errlen);

#endif

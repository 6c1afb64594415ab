/*
 * grpcstream.h - one server-streaming gRPC call, on the gRPC core C API.
 *
 * This is the only module that includes a gRPC header: the core C
 * surface is not promised stable across gRPC versions, so everything
 * version-specific lives in grpcstream.c.  The caller hands serialized
 * protobuf bytes in and gets serialized bytes out; no gRPC type leaks.
 *
 * A struct grpcstream is owned by one thread (the "owner"), which calls
 * grpcstream_open(), grpcstream_read() and grpcstream_close() in turn,
 * once per attempt (or grpcstream_unary() once per call).  It keeps one
 * completion queue for its whole life; every streaming attempt gets a
 * fresh channel, so a reconnect happens exactly when the caller's own
 * backoff says and gRPC's internal channel backoff never adds to it.
 * Calls fail fast: a server that is not listening gives
 * GRPCSTREAM_UNAVAILABLE at once instead of waiting.
 *
 * Known shortcomings: an attempt counts as up once the server sends its
 * response headers, so a server that holds its headers back until the
 * first message looks like a timeout (the ugallu plugin sends them at
 * once).  TLS is server-authenticated only: no client certificate can be
 * presented, so a plugin configured to require client certificates
 * refuses this client.
 *
 * grpcstream_cancel() is the one function any thread may call: it ends
 * the running attempt (a blocked grpcstream_open() or grpcstream_read()
 * returns soon after) and makes every later grpcstream_open() fail with
 * -ECANCELED.  That is how a source stops its streams.
 */
#ifndef DD_GRPCSTREAM_H
#define DD_GRPCSTREAM_H

#include <stddef.h>
#include <stdint.h>

/* Largest message grpcstream_read() accepts; a larger one ends the call
   with GRPCSTREAM_RESOURCE_EXHAUSTED. */
#define GRPCSTREAM_MSG_MAX 65536
/* Longest status details kept; longer text is cut. */
#define GRPCSTREAM_DETAILS_MAX 128

/* gRPC status codes (the values are fixed by the gRPC protocol). */
enum grpcstream_status {
    GRPCSTREAM_OK = 0,
    GRPCSTREAM_CANCELLED = 1,
    GRPCSTREAM_UNKNOWN = 2,
    GRPCSTREAM_INVALID_ARGUMENT = 3,
    GRPCSTREAM_DEADLINE_EXCEEDED = 4,
    GRPCSTREAM_PERMISSION_DENIED = 7,
    GRPCSTREAM_RESOURCE_EXHAUSTED = 8,
    GRPCSTREAM_UNIMPLEMENTED = 12,
    GRPCSTREAM_INTERNAL = 13,
    GRPCSTREAM_UNAVAILABLE = 14,
    GRPCSTREAM_UNAUTHENTICATED = 16,
};

/* What one attempt dials and sends.  Strings are only read during
   grpcstream_open(). */
struct grpcstream_opts {
    const char *target;      /* gRPC target: "host:port", "ipv4:a.b.c.d:p",
                                "[v6]:port", "unix:/path" */
    const char *method;      /* full method: "/package.Service/Method" */
    const char *token;       /* sent as "authorization: Bearer <token>";
                                NULL or "" sends no authorization */
    int tls;                 /* 0 plaintext, 1 TLS */
    const char *ca_pem;      /* TLS roots as PEM text; NULL for gRPC's
                                default roots */
    const char *server_name; /* TLS name to check instead of the target's
                                host; NULL for the target's */
    unsigned keepalive_ms;   /* ping an idle connection this often; 0 for
                                none.  The server must permit the rate */
    unsigned open_timeout_ms; /* give up on open after this long */
};

struct grpcstream;

/*
 * Start gRPC (grpc_init) for the caller; pair each with one
 * grpcstream_global_shutdown().  Any thread, reference counted by gRPC.
 */
void grpcstream_global_init(void);
void grpcstream_global_shutdown(void);

/*
 * A new stream object with its completion queue, or NULL when out of
 * memory.  Needs grpcstream_global_init() first.
 */
struct grpcstream *grpcstream_new(void);

/*
 * Dial o->target and start the call: send the metadata, the request
 * req[0..reqlen) and the end of the client's side, and wait until the
 * server sends its response headers, the call ends, or
 * o->open_timeout_ms passes.
 *
 * Returns 0 once the stream is up (read it with grpcstream_read()),
 * -ECANCELED after grpcstream_cancel(), -ETIMEDOUT when no headers came
 * in time, -ECONNREFUSED when the call ended before any header (the
 * status tells why: UNAVAILABLE when nothing listens, UNAUTHENTICATED
 * for a refused token...), -EINVAL for bad options, -ENOMEM.  After any
 * return, call grpcstream_close() before the next open.  Owner thread.
 */
int grpcstream_open(struct grpcstream *s, const struct grpcstream_opts *o,
                    const void *req, size_t reqlen);

/*
 * Wait for the next message.  Returns 1 with *msg and *len set (valid
 * until the next call on s; copied into s's buffer only when gRPC handed
 * it in pieces), 0 when the call has ended (see grpcstream_status()), or
 * -ENOTCONN when no call is open.  Owner thread.
 */
int grpcstream_read(struct grpcstream *s, const uint8_t **msg,
                    size_t *len);

/*
 * The status of the ended call: an enum grpcstream_status value (other
 * gRPC codes pass through), or -1 while it is unknown.  details, when
 * not NULL, gets the server's message (at most len - 1 bytes).  Owner
 * thread.
 */
int grpcstream_status(const struct grpcstream *s, char *details,
                      size_t len);

/*
 * End the attempt: cancel the call if it still runs, wait for gRPC to
 * hand back everything it holds, and drop the call and the channel.  A
 * no-op when nothing is open.  Owner thread.
 */
void grpcstream_close(struct grpcstream *s);

/*
 * End the running attempt from any thread and refuse later ones: see the
 * top of this file.  Idempotent.
 */
void grpcstream_cancel(struct grpcstream *s);

/* Close if needed and free.  Owner thread, after its last call. */
void grpcstream_free(struct grpcstream *s);

/*
 * One unary call with a deadline, on a channel kept from one call to the
 * next while the target stays the same (a unary caller asks often; a
 * fresh connection per call would cost a handshake each time).  Sends
 * o's metadata and req[0..reqlen), waits at most timeout_ms for the
 * whole call, and copies the reply into resp (cap bytes), its length in
 * *resplen.
 *
 * Returns 0 after status OK and one message, -ETIMEDOUT when the
 * deadline passed, -ECONNREFUSED for UNAVAILABLE (nothing listens or the
 * server is down; the channel is dropped so the next call dials again),
 * -EPROTO for another status or an OK without a message (see
 * grpcstream_status()), -EMSGSIZE for a reply over cap, -ECANCELED after
 * grpcstream_cancel(), -EINVAL, -ENOMEM.  o->token, o->keepalive_ms and
 * o->open_timeout_ms are not used.  Owner thread; not mixed with
 * grpcstream_open() on one object.
 */
int grpcstream_unary(struct grpcstream *s, const struct grpcstream_opts *o,
                     const void *req, size_t reqlen, unsigned timeout_ms,
                     uint8_t *resp, size_t cap, size_t *resplen);

/* Name of a status code ("UNAVAILABLE", ...); never NULL. */
const char *grpcstream_status_name(int status);

#endif

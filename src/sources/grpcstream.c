/*
 * grpcstream.c - a server-streaming call on gRPC core's completion queue.
 *
 * Three batches are in flight at most: START (send metadata, request and
 * half-close; receive the response headers), STATUS (receive the final
 * status; started with START and outstanding for the whole call) and MSG
 * (receive one message; started by each grpcstream_read()).  Each has a
 * pending flag; grpcstream_close() cancels the call and takes events off
 * the queue until no flag is left, so gRPC never holds a pointer into s
 * once close returns.
 *
 * The call pointer is the only state shared with other threads: it is
 * set and cleared under s->lock, and grpcstream_cancel() cancels it under
 * the same lock (grpc_call_cancel is thread-safe).
 *
 * Every message arrives in a grpc_byte_buffer that gRPC allocates; that
 * is one allocation per message we cannot avoid through this API.  The
 * bytes are handed out in place when the buffer is one uncompressed
 * slice, and copied into s->buf otherwise.
 */
#include "sources/grpcstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "core/log.h"

/* Completion queue tags: which batch finished. */
enum grpcstream_tag {
    GRPCSTREAM_TAG_START = 1,
    GRPCSTREAM_TAG_STATUS = 2,
    GRPCSTREAM_TAG_MSG = 3,
};

/* Longest "Bearer <token>" value sent. */
#define GRPCSTREAM_AUTH_MAX 4200
/* How long open waits for a status after a header-less response. */
#define GRPCSTREAM_TRAILERS_WAIT_MS 100
/* Channel arguments set on every channel. */
#define GRPCSTREAM_ARGS_MAX 6

struct grpcstream {
    grpc_completion_queue *cq;     /* whole life of s */
    grpc_channel *channel;         /* one attempt */
    grpc_call *call;               /* one attempt; set/cleared under lock */
    pthread_mutex_t lock;          /* guards call and cancelled */
    bool cancelled;

    bool start_pending;            /* batches gRPC still holds */
    bool status_pending;
    bool msg_pending;
    bool start_ok;                 /* START finished successfully */
    bool ended;                    /* no more messages will come */

    grpc_byte_buffer *send;        /* the request, until START finishes */
    grpc_byte_buffer *recv;        /* filled by MSG */
    grpc_byte_buffer *held;        /* message handed out, freed next read */
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    bool status_known;

    char unary_target[512];        /* target of the kept unary channel */
    int unary_tls;                 /* and its TLS setting */

    uint8_t buf[GRPCSTREAM_MSG_MAX]; /* messages that came in pieces */
};

static void *
grpcstream_tag_ptr(enum grpcstream_tag t)
{
    return (void *)(uintptr_t)t;
}

/*
 * gRPC's own log lines go through ours, all at debug: what matters to an
 * operator (a refused handshake, a lost connection) reaches the caller
 * as the call's status, which the caller logs once per change; gRPC
 * would repeat it at every retry.
 */
static void
grpcstream_log_hook(gpr_log_func_args *a)
{
    log_debug("grpc", "file=%s line=%d severity=%d text=\"%s\"", a->file,
              a->line, (int)a->severity, a->message);
}

void
grpcstream_global_init(void)
{
    gpr_set_log_function(grpcstream_log_hook);
    grpc_init();
}

void
grpcstream_global_shutdown(void)
{
    grpc_shutdown();
}

struct grpcstream *
grpcstream_new(void)
{
    struct grpcstream *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->cq = grpc_completion_queue_create_for_next(NULL);
    if (s->cq == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        if (s->cq != NULL) {
            grpc_completion_queue_destroy(s->cq);
        }
        free(s);
        return NULL;
    }
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();
    return s;
}

static gpr_timespec
grpcstream_deadline(int64_t ms)
{
    if (ms < 0) {
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    }
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/*
 * Take one event off the queue, waiting at most ms (-1: no limit), and
 * record which batch finished.  Returns 1 after an event, 0 on timeout.
 */
static int
grpcstream_poll(struct grpcstream *s, int64_t ms)
{
    grpc_event ev = grpc_completion_queue_next(s->cq,
                                               grpcstream_deadline(ms),
                                               NULL);

    if (ev.type != GRPC_OP_COMPLETE) {
        return 0;
    }
    switch ((uintptr_t)ev.tag) {
    case GRPCSTREAM_TAG_START:
        s->start_pending = false;
        s->start_ok = ev.success != 0;
        grpc_byte_buffer_destroy(s->send);
        s->send = NULL;
        break;
    case GRPCSTREAM_TAG_STATUS:
        s->status_pending = false;
        s->status_known = true;
        s->ended = true;
        break;
    case GRPCSTREAM_TAG_MSG:
        s->msg_pending = false;
        break;
    default:
        break;
    }
    return 1;
}

/* Credentials for o: plaintext, or TLS with the given or default roots. */
static grpc_channel_credentials *
grpcstream_creds(const struct grpcstream_opts *o)
{
    if (!o->tls) {
        return grpc_insecure_credentials_create();
    }
    return grpc_ssl_credentials_create(o->ca_pem, NULL, NULL, NULL);
}

static grpc_arg
grpcstream_int_arg(const char *key, int value)
{
    grpc_arg a;

    memset(&a, 0, sizeof(a));
    a.type = GRPC_ARG_INTEGER;
    a.key = (char *)key;
    a.value.integer = value;
    return a;
}

/* Dial o->target on a fresh channel (connects lazily, on the call). */
static int
grpcstream_channel(struct grpcstream *s, const struct grpcstream_opts *o)
{
    grpc_arg args[GRPCSTREAM_ARGS_MAX];
    grpc_channel_args ca = { 0, args };
    grpc_channel_credentials *creds = grpcstream_creds(o);

    if (creds == NULL) {
        return -EINVAL;
    }
    args[ca.num_args++] = grpcstream_int_arg(
        GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, GRPCSTREAM_MSG_MAX);
    args[ca.num_args++] = grpcstream_int_arg(GRPC_ARG_ENABLE_RETRIES, 0);
    if (o->keepalive_ms > 0) {
        args[ca.num_args++] = grpcstream_int_arg(
            GRPC_ARG_KEEPALIVE_TIME_MS, (int)o->keepalive_ms);
        args[ca.num_args++] = grpcstream_int_arg(
            GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    }
    if (o->tls && o->server_name != NULL) {
        args[ca.num_args].type = GRPC_ARG_STRING;
        args[ca.num_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[ca.num_args++].value.string = (char *)o->server_name;
    }

    s->channel = grpc_channel_create(o->target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return s->channel != NULL ? 0 : -ENOMEM;
}

/* Create the call, unless grpcstream_cancel() came first. */
static int
grpcstream_call(struct grpcstream *s, const char *method,
                gpr_timespec deadline)
{
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(
        s->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, m, NULL,
        deadline, NULL);
    int rc = 0;

    grpc_slice_unref(m);
    if (call == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->lock);
    if (s->cancelled) {
        rc = -ECANCELED;
    } else {
        s->call = call;
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        grpc_call_unref(call);
    }
    return rc;
}

/* Build "Bearer <token>" into out; returns its length, 0 for none. */
static size_t
grpcstream_bearer(const char *token, char *out, size_t len)
{
    int n;

    if (token == NULL || token[0] == '\0') {
        return 0;
    }
    n = snprintf(out, len, "Bearer %s", token);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/*
 * The first four ops of a call: initial metadata (md, or none when md is
 * NULL), the request (body, consumed), half-close and the reply's
 * headers.  ops must be zeroed.
 */
static void
grpcstream_request_ops(struct grpcstream *s, grpc_op *ops,
                       grpc_metadata *md, grpc_slice body)
{
    s->send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = md != NULL ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata =
        &s->initial_md;
}

/* Start the START batch: metadata, request, half-close, headers. */
static int
grpcstream_start_batch(struct grpcstream *s, const char *token,
                       const void *req, size_t reqlen)
{
    char value[GRPCSTREAM_AUTH_MAX];
    size_t vlen = grpcstream_bearer(token, value, sizeof(value));
    grpc_metadata md;
    grpc_slice body = grpc_slice_from_copied_buffer(req, reqlen);
    grpc_op ops[4];
    grpc_call_error ce;

    memset(&md, 0, sizeof(md));
    memset(ops, 0, sizeof(ops));
    md.key = grpc_slice_from_static_string("authorization");
    md.value = grpc_slice_from_copied_buffer(value, vlen);
    grpcstream_request_ops(s, ops, vlen > 0 ? &md : NULL, body);
    ce = grpc_call_start_batch(s->call, ops, 4,
                               grpcstream_tag_ptr(GRPCSTREAM_TAG_START),
                               NULL);
    grpc_slice_unref(md.value);
    s->start_pending = ce == GRPC_CALL_OK;
    return ce == GRPC_CALL_OK ? 0 : -EINVAL;
}

/* Start the STATUS batch, outstanding until the call ends. */
static int
grpcstream_status_batch(struct grpcstream *s)
{
    grpc_op op;
    grpc_call_error ce;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->details;
    ce = grpc_call_start_batch(s->call, &op, 1,
                               grpcstream_tag_ptr(GRPCSTREAM_TAG_STATUS),
                               NULL);
    s->status_pending = ce == GRPC_CALL_OK;
    return ce == GRPC_CALL_OK ? 0 : -EINVAL;
}

/*
 * Wait for the headers.  A response with no header at all may be a
 * trailers-only one (the call failed at once): give its status a moment
 * to arrive so that the caller sees the failure here.
 */
static int
grpcstream_wait_headers(struct grpcstream *s, unsigned timeout_ms)
{
    gpr_timespec end = grpcstream_deadline(timeout_ms);

    while (s->start_pending && !s->status_known) {
        gpr_timespec left = gpr_time_sub(end, gpr_now(GPR_CLOCK_MONOTONIC));
        int64_t ms = gpr_time_to_millis(left);

        if (ms <= 0 || grpcstream_poll(s, ms) == 0) {
            return -ETIMEDOUT;
        }
    }
    if (!s->start_pending && s->start_ok && s->initial_md.count == 0) {
        grpcstream_poll(s, GRPCSTREAM_TRAILERS_WAIT_MS);
    }
    if (!s->status_known && s->start_ok) {
        return 0;
    }
    for (int i = 0; i < 10 && s->status_pending; i++) {
        grpcstream_poll(s, GRPCSTREAM_TRAILERS_WAIT_MS);  /* the reason */
    }
    return -ECONNREFUSED;
}

int
grpcstream_open(struct grpcstream *s, const struct grpcstream_opts *o,
                const void *req, size_t reqlen)
{
    int rc;

    if (o->target == NULL || o->method == NULL || s->channel != NULL) {
        return -EINVAL;
    }
    s->ended = false;
    s->status_known = false;
    s->start_ok = false;

    rc = grpcstream_channel(s, o);
    if (rc == 0) {
        rc = grpcstream_call(s, o->method,
                             gpr_inf_future(GPR_CLOCK_REALTIME));
    }
    if (rc == 0) {
        rc = grpcstream_start_batch(s, o->token, req, reqlen);
    }
    if (rc == 0) {
        rc = grpcstream_status_batch(s);
    }
    if (rc < 0) {
        return rc;
    }
    return grpcstream_wait_headers(s, o->open_timeout_ms);
}

/* Give back the message handed out by the previous read. */
static void
grpcstream_release(struct grpcstream *s)
{
    if (s->held != NULL) {
        grpc_byte_buffer_destroy(s->held);
        s->held = NULL;
    }
}

/* Point at the bytes of s->held, in place or copied into s->buf. */
static int
grpcstream_bytes(struct grpcstream *s, const uint8_t **msg, size_t *len)
{
    grpc_byte_buffer *bb = s->held;
    grpc_byte_buffer_reader r;
    grpc_slice piece;
    size_t n = 0;

    if (bb->type == GRPC_BB_RAW &&
        bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        *msg = GRPC_SLICE_START_PTR(bb->data.raw.slice_buffer.slices[0]);
        *len = GRPC_SLICE_LENGTH(bb->data.raw.slice_buffer.slices[0]);
        return 1;
    }
    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        return 0;
    }
    while (grpc_byte_buffer_reader_next(&r, &piece)) {
        size_t plen = GRPC_SLICE_LENGTH(piece);

        if (plen <= sizeof(s->buf) - n) {
            memcpy(s->buf + n, GRPC_SLICE_START_PTR(piece), plen);
        }
        n += plen;
        grpc_slice_unref(piece);
    }
    grpc_byte_buffer_reader_destroy(&r);
    *msg = s->buf;
    *len = n;
    return n <= sizeof(s->buf) ? 1 : 0;
}

/* Start one MSG batch and wait for it. */
static void
grpcstream_recv(struct grpcstream *s)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    s->recv = NULL;
    if (grpc_call_start_batch(s->call, &op, 1,
                              grpcstream_tag_ptr(GRPCSTREAM_TAG_MSG),
                              NULL) != GRPC_CALL_OK) {
        return;
    }
    s->msg_pending = true;
    while (s->msg_pending) {
        grpcstream_poll(s, -1);
    }
}

int
grpcstream_read(struct grpcstream *s, const uint8_t **msg, size_t *len)
{
    if (s->call == NULL) {
        return -ENOTCONN;
    }
    grpcstream_release(s);

    grpcstream_recv(s);
    if (s->recv != NULL) {
        s->held = s->recv;
        s->recv = NULL;
        if (grpcstream_bytes(s, msg, len) == 1) {
            return 1;
        }
        grpc_call_cancel(s->call, NULL);  /* oversized: should not be */
    }

    while (s->status_pending) {
        grpcstream_poll(s, -1);
    }
    return 0;
}

int
grpcstream_status(const struct grpcstream *s, char *details, size_t len)
{
    size_t n;

    if (details != NULL && len > 0) {
        details[0] = '\0';
    }
    if (!s->status_known) {
        return -1;
    }
    if (details != NULL && len > 0) {
        n = GRPC_SLICE_LENGTH(s->details);
        n = n < len - 1 ? n : len - 1;
        memcpy(details, GRPC_SLICE_START_PTR(s->details), n);
        details[n] = '\0';
    }
    return (int)s->status;
}

/* Drop what one attempt received, ready for the next. */
static void
grpcstream_reset_results(struct grpcstream *s)
{
    grpcstream_release(s);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    grpc_slice_unref(s->details);
    s->details = grpc_empty_slice();
}

/* Take the call from under the lock (a canceller may look at it) and
 * release it. */
static void
grpcstream_drop_call(struct grpcstream *s)
{
    grpc_call *call;

    pthread_mutex_lock(&s->lock);
    call = s->call;
    s->call = NULL;
    pthread_mutex_unlock(&s->lock);
    if (call != NULL) {
        grpc_call_unref(call);
    }
}

void
grpcstream_close(struct grpcstream *s)
{
    if (s->call != NULL) {
        grpc_call_cancel(s->call, NULL);
        while (s->start_pending || s->status_pending || s->msg_pending) {
            grpcstream_poll(s, -1);
        }
    }
    grpcstream_reset_results(s);
    grpcstream_drop_call(s);
    if (s->send != NULL) {
        grpc_byte_buffer_destroy(s->send);
        s->send = NULL;
    }
    if (s->channel != NULL) {
        grpc_channel_destroy(s->channel);
        s->channel = NULL;
    }
}

void
grpcstream_cancel(struct grpcstream *s)
{
    pthread_mutex_lock(&s->lock);
    s->cancelled = true;
    if (s->call != NULL) {
        grpc_call_cancel(s->call, NULL);
    }
    pthread_mutex_unlock(&s->lock);
}

void
grpcstream_free(struct grpcstream *s)
{
    if (s == NULL) {
        return;
    }
    grpcstream_close(s);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq,
                                      gpr_inf_future(GPR_CLOCK_REALTIME),
                                      NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(s->cq);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- unary calls ------------------------------------------------------ */

/* Keep the channel when it dials o's target as o says; else drop it and
 * dial afresh. */
static int
grpcstream_unary_channel(struct grpcstream *s, const struct grpcstream_opts *o)
{
    if (s->channel != NULL &&
        (strcmp(s->unary_target, o->target) != 0 ||
         s->unary_tls != o->tls)) {
        grpc_channel_destroy(s->channel);
        s->channel = NULL;
    }
    if (s->channel != NULL) {
        return 0;
    }
    if (strlen(o->target) >= sizeof(s->unary_target)) {
        return -EINVAL;
    }
    snprintf(s->unary_target, sizeof(s->unary_target), "%s", o->target);
    s->unary_tls = o->tls;
    return grpcstream_channel(s, o);
}

/* The whole call in one batch: metadata, request, half-close, headers,
 * one message, status. */
static int
grpcstream_unary_batch(struct grpcstream *s, const void *req, size_t reqlen)
{
    grpc_slice body = grpc_slice_from_copied_buffer(req, reqlen);
    grpc_op ops[6];
    grpc_call_error ce;

    memset(ops, 0, sizeof(ops));
    s->recv = NULL;
    grpcstream_request_ops(s, ops, NULL, body);
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    ce = grpc_call_start_batch(s->call, ops, 6,
                               grpcstream_tag_ptr(GRPCSTREAM_TAG_START),
                               NULL);
    s->start_pending = ce == GRPC_CALL_OK;
    return ce == GRPC_CALL_OK ? 0 : -EINVAL;
}

/* The reply into resp; the status decides the return code. */
static int
grpcstream_unary_result(struct grpcstream *s, uint8_t *resp, size_t cap,
                        size_t *resplen)
{
    const uint8_t *msg;
    size_t len;

    s->status_known = true;
    if (s->status == GRPC_STATUS_DEADLINE_EXCEEDED) {
        return -ETIMEDOUT;
    }
    if (s->status == GRPC_STATUS_UNAVAILABLE) {
        return -ECONNREFUSED;
    }
    if (s->status != GRPC_STATUS_OK || s->recv == NULL) {
        return -EPROTO;
    }
    s->held = s->recv;
    s->recv = NULL;
    if (grpcstream_bytes(s, &msg, &len) != 1 || len > cap) {
        return -EMSGSIZE;
    }
    memcpy(resp, msg, len);
    *resplen = len;
    return 0;
}

/* Forget the call; drop the channel too when it is known broken. */
static void
grpcstream_unary_end(struct grpcstream *s, int rc)
{
    if (s->recv != NULL) {
        grpc_byte_buffer_destroy(s->recv);
        s->recv = NULL;
    }
    grpcstream_release(s);
    grpcstream_drop_call(s);
    if (rc != 0 && rc != -EPROTO && rc != -EMSGSIZE &&
        s->channel != NULL) {
        grpc_channel_destroy(s->channel);
        s->channel = NULL;
    }
}

int
grpcstream_unary(struct grpcstream *s, const struct grpcstream_opts *o,
                 const void *req, size_t reqlen, unsigned timeout_ms,
                 uint8_t *resp, size_t cap, size_t *resplen)
{
    int rc;

    if (o->target == NULL || o->method == NULL || s->call != NULL) {
        return -EINVAL;
    }
    grpcstream_reset_results(s);
    s->status_known = false;
    rc = grpcstream_unary_channel(s, o);
    if (rc == 0) {
        rc = grpcstream_call(s, o->method, grpcstream_deadline(timeout_ms));
    }
    if (rc == 0) {
        rc = grpcstream_unary_batch(s, req, reqlen);
    }
    while (rc == 0 && s->start_pending) {
        grpcstream_poll(s, -1);   /* the call's deadline bounds this */
    }
    if (rc == 0) {
        rc = grpcstream_unary_result(s, resp, cap, resplen);
    }
    grpcstream_unary_end(s, rc);
    return rc;
}

const char *
grpcstream_status_name(int status)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
        "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };

    if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0])) {
        return "UNKNOWN_STATUS";
    }
    return names[status];
}

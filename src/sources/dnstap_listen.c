/*
 * dnstap_listen.c - Frame Streams receiver and file reader for dnstap.
 *
 * The poll set has fixed slots: the wake pipe, the unix listener, the TCP
 * listener, then one slot per connection (fd -1 when unused; poll()
 * ignores negative descriptors).  Each pass reads at most one buffer from
 * every ready connection, so one busy sender cannot starve the others.
 */
#include "sources/dnstap_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "sources/dnstap.h"
#include "sources/framestream.h"

/* Fixed poll slots ahead of the connections. */
enum {
    DNSTAP_LISTEN_SLOT_WAKE = 0,
    DNSTAP_LISTEN_SLOT_UNIX = 1,
    DNSTAP_LISTEN_SLOT_TCP = 2,
    DNSTAP_LISTEN_SLOTS = 3,
};

#define DNSTAP_LISTEN_BACKLOG 16
/* Room for an ACCEPT with the dnstap content type and a FINISH. */
#define DNSTAP_LISTEN_OUT_MAX 128

struct dnstap_listen_counters {
    _Atomic uint64_t accepted;
    _Atomic uint64_t rejected;
    _Atomic uint64_t active;
    _Atomic uint64_t frames;
    _Atomic uint64_t events;
    _Atomic uint64_t malformed;
};

/* One sender, or one file being read (fd -1). */
struct dnstap_listen_conn {
    int fd;                        /* socket; -1 for a free slot or a file */
    bool bidirectional;            /* READY seen: FINISH is owed */
    bool stopped;                  /* STOP seen: close once flushed */
    struct framestream_reader reader;
    event_emit_fn *emit;
    void *ctx;
    struct dnstap_listen_counters *counters;
    struct metrics_series *frames_metric;
    uint64_t frames;               /* data frames of this connection */
    size_t out_len;                /* reply bytes waiting in out */
    uint8_t out[DNSTAP_LISTEN_OUT_MAX];
    char peer[INET6_ADDRSTRLEN + 8];
};

struct dnstap_listen {
    int fds[DNSTAP_LISTEN_SLOTS];  /* wake read end, unix, TCP; or -1 */
    int wake_w;                    /* wake pipe write end */
    bool running;                  /* thread started and not joined */
    _Atomic bool stopping;
    pthread_t thread;
    struct dnstap_listen_counters counters;
    struct metrics_series *m_connected;
    struct metrics_series *m_accepted;
    struct metrics_series *m_rejected;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct dnstap_listen_conn conns[DNSTAP_LISTEN_MAX_CONN];
    struct pollfd pfd[DNSTAP_LISTEN_SLOTS + DNSTAP_LISTEN_MAX_CONN];
    uint8_t rbuf[DNSTAP_LISTEN_READ_SIZE];
};

static void
dnstap_listen_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
dnstap_listen_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void
dnstap_listen_count(_Atomic uint64_t *c, int64_t n)
{
    atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

static struct metrics_series *
dnstap_listen_frames_metric(void)
{
    return metrics_counter("ugallu_dns_dnstap_frames_total", "",
                           "dnstap data frames received");
}

/* ---- per-stream callbacks, shared by sockets and files ---- */

static void
dnstap_listen_malformed(struct dnstap_listen_conn *c, const char *kind)
{
    dnstap_listen_count(&c->counters->malformed, 1);
    metrics_malformed(kind);
}

static int
dnstap_listen_on_data(void *arg, const uint8_t *frame, size_t len)
{
    struct dnstap_listen_conn *c = arg;
    struct event ev;
    int rc;

    c->frames++;
    dnstap_listen_count(&c->counters->frames, 1);
    metrics_inc(c->frames_metric);

    rc = dnstap_decode(frame, len, &ev);
    if (rc < 0) {
        dnstap_listen_malformed(c, dnstap_error_name(rc));
        return 0;
    }
    dnstap_listen_count(&c->counters->events, 1);
    c->emit(c->ctx, &ev);
    return 0;
}

static void
dnstap_listen_on_error(void *arg, int err)
{
    dnstap_listen_malformed(arg, framestream_error_name(err));
}

/* Queue a control frame for the sender; written by the poll loop. */
static int
dnstap_listen_reply(struct dnstap_listen_conn *c, uint32_t type,
                    const char *content_type)
{
    int n;

    if (c->fd < 0) {
        return 0;   /* a file: nobody to answer */
    }
    n = framestream_encode_control(c->out + c->out_len,
                                   sizeof(c->out) - c->out_len, type,
                                   content_type);
    if (n < 0) {
        return n;
    }
    c->out_len += (size_t)n;
    return 0;
}

static int
dnstap_listen_on_control(void *arg, const struct framestream_control *ctl)
{
    struct dnstap_listen_conn *c = arg;
    const char *dnstap = FRAMESTREAM_DNSTAP_CONTENT_TYPE;

    switch (ctl->type) {
    case FRAMESTREAM_CONTROL_READY:
        if (c->bidirectional) {
            return -FRAMESTREAM_E_UNEXPECTED_CONTROL;
        }
        if (!framestream_control_has_type(ctl, dnstap, true)) {
            return -FRAMESTREAM_E_BAD_CONTENT_TYPE;
        }
        c->bidirectional = true;
        return dnstap_listen_reply(c, FRAMESTREAM_CONTROL_ACCEPT, dnstap);
    case FRAMESTREAM_CONTROL_START:
        if (!framestream_control_has_type(ctl, dnstap, true)) {
            return -FRAMESTREAM_E_BAD_CONTENT_TYPE;
        }
        return 0;
    case FRAMESTREAM_CONTROL_STOP:
        c->stopped = true;
        if (!c->bidirectional) {
            return 0;
        }
        return dnstap_listen_reply(c, FRAMESTREAM_CONTROL_FINISH, NULL);
    default:
        return -FRAMESTREAM_E_UNEXPECTED_CONTROL;  /* ACCEPT, FINISH */
    }
}

static const struct framestream_callbacks dnstap_listen_callbacks = {
    .on_data = dnstap_listen_on_data,
    .on_control = dnstap_listen_on_control,
    .on_error = dnstap_listen_on_error,
};

static int
dnstap_listen_feed(struct dnstap_listen_conn *c, const uint8_t *buf,
                   size_t len)
{
    struct framestream_callbacks cb = dnstap_listen_callbacks;

    cb.ctx = c;
    return framestream_feed(&c->reader, buf, len, &cb);
}

/* ---- connections ---- */

static void
dnstap_listen_close_conn(struct dnstap_listen *l,
                         struct dnstap_listen_conn *c, const char *reason)
{
    log_info("dnstap sender disconnected", "peer=%s frames=%llu reason=%s",
             c->peer, (unsigned long long)c->frames, reason);
    dnstap_listen_count(&l->counters.active, -1);
    metrics_set(l->m_connected,
                (int64_t)atomic_load(&l->counters.active));
    framestream_reader_free(&c->reader);
    close(c->fd);
    c->fd = -1;
}

/* Write queued replies.  Returns 0, or -1 when the socket failed. */
static int
dnstap_listen_flush(struct dnstap_listen_conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

        if (n < 0) {
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    return 0;
}

/* Read once from a ready connection; returns a close reason or NULL. */
static const char *
dnstap_listen_read(struct dnstap_listen *l, struct dnstap_listen_conn *c)
{
    ssize_t n = read(c->fd, l->rbuf, sizeof(l->rbuf));
    int rc;

    if (n < 0) {
        return errno == EAGAIN || errno == EINTR ? NULL : "read_error";
    }
    if (n == 0) {
        rc = framestream_finish(&c->reader);
        if (rc == -FRAMESTREAM_E_TRUNCATED) {
            dnstap_listen_malformed(c, framestream_error_name(rc));
        }
        return "eof";
    }

    rc = dnstap_listen_feed(c, l->rbuf, (size_t)n);
    if (rc < 0) {
        dnstap_listen_malformed(c, framestream_error_name(rc));
        return framestream_error_name(rc);
    }
    return NULL;
}

static void
dnstap_listen_serve(struct dnstap_listen *l, struct dnstap_listen_conn *c,
                    short revents)
{
    const char *reason = NULL;

    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        reason = dnstap_listen_read(l, c);
    }
    if (reason == NULL && dnstap_listen_flush(c) < 0) {
        /* A sender may leave right after STOP without reading FINISH. */
        reason = c->stopped ? "stopped" : "write_error";
    }
    if (reason == NULL && c->stopped && c->out_len == 0) {
        reason = "stopped";
    }
    if (reason != NULL) {
        dnstap_listen_close_conn(l, c, reason);
    }
}

static void
dnstap_listen_peer_name(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN], port[8];

    snprintf(out, len, "unix");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
        ss.ss_family == AF_UNIX) {
        return;
    }
    if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        snprintf(out, len, "%s:%s", host, port);
    }
}

static struct dnstap_listen_conn *
dnstap_listen_free_slot(struct dnstap_listen *l)
{
    for (size_t i = 0; i < DNSTAP_LISTEN_MAX_CONN; i++) {
        if (l->conns[i].fd < 0) {
            return &l->conns[i];
        }
    }
    return NULL;
}

/*
 * Take a new connection into a free slot, or refuse it.
 * Known shortcoming: a connection that never sends anything keeps its
 * slot until it closes (there is no idle or handshake timeout), so
 * DNSTAP_LISTEN_MAX_CONN silent local clients can lock real senders out.
 */
static void
dnstap_listen_adopt(struct dnstap_listen *l, int fd)
{
    struct dnstap_listen_conn *c = dnstap_listen_free_slot(l);

    if (c == NULL || framestream_reader_init(&c->reader, 0) < 0) {
        dnstap_listen_count(&l->counters.rejected, 1);
        metrics_inc(l->m_rejected);
        close(fd);
        log_debug("dnstap sender refused", "reason=%s",
                  c == NULL ? "too_many_connections" : "no_memory");
        return;
    }

    c->fd = fd;
    c->bidirectional = false;
    c->stopped = false;
    c->frames = 0;
    c->out_len = 0;
    dnstap_listen_peer_name(fd, c->peer, sizeof(c->peer));
    dnstap_listen_count(&l->counters.accepted, 1);
    dnstap_listen_count(&l->counters.active, 1);
    metrics_inc(l->m_accepted);
    metrics_set(l->m_connected,
                (int64_t)atomic_load(&l->counters.active));
    log_info("dnstap sender connected", "peer=%s", c->peer);
}

static void
dnstap_listen_accept(struct dnstap_listen *l, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR &&
                errno != ECONNABORTED) {
                log_warn("dnstap accept failed", "error=\"%s\"",
                         strerror(errno));
            }
            if (errno != EINTR && errno != ECONNABORTED) {
                return;
            }
            continue;
        }
        dnstap_listen_adopt(l, fd);
    }
}

/* ---- the thread ---- */

static void
dnstap_listen_fill_pollset(struct dnstap_listen *l)
{
    for (int i = 0; i < DNSTAP_LISTEN_SLOTS; i++) {
        l->pfd[i].fd = l->fds[i];
        l->pfd[i].events = POLLIN;
        l->pfd[i].revents = 0;
    }
    for (int i = 0; i < DNSTAP_LISTEN_MAX_CONN; i++) {
        struct dnstap_listen_conn *c = &l->conns[i];
        struct pollfd *p = &l->pfd[DNSTAP_LISTEN_SLOTS + i];

        p->fd = c->fd;
        p->events = POLLIN | (c->out_len > 0 ? POLLOUT : 0);
        p->revents = 0;
    }
}

static void
dnstap_listen_drain_wake(struct dnstap_listen *l)
{
    char buf[16];

    while (read(l->fds[DNSTAP_LISTEN_SLOT_WAKE], buf, sizeof(buf)) > 0) {
    }
}

/* One poll pass.  Returns false when the thread must end. */
static bool
dnstap_listen_pass(struct dnstap_listen *l)
{
    struct pollfd *pfd = l->pfd;
    nfds_t n = sizeof(l->pfd) / sizeof(l->pfd[0]);

    dnstap_listen_fill_pollset(l);
    if (poll(pfd, n, -1) < 0) {
        if (errno == EINTR) {
            return true;
        }
        log_error("dnstap poll failed", "error=\"%s\"", strerror(errno));
        return false;
    }
    if (l->pfd[DNSTAP_LISTEN_SLOT_WAKE].revents & POLLIN) {
        dnstap_listen_drain_wake(l);
    }
    if (atomic_load(&l->stopping)) {
        return false;
    }

    for (int i = 0; i < DNSTAP_LISTEN_MAX_CONN; i++) {
        short rev = l->pfd[DNSTAP_LISTEN_SLOTS + i].revents;

        if (rev != 0 && l->conns[i].fd >= 0) {
            dnstap_listen_serve(l, &l->conns[i], rev);
        }
    }
    for (int i = DNSTAP_LISTEN_SLOT_UNIX; i < DNSTAP_LISTEN_SLOTS; i++) {
        if (l->pfd[i].revents & POLLIN) {
            dnstap_listen_accept(l, l->fds[i]);
        }
    }
    return true;
}

static void *
dnstap_listen_run(void *arg)
{
    struct dnstap_listen *l = arg;

    while (dnstap_listen_pass(l)) {
    }

    for (int i = 0; i < DNSTAP_LISTEN_MAX_CONN; i++) {
        if (l->conns[i].fd >= 0) {
            dnstap_listen_close_conn(l, &l->conns[i], "shutdown");
        }
    }
    return NULL;
}

/* ---- opening ---- */

static int
dnstap_listen_bind_unix(struct dnstap_listen *l, const char *path,
                        char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        dnstap_listen_errf(err, errlen, "unix path too long: %s", path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            dnstap_listen_errf(err, errlen, "%s exists and is not a socket",
                               path);
            return -EEXIST;
        }
        unlink(path);
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        chmod(path, 0666) < 0 || listen(fd, DNSTAP_LISTEN_BACKLOG) < 0) {
        int e = errno;

        dnstap_listen_errf(err, errlen, "unix socket %s: %s", path,
                           strerror(e));
        if (fd >= 0) {
            close(fd);
        }
        return -e;
    }
    memcpy(l->unix_path, sa.sun_path, sizeof(l->unix_path));
    l->fds[DNSTAP_LISTEN_SLOT_UNIX] = fd;
    return 0;
}

/* Split "host:port", "[v6]:port" or ":port"; host "" means any. */
static int
dnstap_listen_split(const char *addr, char *host, size_t hostlen,
                    const char **port)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hl;

    if (colon == NULL || colon[1] == '\0') {
        return -EINVAL;
    }
    hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        h = addr + 1;
        hl -= 2;
    }
    if (hl >= hostlen) {
        return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = colon + 1;
    return 0;
}

static int
dnstap_listen_bind_ai(const struct addrinfo *ai)
{
    int one = 1;
    int fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);

    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        listen(fd, DNSTAP_LISTEN_BACKLOG) < 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

static int
dnstap_listen_bind_tcp(struct dnstap_listen *l, const char *addr,
                       char *err, size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    char host[256];
    const char *port;
    int fd = -EADDRNOTAVAIL;

    if (dnstap_listen_split(addr, host, sizeof(host), &port) < 0 ||
        getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res) != 0) {
        dnstap_listen_errf(err, errlen, "bad TCP address: %s", addr);
        return -EINVAL;
    }
    /* Known shortcoming: only the first address that binds is served, so
       a name with both an IPv4 and an IPv6 address listens on one. */
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = dnstap_listen_bind_ai(ai);
    }
    freeaddrinfo(res);

    if (fd < 0) {
        dnstap_listen_errf(err, errlen, "TCP %s: %s", addr, strerror(-fd));
        return fd;
    }
    l->fds[DNSTAP_LISTEN_SLOT_TCP] = fd;
    return 0;
}

static void
dnstap_listen_init(struct dnstap_listen *l, event_emit_fn *emit, void *ctx)
{
    struct metrics_series *frames = dnstap_listen_frames_metric();

    for (int i = 0; i < DNSTAP_LISTEN_SLOTS; i++) {
        l->fds[i] = -1;
    }
    l->wake_w = -1;
    for (int i = 0; i < DNSTAP_LISTEN_MAX_CONN; i++) {
        l->conns[i].fd = -1;
        l->conns[i].emit = emit;
        l->conns[i].ctx = ctx;
        l->conns[i].counters = &l->counters;
        l->conns[i].frames_metric = frames;
    }
    l->m_connected = metrics_gauge("ugallu_dns_source_connected",
        "source=\"dnstap\"", "Senders or upstreams connected, by source");
    l->m_accepted = metrics_counter("ugallu_dns_dnstap_connections_total",
        "", "dnstap sender connections accepted");
    l->m_rejected = metrics_counter(
        "ugallu_dns_dnstap_connections_rejected_total", "",
        "dnstap sender connections refused: too many or out of memory");
}

static int
dnstap_listen_make_wake(struct dnstap_listen *l, char *err, size_t errlen)
{
    int p[2];

    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
        int e = errno;

        dnstap_listen_errf(err, errlen, "pipe: %s", strerror(e));
        return -e;
    }
    l->fds[DNSTAP_LISTEN_SLOT_WAKE] = p[0];
    l->wake_w = p[1];
    return 0;
}

struct dnstap_listen *
dnstap_listen_open(const char *unix_path, const char *tcp_addr,
                   event_emit_fn *emit, void *ctx, char *err, size_t errlen)
{
    struct dnstap_listen *l;
    int rc;

    if (unix_path == NULL && tcp_addr == NULL) {
        dnstap_listen_errf(err, errlen, "no unix path nor TCP address");
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        dnstap_listen_errf(err, errlen, "out of memory");
        return NULL;
    }
    dnstap_listen_init(l, emit, ctx);

    rc = dnstap_listen_make_wake(l, err, errlen);
    if (rc == 0 && unix_path != NULL) {
        rc = dnstap_listen_bind_unix(l, unix_path, err, errlen);
    }
    if (rc == 0 && tcp_addr != NULL) {
        rc = dnstap_listen_bind_tcp(l, tcp_addr, err, errlen);
    }
    if (rc < 0) {
        dnstap_listen_free(l);
        return NULL;
    }

    log_info("dnstap listening", "unix=%s tcp=%s",
             unix_path != NULL ? unix_path : "-",
             tcp_addr != NULL ? tcp_addr : "-");
    return l;
}

int
dnstap_listen_start(struct dnstap_listen *l)
{
    int rc;

    if (l->running) {
        return -EALREADY;
    }
    atomic_store(&l->stopping, false);
    rc = pthread_create(&l->thread, NULL, dnstap_listen_run, l);
    if (rc != 0) {
        return -rc;
    }
    l->running = true;
    return 0;
}

void
dnstap_listen_stop(struct dnstap_listen *l)
{
    char one = 1;

    if (!l->running) {
        return;
    }
    atomic_store(&l->stopping, true);
    while (write(l->wake_w, &one, 1) < 0 && errno == EINTR) {
    }
    pthread_join(l->thread, NULL);
    l->running = false;
}

void
dnstap_listen_free(struct dnstap_listen *l)
{
    if (l == NULL) {
        return;
    }
    dnstap_listen_stop(l);

    for (int i = 0; i < DNSTAP_LISTEN_SLOTS; i++) {
        if (l->fds[i] >= 0) {
            close(l->fds[i]);
        }
    }
    if (l->wake_w >= 0) {
        close(l->wake_w);
    }
    if (l->unix_path[0] != '\0') {
        unlink(l->unix_path);
    }
    free(l);
}

int
dnstap_listen_tcp_port(const struct dnstap_listen *l)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = l->fds[DNSTAP_LISTEN_SLOT_TCP];

    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void
dnstap_listen_stats(const struct dnstap_listen *l,
                    struct dnstap_listen_stats *out)
{
    const struct dnstap_listen_counters *c = &l->counters;

    out->accepted = atomic_load_explicit(&c->accepted, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&c->rejected, memory_order_relaxed);
    out->active = atomic_load_explicit(&c->active, memory_order_relaxed);
    out->frames = atomic_load_explicit(&c->frames, memory_order_relaxed);
    out->events = atomic_load_explicit(&c->events, memory_order_relaxed);
    out->malformed = atomic_load_explicit(&c->malformed,
                                          memory_order_relaxed);
}

/* ---- files ---- */

/* Feed the whole file; returns 0, -errno or -EBADMSG. */
static int
dnstap_listen_feed_file(struct dnstap_listen_conn *c, int fd, uint8_t *buf,
                        char *err, size_t errlen)
{
    for (;;) {
        ssize_t n = read(fd, buf, DNSTAP_LISTEN_READ_SIZE);
        int rc;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;

            dnstap_listen_errf(err, errlen, "read: %s", strerror(e));
            return -e;
        }
        if (n == 0) {
            return 0;
        }
        rc = dnstap_listen_feed(c, buf, (size_t)n);
        if (rc < 0) {
            dnstap_listen_malformed(c, framestream_error_name(rc));
            dnstap_listen_errf(err, errlen, "not a dnstap stream (%s)",
                               framestream_error_name(rc));
            return -EBADMSG;
        }
    }
}

/* What a complete read says about the end of the file. */
static int
dnstap_listen_end_file(struct dnstap_listen_conn *c, char *err,
                       size_t errlen)
{
    int rc = framestream_finish(&c->reader);

    if (framestream_reader_state(&c->reader) == FRAMESTREAM_STATE_IDLE) {
        dnstap_listen_errf(err, errlen, "no START frame: not a dnstap file");
        return -EBADMSG;
    }
    if (rc == -FRAMESTREAM_E_TRUNCATED) {
        dnstap_listen_malformed(c, framestream_error_name(rc));
    }
    return 0;
}

int
dnstap_listen_read_file(const char *path, event_emit_fn *emit, void *ctx,
                        uint64_t *frames, char *err, size_t errlen)
{
    struct dnstap_listen_counters counters = { 0 };
    struct dnstap_listen_conn c = {
        .fd = -1, .emit = emit, .ctx = ctx, .counters = &counters,
        .frames_metric = dnstap_listen_frames_metric(),
    };
    uint8_t *buf = malloc(DNSTAP_LISTEN_READ_SIZE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;

    if (rc < 0) {
        dnstap_listen_errf(err, errlen, "%s: %s", path, strerror(-rc));
    } else if (buf == NULL ||
               framestream_reader_init(&c.reader, 0) < 0) {
        dnstap_listen_errf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else {
        rc = dnstap_listen_feed_file(&c, fd, buf, err, errlen);
        rc = rc < 0 ? rc : dnstap_listen_end_file(&c, err, errlen);
    }

    if (frames != NULL) {
        *frames = c.frames;
    }
    framestream_reader_free(&c.reader);
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/*
 * httpd.c - /metrics, /healthz and /readyz over libmicrohttpd.
 */
#include "http/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

struct httpd {
    struct MHD_Daemon *mhd;
};

static _Atomic int httpd_ready;

void
httpd_set_ready(int ready)
{
    atomic_store(&httpd_ready, ready);
}

int
httpd_split_addr(const char *addr, char *host, size_t hostlen,
                 unsigned *port)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hl;
    char *end;
    unsigned long p;

    if (colon == NULL) {
        return -EINVAL;
    }
    hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || p > 65535 || hl >= hostlen) {
        return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)p;
    return 0;
}

static enum MHD_Result
httpd_reply(struct MHD_Connection *conn, unsigned status, const char *type,
            char *body, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    r = MHD_create_response_from_buffer(strlen(body), body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
httpd_handle(void *cls, struct MHD_Connection *conn, const char *url,
             const char *method, const char *version,
             const char *upload_data, size_t *upload_size, void **state)
{
    static const char text[] = "text/plain; charset=utf-8";

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return httpd_reply(conn, 405, text, "method not allowed\n",
                           MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/metrics") == 0) {
        char *body = metrics_render();
        if (body == NULL) {
            return httpd_reply(conn, 500, text, "out of memory\n",
                               MHD_RESPMEM_PERSISTENT);
        }
        return httpd_reply(conn, 200, "text/plain; version=0.0.4", body,
                           MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        return httpd_reply(conn, 200, text, "ok\n", MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/readyz") == 0) {
        int ok = atomic_load(&httpd_ready);
        return httpd_reply(conn, ok ? 200 : 503, text,
                           ok ? "ready\n" : "not ready\n",
                           MHD_RESPMEM_PERSISTENT);
    }
    return httpd_reply(conn, 404, text, "not found\n",
                       MHD_RESPMEM_PERSISTENT);
}

/* Fill ss for host (or any address when host is "") and port. */
static int
httpd_sockaddr(const char *host, unsigned port,
               struct sockaddr_storage *ss, unsigned *flags)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (host[0] == '\0') {
        *flags |= MHD_USE_DUAL_STACK;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        v6->sin6_addr = in6addr_any;
        return 0;
    }
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        *flags |= MHD_USE_IPv6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -EINVAL;
}

struct httpd *
httpd_start(const char *addr, char *err, size_t errlen)
{
    char host[128];
    unsigned port, flags = MHD_USE_INTERNAL_POLLING_THREAD |
                           MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    struct httpd *h;

    err[0] = '\0';
    if (addr == NULL || addr[0] == '\0' || strcmp(addr, "0") == 0) {
        return NULL;
    }
    if (httpd_split_addr(addr, host, sizeof(host), &port) != 0 ||
        httpd_sockaddr(host, port, &ss, &flags) != 0) {
        snprintf(err, errlen, "bad listen address '%s'", addr);
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
                              httpd_handle, NULL, MHD_OPTION_SOCK_ADDR, &ss,
                              MHD_OPTION_CONNECTION_LIMIT, 64u,
                              MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                              MHD_OPTION_END);
    if (h->mhd == NULL) {
        snprintf(err, errlen, "cannot listen on '%s'", addr);
        free(h);
        return NULL;
    }
    return h;
}

void
httpd_stop(struct httpd *h)
{
    if (h != NULL) {
        MHD_stop_daemon(h->mhd);
        free(h);
    }
}

/*
 * httpd.h - the metrics and probe endpoints (libmicrohttpd).
 *
 * GET /metrics serves the Prometheus text format; GET /healthz answers
 * 200 while the process runs; GET /readyz answers 200 once the daemon
 * says it is ready (httpd_set_ready), else 503.  Anything else is 404.
 * One listener may serve all three when the two addresses are equal.
 * Requests are served on libmicrohttpd's own thread.
 */
#ifndef DD_HTTPD_H
#define DD_HTTPD_H

#include <stddef.h>

struct httpd;

/*
 * Listen on addr, "HOST:PORT", ":PORT" (all IPv4 and IPv6 addresses) or
 * "[V6]:PORT".  "0" or "" disables the listener (returns NULL, err "").
 * On error returns NULL with a message in err.
 */
struct httpd *httpd_start(const char *addr, char *err, size_t errlen);

/* Stop serving and free.  NULL is fine. */
void httpd_stop(struct httpd *h);

/* Readiness for every listener; any thread. */
void httpd_set_ready(int ready);

/*
 * Split "HOST:PORT" forms into host (may be "") and port.  Returns 0 or
 * -EINVAL.  Shared with the sources that take addresses.
 */
int httpd_split_addr(const char *addr, char *host, size_t hostlen,
                     unsigned *port);

#endif

/*
 * test_dispatch.c - the dispatcher's queue and its forward listener,
 * with no leader known (the API server is unreachable): objects stay
 * queued, the listener takes whole batches or none, the queue is
 * bounded with its drops counted, stopping counts what is left, and a
 * listener that checks tokens refuses senders without one.  Delivery to
 * a real API server, between pods and the TokenReview verdicts are in
 * tests/system/test_cluster.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/metrics.h"
#include "k8s/dispatch.h"
#include "k8s/kclient.h"
#include "k8s/lease.h"

struct fixture {
    struct kclient *kc;
    struct lease *lease;
    struct dispatch *d;
    char addr[64];
};

/* A loopback port free right now. */
static unsigned
free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* The fixture, its listener checking senders' tokens or not. */
static int
setup_with(void **state, int insecure)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kubeconfig kc = {0};
    struct lease_options lo = {
        .namespace_ = "ugallu-system", .identity = "t-1@127.0.0.1:9",
        .duration_ms = 300, .renew_ms = 200, .retry_ms = 50,
    };
    struct dispatch_options o = {.capacity = 8,
                                 .forward_insecure = insecure};
    char err[128];

    assert_non_null(f);
    kc.server = strdup("https://127.0.0.1:1");
    kc.insecure = true;
    assert_int_equal(kclient_new(&kc, &f->kc), 0);
    kubeconfig_free(&kc);
    lo.kc = f->kc;
    assert_int_equal(lease_start(&lo, &f->lease), 0);
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", free_port());
    o.kc = f->kc;
    o.lease = f->lease;
    o.forward_addr = f->addr;
    assert_int_equal(dispatch_start(&o, &f->d, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_with(state, 1);
}

static int
setup_checked(void **state)
{
    return setup_with(state, 0);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    dispatch_stop(f->d, 0);
    lease_free(f->lease);
    kclient_free(f->kc);
    free(f);
    return 0;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* POST (or GET when body is NULL) to the listener with header (or
 * none); the HTTP status. */
static long
request_with(const struct fixture *f, const char *path, const char *body,
             const char *header)
{
    char url[128];
    long status = 0;
    CURL *c = curl_easy_init();
    struct curl_slist *h = header != NULL ? curl_slist_append(NULL, header)
                                          : NULL;

    assert_non_null(c);
    snprintf(url, sizeof(url), "http://%s%s", f->addr, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

static long
request(const struct fixture *f, const char *path, const char *body)
{
    return request_with(f, path, body, NULL);
}

/* A listener that checks tokens: none (or not a bearer) is 401; one it
 * cannot review (no API server here) is 503, so the sender keeps the
 * batch; each counted by reason, nothing queued. */
static void
test_listener_checks_tokens(void **state)
{
    struct fixture *f = *state;
    uint64_t unauth = metrics_value("ugallu_dns_forward_refused_total",
                                    "reason=\"unauthenticated\"");
    uint64_t unavail = metrics_value("ugallu_dns_forward_refused_total",
                                     "reason=\"unavailable\"");
    const char *batch = "[{\"metadata\":{\"name\":\"se-1\"}}]";

    assert_int_equal(request(f, "/v1/findings", batch), 401);
    assert_int_equal(request_with(f, "/v1/findings", batch,
                                  "Authorization: Basic eDp5"), 401);
    assert_int_equal(request_with(f, "/v1/findings", batch,
                                  "Authorization: Bearer abc"), 503);
    assert_int_equal(dispatch_depth(f->d), 0);
    assert_int_equal(metrics_value("ugallu_dns_forward_refused_total",
                                   "reason=\"unauthenticated\"") - unauth,
                     2);
    assert_int_equal(metrics_value("ugallu_dns_forward_refused_total",
                                   "reason=\"unavailable\"") - unavail,
                     1);
}

static void
test_listener_batches(void **state)
{
    struct fixture *f = *state;
    uint64_t got = metrics_value("ugallu_dns_findings_received_total", "");
    uint64_t bad = metrics_value("ugallu_dns_malformed_total",
                                 "kind=\"forward_batch\"");

    assert_int_equal(request(f, "/v1/findings",
                             "[{\"metadata\":{\"name\":\"se-1\"}},"
                             "{\"metadata\":{\"name\":\"se-2\"}}]"), 200);
    assert_int_equal(dispatch_depth(f->d), 2);
    assert_int_equal(metrics_value("ugallu_dns_findings_received_total",
                                   "") - got, 2);

    /* Not an array: refused and counted, nothing queued. */
    assert_int_equal(request(f, "/v1/findings", "{\"a\":1}"), 400);
    assert_int_equal(request(f, "/v1/findings", "[1,"), 400);
    assert_int_equal(metrics_value("ugallu_dns_malformed_total",
                                   "kind=\"forward_batch\"") - bad, 2);

    /* Seven more do not fit in the six free slots: all refused. */
    assert_int_equal(request(f, "/v1/findings",
                             "[{},{},{},{},{},{},{}]"), 503);
    assert_int_equal(dispatch_depth(f->d), 2);

    /* Other paths and methods. */
    assert_int_equal(request(f, "/v1/other", "[]"), 404);
    assert_int_equal(request(f, "/v1/findings", NULL), 404);
}

static void
test_queue_bounded(void **state)
{
    struct fixture *f = *state;
    uint64_t full = metrics_value("ugallu_dns_events_dropped_total",
                                  "reason=\"dispatch_full\"");
    json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "se-x");

    assert_non_null(obj);
    for (int i = 0; i < 8; i++) {
        dispatch_sink(f->d, obj, NULL);
    }
    assert_int_equal(dispatch_depth(f->d), 8);
    assert_int_equal(dispatch_enqueue(f->d, obj), -ENOSPC);
    dispatch_sink(f->d, obj, NULL);
    assert_int_equal(metrics_value("ugallu_dns_events_dropped_total",
                                   "reason=\"dispatch_full\"") - full, 2);
    /* No leader: nothing leaves the queue. */
    usleep(300 * 1000);
    assert_int_equal(dispatch_depth(f->d), 8);
    assert_int_equal(metrics_value("ugallu_dns_dispatch_queue_depth", ""),
                     8);
    json_decref(obj);
}

static void
test_stop_counts_left(void **state)
{
    struct fixture *f = *state;
    uint64_t before = metrics_value("ugallu_dns_events_dropped_total",
                                    "reason=\"dispatch_shutdown\"");
    json_t *obj = json_object();

    assert_int_equal(dispatch_enqueue(f->d, obj), 0);
    assert_int_equal(dispatch_enqueue(f->d, obj), 0);
    json_decref(obj);
    dispatch_stop(f->d, 50);
    f->d = NULL;
    assert_int_equal(metrics_value("ugallu_dns_events_dropped_total",
                                   "reason=\"dispatch_shutdown\"") - before,
                     2);
}

static void
test_bad_address(void **state)
{
    struct fixture *f = *state;
    struct dispatch_options o = {
        .kc = f->kc, .lease = f->lease, .forward_addr = "nohost:1",
    };
    struct dispatch *d = NULL;
    char err[128] = "";

    assert_int_equal(dispatch_start(&o, &d, err, sizeof(err)), -EINVAL);
    assert_null(d);
    assert_non_null(strstr(err, "nohost:1"));
    /* The address in use by the fixture's listener. */
    o.forward_addr = f->addr;
    assert_int_equal(dispatch_start(&o, &d, err, sizeof(err)),
                     -EADDRINUSE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listener_batches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_listener_checks_tokens,
                                        setup_checked, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_counts_left, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_address, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

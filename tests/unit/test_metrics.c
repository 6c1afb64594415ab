/*
 * test_metrics.c - registry and Prometheus text rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "core/ring.h"

static void
test_same_series_twice(void **state)
{
    struct metrics_series *a, *b;

    metrics_reset();
    a = metrics_counter("t_total", "x=\"1\"", "help");
    b = metrics_counter("t_total", "x=\"1\"", "other help");
    assert_ptr_equal(a, b);
    metrics_add(a, 5);
    metrics_inc(b);
    assert_int_equal(metrics_value("t_total", "x=\"1\""), 6);
    assert_int_equal(metrics_value("t_total", "x=\"2\""), 0);
}

static void
test_render_groups_families(void **state)
{
    char *text;
    const char *first, *second;

    metrics_reset();
    metrics_inc(metrics_counter("a_total", "k=\"1\"", "A things."));
    metrics_set(metrics_gauge("b", "", "B level."), -3);
    metrics_inc(metrics_counter("a_total", "k=\"2\"", "A things."));
    metrics_malformed("dns_truncated");
    metrics_malformed("dns_truncated");

    text = metrics_render();
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE a_total counter\n"));
    first = strstr(text, "a_total{k=\"1\"} 1\n");
    second = strstr(text, "a_total{k=\"2\"} 1\n");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(second < strstr(text, "# HELP b "));
    assert_non_null(strstr(text, "\nb -3\n"));
    assert_non_null(strstr(text, "ugallu_dns_malformed_total{kind=\""
                                 "dns_truncated\"} 2\n"));
    assert_int_equal(metrics_family_sum("a_total"), 2);
    free(text);
}

static void
test_histogram_buckets(void **state)
{
    struct metrics_series *h;
    char *text;

    metrics_reset();
    h = metrics_histogram("lat_seconds", "", "Latency.");
    metrics_observe_ns(h, 5000);        /* 5 us: first bucket */
    metrics_observe_ns(h, 2000000000);  /* 2 s */
    text = metrics_render();
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"1e-05\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "lat_seconds_count 2\n"));
    free(text);
}

static void
test_registry_overflow(void **state)
{
    char labels[32];
    struct metrics_series *s = NULL;

    metrics_reset();
    for (int i = 0; i < METRICS_MAX + 5; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        s = metrics_counter("many_total", labels, "Many.");
    }
    assert_non_null(s);
    assert_int_equal(metrics_value("ugallu_dns_metrics_overflow_total", ""),
                     5);
}

static void
test_ring_bounded(void **state)
{
    struct ring *r = ring_create(4);
    struct event ev, out[8];

    event_reset(&ev);
    for (int i = 0; i < 4; i++) {
        ev.id = (uint16_t)i;
        assert_int_equal(ring_push(r, &ev), 0);
    }
    assert_int_not_equal(ring_push(r, &ev), 0);
    assert_int_equal(ring_depth(r), 4);
    assert_int_equal(ring_pop(r, out, 8, 0), 4);
    assert_int_equal(out[3].id, 3);
    assert_int_equal(ring_pop(r, out, 8, 10), 0);
    ring_close(r);
    ring_free(r);
}

struct popper {
    struct ring *r;
    int popped;
};

static void *
pop_later(void *arg)
{
    struct popper *pp = arg;
    struct event out[2];
    struct timespec ts = {0, 50 * 1000000L};

    nanosleep(&ts, NULL);
    pp->popped = (int)ring_pop(pp->r, out, 1, 0);
    return NULL;
}

static void
test_ring_push_waits_for_room(void **state)
{
    struct ring *r = ring_create(1);
    struct popper pp = {r, 0};
    struct event ev;
    pthread_t t;

    event_reset(&ev);
    assert_int_equal(ring_push(r, &ev), 0);
    assert_int_not_equal(ring_push_wait(r, &ev, 20), 0);

    assert_int_equal(pthread_create(&t, NULL, pop_later, &pp), 0);
    assert_int_equal(ring_push_wait(r, &ev, 5000), 0);
    pthread_join(t, NULL);
    assert_int_equal(pp.popped, 1);
    assert_int_equal(ring_depth(r), 1);
    ring_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_series_twice),
        cmocka_unit_test(test_render_groups_families),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_registry_overflow),
        cmocka_unit_test(test_ring_bounded),
        cmocka_unit_test(test_ring_push_waits_for_room),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

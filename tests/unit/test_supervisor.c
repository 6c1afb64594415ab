/*
 * test_supervisor.c - the silence state machine on a fake clock, and a
 * supervisor whose primary never speaks switching to its fallback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "daemon/pipeline.h"
#include "daemon/supervisor.h"

#define SEC 1000000000ull

static void
test_fsm_silence_from_start(void **state)
{
    struct supervisor_fsm m;

    (void)state;
    supervisor_fsm_init(&m, 100 * SEC, 60 * SEC);
    assert_int_equal(supervisor_fsm_step(&m, 100 * SEC, 0),
                     SUPERVISOR_NONE);
    assert_int_equal(supervisor_fsm_step(&m, 159 * SEC, 0),
                     SUPERVISOR_NONE);
    assert_int_equal(supervisor_fsm_step(&m, 160 * SEC, 0),
                     SUPERVISOR_SILENT);
    /* Reported once per episode. */
    assert_int_equal(supervisor_fsm_step(&m, 161 * SEC, 0),
                     SUPERVISOR_NONE);
    assert_int_equal(supervisor_fsm_step(&m, 900 * SEC, 0),
                     SUPERVISOR_NONE);
    assert_true(m.silent);
}

static void
test_fsm_events_keep_it_quiet(void **state)
{
    struct supervisor_fsm m;

    (void)state;
    supervisor_fsm_init(&m, 0, 2 * SEC);
    for (uint64_t t = 1; t < 100; t++) {
        /* An event every second: never 2 s of silence. */
        assert_int_equal(supervisor_fsm_step(&m, t * SEC, t * SEC),
                         SUPERVISOR_NONE);
    }
    assert_int_equal(supervisor_fsm_step(&m, 101 * SEC, 99 * SEC),
                     SUPERVISOR_SILENT);
}

static void
test_fsm_recovers_and_goes_silent_again(void **state)
{
    struct supervisor_fsm m;

    (void)state;
    supervisor_fsm_init(&m, 0, 2 * SEC);
    assert_int_equal(supervisor_fsm_step(&m, 1 * SEC, 1 * SEC),
                     SUPERVISOR_NONE);
    assert_int_equal(supervisor_fsm_step(&m, 3 * SEC, 1 * SEC),
                     SUPERVISOR_SILENT);
    assert_int_equal(supervisor_fsm_step(&m, 10 * SEC, 1 * SEC),
                     SUPERVISOR_NONE);
    /* The last-event time moves: back to the primary, once. */
    assert_int_equal(supervisor_fsm_step(&m, 11 * SEC, 10 * SEC + 5),
                     SUPERVISOR_RECOVERED);
    assert_false(m.silent);
    assert_int_equal(supervisor_fsm_step(&m, 12 * SEC, 10 * SEC + 5),
                     SUPERVISOR_NONE);
    /* A new window counts from the recovery, not from the old event. */
    assert_int_equal(supervisor_fsm_step(&m, 12 * SEC + SEC / 2,
                                         10 * SEC + 5),
                     SUPERVISOR_NONE);
    assert_int_equal(supervisor_fsm_step(&m, 13 * SEC, 10 * SEC + 5),
                     SUPERVISOR_SILENT);
}

static void
test_fsm_clock_before_mark(void **state)
{
    struct supervisor_fsm m;

    (void)state;
    /* An event stamped after now (another thread's clock read) is no
     * silence. */
    supervisor_fsm_init(&m, 5 * SEC, SEC);
    assert_int_equal(supervisor_fsm_step(&m, 5 * SEC, 6 * SEC),
                     SUPERVISOR_NONE);
}

static void
test_spec_name(void **state)
{
    const char *ep[] = {"127.0.0.1:1"};
    struct supervisor_spec s = {0};

    (void)state;
    assert_string_equal(supervisor_spec_name(&s), "");
    s.interface = "lo";
    assert_string_equal(supervisor_spec_name(&s), "pcap");
    s.dnstap_tcp = "127.0.0.1:0";
    assert_string_equal(supervisor_spec_name(&s), "dnstap");
    s.coredns = ep;
    s.ncoredns = 1;
    assert_string_equal(supervisor_spec_name(&s), "coredns-ugallu");
}

static struct pipeline *
quiet_pipeline(FILE *out)
{
    static struct config c;
    struct pipeline_options po = {
        .config = &c,
        .identity = {"", "", "node-t", "test"},
        .findings = out,
        .queue_capacity = 16,
        .txn_capacity = 16,
        .txn_hold_ns = SEC,
        .dedup_window_ns = 60 * SEC,
        .live = 1,
    };
    char err[256];
    struct pipeline *p;

    config_defaults(&c);
    c.dga.enabled = c.tunneling.enabled = c.exfiltration.enabled = 0;
    c.doh.enabled = c.dot.enabled = c.anomalous_port.enabled = 0;
    c.slow_query.enabled = c.blocklist.enabled = 0;
    p = pipeline_create(&po, err, sizeof(err));
    if (p == NULL) {
        fail_msg("pipeline_create: %s", err);
    }
    return p;
}

static int
wait_active(struct supervisor *s, const char *want)
{
    struct timespec ts = {0, 20 * 1000 * 1000};

    for (int i = 0; i < 200; i++) {
        if (strcmp(supervisor_active_source(s), want) == 0) {
            return 1;
        }
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* A CoreDNS nobody answers at: silent, so the dnstap fallback opens. */
static void
test_silent_primary_switches(void **state)
{
    const char *ep[] = {"127.0.0.1:1"};
    char path[64], text[4096];
    FILE *out = tmpfile();
    struct pipeline *p = quiet_pipeline(out);
    struct supervisor_options o = {
        .pipe = p, .node = "node-t", .coredns_tls = 0,
        .primary = {.coredns = ep, .ncoredns = 1},
        .silence_ns = SUPERVISOR_SILENCE_MIN_NS,
    };
    struct supervisor *s = NULL;
    struct stat st;
    size_t n;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/test_supervisor.%d.sock",
             (int)getpid());
    o.fallback.dnstap_socket = path;
    o.coredns_token_file = "/dev/null";
    assert_int_equal(pipeline_start(p), 0);
    assert_int_equal(supervisor_start(&o, &s), 0);
    assert_string_equal(supervisor_active_source(s), "coredns-ugallu");
    assert_true(wait_active(s, "dnstap"));
    assert_int_equal(stat(path, &st), 0);

    supervisor_free(s);
    assert_int_not_equal(stat(path, &st), 0);
    pipeline_stop(p);
    pipeline_flush(p);
    rewind(out);
    n = fread(text, 1, sizeof(text) - 1, out);
    text[n] = '\0';
    assert_non_null(strstr(text, "\"type\":\"DNSSourceSilent\""));
    assert_non_null(strstr(text, "\"class\":\"Anomaly\""));
    assert_non_null(strstr(text, "\"name\":\"node-t\""));
    /* One episode, one finding. */
    assert_null(strstr(strstr(text, "DNSSourceSilent") + 1,
                        "DNSSourceSilent"));
    pipeline_free(p);
    fclose(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fsm_silence_from_start),
        cmocka_unit_test(test_fsm_events_keep_it_quiet),
        cmocka_unit_test(test_fsm_recovers_and_goes_silent_again),
        cmocka_unit_test(test_fsm_clock_before_mark),
        cmocka_unit_test(test_spec_name),
        cmocka_unit_test(test_silent_primary_switches),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

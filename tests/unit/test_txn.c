/*
 * test_txn.c - query/response matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "event/txn.h"

#define SEC 1000000000ull

struct sink {
    struct event got[64];
    size_t n;
};

static void
sink_emit(void *ctx, const struct event *ev)
{
    struct sink *s = ctx;

    assert_true(s->n < 64);
    s->got[s->n++] = *ev;
}

static struct event
msg(uint16_t id, const char *qname, int response, uint64_t t)
{
    struct event ev;
    const uint8_t ip[4] = {10, 0, 0, 7};

    event_reset(&ev);
    ev.kind = EVENT_KIND_DNS;
    ev.role = EVENT_ROLE_CLIENT;
    event_addr_set(&ev.client, ip, 4);
    ev.client_port = 40000;
    ev.server_port = 53;
    ev.id = id;
    ev.qtype = 1;
    ev.qclass = 1;
    snprintf(ev.qname, sizeof(ev.qname), "%s", qname);
    ev.qname_len = (uint8_t)strlen(qname);
    ev.flags = EVENT_F_QUESTION | (response ? EVENT_F_RESPONSE
                                            : EVENT_F_QUERY);
    ev.time_ns = t;
    if (response) {
        ev.response_ns = t;
        ev.rcode = 3;
        ev.ancount = 1;
        ev.response_size = 100;
    } else {
        ev.query_size = 40;
    }
    return ev;
}

static void
test_pair_in_order(void **state)
{
    struct sink s = {.n = 0};
    struct txn *t = txn_create(64, 5 * SEC, sink_emit, &s);
    struct event q = msg(7, "example.com", 0, 100 * SEC);
    struct event r = msg(7, "example.com", 1, 100 * SEC + 2500000);

    txn_add(t, &q);
    assert_int_equal(s.n, 0);
    assert_int_equal(txn_pending(t), 1);
    txn_add(t, &r);
    assert_int_equal(s.n, 1);
    assert_int_equal(txn_pending(t), 0);

    assert_true(s.got[0].flags & EVENT_F_QUERY);
    assert_true(s.got[0].flags & EVENT_F_RESPONSE);
    assert_true(s.got[0].flags & EVENT_F_LATENCY);
    assert_int_equal(s.got[0].latency_ns, 2500000);
    assert_int_equal(s.got[0].rcode, 3);
    assert_int_equal(s.got[0].query_size, 40);
    assert_int_equal(s.got[0].response_size, 100);
    txn_free(t);
}

static void
test_pair_out_of_order(void **state)
{
    struct sink s = {.n = 0};
    struct txn *t = txn_create(64, 5 * SEC, sink_emit, &s);
    struct event q = msg(9, "a.test", 0, 50 * SEC);
    struct event r = msg(9, "a.test", 1, 50 * SEC + 1000);

    txn_add(t, &r);
    assert_int_equal(s.n, 0);
    txn_add(t, &q);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.got[0].latency_ns, 1000);
    assert_int_equal(s.got[0].time_ns, 50 * SEC);
    txn_free(t);
}

static void
test_unanswered_expires(void **state)
{
    struct sink s = {.n = 0};
    struct txn *t = txn_create(64, 5 * SEC, sink_emit, &s);
    struct event q = msg(1, "lost.test", 0, 10 * SEC);
    struct event other = msg(2, "b.test", 0, 16 * SEC);

    txn_add(t, &q);
    txn_add(t, &other);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.got[0].qname, "lost.test");
    assert_true(s.got[0].flags & EVENT_F_UNANSWERED);
    assert_false(s.got[0].flags & EVENT_F_RESPONSE);

    txn_flush(t);
    assert_int_equal(s.n, 2);
    assert_int_equal(txn_pending(t), 0);
    txn_free(t);
}

static void
test_different_id_not_paired(void **state)
{
    struct sink s = {.n = 0};
    struct txn *t = txn_create(64, 5 * SEC, sink_emit, &s);
    struct event q = msg(1, "x.test", 0, SEC);
    struct event r = msg(2, "x.test", 1, SEC + 5);

    txn_add(t, &q);
    txn_add(t, &r);
    assert_int_equal(s.n, 0);
    assert_int_equal(txn_pending(t), 2);
    txn_flush(t);
    assert_int_equal(s.n, 2);
    assert_true(s.got[0].flags & EVENT_F_UNANSWERED);
    assert_false(s.got[1].flags & EVENT_F_UNANSWERED);
    txn_free(t);
}

static void
test_full_table_releases_oldest(void **state)
{
    struct sink s = {.n = 0};
    struct txn *t = txn_create(16, 100 * SEC, sink_emit, &s);
    char name[32];

    for (uint16_t i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "n%u.test", i);
        struct event q = msg(i, name, 0, SEC + i);
        txn_add(t, &q);
    }
    assert_int_equal(txn_pending(t), 16);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.got[0].qname, "n0.test");
    assert_string_equal(s.got[3].qname, "n3.test");

    struct event r = msg(10, "n10.test", 1, SEC + 30);
    txn_add(t, &r);
    assert_int_equal(s.n, 5);
    assert_true(s.got[4].flags & EVENT_F_LATENCY);
    txn_free(t);
}

static void
test_complete_passes_through(void **state)
{
    struct sink s = {.n = 0};
    struct txn *t = txn_create(16, SEC, sink_emit, &s);
    struct event ev = msg(3, "c.test", 1, SEC);
    struct event flow;

    ev.flags |= EVENT_F_QUERY;
    txn_add(t, &ev);
    event_reset(&flow);
    flow.kind = EVENT_KIND_FLOW;
    flow.time_ns = SEC;
    txn_add(t, &flow);
    assert_int_equal(s.n, 2);
    assert_int_equal(txn_pending(t), 0);
    txn_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_in_order),
        cmocka_unit_test(test_pair_out_of_order),
        cmocka_unit_test(test_unanswered_expires),
        cmocka_unit_test(test_different_id_not_paired),
        cmocka_unit_test(test_full_table_releases_oldest),
        cmocka_unit_test(test_complete_passes_through),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

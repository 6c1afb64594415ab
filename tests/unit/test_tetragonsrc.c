/*
 * test_tetragonsrc.c - the tetragon source: GetEventsResponse decoding
 * from hand-built protobuf bytes laid out as Tetragon's proto files say,
 * every truncation, wrong wire types, bad values, and the stream thread
 * against a socket nobody listens on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "event/event.h"
#include "sources/grpcstream.h"
#include "sources/tetragonsrc.h"
#include "pbw.h"

/* ---- more of the protobuf writer (pbw.h) ---------------------------- */

static void
pbw_msg(struct pbw *w, unsigned field, const struct pbw *m)
{
    pbw_bytes(w, field, m->buf, m->len);
}

/* ---- Tetragon's shapes ---------------------------------------------- */

/* A query for example.com A, id 0x1234, RD. */
static const uint8_t query[] = {
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
    0, 1, 0, 1,
};

/* What one event is made of; NULL or 0 leaves a field out. */
struct shape {
    const char *function;
    const char *protocol;
    const char *saddr, *daddr;
    uint64_t sport, dport;
    const void *payload;
    size_t payload_len;
    uint64_t size;
    int skb;               /* KprobeSkb instead of KprobeSock */
    int no_time;
};

static void
build_sock(const struct shape *sh, struct pbw *arg)
{
    struct pbw sock = { .len = 0 };

    pbw_str(&sock, sh->skb ? 13 : 1, "AF_INET");
    if (!sh->skb) {
        pbw_str(&sock, 2, sh->dport == 53 ? "SOCK_DGRAM" : "SOCK_STREAM");
    }
    if (sh->protocol != NULL) {
        pbw_str(&sock, sh->skb ? 12 : 3, sh->protocol);
    }
    pbw_str(&sock, sh->skb ? 5 : 6, sh->saddr);
    pbw_str(&sock, sh->skb ? 6 : 7, sh->daddr);
    pbw_uint(&sock, sh->skb ? 7 : 8, sh->sport);
    pbw_uint(&sock, sh->skb ? 8 : 9, sh->dport);
    pbw_uint(arg, 18, 0);        /* an empty label comes first */
    arg->len = 0;
    pbw_msg(arg, sh->skb ? 3 : 9, &sock);
}

static void
build_process(struct pbw *proc)
{
    struct pbw pid = { .len = 0 };
    struct pbw pod = { .len = 0 };

    pbw_uint(&pid, 1, 4242);
    pbw_str(&pod, 1, "shop");
    pbw_str(&pod, 2, "web-7d9f");
    pbw_str(proc, 1, "OjEyMzQ1Njc4OTA=");
    pbw_msg(proc, 2, &pid);
    pbw_str(proc, 5, "/usr/bin/dig");
    pbw_msg(proc, 10, &pod);
    pbw_str(proc, 11, "3f2a9c1b7e6d");
}

static void
build_kprobe(const struct shape *sh, struct pbw *kp)
{
    struct pbw proc = { .len = 0 };
    struct pbw arg = { .len = 0 };

    build_process(&proc);
    pbw_msg(kp, 1, &proc);
    pbw_str(kp, 3, sh->function);
    build_sock(sh, &arg);
    pbw_msg(kp, 4, &arg);
    if (sh->payload != NULL) {
        arg.len = 0;
        pbw_bytes(&arg, 5, sh->payload, sh->payload_len);
        pbw_msg(kp, 4, &arg);
    }
    if (sh->size != 0) {
        arg.len = 0;
        pbw_uint(&arg, 4, sh->size);
        pbw_msg(kp, 4, &arg);
    }
    pbw_str(kp, 8, "ugallu-dns");
}

/* A GetEventsResponse: node name and time first, the kprobe last. */
static void
build(const struct shape *sh, struct pbw *w)
{
    struct pbw ts = { .len = 0 };
    struct pbw kp = { .len = 0 };

    memset(w, 0, sizeof(*w));
    pbw_uint(&ts, 1, 1700000000);
    pbw_uint(&ts, 2, 123);
    pbw_str(w, 1000, "node-a");
    if (!sh->no_time) {
        pbw_msg(w, 1001, &ts);
    }
    build_kprobe(sh, &kp);
    pbw_msg(w, 9, &kp);
}

static const struct shape udp_query = {
    .function = "udp_sendmsg", .protocol = "IPPROTO_UDP",
    .saddr = "10.244.1.5", .daddr = "10.96.0.10",
    .sport = 40000, .dport = 53,
    .payload = query, .payload_len = sizeof(query), .size = sizeof(query),
};

/* ---- tests ---------------------------------------------------------- */

static void
test_udp_query(void **state)
{
    struct pbw w;
    struct event ev;
    struct tetragonsrc_proc proc;
    char buf[64];

    (void)state;
    build(&udp_query, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, &proc), 1);

    assert_int_equal(ev.kind, EVENT_KIND_DNS);
    assert_int_equal(ev.source, EVENT_SOURCE_TETRAGON);
    assert_int_equal(ev.role, EVENT_ROLE_CLIENT);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_UDP);
    assert_string_equal(event_addr_format(&ev.client, buf, sizeof(buf)),
                        "10.244.1.5");
    assert_string_equal(event_addr_format(&ev.server, buf, sizeof(buf)),
                        "10.96.0.10");
    assert_int_equal(ev.client_port, 40000);
    assert_int_equal(ev.server_port, 53);
    assert_string_equal(ev.qname, "example.com");
    assert_int_equal(ev.qtype, 1);
    assert_int_equal(ev.id, 0x1234);
    assert_int_equal(ev.flags, EVENT_F_QUERY | EVENT_F_QUESTION);
    assert_int_equal(ev.query_size, sizeof(query));
    assert_true(ev.time_ns == 1700000000ull * 1000000000ull + 123);
    assert_string_equal(ev.pod_namespace, "shop");
    assert_string_equal(ev.pod_name, "web-7d9f");
    assert_int_equal(proc.pid, 4242);
    assert_string_equal(proc.binary, "/usr/bin/dig");
    assert_string_equal(proc.pod_name, "web-7d9f");
    assert_string_equal(proc.container, "3f2a9c1b7e6d");
    assert_string_equal(proc.function, "udp_sendmsg");
}

static void
test_dot_flow(void **state)
{
    static const uint8_t tls[] = { 0x17, 0x03, 0x03, 0x00, 0x20, 0xde };
    struct shape sh = udp_query;
    struct pbw w;
    struct event ev;

    (void)state;
    sh.function = "tcp_sendmsg";
    sh.protocol = "IPPROTO_TCP";
    sh.dport = 853;
    sh.payload = tls;
    sh.payload_len = sizeof(tls);
    sh.size = 517;
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL), 1);
    assert_int_equal(ev.kind, EVENT_KIND_FLOW);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_DOT);
    assert_int_equal(ev.server_port, 853);
    assert_int_equal(ev.query_size, 517);
    assert_int_equal(ev.flags, 0);
    assert_string_equal(ev.qname, "");
    assert_string_equal(ev.pod_namespace, "shop");
}

static void
test_tcp53_length_prefix(void **state)
{
    uint8_t framed[2 + sizeof(query)] = { 0, sizeof(query) };
    struct shape sh = udp_query;
    struct pbw w;
    struct event ev;

    (void)state;
    memcpy(framed + 2, query, sizeof(query));
    sh.function = "tcp_sendmsg";
    sh.protocol = NULL;          /* transport from the function's name */
    sh.payload = framed;
    sh.payload_len = sizeof(framed);
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL), 1);
    assert_int_equal(ev.kind, EVENT_KIND_DNS);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_TCP);
    assert_string_equal(ev.qname, "example.com");

    sh.payload_len = 2;          /* the length sent on its own */
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL), 1);
    assert_int_equal(ev.kind, EVENT_KIND_FLOW);
}

static void
test_flow_without_payload_ipv6_skb(void **state)
{
    struct shape sh = udp_query;
    struct pbw w;
    struct event ev;
    char buf[64];

    (void)state;
    sh.payload = NULL;
    sh.size = 0;
    sh.skb = 1;
    sh.saddr = "fd00::5";
    sh.daddr = "fd00::a";
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL), 1);
    assert_int_equal(ev.kind, EVENT_KIND_FLOW);
    assert_int_equal(ev.transport, EVENT_TRANSPORT_UDP);
    assert_int_equal(ev.client.family, 6);
    assert_string_equal(event_addr_format(&ev.server, buf, sizeof(buf)),
                        "fd00::a");
    assert_int_equal(ev.query_size, 0);
}

static void
test_not_dns_payload(void **state)
{
    static const uint8_t junk[] = { 1, 2, 3 };
    struct shape sh = udp_query;
    struct pbw w;
    struct event ev;

    (void)state;
    sh.payload = junk;
    sh.payload_len = sizeof(junk);
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL),
                     -TETRAGONSRC_E_DNS);
    assert_int_equal(ev.kind, EVENT_KIND_FLOW);
    assert_int_equal(ev.server_port, 53);
    assert_int_equal(ev.flags, 0);
}

static void
test_skipped(void **state)
{
    struct pbw w = { .len = 0 };
    struct pbw exec = { .len = 0 };
    struct pbw kp = { .len = 0 };
    struct event ev;

    (void)state;
    assert_int_equal(tetragonsrc_decode(w.buf, 0, &ev, NULL), 0);

    pbw_str(&exec, 3, "x");
    pbw_msg(&w, 1, &exec);                       /* process_exec */
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL), 0);

    w.len = 0;
    pbw_str(&kp, 3, "udp_sendmsg");              /* no sock argument */
    pbw_msg(&w, 9, &kp);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL), 0);
}

/* Every cut: an error, unless it falls between two top-level fields,
   where the kprobe is simply not there yet. */
static void
test_truncations(void **state)
{
    struct pbw w;
    struct event ev;

    (void)state;
    build(&udp_query, &w);
    for (size_t cut = 0; cut < w.len; cut++) {
        int boundary = cut == 0;
        int rc = tetragonsrc_decode(w.buf, cut, &ev, NULL);

        for (size_t i = 0; i < w.nbounds; i++) {
            boundary |= w.bounds[i] == cut;
        }
        assert_int_equal(rc, boundary ? 0 : -TETRAGONSRC_E_PROTOBUF);
    }
}

/* A field of a known number with the wrong wire type is an error. */
static void
test_wrong_wire_types(void **state)
{
    static const struct {
        const char *what;
        uint8_t bytes[8];
        size_t len;
    } cases[] = {
        { "kprobe varint", { 0x48, 0x01 }, 2 },
        { "time varint", { 0xc8, 0x3e, 0x01 }, 3 },
        { "function varint", { 0x4a, 0x02, 0x18, 0x01 }, 4 },
        { "process varint", { 0x4a, 0x02, 0x08, 0x01 }, 4 },
        { "args varint", { 0x4a, 0x02, 0x20, 0x01 }, 4 },
        { "sock varint", { 0x4a, 0x04, 0x22, 0x02, 0x48, 0x01 }, 6 },
        { "sport bytes", { 0x4a, 0x06, 0x22, 0x04, 0x4a, 0x02, 0x42, 0 },
          8 },
        { "size bytes", { 0x4a, 0x04, 0x22, 0x02, 0x22, 0x00 }, 6 },
        { "bytes varint", { 0x4a, 0x04, 0x22, 0x02, 0x28, 0x01 }, 6 },
        { "group", { 0x4b }, 1 },
    };
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = tetragonsrc_decode(cases[i].bytes, cases[i].len, &ev, NULL);

        if (rc != -TETRAGONSRC_E_PROTOBUF) {
            fail_msg("%s: got %d", cases[i].what, rc);
        }
    }
}

/* Wrong wire types inside the process, reached only with a sock. */
static void
test_wrong_wire_types_process(void **state)
{
    static const uint8_t bad_pid[] = { 0x10, 0x01 };    /* pid varint */
    static const uint8_t bad_pod[] = { 0x50, 0x01 };    /* pod varint */
    static const uint8_t bad_ns[] = { 0x52, 0x02, 0x08, 0x01 };
    const uint8_t *procs[] = { bad_pid, bad_pod, bad_ns };
    size_t lens[] = { sizeof(bad_pid), sizeof(bad_pod), sizeof(bad_ns) };
    struct pbw w;
    struct event ev;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        struct pbw kp = { .len = 0 };
        struct pbw arg = { .len = 0 };
        struct pbw ts = { .len = 0 };

        memset(&w, 0, sizeof(w));
        pbw_bytes(&kp, 1, procs[i], lens[i]);
        build_sock(&udp_query, &arg);
        pbw_msg(&kp, 4, &arg);
        pbw_uint(&ts, 1, 1700000000);
        pbw_msg(&w, 1001, &ts);
        pbw_msg(&w, 9, &kp);
        assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL),
                         -TETRAGONSRC_E_PROTOBUF);
    }
}

static void
test_bad_fields(void **state)
{
    struct shape sh = udp_query;
    struct pbw w;
    struct event ev;

    (void)state;
    sh.sport = 70000;
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL),
                     -TETRAGONSRC_E_BAD_FIELD);

    sh = udp_query;
    sh.daddr = "not-an-address";
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL),
                     -TETRAGONSRC_E_BAD_FIELD);

    sh = udp_query;
    sh.no_time = 1;
    build(&sh, &w);
    assert_int_equal(tetragonsrc_decode(w.buf, w.len, &ev, NULL),
                     -TETRAGONSRC_E_BAD_FIELD);
}

static void
test_names_and_capabilities(void **state)
{
    unsigned caps = tetragonsrc_capabilities();

    (void)state;
    assert_string_equal(tetragonsrc_error_name(-TETRAGONSRC_E_PROTOBUF),
                        "tetragon_protobuf");
    assert_string_equal(tetragonsrc_error_name(TETRAGONSRC_E_BAD_FIELD),
                        "tetragon_bad_field");
    assert_string_equal(tetragonsrc_error_name(-TETRAGONSRC_E_DNS),
                        "tetragon_dns");
    assert_string_equal(tetragonsrc_error_name(-99), "unknown");
    assert_true(caps & TETRAGONSRC_CAP_QUERY);
    assert_true(caps & TETRAGONSRC_CAP_FLOW);
    assert_true(caps & TETRAGONSRC_CAP_POD);
    assert_false(caps & (TETRAGONSRC_CAP_RESPONSE | TETRAGONSRC_CAP_RCODE |
                         TETRAGONSRC_CAP_LATENCY | TETRAGONSRC_CAP_ANSWERS));
}

static void
no_emit(void *ctx, const struct event *ev)
{
    (void)ctx;
    (void)ev;
    fail_msg("no event expected");
}

/* Nobody listens: the thread dials again after its backoff, and stop
   returns promptly. */
static void
test_stream_reconnects(void **state)
{
    struct tetragonsrc_opts o = {
        .target = "unix:/nonexistent-ugallu/tetragon.sock",
    };
    struct tetragonsrc_stats st;
    struct timespec nap = { 0, 50000000 };
    char err[128];
    struct tetragonsrc *s;

    (void)state;
    grpcstream_global_init();
    s = tetragonsrc_open(&o, no_emit, NULL, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(tetragonsrc_start(s), 0);
    assert_int_equal(tetragonsrc_start(s), -EALREADY);
    for (int i = 0; i < 100; i++) {
        tetragonsrc_stats(s, &st);
        if (st.reconnects >= 2) {
            break;
        }
        nanosleep(&nap, NULL);
    }
    assert_true(st.reconnects >= 2);
    assert_int_equal(st.up, 0);
    assert_int_equal(st.connects, 0);
    tetragonsrc_stop(s);
    tetragonsrc_free(s);
    grpcstream_global_shutdown();
}

static void
test_open_refuses(void **state)
{
    char longer[TETRAGONSRC_TARGET_MAX + 8];
    struct tetragonsrc_opts o = { .target = "" };
    char err[128];

    (void)state;
    assert_null(tetragonsrc_open(&o, no_emit, NULL, err, sizeof(err)));
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    o.target = longer;
    assert_null(tetragonsrc_open(&o, no_emit, NULL, err, sizeof(err)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_query),
        cmocka_unit_test(test_dot_flow),
        cmocka_unit_test(test_tcp53_length_prefix),
        cmocka_unit_test(test_flow_without_payload_ipv6_skb),
        cmocka_unit_test(test_not_dns_payload),
        cmocka_unit_test(test_skipped),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_wrong_wire_types),
        cmocka_unit_test(test_wrong_wire_types_process),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_names_and_capabilities),
        cmocka_unit_test(test_stream_reconnects),
        cmocka_unit_test(test_open_refuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

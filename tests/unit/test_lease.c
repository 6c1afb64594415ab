/*
 * test_lease.c - the offline parts of leader election and cluster mode:
 * who may take a Lease, the identity format that carries the forward
 * address, the duration flags, and a candidate that cannot reach its
 * API server (never leader, stops cleanly).  Elections against a real
 * API server are in tests/system/test_cluster.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/metrics.h"
#include "daemon/cluster.h"
#include "k8s/kclient.h"
#include "k8s/lease.h"

static void
test_may_take(void **state)
{
    (void)state;
    /* Ours: always (renewal). */
    assert_int_equal(lease_may_take("me@a", "me@a", 0, 3000), 1);
    /* Released (empty holder): at once. */
    assert_int_equal(lease_may_take("", "me@a", 0, 3000), 1);
    /* Someone else's: only after a whole unchanged duration. */
    assert_int_equal(lease_may_take("you@b", "me@a", 0, 3000), 0);
    assert_int_equal(lease_may_take("you@b", "me@a", 2999, 3000), 0);
    assert_int_equal(lease_may_take("you@b", "me@a", 3000, 3000), 1);
    assert_int_equal(lease_may_take("you@b", "me@a", 90000, 3000), 1);
}

static void
test_identity(void **state)
{
    char buf[LEASE_IDENTITY_MAX], tiny[12];

    (void)state;
    assert_int_equal(lease_identity(buf, sizeof(buf), "node-a",
                                    "10.0.0.7:9091", 0xbeef), 0);
    assert_string_equal(buf, "node-a-0000beef@10.0.0.7:9091");
    assert_string_equal(lease_identity_addr(buf), "10.0.0.7:9091");
    assert_int_equal(lease_identity(tiny, sizeof(tiny), "node-a",
                                    "10.0.0.7:9091", 1), -ENAMETOOLONG);
    /* No forward address: nothing to forward to. */
    assert_int_equal(lease_identity(buf, sizeof(buf), "n", "", 2), 0);
    assert_string_equal(lease_identity_addr(buf), "");
    assert_string_equal(lease_identity_addr("plain-holder"), "");
    /* The last '@' counts (a node name may hold one). */
    assert_string_equal(lease_identity_addr("a@b-1@h:1"), "h:1");
}

static void
test_duration(void **state)
{
    unsigned ms = 0;

    (void)state;
    assert_int_equal(cluster_duration_ms("15s", &ms), 0);
    assert_int_equal(ms, 15000);
    assert_int_equal(cluster_duration_ms("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(cluster_duration_ms("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(cluster_duration_ms("7", &ms), 0);
    assert_int_equal(ms, 7000);
    assert_int_equal(cluster_duration_ms("0s", &ms), -EINVAL);
    assert_int_equal(cluster_duration_ms("-1s", &ms), -EINVAL);
    assert_int_equal(cluster_duration_ms("3h", &ms), -EINVAL);
    assert_int_equal(cluster_duration_ms("s", &ms), -EINVAL);
    assert_int_equal(cluster_duration_ms("", &ms), -EINVAL);
    assert_int_equal(cluster_duration_ms(NULL, &ms), -EINVAL);
    assert_int_equal(cluster_duration_ms("99999999999999999999s", &ms),
                     -EINVAL);
    assert_int_equal(cluster_duration_ms("1441m", &ms), -EINVAL);
}

/* A client for a server nobody listens on. */
static struct kclient *
unreachable_client(void)
{
    struct kubeconfig kc = {0};
    struct kclient *c = NULL;

    kc.server = strdup("https://127.0.0.1:1");
    kc.insecure = true;
    kc.token = strdup("t");
    assert_non_null(kc.server);
    assert_int_equal(kclient_new(&kc, &c), 0);
    kubeconfig_free(&kc);
    return c;
}

static void
test_unreachable(void **state)
{
    struct lease_options o = {
        .namespace_ = "ugallu-system", .identity = "n-1@127.0.0.1:9",
        .duration_ms = 300, .renew_ms = 200, .retry_ms = 20,
    };
    struct lease *l = NULL;
    char holder[LEASE_IDENTITY_MAX];

    (void)state;
    o.kc = unreachable_client();
    assert_int_equal(lease_start(&o, &l), 0);
    usleep(150 * 1000);
    assert_int_equal(lease_is_leader(l), 0);
    assert_int_equal(metrics_value("ugallu_dns_leader", ""), 0);
    lease_holder(l, holder, sizeof(holder));
    assert_string_equal(holder, "");
    assert_string_equal(lease_self(l), "n-1@127.0.0.1:9");
    lease_stop(l);
    lease_stop(l);
    lease_free(l);
    lease_stop(NULL);
    lease_free(NULL);
    kclient_free(o.kc);
}

static void
test_bad_namespace(void **state)
{
    struct lease_options o = {
        .namespace_ = "Not_A_Namespace", .identity = "x",
    };
    struct lease *l = NULL;

    (void)state;
    o.kc = unreachable_client();
    assert_int_equal(lease_start(&o, &l), -EINVAL);
    assert_null(l);
    kclient_free(o.kc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_may_take),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_bad_namespace),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

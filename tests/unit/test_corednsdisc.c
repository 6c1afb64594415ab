/*
 * test_corednsdisc.c - CoreDNS targets from EndpointSlice objects and
 * the token from a Secret object, as the API serves them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "k8s/corednsdisc.h"

typedef char target_t[COREDNSDISC_TARGET_LEN];

static json_t *
parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    return j;
}

/* Ready and unmarked endpoints count; unready, bad and FQDN do not. */
static void
test_targets_ready_sorted_unique(void **state)
{
    json_t *s = parse(
        "[{\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"dns\","
        "\"port\":53}],\"endpoints\":["
        "{\"addresses\":[\"10.0.0.9\"],\"conditions\":{\"ready\":true}},"
        "{\"addresses\":[\"10.0.0.7\"],\"conditions\":{\"ready\":false}},"
        "{\"addresses\":[\"10.0.0.5\",\"not-an-ip\"]}]},"
        "{\"addressType\":\"IPv4\",\"endpoints\":["
        "{\"addresses\":[\"10.0.0.9\"]}]},"
        "{\"addressType\":\"FQDN\",\"endpoints\":["
        "{\"addresses\":[\"coredns.example\"]}]}]");
    target_t t[COREDNSDISC_TARGETS_MAX];
    size_t cut = 99;
    size_t n = corednsdisc_targets(s, 9253, t, COREDNSDISC_TARGETS_MAX,
                                   &cut);

    (void)state;
    assert_int_equal(n, 2);
    assert_string_equal(t[0], "10.0.0.5:9253");
    assert_string_equal(t[1], "10.0.0.9:9253");
    assert_int_equal(cut, 0);
    json_decref(s);
}

/* A port named ugallu-grpc wins over the default; IPv6 is bracketed. */
static void
test_targets_named_port_and_v6(void **state)
{
    json_t *s = parse(
        "[{\"addressType\":\"IPv6\",\"ports\":[{\"name\":\"ugallu-grpc\","
        "\"port\":9300},{\"name\":\"metrics\",\"port\":9153}],"
        "\"endpoints\":[{\"addresses\":[\"fd00::5\"]}]}]");
    target_t t[4];
    size_t n = corednsdisc_targets(s, 9253, t, 4, NULL);

    (void)state;
    assert_int_equal(n, 1);
    assert_string_equal(t[0], "[fd00::5]:9300");
    json_decref(s);
}

/* More addresses than room: the rest are counted, never written. */
static void
test_targets_cut(void **state)
{
    json_t *s = parse(
        "[{\"addressType\":\"IPv4\",\"endpoints\":["
        "{\"addresses\":[\"10.0.0.1\",\"10.0.0.2\",\"10.0.0.3\"]}]}]");
    target_t t[2];
    size_t cut;
    size_t n = corednsdisc_targets(s, 1, t, 2, &cut);

    (void)state;
    assert_int_equal(n, 2);
    assert_int_equal(cut, 1);
    assert_string_equal(t[1], "10.0.0.2:1");
    json_decref(s);
}

/* Not an array, or slices without endpoints: nothing. */
static void
test_targets_empty(void **state)
{
    json_t *s = parse("[{\"addressType\":\"IPv4\"}, 5, \"x\"]");
    json_t *o = parse("{\"addressType\":\"IPv4\"}");
    target_t t[2];

    (void)state;
    assert_int_equal(corednsdisc_targets(s, 1, t, 2, NULL), 0);
    assert_int_equal(corednsdisc_targets(o, 1, t, 2, NULL), 0);
    json_decref(s);
    json_decref(o);
}

static int
token_of(const char *secret_json, char *out, size_t len)
{
    json_t *s = parse(secret_json);
    int rc = corednsdisc_secret_token(s, out, len);

    json_decref(s);
    return rc;
}

/* base64 " secret-token\n" decodes, whitespace trimmed. */
static void
test_token_decoded_and_trimmed(void **state)
{
    char tok[64];

    (void)state;
    assert_int_equal(token_of("{\"data\":{\"token\":"
                              "\"IHNlY3JldC10b2tlbgo=\"}}", tok,
                              sizeof(tok)), 0);
    assert_string_equal(tok, "secret-token");
    assert_int_equal(token_of("{\"data\":{\"token\":\"YWJj\"}}", tok,
                              sizeof(tok)), 0);
    assert_string_equal(tok, "abc");
}

static void
test_token_refused(void **state)
{
    char tok[8];

    (void)state;
    assert_int_equal(token_of("{\"data\":{}}", tok, sizeof(tok)), -ENOENT);
    assert_int_equal(token_of("{}", tok, sizeof(tok)), -ENOENT);
    assert_int_equal(token_of("{\"data\":{\"token\":\"!!!!\"}}", tok,
                              sizeof(tok)), -EINVAL);
    assert_int_equal(token_of("{\"data\":{\"token\":\"YW=J\"}}", tok,
                              sizeof(tok)), -EINVAL);
    /* "\0" and "   " decode to nothing usable. */
    assert_int_equal(token_of("{\"data\":{\"token\":\"AA==\"}}", tok,
                              sizeof(tok)), -EINVAL);
    assert_int_equal(token_of("{\"data\":{\"token\":\"ICAg\"}}", tok,
                              sizeof(tok)), -EINVAL);
    /* "abcdefghijkl" does not fit in 8 bytes. */
    assert_int_equal(token_of("{\"data\":{\"token\":"
                              "\"YWJjZGVmZ2hpamts\"}}", tok, sizeof(tok)),
                     -EMSGSIZE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targets_ready_sorted_unique),
        cmocka_unit_test(test_targets_named_port_and_v6),
        cmocka_unit_test(test_targets_cut),
        cmocka_unit_test(test_targets_empty),
        cmocka_unit_test(test_token_decoded_and_trimmed),
        cmocka_unit_test(test_token_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

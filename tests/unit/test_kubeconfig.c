/*
 * test_kubeconfig.c - the Kubernetes client's offline parts: kubeconfig
 * parsing (every field, errors naming the field, base64), the in-cluster
 * configuration, API path and URL building, status codes, the backoff,
 * and the watch stream's line splitter and event decoder.  Requests
 * against a real API server are in tests/system/test_k8s_client.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s/kclient.h"
#include "k8s/kubeconfig.h"

/* ---- kubeconfig -------------------------------------------------------- */

/* "-----BEGIN CERT-----\n" and friends, base64, so blobs can be checked. */
#define B64_CA "LS0tLS1CRUdJTiBDQS0tLS0tCg=="       /* -----BEGIN CA-----\n */
#define B64_CERT "Y2VydC1ieXRlcw=="                /* cert-bytes */
#define B64_KEY "a2V5LWJ5dGVz"                     /* key-bytes */

static const char full_config[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "clusters:\n"
    "- name: prod\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: " B64_CA "\n"
    "- name: dev\n"
    "  cluster:\n"
    "    server: http://127.0.0.1:8080\n"
    "    certificate-authority: ca/dev.crt\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate-data: " B64_CERT "\n"
    "    client-key-data: |\n"
    "      a2V5LW\n"
    "      J5dGVz\n"
    "- name: dev-user\n"
    "  user:\n"
    "    token: abc.def\n"
    "    tokenFile: /run/token\n"
    "    client-certificate: /pki/dev.crt\n"
    "    client-key: dev.key\n"
    "contexts:\n"
    "- name: prod\n"
    "  context: { cluster: prod, user: admin, namespace: ugallu-system }\n"
    "- name: dev\n"
    "  context: { cluster: dev, user: dev-user }\n"
    "- name: anon\n"
    "  context: { cluster: dev }\n"
    "current-context: prod\n";

static int
parse(const char *text, const char *ctx, struct kubeconfig *kc, char *err)
{
    return kubeconfig_parse(text, strlen(text), ctx, "/etc/kube", kc, err,
                            KUBECONFIG_ERR_LEN);
}

static void
test_current_context(void **state)
{
    char err[KUBECONFIG_ERR_LEN];
    struct kubeconfig kc;

    (void)state;
    assert_int_equal(parse(full_config, NULL, &kc, err), 0);
    assert_string_equal(kc.context, "prod");
    assert_string_equal(kc.server, "https://10.0.0.1:6443");
    assert_string_equal(kc.namespace, "ugallu-system");
    assert_null(kc.ca_file);
    assert_int_equal(kc.ca.len, 19);
    assert_memory_equal(kc.ca.data, "-----BEGIN CA-----\n", 19);
    assert_int_equal(kc.ca.data[kc.ca.len], '\0');
    assert_int_equal(kc.cert.len, 10);
    assert_memory_equal(kc.cert.data, "cert-bytes", 10);
    assert_int_equal(kc.key.len, 9);
    assert_memory_equal(kc.key.data, "key-bytes", 9);
    assert_false(kc.insecure);
    assert_null(kc.token);
    assert_null(kc.token_file);
    kubeconfig_free(&kc);
    assert_null(kc.server);
}

static void
test_chosen_context(void **state)
{
    char err[KUBECONFIG_ERR_LEN];
    struct kubeconfig kc;

    (void)state;
    assert_int_equal(parse(full_config, "dev", &kc, err), 0);
    assert_string_equal(kc.context, "dev");
    assert_string_equal(kc.server, "http://127.0.0.1:8080");
    assert_string_equal(kc.ca_file, "/etc/kube/ca/dev.crt");
    assert_true(kc.insecure);
    assert_string_equal(kc.token, "abc.def");
    assert_string_equal(kc.token_file, "/run/token");
    assert_string_equal(kc.cert_file, "/pki/dev.crt");
    assert_string_equal(kc.key_file, "/etc/kube/dev.key");
    assert_null(kc.namespace);
    assert_null(kc.ca.data);
    kubeconfig_free(&kc);

    assert_int_equal(parse(full_config, "anon", &kc, err), 0);
    assert_null(kc.token);
    assert_null(kc.cert_file);
    kubeconfig_free(&kc);
}

/* Each broken config must fail with rc and an error containing field. */
struct bad_case {
    const char *text;
    const char *ctx;
    int rc;
    const char *field;
};

static const struct bad_case bad_cases[] = {
    { "", NULL, -EINVAL, "not a YAML mapping" },
    { "- a\n- b\n", NULL, -EINVAL, "not a YAML mapping" },
    { "clusters: [\n", NULL, -EINVAL, "yaml:" },
    { "clusters: []\n", NULL, -EINVAL, "current-context" },
    { "current-context: x\n", NULL, -ENOENT,
      "contexts: no entry named \"x\"" },
    { "current-context: x\ncontexts: [{name: x, context: {user: u}}]\n",
      NULL, -EINVAL, "contexts[x].context.cluster: missing" },
    { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
      NULL, -ENOENT, "clusters: no entry named \"c\"" },
    { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
      "clusters: [{name: c, cluster: {}}]\n",
      NULL, -EINVAL, "clusters[c].cluster.server: missing" },
    { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
      "clusters: [{name: c, cluster: {server: ftp://a}}]\n",
      NULL, -EINVAL, "clusters[c].cluster.server: not an http(s) URL" },
    { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
      "clusters: [{name: c, cluster: {server: [a]}}]\n",
      NULL, -EINVAL, "clusters[c].cluster.server: not a string" },
    { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a',"
      " certificate-authority-data: 'a*b='}}]\n",
      NULL, -EINVAL,
      "clusters[c].cluster.certificate-authority-data: invalid base64" },
    { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a',"
      " insecure-skip-tls-verify: yes}}]\n",
      NULL, -EINVAL,
      "clusters[c].cluster.insecure-skip-tls-verify: not true or false" },
    { "current-context: x\n"
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a'}}]\n",
      NULL, -ENOENT, "users: no entry named \"u\"" },
    { "current-context: x\n"
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a'}}]\n"
      "users: [{name: u, user: {client-key-data: 'Zm9v!'}}]\n",
      NULL, -EINVAL, "users[u].user.client-key-data: invalid base64" },
    { "current-context: x\n"
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a'}}]\n"
      "users: [{name: u, user: {client-certificate-data: 'Zg'}}]\n",
      NULL, -EINVAL, "users[u].user.client-key: a client certificate" },
    { "current-context: x\n"
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a'}}]\n"
      "users: [{name: u, user: {exec: {command: aws}}}]\n",
      NULL, -ENOTSUP, "users[u].user.exec: not supported" },
    { "current-context: x\n"
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a'}}]\n"
      "users: [{name: u, user: {username: a, password: b}}]\n",
      NULL, -ENOTSUP, "users[u].user.username: not supported" },
    { full_config, "nope", -ENOENT, "contexts: no entry named \"nope\"" },
};

static void
test_errors_name_the_field(void **state)
{
    char err[KUBECONFIG_ERR_LEN];
    struct kubeconfig kc;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *b = &bad_cases[i];
        int rc = parse(b->text, b->ctx, &kc, err);

        if (rc != b->rc || strstr(err, b->field) == NULL) {
            fail_msg("case %zu: rc %d (want %d), err \"%s\" (want \"%s\")",
                     i, rc, b->rc, err, b->field);
        }
        assert_null(kc.server);
    }
}

static void
test_too_big(void **state)
{
    char err[KUBECONFIG_ERR_LEN];
    struct kubeconfig kc;

    (void)state;
    assert_int_equal(kubeconfig_parse(full_config, KUBECONFIG_MAX_BYTES + 1,
                                      NULL, NULL, &kc, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "larger than"));
}

/* ---- base64 ------------------------------------------------------------ */

static void
expect_b64(const char *in, const char *want)
{
    unsigned char *out = NULL;
    size_t n = 99;

    assert_int_equal(kubeconfig_base64_decode(in, strlen(in), &out, &n), 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], '\0');
    free(out);
}

static void
expect_b64_bad(const char *in)
{
    unsigned char *out = NULL;
    size_t n = 0;

    if (kubeconfig_base64_decode(in, strlen(in), &out, &n) != -EINVAL) {
        fail_msg("\"%s\" decoded", in);
    }
    assert_null(out);
}

static void
test_base64(void **state)
{
    (void)state;
    expect_b64("", "");
    expect_b64("Zg==", "f");
    expect_b64("Zm8=", "fo");
    expect_b64("Zm9v", "foo");
    expect_b64("Zm9vYmFy", "foobar");
    expect_b64("Zg", "f");
    expect_b64("Zm8", "fo");
    expect_b64(" Zm9v\nYmFy\r\n", "foobar");
    expect_b64("Zm8=\n", "fo");
    expect_b64("+/+/", "\xfb\xff\xbf");

    expect_b64_bad("Z");
    expect_b64_bad("Zm9vY");
    expect_b64_bad("Zg===");
    expect_b64_bad("Zg=");
    expect_b64_bad("Zg==Zg==");
    expect_b64_bad("Zm9v-_");
    expect_b64_bad("Zm9v*");
    expect_b64_bad("=");
}

/* ---- in-cluster -------------------------------------------------------- */

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_in_cluster(void **state)
{
    char dir[] = "/tmp/test_kubeconfig_XXXXXX", err[KUBECONFIG_ERR_LEN];
    char path[300];
    struct kubeconfig kc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kubeconfig_in_cluster(dir, &kc, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "/token"));

    write_file(dir, "token", "tok\n");
    write_file(dir, "namespace", "ugallu-system\n");
    assert_int_equal(kubeconfig_in_cluster(dir, &kc, err, sizeof(err)), 0);
    assert_string_equal(kc.server, "https://10.96.0.1:443");
    assert_string_equal(kc.namespace, "ugallu-system");
    assert_string_equal(kc.context, "in-cluster");
    assert_null(kc.ca_file);
    snprintf(path, sizeof(path), "%s/token", dir);
    assert_string_equal(kc.token_file, path);
    kubeconfig_free(&kc);

    write_file(dir, "ca.crt", "pem");
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("UGALLU_SA_DIR", dir, 1);
    assert_int_equal(kubeconfig_in_cluster(NULL, &kc, err, sizeof(err)), 0);
    assert_string_equal(kc.server, "https://[fd00::1]:443");
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    assert_string_equal(kc.ca_file, path);
    kubeconfig_free(&kc);

    setenv("KUBERNETES_SERVICE_PORT", "44x", 1);
    assert_int_equal(kubeconfig_in_cluster(NULL, &kc, err, sizeof(err)),
                     -EINVAL);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kubeconfig_in_cluster(NULL, &kc, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
    unsetenv("UGALLU_SA_DIR");
}

static void
test_load_file(void **state)
{
    char dir[] = "/tmp/test_kubeconfig_XXXXXX", err[KUBECONFIG_ERR_LEN];
    char path[300];
    struct kubeconfig kc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_file(dir, "config", full_config);
    snprintf(path, sizeof(path), "%s/config", dir);
    assert_int_equal(kubeconfig_load(path, "dev", &kc, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/ca/dev.crt", dir);
    assert_string_equal(kc.ca_file, path);
    kubeconfig_free(&kc);

    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(kubeconfig_load(path, NULL, &kc, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "missing"));
}

/* ---- paths, URLs, status codes, backoff -------------------------------- */

static void
test_paths(void **state)
{
    char b[KCLIENT_MAX_URL];

    (void)state;
    assert_int_equal(kclient_path(b, sizeof(b), NULL, "v1", "kube-system",
                                  "configmaps", "x", NULL), 0);
    assert_string_equal(b, "/api/v1/namespaces/kube-system/configmaps/x");
    assert_int_equal(kclient_path(b, sizeof(b), "security.ugallu.io",
                                  "v1alpha1", "ugallu-system",
                                  "dnsdetectconfigs", "default", "status"),
                     0);
    assert_string_equal(b, "/apis/security.ugallu.io/v1alpha1/namespaces/"
                        "ugallu-system/dnsdetectconfigs/default/status");
    assert_int_equal(kclient_path(b, sizeof(b), "security.ugallu.io",
                                  "v1alpha1", NULL, "securityevents", NULL,
                                  NULL), 0);
    assert_string_equal(b, "/apis/security.ugallu.io/v1alpha1/"
                        "securityevents");
    assert_int_equal(kclient_path(b, sizeof(b), "", "v1", NULL, "nodes",
                                  "system:node", NULL), 0);
    assert_string_equal(b, "/api/v1/nodes/system:node");

    assert_int_equal(kclient_path(b, sizeof(b), NULL, "v1", "a/b", "pods",
                                  NULL, NULL), -EINVAL);
    assert_int_equal(kclient_path(b, sizeof(b), NULL, "v1", NULL, "pods",
                                  "..", NULL), -EINVAL);
    assert_int_equal(kclient_path(b, sizeof(b), NULL, "v1", NULL, "pods",
                                  "a?b", NULL), -EINVAL);
    assert_int_equal(kclient_path(b, sizeof(b), NULL, "v1", "", "pods",
                                  NULL, NULL), -EINVAL);
    assert_int_equal(kclient_path(b, sizeof(b), "Upper.io", "v1", NULL,
                                  "pods", NULL, NULL), -EINVAL);
    assert_int_equal(kclient_path(b, sizeof(b), NULL, NULL, NULL, "pods",
                                  NULL, NULL), -EINVAL);
    assert_int_equal(kclient_path(b, 16, NULL, "v1", "default", "pods",
                                  NULL, NULL), -ENAMETOOLONG);
    assert_int_equal(kclient_path(b, 13, NULL, "v1", NULL, "pods", NULL,
                                  NULL), 0);
    assert_int_equal(kclient_path(b, 12, NULL, "v1", NULL, "pods", NULL,
                                  NULL), -ENAMETOOLONG);
}

static void
test_urls(void **state)
{
    char b[64];

    (void)state;
    assert_int_equal(kclient_url(b, sizeof(b), "https://h:6443",
                                 "/api/v1/pods", NULL), 0);
    assert_string_equal(b, "https://h:6443/api/v1/pods");
    assert_int_equal(kclient_url(b, sizeof(b), "https://h:6443",
                                 "/api/v1/pods", ""), 0);
    assert_string_equal(b, "https://h:6443/api/v1/pods");
    assert_int_equal(kclient_url(b, sizeof(b), "https://h", "/api/v1/pods",
                                 "watch=1&limit=5"), 0);
    assert_string_equal(b, "https://h/api/v1/pods?watch=1&limit=5");
    assert_int_equal(kclient_url(b, 26, "https://h", "/api/v1/pods",
                                 "watch=1"), -ENAMETOOLONG);
}

static void
test_status_codes(void **state)
{
    (void)state;
    assert_int_equal(kclient_status_rc(200, ""), 0);
    assert_int_equal(kclient_status_rc(201, ""), 0);
    assert_int_equal(kclient_status_rc(0, ""), -EIO);
    assert_int_equal(kclient_status_rc(400, ""), -EINVAL);
    assert_int_equal(kclient_status_rc(422, "Invalid"), -EINVAL);
    assert_int_equal(kclient_status_rc(401, ""), -EACCES);
    assert_int_equal(kclient_status_rc(403, "Forbidden"), -EACCES);
    assert_int_equal(kclient_status_rc(404, "NotFound"), -ENOENT);
    assert_int_equal(kclient_status_rc(409, "AlreadyExists"), -EEXIST);
    assert_int_equal(kclient_status_rc(409, "Conflict"), -EBUSY);
    assert_int_equal(kclient_status_rc(409, NULL), -EBUSY);
    assert_int_equal(kclient_status_rc(410, "Expired"), -ESTALE);
    assert_int_equal(kclient_status_rc(429, ""), -EAGAIN);
    assert_int_equal(kclient_status_rc(500, ""), -EAGAIN);
    assert_int_equal(kclient_status_rc(503, ""), -EAGAIN);
    assert_int_equal(kclient_status_rc(302, ""), -EPROTO);
    assert_int_equal(kclient_status_rc(418, ""), -EPROTO);
}

static void
test_backoff(void **state)
{
    unsigned a, prev_max = 0;

    (void)state;
    assert_int_equal(kclient_backoff_ms(0, 500, 30000, 0), 250);
    assert_int_equal(kclient_backoff_ms(0, 500, 30000, 250), 500);
    assert_int_equal(kclient_backoff_ms(0, 500, 30000, 251), 250);
    assert_int_equal(kclient_backoff_ms(1, 500, 30000, 0), 500);
    assert_int_equal(kclient_backoff_ms(2, 500, 30000, 1000), 2000);
    assert_int_equal(kclient_backoff_ms(2, 500, 30000, 500), 1500);
    assert_int_equal(kclient_backoff_ms(6, 500, 30000, 0), 15000);
    assert_int_equal(kclient_backoff_ms(1000, 500, 30000, 15000), 30000);
    assert_int_equal(kclient_backoff_ms(UINT32_MAX, 500, 30000, 7), 15007);

    for (a = 0; a < 64; a++) {
        unsigned lo = kclient_backoff_ms(a, 500, 30000, 0);
        unsigned hi = kclient_backoff_ms(a, 500, 30000, UINT32_MAX);
        unsigned mx = kclient_backoff_ms(a, 500, 30000, lo);

        assert_true(lo <= hi && hi <= 30000 && mx == 2 * lo);
        assert_true(mx >= prev_max);
        prev_max = mx;
    }
    assert_int_equal(prev_max, 30000);
}

/* ---- the watch stream -------------------------------------------------- */

#define MAX_LINES 16

struct collected {
    char lines[MAX_LINES][64];
    size_t n;
    size_t stop_after; /* return 1 after this many lines; 0 never */
};

static int
collect(char *line, size_t len, void *arg)
{
    struct collected *c = arg;

    assert_int_equal(strlen(line), len);
    assert_true(c->n < MAX_LINES);
    snprintf(c->lines[c->n++], 64, "%s", line);
    return c->stop_after != 0 && c->n == c->stop_after ? 1 : 0;
}

static const char stream[] =
    "{\"type\":\"ADDED\"}\n"
    "\n"
    "this line is far too long for the buffer, so it goes\n"
    "short\n"
    "{\"a\":1}\n"
    "tail";

static void
check_stream(const struct collected *c, const struct kclient_lines *lp)
{
    assert_int_equal(c->n, 4);
    assert_string_equal(c->lines[0], "{\"type\":\"ADDED\"}");
    assert_string_equal(c->lines[1], "");
    assert_string_equal(c->lines[2], "short");
    assert_string_equal(c->lines[3], "{\"a\":1}");
    assert_int_equal(lp->overlong, 1);
    assert_int_equal(lp->len, 4);
    assert_memory_equal(lp->buf, "tail", 4);
}

static void
test_lines_every_split(void **state)
{
    size_t n = strlen(stream), i, j;

    (void)state;
    for (i = 0; i <= n; i++) {
        for (j = i; j <= n; j++) {
            struct collected c = { .n = 0 };
            struct kclient_lines lp;

            assert_int_equal(kclient_lines_init(&lp, 32, collect, &c), 0);
            assert_int_equal(kclient_lines_feed(&lp, stream, i), 0);
            assert_int_equal(kclient_lines_feed(&lp, stream + i, j - i), 0);
            assert_int_equal(kclient_lines_feed(&lp, stream + j, n - j), 0);
            check_stream(&c, &lp);
            kclient_lines_free(&lp);
        }
    }
}

static void
test_lines_byte_by_byte_and_stop(void **state)
{
    struct collected c = { .n = 0 };
    struct kclient_lines lp;
    size_t i;

    (void)state;
    assert_int_equal(kclient_lines_init(&lp, 32, collect, &c), 0);
    for (i = 0; stream[i] != '\0'; i++) {
        assert_int_equal(kclient_lines_feed(&lp, stream + i, 1), 0);
    }
    check_stream(&c, &lp);

    /* Exactly cap bytes fits; a new stream starts clean after reset. */
    c.n = 0;
    c.stop_after = 1;
    kclient_lines_reset(&lp);
    assert_int_equal(kclient_lines_feed(&lp, "0123456789012345678901234567"
                                        "8901\nnext\n", 38), 1);
    assert_int_equal(c.n, 1);
    assert_int_equal(strlen(c.lines[0]), 32);
    assert_int_equal(lp.overlong, 1);
    kclient_lines_free(&lp);
}

static void
test_event_parse(void **state)
{
    char rv[KCLIENT_RV_LEN];
    enum kclient_event type;
    json_t *doc, *obj;
    long code;
    const char *l;

    (void)state;
    l = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\","
        "\"resourceVersion\":\"42\"}}}";
    assert_int_equal(kclient_event_parse(l, strlen(l), &doc, &type, &obj,
                                         rv, sizeof(rv), &code), 0);
    assert_int_equal(type, KCLIENT_MODIFIED);
    assert_string_equal(rv, "42");
    assert_true(json_is_object(obj));
    json_decref(doc);

    l = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"X\",\"metadata\":"
        "{\"resourceVersion\":\"77\"}}}";
    assert_int_equal(kclient_event_parse(l, strlen(l), &doc, &type, &obj,
                                         rv, sizeof(rv), &code), 0);
    assert_int_equal(type, KCLIENT_BOOKMARK);
    assert_string_equal(rv, "77");
    json_decref(doc);

    l = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
        "\"reason\":\"Expired\"}}";
    assert_int_equal(kclient_event_parse(l, strlen(l), &doc, &type, &obj,
                                         rv, sizeof(rv), &code), 0);
    assert_int_equal(type, KCLIENT_ERROR);
    assert_int_equal(code, 410);
    assert_string_equal(rv, "");
    json_decref(doc);
}

static void
test_event_parse_bad(void **state)
{
    static const char *const bad[] = {
        "not json",
        "{\"type\":\"ADDED\"}",
        "{\"type\":\"ADDED\",\"object\":[]}",
        "{\"type\":\"RELISTED\",\"object\":{}}",
        "{\"type\":\"added\",\"object\":{}}",
        "{\"type\":7,\"object\":{}}",
        "[]",
    };
    char rv[KCLIENT_RV_LEN];
    enum kclient_event type;
    json_t *doc, *obj;
    long code;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(kclient_event_parse(bad[i], strlen(bad[i]), &doc,
                                             &type, &obj, rv, sizeof(rv),
                                             &code), -EBADMSG);
    }

    /* A resourceVersion too long for rv is left out, not cut. */
    {
        const char *l = "{\"type\":\"ADDED\",\"object\":{\"metadata\":"
                        "{\"resourceVersion\":\"123456789\"}}}";

        assert_int_equal(kclient_event_parse(l, strlen(l), &doc, &type,
                                             &obj, rv, 8, &code), 0);
        assert_string_equal(rv, "");
        json_decref(doc);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_context),
        cmocka_unit_test(test_chosen_context),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_lines_every_split),
        cmocka_unit_test(test_lines_byte_by_byte_and_stop),
        cmocka_unit_test(test_event_parse),
        cmocka_unit_test(test_event_parse_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

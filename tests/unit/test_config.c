/*
 * test_config.c - the DNSDetectConfig loader: the DESIGN example, every
 * field, defaults, every kind of error with its exact line, durations.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

#define HDR "apiVersion: security.ugallu.io/v1alpha1\n" \
            "kind: DNSDetectConfig\n"
#define SEC 1000000000ull
#define MSEC 1000000ull

static struct config cfg;
static char err[512];

static int
parse(const char *text)
{
    memset(err, 0, sizeof(err));
    return config_parse(text, strlen(text), &cfg, err, sizeof(err));
}

/* The manifest of DESIGN.md section 2.1, verbatim. */
static const char design_example[] =
    "apiVersion: security.ugallu.io/v1alpha1\n"
    "kind: DNSDetectConfig\n"
    "metadata: { name: default, namespace: ugallu-system }\n"
    "spec:\n"
    "  source:\n"
    "    mode: coredns-ugallu\n"
    "  detectors:\n"
    "    blocklist:\n"
    "      enabled: true\n"
    "      namespaceConfigMaps:\n"
    "        - { namespace: ops, name: dns-blocklist }\n"
    "    dga: { enabled: true, minLength: 12, minEntropy: 3.5 }\n"
    "    slowQuery: { enabled: true, latencyP99: 500ms }\n"
    "    doh: { enabled: true }\n"
    "    dot: { enabled: false }\n";

static void
test_design_example(void **state)
{
    (void)state;
    assert_int_equal(parse(design_example), 0);
    assert_string_equal(err, "");

    assert_string_equal(cfg.name, "default");
    assert_string_equal(cfg.namespace_, "ugallu-system");
    assert_string_equal(cfg.source.mode, "coredns-ugallu");
    assert_true(cfg.blocklist.enabled);
    assert_int_equal(cfg.blocklist.nmaps, 1);
    assert_string_equal(cfg.blocklist.maps[0].namespace_, "ops");
    assert_string_equal(cfg.blocklist.maps[0].name, "dns-blocklist");
    assert_int_equal(cfg.blocklist.maps[0].cluster_wide, 0);

    assert_true(cfg.dga.enabled);
    assert_int_equal(cfg.dga.min_length, 12);
    assert_true(cfg.dga.min_entropy == 3.5);
    assert_true(cfg.slow_query.enabled);
    assert_int_equal(cfg.slow_query.latency_p99_ns, 500 * MSEC);
    assert_int_equal(cfg.doh.enabled, 1);
    assert_int_equal(cfg.dot.enabled, 0);
    assert_int_equal(cfg.tunneling.enabled, 1);
}

static void
assert_defaults(const struct config *c)
{
    assert_string_equal(c->name, "default");
    assert_string_equal(c->namespace_, "");
    assert_int_equal(c->generation, 0);
    assert_string_equal(c->source.mode, "dnstap");
    assert_string_equal(c->source.fallback, "");
    assert_int_equal(c->source.nendpoints, 0);
    assert_string_equal(c->source.token_secret,
                        "ugallu-coredns-grpc-token");
    assert_int_equal(c->source.silence_ns, 60 * SEC);

    assert_true(c->blocklist.enabled && c->blocklist.default_allowlist);
    assert_int_equal(c->blocklist.nmaps + c->blocklist.nfiles
                     + c->blocklist.nallow, 0);
    assert_true(c->dga.enabled && c->dga.min_length == 12);
    assert_true(c->dga.min_entropy == 3.5 && c->dga.max_ngram == 0.0);
    assert_int_equal(c->dga.nxdomain_burst, 4);
    assert_true(c->dga.burst_window_ns == 600 * SEC);
    assert_true(c->slow_query.enabled);
    assert_int_equal(c->slow_query.latency_p99_ns, 500 * MSEC);

    assert_true(c->tunneling.enabled && c->tunneling.max_label_len == 40);
    assert_true(c->tunneling.min_entropy == 3.8);
    assert_int_equal(c->tunneling.unique_subdomains, 50);
    assert_int_equal(c->tunneling.window_ns, 60 * SEC);
    assert_true(c->exfiltration.enabled);
    assert_int_equal(c->exfiltration.bytes_per_window, 65536);
    assert_int_equal(c->exfiltration.window_ns, 60 * SEC);

    assert_true(c->doh.enabled && c->dot.enabled);
    assert_true(c->anomalous_port.enabled);
    assert_false(c->young_domain.enabled);
    assert_int_equal(c->young_domain.threshold_days, 30);
    assert_string_equal(c->young_domain.rdap_bootstrap, "");
    assert_true(c->young_domain.rate_limit == 5.0);
}

static void
test_defaults(void **state)
{
    static struct config c;

    (void)state;
    memset(&c, 0x5a, sizeof(c));
    config_defaults(&c);
    assert_defaults(&c);

    assert_int_equal(parse(HDR), 0);
    assert_defaults(&cfg);
}

/* Every field, block style, none at its default. */
static const char every_field[] =
    HDR                                                     /* 1-2 */
    "metadata:\n"
    "  name: dns\n"
    "  namespace: sec\n"
    "  generation: 7\n"
    "  uid: 0b8f\n"
    "  resourceVersion: \"42\"\n"
    "  creationTimestamp: 2024-01-01T00:00:00Z\n"
    "  labels: { app: x }\n"
    "  annotations:\n"
    "    kubectl.kubernetes.io/last-applied-configuration: |\n"
    "      {\"a\": 1}\n"
    "  managedFields:\n"
    "    - manager: kubectl\n"
    "      fieldsV1:\n"
    "        f:spec: {}\n"
    "spec:\n"
    "  source:\n"
    "    mode: pcap\n"
    "    fallback: dnstap\n"
    "    endpoints:\n"
    "      - 10.0.0.1:5353\n"
    "      - \"coredns-1.kube-system:5353\"\n"
    "    tokenSecret: my-token\n"
    "    dnstapSocket: /run/dnstap.sock\n"
    "    dnstapTCP: 127.0.0.1:6000\n"
    "    interface: eth1\n"
    "    silenceAfter: 2m30s\n"
    "  detectors:\n"
    "    blocklist:\n"
    "      enabled: false\n"
    "      namespaceConfigMaps:\n"
    "        - namespace: ops\n"
    "          name: bl1\n"
    "          clusterWide: true\n"
    "        - { namespace: dev, name: bl2, clusterWide: false }\n"
    "      files: [/etc/bl/a.txt, '/etc/bl/b c.txt']\n"
    "      allowlistFiles:\n"
    "        - /etc/allow.txt\n"
    "      defaultAllowlist: false\n"
    "    dga:\n"
    "      enabled: False\n"
    "      minLength: 8\n"
    "      minEntropy: 2.75\n"
    "      maxNgramScore: -4.5\n"
    "      nxdomainBurst: 6\n"
    "      burstWindow: 2m\n"
    "    slowQuery: { enabled: FALSE, latencyP99: \"1.5s\" }\n"
    "    tunneling:\n"
    "      enabled: no\n"
    "      maxLabelLength: 52\n"
    "      minEntropy: 4\n"
    "      uniqueSubdomains: 200\n"
    "      window: 30s\n"
    "    exfiltration:\n"
    "      enabled: off\n"
    "      bytesPerWindow: 1048576\n"
    "      window: 5m\n"
    "    doh: { enabled: false }\n"
    "    dot: { enabled: true }\n"
    "    youngDomain:\n"
    "      enabled: false\n"
    "      thresholdDays: 90\n"
    "      rdapBootstrap: /usr/share/rdap/dns.json\n"
    "      rateLimit: 0.5\n"
    "    anomalousPort: { enabled: false }\n"
    "status:\n"
    "  activeSource: pcap\n"
    "  anything: [1, 2]\n";

static void
test_every_field_source(void **state)
{
    (void)state;
    assert_int_equal(parse(every_field), 0);
    assert_string_equal(cfg.name, "dns");
    assert_string_equal(cfg.namespace_, "sec");
    assert_int_equal(cfg.generation, 7);

    assert_string_equal(cfg.source.mode, "pcap");
    assert_string_equal(cfg.source.fallback, "dnstap");
    assert_int_equal(cfg.source.nendpoints, 2);
    assert_string_equal(cfg.source.endpoints[0], "10.0.0.1:5353");
    assert_string_equal(cfg.source.endpoints[1],
                        "coredns-1.kube-system:5353");
    assert_string_equal(cfg.source.token_secret, "my-token");
    assert_string_equal(cfg.source.dnstap_socket, "/run/dnstap.sock");
    assert_string_equal(cfg.source.dnstap_tcp, "127.0.0.1:6000");
    assert_string_equal(cfg.source.interface, "eth1");
    assert_int_equal(cfg.source.silence_ns, 150 * SEC);
}

static void
test_every_field_blocklist(void **state)
{
    const struct config_blocklist *b = &cfg.blocklist;

    (void)state;
    assert_int_equal(parse(every_field), 0);
    assert_int_equal(b->enabled, 0);
    assert_int_equal(b->nmaps, 2);
    assert_string_equal(b->maps[0].namespace_, "ops");
    assert_string_equal(b->maps[0].name, "bl1");
    assert_int_equal(b->maps[0].cluster_wide, 1);
    assert_string_equal(b->maps[1].namespace_, "dev");
    assert_string_equal(b->maps[1].name, "bl2");
    assert_int_equal(b->maps[1].cluster_wide, 0);

    assert_int_equal(b->nfiles, 2);
    assert_string_equal(b->files[0].name, "/etc/bl/a.txt");
    assert_string_equal(b->files[1].name, "/etc/bl/b c.txt");
    assert_string_equal(b->files[1].namespace_, "");
    assert_int_equal(b->files[1].cluster_wide, 1);
    assert_int_equal(b->nallow, 1);
    assert_string_equal(b->allow[0].name, "/etc/allow.txt");
    assert_int_equal(b->allow[0].cluster_wide, 1);
    assert_int_equal(b->default_allowlist, 0);
}

static void
test_every_field_detectors(void **state)
{
    (void)state;
    assert_int_equal(parse(every_field), 0);
    assert_int_equal(cfg.dga.enabled, 0);
    assert_int_equal(cfg.dga.min_length, 8);
    assert_true(cfg.dga.min_entropy == 2.75);
    assert_true(cfg.dga.max_ngram == -4.5);
    assert_int_equal(cfg.dga.nxdomain_burst, 6);
    assert_true(cfg.dga.burst_window_ns == 120 * SEC);
    assert_int_equal(cfg.slow_query.enabled, 0);
    assert_int_equal(cfg.slow_query.latency_p99_ns, 1500 * MSEC);

    assert_int_equal(cfg.tunneling.enabled, 0);
    assert_int_equal(cfg.tunneling.max_label_len, 52);
    assert_true(cfg.tunneling.min_entropy == 4.0);
    assert_int_equal(cfg.tunneling.unique_subdomains, 200);
    assert_int_equal(cfg.tunneling.window_ns, 30 * SEC);
    assert_int_equal(cfg.exfiltration.enabled, 0);
    assert_int_equal(cfg.exfiltration.bytes_per_window, 1048576);
    assert_int_equal(cfg.exfiltration.window_ns, 300 * SEC);

    assert_int_equal(cfg.doh.enabled, 0);
    assert_int_equal(cfg.dot.enabled, 1);
    assert_int_equal(cfg.young_domain.enabled, 0);
    assert_int_equal(cfg.young_domain.threshold_days, 90);
    assert_string_equal(cfg.young_domain.rdap_bootstrap,
                        "/usr/share/rdap/dns.json");
    assert_true(cfg.young_domain.rate_limit == 0.5);
    assert_int_equal(cfg.anomalous_port.enabled, 0);
}

static void
test_booleans(void **state)
{
    static const char *const yes[] = { "true", "True", "TRUE", "yes",
                                       "on", "ON" };
    static const char *const no[] = { "false", "False", "FALSE", "no",
                                      "Off" };
    char text[256];

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(text, sizeof(text), HDR "spec: { detectors: { dot: "
                 "{ enabled: %s } } }\n", yes[i]);
        cfg.dot.enabled = 0;
        assert_int_equal(parse(text), 0);
        assert_int_equal(cfg.dot.enabled, 1);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        snprintf(text, sizeof(text), HDR "spec: { detectors: { dot: "
                 "{ enabled: %s } } }\n", no[i]);
        assert_int_equal(parse(text), 0);
        assert_int_equal(cfg.dot.enabled, 0);
    }
}

/* Null values and empty mappings leave every default in place. */
static void
test_nulls_keep_defaults(void **state)
{
    (void)state;
    assert_int_equal(parse(HDR "metadata:\nspec:\n"), 0);
    assert_defaults(&cfg);

    assert_int_equal(parse(HDR "metadata: {}\n"
                           "spec:\n"
                           "  source: { mode: ~, fallback: null }\n"
                           "  detectors:\n"
                           "    dga: { minLength: }\n"
                           "    blocklist: { files: ~ }\n"
                           "    youngDomain: {}\n"), 0);
    assert_defaults(&cfg);

    assert_int_equal(parse(HDR "spec: { source: { fallback: '' } }\n"), 0);
    assert_string_equal(cfg.source.fallback, "");
}

static void
test_aliases_resolve(void **state)
{
    (void)state;
    assert_int_equal(parse(HDR "spec:\n"
                           "  detectors:\n"
                           "    tunneling: { window: &w 90s, "
                           "minEntropy: &e 4.25 }\n"
                           "    exfiltration: { window: *w }\n"
                           "    dga: { minEntropy: *e }\n"
                           "    blocklist:\n"
                           "      files: &f [/a, /b]\n"
                           "      allowlistFiles: *f\n"), 0);
    assert_int_equal(cfg.exfiltration.window_ns, 90 * SEC);
    assert_true(cfg.dga.min_entropy == 4.25);
    assert_int_equal(cfg.blocklist.nallow, 2);
    assert_string_equal(cfg.blocklist.allow[1].name, "/b");
}

static void
test_list_capacity(void **state)
{
    char text[4096];
    size_t n;

    (void)state;
    n = (size_t)snprintf(text, sizeof(text), HDR "spec:\n  detectors:\n"
                         "    blocklist:\n      files:\n");
    for (int i = 0; i < CONFIG_LISTS_MAX; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "        - /f%d\n", i);
    }
    assert_int_equal(parse(text), 0);
    assert_int_equal(cfg.blocklist.nfiles, CONFIG_LISTS_MAX);
    assert_string_equal(cfg.blocklist.files[31].name, "/f31");

    snprintf(text + n, sizeof(text) - n, "        - /f32\n");
    assert_int_equal(parse(text), -EINVAL);
    assert_string_equal(err, "line 39: spec.detectors.blocklist.files[32]: "
                        "more than 32 entries");
}

static void
test_string_lengths(void **state)
{
    char text[1024];
    char name[CONFIG_NAME_MAX + 1];

    (void)state;
    memset(name, 'a', sizeof(name));
    name[CONFIG_NAME_MAX - 1] = '\0';
    snprintf(text, sizeof(text), HDR "metadata: { name: %s }\n", name);
    assert_int_equal(parse(text), 0);
    assert_int_equal(strlen(cfg.name), CONFIG_NAME_MAX - 1);

    name[CONFIG_NAME_MAX - 1] = 'a';
    name[CONFIG_NAME_MAX] = '\0';
    snprintf(text, sizeof(text), HDR "metadata: { name: %s }\n", name);
    assert_int_equal(parse(text), -EINVAL);
    assert_string_equal(err, "line 3: metadata.name: 254 bytes is too "
                        "long, at most 253");

    assert_int_equal(parse(HDR "spec:\n  source:\n    interface: "
                           "abcdefghijabcdefghijabcdefghijabcdefghij"
                           "abcdefghijabcdefghijabcd\n"), -EINVAL);
    assert_string_equal(err, "line 5: spec.source.interface: 64 bytes is "
                        "too long, at most 63");
}

struct err_case {
    const char *yaml;
    const char *want;
};

static const struct err_case error_cases[] = {
    /* Document level. */
    { "", "line 1: empty document, expected a DNSDetectConfig manifest" },
    { "# only a comment\n",
      "line 1: empty document, expected a DNSDetectConfig manifest" },
    { "- a\n- b\n", "line 1: expected a mapping, got a list" },
    { "just text\n", "line 1: expected a mapping, got 'just text'" },
    { HDR "---\n" HDR,
      "line 3: more than one YAML document, expected one DNSDetectConfig" },
    { HDR "...\n---\nfoo: 1\n",
      "line 4: more than one YAML document, expected one DNSDetectConfig" },

    /* apiVersion and kind. */
    { "kind: DNSDetectConfig\n",
      "line 1: apiVersion: missing required field" },
    { "apiVersion: security.ugallu.io/v1alpha1\n",
      "line 1: kind: missing required field" },
    { "apiVersion: security.ugallu.io/v1\nkind: DNSDetectConfig\n",
      "line 1: apiVersion: expected security.ugallu.io/v1alpha1, got "
      "'security.ugallu.io/v1'" },
    { "apiVersion: security.ugallu.io/v1alpha1\nkind: ConfigMap\n",
      "line 2: kind: expected DNSDetectConfig, got 'ConfigMap'" },
    { "apiVersion: security.ugallu.io/v1alpha1\nkind: ~\n",
      "line 1: kind: missing required field" },

    /* Unknown and repeated keys. */
    { HDR "spce: {}\n", "line 3: spce: unknown field" },
    { HDR "spec:\n  detectors:\n    dga: { enabled: true, minLen: 3 }\n",
      "line 5: spec.detectors.dga.minLen: unknown field" },
    { HDR "spec:\n  detectors:\n    dns: {}\n",
      "line 5: spec.detectors.dns: unknown field" },
    { HDR "spec:\n  source:\n    mode: pcap\n    mode: dnstap\n",
      "line 6: spec.source.mode: duplicate field" },
    { HDR "kind: DNSDetectConfig\n", "line 3: kind: duplicate field" },
    { HDR "spec:\n  ? [a, b]\n  : 1\n",
      "line 4: spec: expected a field name, got a list" },

    /* Types. */
    { HDR "spec:\n  detectors:\n    dga:\n      minEntropy: x\n",
      "line 6: spec.detectors.dga.minEntropy: expected a number, got 'x'" },
    { HDR "spec:\n  detectors:\n    dga:\n      minEntropy: \"3.5\"\n",
      "line 6: spec.detectors.dga.minEntropy: expected a number, "
      "got \"3.5\"" },
    { HDR "spec:\n  detectors:\n    dga:\n      minEntropy: .inf\n",
      "line 6: spec.detectors.dga.minEntropy: expected a number, "
      "got '.inf'" },
    { HDR "spec:\n  detectors:\n    dga:\n      minLength: 12.5\n",
      "line 6: spec.detectors.dga.minLength: expected an integer, "
      "got '12.5'" },
    { HDR "spec:\n  detectors:\n    dga:\n      minLength: 0x10\n",
      "line 6: spec.detectors.dga.minLength: expected an integer, "
      "got '0x10'" },
    { HDR "spec:\n  detectors:\n    dga:\n      minLength: '12'\n",
      "line 6: spec.detectors.dga.minLength: expected an integer, "
      "got \"12\"" },
    { HDR "spec:\n  detectors:\n    dot: { enabled: maybe }\n",
      "line 5: spec.detectors.dot.enabled: expected true or false, "
      "got 'maybe'" },
    { HDR "spec:\n  detectors:\n    dot: { enabled: \"true\" }\n",
      "line 5: spec.detectors.dot.enabled: expected true or false, "
      "got \"true\"" },
    { HDR "spec:\n  detectors:\n    dot: { enabled: [true] }\n",
      "line 5: spec.detectors.dot.enabled: expected true or false, "
      "got a list" },
    { HDR "spec:\n  detectors:\n    dot: true\n",
      "line 5: spec.detectors.dot: expected a mapping, got 'true'" },
    { HDR "spec:\n  source:\n    mode: { a: b }\n",
      "line 5: spec.source.mode: expected a string, got a mapping" },
    { HDR "spec:\n  source:\n    endpoints: a:1\n",
      "line 5: spec.source.endpoints: expected a list, got 'a:1'" },
    { HDR "spec:\n  source:\n    endpoints:\n      - a\n      -\n",
      "line 7: spec.source.endpoints[1]: expected a string, got null" },
    { HDR "spec:\n  source:\n    endpoints: [a, '']\n",
      "line 5: spec.source.endpoints[1]: must not be empty" },
    { HDR "metadata:\n  name: \"a\\0b\"\n",
      "line 4: metadata.name: expected a string, got text holding a NUL "
      "byte" },
    { HDR "metadata:\n  generation: -1\n",
      "line 4: metadata.generation: -1 is out of range, must be at "
      "least 0" },
    { HDR "metadata:\n  generation: 18446744073709551616\n",
      "line 4: metadata.generation: expected an integer, "
      "got '18446744073709551616'" },

    /* Source modes. */
    { HDR "spec:\n  source:\n    mode: ebpf\n",
      "line 5: spec.source.mode: expected one of coredns-ugallu, tetragon, "
      "dnstap, pcap, got 'ebpf'" },
    { HDR "spec:\n  source:\n    mode: ''\n",
      "line 5: spec.source.mode: expected one of coredns-ugallu, tetragon, "
      "dnstap, pcap, got \"\"" },
    { HDR "spec:\n  source:\n    fallback: DNSTAP\n",
      "line 5: spec.source.fallback: expected one of coredns-ugallu, "
      "tetragon, dnstap, pcap, got 'DNSTAP'" },

    /* Ranges. */
    { HDR "spec:\n  detectors:\n    dga: { minLength: 0 }\n",
      "line 5: spec.detectors.dga.minLength: 0 is out of range, must be "
      "between 1 and 253" },
    { HDR "spec:\n  detectors:\n    dga: { minLength: 254 }\n",
      "line 5: spec.detectors.dga.minLength: 254 is out of range, must be "
      "between 1 and 253" },
    { HDR "spec:\n  detectors:\n    dga: { minLength: -3 }\n",
      "line 5: spec.detectors.dga.minLength: -3 is out of range, must be "
      "between 1 and 253" },
    { HDR "spec:\n  detectors:\n    dga: { minEntropy: 8.01 }\n",
      "line 5: spec.detectors.dga.minEntropy: 8.01 is out of range, must be "
      "between 0 and 8" },
    { HDR "spec:\n  detectors:\n    tunneling: { minEntropy: -0.5 }\n",
      "line 5: spec.detectors.tunneling.minEntropy: -0.5 is out of range, "
      "must be between 0 and 8" },
    { HDR "spec:\n  detectors:\n    tunneling: { maxLabelLength: 64 }\n",
      "line 5: spec.detectors.tunneling.maxLabelLength: 64 is out of "
      "range, must be between 1 and 63" },
    { HDR "spec:\n  detectors:\n    tunneling: { uniqueSubdomains: 0 }\n",
      "line 5: spec.detectors.tunneling.uniqueSubdomains: 0 is out of "
      "range, must be between 1 and 1000000" },
    { HDR "spec:\n  detectors:\n    exfiltration: { bytesPerWindow: 0 }\n",
      "line 5: spec.detectors.exfiltration.bytesPerWindow: 0 is out of "
      "range, must be at least 1" },
    { HDR "spec:\n  detectors:\n    youngDomain: { rateLimit: 0 }\n",
      "line 5: spec.detectors.youngDomain.rateLimit: 0 is out of range, "
      "must be above 0 and at most 1000" },
    { HDR "spec:\n  detectors:\n    youngDomain: { rateLimit: 1000.5 }\n",
      "line 5: spec.detectors.youngDomain.rateLimit: 1000.5 is out of "
      "range, must be above 0 and at most 1000" },
    { HDR "spec:\n  detectors:\n    youngDomain: { thresholdDays: 0 }\n",
      "line 5: spec.detectors.youngDomain.thresholdDays: 0 is out of "
      "range, must be between 1 and 36500" },
    { HDR "spec:\n  detectors:\n    youngDomain: { thresholdDays: 36501 }\n",
      "line 5: spec.detectors.youngDomain.thresholdDays: 36501 is out of "
      "range, must be between 1 and 36500" },

    /* Durations. */
    { HDR "spec:\n  detectors:\n    slowQuery: { latencyP99: 0 }\n",
      "line 5: spec.detectors.slowQuery.latencyP99: must be above 0" },
    { HDR "spec:\n  detectors:\n    slowQuery: { latencyP99: 500 }\n",
      "line 5: spec.detectors.slowQuery.latencyP99: expected a duration "
      "such as 500ms, 1.5s or 1h30m, got '500'" },
    { HDR "spec:\n  detectors:\n    slowQuery: { latencyP99: -1s }\n",
      "line 5: spec.detectors.slowQuery.latencyP99: expected a duration "
      "such as 500ms, 1.5s or 1h30m, got '-1s'" },
    { HDR "spec:\n  source:\n    silenceAfter: 1d\n",
      "line 5: spec.source.silenceAfter: expected a duration such as "
      "500ms, 1.5s or 1h30m, got '1d'" },
    { HDR "spec:\n  detectors:\n    tunneling: { window: \"\" }\n",
      "line 5: spec.detectors.tunneling.window: expected a duration such "
      "as 500ms, 1.5s or 1h30m, got \"\"" },

    /* ConfigMap references. */
    { HDR "spec:\n  detectors:\n    blocklist:\n      namespaceConfigMaps:\n"
      "        - { name: x }\n",
      "line 7: spec.detectors.blocklist.namespaceConfigMaps[0].namespace: "
      "missing required field" },
    { HDR "spec:\n  detectors:\n    blocklist:\n      namespaceConfigMaps:\n"
      "        - namespace: a\n          name: b\n"
      "        - namespace: a\n          name: ''\n",
      "line 10: spec.detectors.blocklist.namespaceConfigMaps[1].name: must "
      "not be empty" },
    { HDR "spec:\n  detectors:\n    blocklist:\n      namespaceConfigMaps:\n"
      "        - ops/dns-blocklist\n",
      "line 7: spec.detectors.blocklist.namespaceConfigMaps[0]: expected a "
      "mapping, got 'ops/dns-blocklist'" },
    { HDR "spec:\n  detectors:\n    blocklist:\n      namespaceConfigMaps:\n"
      "        - { namespace: a, name: b, clusterWide: 1 }\n",
      "line 7: spec.detectors.blocklist.namespaceConfigMaps[0].clusterWide: "
      "expected true or false, got '1'" },
    { HDR "spec:\n  detectors:\n    blocklist:\n      namespaceConfigMaps:\n"
      "        - { namespace: a, name: b, region: c }\n",
      "line 7: spec.detectors.blocklist.namespaceConfigMaps[0].region: "
      "unknown field" },

    /* YAML syntax, with libyaml's words. */
    { HDR "spec:\n  source: [\n",
      "line 4: did not find expected node content (while parsing a flow "
      "node from line 4)" },
    { HDR "spec:\n  source:\n    mode: pcap\n   bad: 1\n",
      "line 6: did not find expected key (while parsing a block mapping "
      "from line 4)" },
    { HDR "spec: a: b\n",
      "line 3: mapping values are not allowed in this context" },
    { HDR "spec:\n  source: { mode: \"pcap }\n",
      "line 4: found unexpected end of stream (while scanning a quoted "
      "scalar from line 4)" },
    { HDR "spec:\n\tsource: {}\n",
      "line 4: found character that cannot start any token (while "
      "scanning for the next token from line 4)" },
    { HDR "spec: *nothing\n", "line 3: found undefined alias" },
    { HDR "metadata:\n  name: \"\x01\"\n",
      "line 4: control characters are not allowed" },
    { HDR "metadata:\n  name: \xc3\x28\n",
      "line 4: invalid trailing UTF-8 octet" },
};

static void
test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
         i++) {
        const struct err_case *e = &error_cases[i];
        int rc = parse(e->yaml);

        if (rc != -EINVAL || strcmp(err, e->want) != 0) {
            print_error("case %zu: rc %d\n  got  '%s'\n  want '%s'\n", i, rc,
                        err, e->want);
        }
        assert_int_equal(rc, -EINVAL);
        assert_string_equal(err, e->want);
    }
}

/* The first error in document order is the one reported. */
static void
test_first_error_wins(void **state)
{
    (void)state;
    assert_int_equal(parse(HDR "spec:\n  detectors:\n"
                           "    dga: { minLength: 0 }\n"
                           "    dot: { enabled: 3 }\n"), -EINVAL);
    assert_string_equal(err, "line 5: spec.detectors.dga.minLength: 0 is "
                        "out of range, must be between 1 and 253");
}

static void
test_error_buffer(void **state)
{
    char small[16];

    (void)state;
    assert_int_equal(config_parse("kind: x\n", 8, &cfg, NULL, 0), -EINVAL);
    assert_int_equal(config_parse("kind: x\n", 8, &cfg, small, sizeof(small)),
                     -EINVAL);
    assert_string_equal(small, "line 1: kind: e");
    assert_int_equal(config_parse(HDR, strlen(HDR), &cfg, small, 1), 0);
    assert_string_equal(small, "");
}

/* text need not end in a NUL: only len bytes are read. */
static void
test_length_bounds_input(void **state)
{
    const char text[] = HDR "spec: { source: { mode: pcap } }\nGARBAGE: [";
    size_t len = strlen(text) - strlen("GARBAGE: [");

    (void)state;
    assert_int_equal(config_parse(text, len, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.source.mode, "pcap");
    assert_int_equal(config_parse(text, strlen(text), &cfg, err,
                                  sizeof(err)), -EINVAL);
}

static void
test_too_large(void **state)
{
    size_t len = CONFIG_TEXT_MAX + 1;
    char *text = malloc(len);

    (void)state;
    assert_non_null(text);
    memset(text, '#', len);
    assert_int_equal(config_parse(text, len, &cfg, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "manifest of 4194305 bytes is larger than "
                        "4194304");
    free(text);
}

static void
test_load_file(void **state)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, design_example, strlen(design_example)),
                     (ssize_t)strlen(design_example));
    close(fd);
    assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.blocklist.maps[0].name, "dns-blocklist");
    unlink(path);

    assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(config_load_file("/", &cfg, err, sizeof(err)), -EISDIR);
}

static void
test_load_file_too_large(void **state)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    FILE *f;

    (void)state;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    for (size_t i = 0; i <= CONFIG_TEXT_MAX / 64; i++) {
        fprintf(f, "#%62s\n", "");
    }
    fclose(f);
    assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)),
                     -EFBIG);
    assert_non_null(strstr(err, path));
    unlink(path);
}

struct dur_case {
    const char *text;
    int rc;
    uint64_t ns;
};

static const struct dur_case dur_cases[] = {
    { "0", 0, 0 },
    { "+0", 0, 0 },
    { "0s", 0, 0 },
    { "500ms", 0, 500 * MSEC },
    { "1.5s", 0, 1500 * MSEC },
    { ".5s", 0, 500 * MSEC },
    { "1.s", 0, SEC },
    { "2m", 0, 120 * SEC },
    { "1h30m", 0, 5400 * SEC },
    { "1h30m15s250ms", 0, 5415 * SEC + 250 * MSEC },
    { "30s1h", 0, 3630 * SEC },
    { "250us", 0, 250000 },
    { "250\xc2\xb5s", 0, 250000 },
    { "250\xce\xbcs", 0, 250000 },
    { "42ns", 0, 42 },
    { "0.000000001s", 0, 1 },
    { "1.0000000001s", 0, SEC },
    { "+3s", 0, 3 * SEC },
    { "2562047h", 0, 2562047ull * 3600 * SEC },
    { "9223372036854775807ns", 0, 9223372036854775807ull },
    { "", -EINVAL, 0 },
    { "+", -EINVAL, 0 },
    { "-1s", -EINVAL, 0 },
    { "-0", -EINVAL, 0 },
    { "5", -EINVAL, 0 },
    { "00", -EINVAL, 0 },
    { "1d", -EINVAL, 0 },
    { "1S", -EINVAL, 0 },
    { "1 s", -EINVAL, 0 },
    { " 1s", -EINVAL, 0 },
    { "1s ", -EINVAL, 0 },
    { ".s", -EINVAL, 0 },
    { "s", -EINVAL, 0 },
    { "1.5", -EINVAL, 0 },
    { "1s5", -EINVAL, 0 },
    { "1..5s", -EINVAL, 0 },
    { "1e3s", -EINVAL, 0 },
    { "2562048h", -EINVAL, 0 },
    { "9223372036854775808ns", -EINVAL, 0 },
    { "9223372036854775807ns1ns", -EINVAL, 0 },
    { "99999999999999999999999s", -EINVAL, 0 },
};

static void
test_durations(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
        const struct dur_case *d = &dur_cases[i];
        uint64_t ns = 777;
        int rc = config_duration(d->text, &ns);

        if (rc != d->rc || (rc == 0 && ns != d->ns)) {
            print_error("duration '%s': rc %d ns %llu\n", d->text, rc,
                        (unsigned long long)ns);
        }
        assert_int_equal(rc, d->rc);
        assert_int_equal(ns, rc == 0 ? d->ns : 777);
    }
    assert_int_equal(config_duration(NULL, NULL), -EINVAL);
}

/* Two sources are equal field by field; a change of any one of them
 * (an endpoint, a socket, silenceAfter) makes them differ, a change of
 * the detectors does not. */
static void
test_source_equal(void **state)
{
    struct config *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    config_defaults(a);
    config_defaults(b);
    b->dga.enabled = 0;
    assert_true(config_source_equal(&a->source, &b->source));
    snprintf(b->source.endpoints[0], CONFIG_NAME_MAX, "10.0.0.1:9253");
    b->source.nendpoints = 1;
    assert_false(config_source_equal(&a->source, &b->source));
    snprintf(a->source.endpoints[0], CONFIG_NAME_MAX, "10.0.0.1:9253");
    a->source.nendpoints = 1;
    assert_true(config_source_equal(&a->source, &b->source));
    snprintf(b->source.dnstap_socket, CONFIG_NAME_MAX, "/run/x.sock");
    assert_false(config_source_equal(&a->source, &b->source));
    b->source = a->source;
    b->source.silence_ns++;
    assert_false(config_source_equal(&a->source, &b->source));
    free(a);
    free(b);
}

/* Detector switches by spec key, and the CoreDNS discovery defaults. */
static void
test_detector_enabled(void **state)
{
    struct config c;
    const char *doc =
        "apiVersion: security.ugallu.io/v1alpha1\n"
        "kind: DNSDetectConfig\n"
        "metadata: { name: x }\n"
        "spec:\n"
        "  source: { mode: coredns-ugallu, corednsPort: 9300,\n"
        "            corednsService: dns/coredns }\n"
        "  detectors:\n"
        "    dga: { enabled: false }\n"
        "    exfiltration: { enabled: false }\n";

    (void)state;
    config_defaults(&c);
    assert_int_equal(config_detector_enabled(&c, "dga"), 1);
    assert_int_equal(config_detector_enabled(&c, "youngDomain"), 0);
    assert_int_equal(config_detector_enabled(&c, "nope"), -1);
    assert_string_equal(c.source.coredns_service, "kube-system/kube-dns");
    assert_int_equal(c.source.coredns_port, 9253);
    assert_int_equal(config_parse(doc, strlen(doc), &c, err, sizeof(err)),
                     0);
    assert_int_equal(config_detector_enabled(&c, "dga"), 0);
    assert_int_equal(config_detector_enabled(&c, "exfiltration"), 0);
    assert_int_equal(config_detector_enabled(&c, "tunneling"), 1);
    assert_string_equal(c.source.coredns_service, "dns/coredns");
    assert_int_equal(c.source.coredns_port, 9300);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_field_source),
        cmocka_unit_test(test_every_field_blocklist),
        cmocka_unit_test(test_every_field_detectors),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_nulls_keep_defaults),
        cmocka_unit_test(test_aliases_resolve),
        cmocka_unit_test(test_list_capacity),
        cmocka_unit_test(test_string_lengths),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_length_bounds_input),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_file_too_large),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_detector_enabled),
        cmocka_unit_test(test_source_equal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * config.h - the DNSDetectConfig spec as the daemon uses it.
 *
 * A struct config is an immutable snapshot: built whole by the loader,
 * then only read.  A reload builds a new one aside; on any error the
 * loader returns it unused and the caller keeps the previous snapshot.
 * Fields missing from the manifest take the defaults of config_defaults().
 *
 * How the manifest is read (config_parse):
 * - one YAML document; apiVersion security.ugallu.io/v1alpha1 and kind
 *   DNSDetectConfig are required; status is ignored, and so are metadata
 *   keys other than name, namespace and generation (labels, uid, ...);
 * - every other key must be known: an unknown or repeated key is an error;
 * - a null value (empty, ~, null) leaves the field at its default;
 * - every detector is enabled unless it says enabled: false;
 * - booleans are plain true/false in any of the YAML 1.2 spellings
 *   (true, True, TRUE) or the YAML 1.1 words kubectl also takes (yes, no,
 *   on, off, in the same three cases); numbers must be plain scalars;
 *   strings and durations may be plain or quoted;
 * - anchors and aliases are resolved (an alias reads as its anchor's
 *   value; an error inside it names the anchor's line); tags are ignored.
 * The functions keep no state: any thread may call them on its own data.
 */
#ifndef DD_CONFIG_H
#define DD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_NAME_MAX 254
#define CONFIG_LISTS_MAX 32
#define CONFIG_ENDPOINTS_MAX 16
#define CONFIG_TEXT_MAX (4u << 20)  /* largest manifest read, in bytes */

/* A ConfigMap reference (namespaceConfigMaps) or a list file. */
struct config_listref {
    char namespace_[64];  /* "" for cluster-wide (file lists) */
    char name[CONFIG_NAME_MAX];  /* ConfigMap name, or file path */
    int cluster_wide;     /* 1: applies to every pod; 0: own namespace */
};

struct config_blocklist {
    int enabled;
    size_t nmaps;
    struct config_listref maps[CONFIG_LISTS_MAX];  /* namespaceConfigMaps */
    size_t nfiles;
    struct config_listref files[CONFIG_LISTS_MAX]; /* standalone: files */
    size_t nallow;
    struct config_listref allow[CONFIG_LISTS_MAX]; /* allowlist files */
    int default_allowlist;  /* ship-with-product allowlist, default 1 */
};

struct config_dga {
    int enabled;
    unsigned min_length;    /* minLength, default 12 */
    double min_entropy;     /* minEntropy, default 3.5 */
    double max_ngram;       /* maxNgramScore, default 0: use the
                               threshold shipped with the model */
    unsigned nxdomain_burst; /* nxdomainBurst, default 4; 0: off */
    uint64_t burst_window_ns; /* burstWindow, default 10m */
};

struct config_slow {
    int enabled;
    uint64_t latency_p99_ns; /* latencyP99, default 500ms */
};

struct config_tunnel {
    int enabled;
    unsigned max_label_len;     /* maxLabelLength, default 40 */
    double min_entropy;         /* minEntropy, default 3.8 */
    unsigned unique_subdomains; /* uniqueSubdomains per window, 50 */
    uint64_t window_ns;         /* window, default 60s */
};

struct config_exfil {
    int enabled;
    uint64_t bytes_per_window;  /* bytesPerWindow, default 64 KiB */
    uint64_t window_ns;         /* window, default 60s */
};

struct config_young {
    int enabled;
    unsigned threshold_days;    /* thresholdDays, default 30 */
    char rdap_bootstrap[CONFIG_NAME_MAX]; /* rdapBootstrap file or URL */
    double rate_limit;          /* rateLimit lookups/s, default 5 */
};

struct config_simple {
    int enabled;
};

struct config_source {
    char mode[32];       /* coredns-ugallu, tetragon, dnstap, pcap */
    char fallback[32];   /* "" when none */
    size_t nendpoints;
    char endpoints[CONFIG_ENDPOINTS_MAX][CONFIG_NAME_MAX];
    char token_secret[CONFIG_NAME_MAX]; /* default
                                           ugallu-coredns-grpc-token */
    char coredns_service[CONFIG_NAME_MAX]; /* "namespace/name" of the DNS
                                              Service whose EndpointSlices
                                              list the CoreDNS pods
                                              (Kubernetes mode, no
                                              endpoints); default
                                              kube-system/kube-dns */
    unsigned coredns_port;               /* the plugin's port on those
                                            pods unless a slice names a
                                            port "ugallu-grpc"; 9253 */
    char dnstap_socket[CONFIG_NAME_MAX]; /* dnstap: unix socket path */
    char dnstap_tcp[CONFIG_NAME_MAX];    /* dnstap: host:port */
    char interface[64];                  /* pcap: interface */
    uint64_t silence_ns;                 /* silenceAfter, default 60s */
};

struct config {
    char name[CONFIG_NAME_MAX];       /* metadata.name */
    char namespace_[64];              /* metadata.namespace */
    struct config_source source;
    struct config_blocklist blocklist;
    struct config_dga dga;
    struct config_slow slow_query;
    struct config_tunnel tunneling;
    struct config_exfil exfiltration;
    struct config_simple doh;
    struct config_simple dot;
    struct config_young young_domain;
    struct config_simple anomalous_port;
    uint64_t generation;              /* metadata.generation, else 0 */
};

/*
 * Fill every field with its documented default: name "default", every
 * detector enabled except youngDomain (it sends queried names to outside
 * RDAP servers, so it is opt-in), source mode dnstap, no fallback, token Secret
 * ugallu-coredns-grpc-token, silenceAfter 60s, rdapBootstrap "" (the
 * bootstrap data shipped with the product), maxNgramScore 0 (the model's
 * shipped threshold), the other thresholds as noted on their fields.
 */
void config_defaults(struct config *c);

/*
 * Parse a YAML document holding one DNSDetectConfig manifest into c
 * (defaults first, then the manifest).  On error returns -EINVAL and
 * writes one line to err such as
 *   "line 12: spec.detectors.dga.minEntropy: expected a number, got 'x'"
 * naming the field path and the line.  Unknown fields are errors.  Other
 * errors: -ENOMEM.  c is only meaningful on success.  text need not end
 * in a NUL; more than CONFIG_TEXT_MAX bytes is an error.  YAML syntax
 * errors give libyaml's message and line.  err may be NULL.
 */
int config_parse(const char *text, size_t len, struct config *c,
                 char *err, size_t errlen);

/*
 * Read path and config_parse() it; I/O errors give -errno and a message
 * naming path (a file over CONFIG_TEXT_MAX gives -EFBIG).
 */
int config_load_file(const char *path, struct config *c, char *err,
                     size_t errlen);

/*
 * Parse a Go-style duration ("500ms", "1.5s", "2m", "1h30m") into
 * nanoseconds.  Units ns, us (or µs), ms, s, m, h; a number may have a
 * fraction; "0" alone needs no unit; a leading '+' is allowed.  Negative,
 * empty, unit-less, unknown-unit and over-292-year (int64) values give
 * -EINVAL and leave *ns alone.  Returns 0 or -EINVAL.
 */
int config_duration(const char *text, uint64_t *ns);

/*
 * Whether the detector of spec key name ("blocklist", "dga",
 * "slowQuery", "tunneling", "exfiltration", "doh", "dot", "youngDomain",
 * "anomalousPort") is enabled in c: 1 or 0, and -1 for an unknown name.
 */
int config_detector_enabled(const struct config *c, const char *name);

/* 1 when a and b name the same sources with the same settings, else 0. */
int config_source_equal(const struct config_source *a,
                        const struct config_source *b);

#endif

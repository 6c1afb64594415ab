/*
 * cli.c - command-line parsing.
 */
#include "daemon/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_CLUSTER_ID = 256, OPT_CLUSTER_NAME, OPT_CONFIG_NAME,
    OPT_RESOLVER_ENDPOINT, OPT_RESOLVER_UDS, OPT_RESOLVER_INSECURE,
    OPT_RESOLVER_DISABLE, OPT_KUBECONFIG, OPT_STANDALONE, OPT_CONFIG,
    OPT_REPLAY, OPT_METRICS, OPT_HEALTH, OPT_LEADER_NS, OPT_NODE_NAME,
    OPT_LOG_LEVEL, OPT_DNSTAP_SOCKET, OPT_DNSTAP_TCP, OPT_INTERFACE,
    OPT_OUTPUT, OPT_EVENTS_OUT, OPT_COREDNS_ENDPOINT, OPT_COREDNS_TOKEN,
    OPT_COREDNS_CA, OPT_COREDNS_INSECURE, OPT_HELP, OPT_VERSION,
    OPT_LEASE_DURATION, OPT_RENEW_DEADLINE, OPT_RETRY_PERIOD, OPT_FORWARD,
    OPT_RESYNC, OPT_SOURCE_SILENCE, OPT_TETRAGON_SOCKET, OPT_RESOLVER_CA,
    OPT_FORWARD_INSECURE,
};

static const struct option cli_longopts[] = {
    {"cluster-id", required_argument, NULL, OPT_CLUSTER_ID},
    {"cluster-name", required_argument, NULL, OPT_CLUSTER_NAME},
    {"config-name", required_argument, NULL, OPT_CONFIG_NAME},
    {"resolver-endpoint", required_argument, NULL, OPT_RESOLVER_ENDPOINT},
    {"resolver-uds", required_argument, NULL, OPT_RESOLVER_UDS},
    {"resolver-insecure", no_argument, NULL, OPT_RESOLVER_INSECURE},
    {"resolver-disable", no_argument, NULL, OPT_RESOLVER_DISABLE},
    {"resolver-ca-file", required_argument, NULL, OPT_RESOLVER_CA},
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"standalone", no_argument, NULL, OPT_STANDALONE},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"replay", required_argument, NULL, OPT_REPLAY},
    {"metrics-bind-address", required_argument, NULL, OPT_METRICS},
    {"health-probe-bind-address", required_argument, NULL, OPT_HEALTH},
    {"leader-election-namespace", required_argument, NULL, OPT_LEADER_NS},
    {"node-name", required_argument, NULL, OPT_NODE_NAME},
    {"leader-lease-duration", required_argument, NULL, OPT_LEASE_DURATION},
    {"leader-renew-deadline", required_argument, NULL, OPT_RENEW_DEADLINE},
    {"leader-retry-period", required_argument, NULL, OPT_RETRY_PERIOD},
    {"forward-bind-address", required_argument, NULL, OPT_FORWARD},
    {"forward-insecure", no_argument, NULL, OPT_FORWARD_INSECURE},
    {"resync-period", required_argument, NULL, OPT_RESYNC},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"dnstap-socket", required_argument, NULL, OPT_DNSTAP_SOCKET},
    {"dnstap-tcp", required_argument, NULL, OPT_DNSTAP_TCP},
    {"interface", required_argument, NULL, OPT_INTERFACE},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"coredns-endpoint", required_argument, NULL, OPT_COREDNS_ENDPOINT},
    {"coredns-token-file", required_argument, NULL, OPT_COREDNS_TOKEN},
    {"coredns-ca-file", required_argument, NULL, OPT_COREDNS_CA},
    {"coredns-insecure", no_argument, NULL, OPT_COREDNS_INSECURE},
    {"tetragon-socket", required_argument, NULL, OPT_TETRAGON_SOCKET},
    {"source-silence", required_argument, NULL, OPT_SOURCE_SILENCE},
    {"events-out", required_argument, NULL, OPT_EVENTS_OUT},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

void
cli_usage(FILE *out)
{
    fputs(
"usage: ugallu-dns-detect [FLAGS]\n"
"       ugallu-dns-detect explain [--config FILE] [NAME...]\n"
"\n"
"Watches DNS traffic and raises SecurityEvents when a query crosses a\n"
"detector.  explain prints one JSON line per NAME (stdin when none) with\n"
"every per-name detector's verdict.\n"
"\n"
"Standalone mode:\n"
"  --standalone                 run without Kubernetes\n"
"  --config FILE                DNSDetectConfig manifest (YAML)\n"
"  --replay CAPTURE             read a dnstap or pcap/pcapng file, exit at\n"
"                               its end\n"
"\n"
"Sources and outputs (both modes):\n"
"  --dnstap-socket PATH         Frame Streams receiver on a unix socket\n"
"  --dnstap-tcp HOST:PORT       Frame Streams receiver on TCP\n"
"  --interface IFACE            live packet capture (needs CAP_NET_RAW)\n"
"  --coredns-endpoint HOST:PORT the ugallu CoreDNS plugin's stream; repeat\n"
"                               for every CoreDNS (else spec.source\n"
"                               endpoints with mode coredns-ugallu)\n"
"  --coredns-token-file PATH    its bearer token (default\n"
"                               /var/run/secrets/ugallu-coredns-grpc-token/\n"
"                               token)\n"
"  --coredns-ca-file PATH       TLS roots for the plugin\n"
"  --coredns-insecure           plaintext to the plugin\n"
"  --tetragon-socket PATH       Tetragon's gRPC socket (mode tetragon's\n"
"                               default: /var/run/tetragon/tetragon.sock)\n"
"  --source-silence D           no event for D: DNSSourceSilent and the\n"
"                               fallback (overrides silenceAfter)\n"
"  --output FILE                SecurityEvent JSON lines (default stdout)\n"
"  --events-out FILE            every normalised event as JSON lines\n"
"                               (\"-\" for stdout)\n"
"\n"
"Kubernetes:\n"
"  --kubeconfig FILE            kubeconfig (default: in-cluster config)\n"
"  --config-name NAME           DNSDetectConfig to follow (default\n"
"                               \"default\")\n"
"  --leader-election-namespace NS\n"
"                               namespace of the Lease (default\n"
"                               \"ugallu-system\")\n"
"  --node-name NAME             this node (default $HOSTNAME)\n"
"  --leader-lease-duration D    leader Lease duration (default 15s)\n"
"  --leader-renew-deadline D    leader gives up when it could not renew\n"
"                               for D (default 10s)\n"
"  --leader-retry-period D      acquire/renew interval (default 2s)\n"
"  --forward-bind-address ADDR  where this pod takes findings forwarded\n"
"                               by the others, POST /v1/findings (default\n"
"                               :9091; advertised in the Lease as\n"
"                               $POD_IP, else the bind host, else\n"
"                               127.0.0.1, and this port)\n"
"  --forward-insecure           take forwarded findings without checking\n"
"                               that the sender runs as this pod's\n"
"                               ServiceAccount (TokenReview)\n"
"  --resync-period D            status patch and missing-config retry\n"
"                               interval (default 30s)\n"
"  --cluster-id ID              spec.clusterIdentity.clusterID\n"
"  --cluster-name NAME          spec.clusterIdentity.clusterName\n"
"  --resolver-endpoint HOST:PORT\n"
"                               ugallu resolver over TCP (default :9000)\n"
"  --resolver-uds PATH          ugallu resolver unix socket (default\n"
"                               /var/run/ugallu/resolver.sock)\n"
"  --resolver-ca-file PATH      TLS roots for the resolver (default the\n"
"                               system's)\n"
"  --resolver-insecure          plaintext to the resolver\n"
"  --resolver-disable           no resolver lookups (the Pod index of\n"
"                               the node still attributes in a cluster)\n"
"\n"
"Observability:\n"
"  --metrics-bind-address ADDR  /metrics (default :9090; \"0\" disables)\n"
"  --health-probe-bind-address ADDR\n"
"                               /healthz and /readyz (default :8081)\n"
"  --log-level LEVEL            error, warn, info or debug (default info)\n"
"  --help, --version\n", out);
}

static void
cli_defaults(struct cli_options *o)
{
    const char *host = getenv("HOSTNAME");

    memset(o, 0, sizeof(*o));
    o->config_name = "default";
    o->metrics_addr = ":9090";
    o->health_addr = ":8081";
    o->leader_ns = "ugallu-system";
    o->node_name = host != NULL && host[0] != '\0' ? host : "localhost";
    o->log_level = "info";
    o->lease_duration = "15s";
    o->renew_deadline = "10s";
    o->retry_period = "2s";
    o->forward_addr = ":9091";
    o->resync_period = "30s";
    o->resolver_endpoint = ":9000";
    o->resolver_uds = "/var/run/ugallu/resolver.sock";
    o->cluster_id = "";
    o->cluster_name = "";
    o->coredns_token_file =
        "/var/run/secrets/ugallu-coredns-grpc-token/token";
}

/* Options that carry a string: where each one goes. */
static const char **
cli_string_slot(struct cli_options *o, int opt)
{
    switch (opt) {
    case OPT_CLUSTER_ID: return &o->cluster_id;
    case OPT_CLUSTER_NAME: return &o->cluster_name;
    case OPT_CONFIG_NAME: return &o->config_name;
    case OPT_RESOLVER_ENDPOINT: return &o->resolver_endpoint;
    case OPT_RESOLVER_UDS: return &o->resolver_uds;
    case OPT_RESOLVER_CA: return &o->resolver_ca_file;
    case OPT_KUBECONFIG: return &o->kubeconfig;
    case OPT_CONFIG: return &o->config_path;
    case OPT_REPLAY: return &o->replay;
    case OPT_METRICS: return &o->metrics_addr;
    case OPT_HEALTH: return &o->health_addr;
    case OPT_LEADER_NS: return &o->leader_ns;
    case OPT_NODE_NAME: return &o->node_name;
    case OPT_LOG_LEVEL: return &o->log_level;
    case OPT_DNSTAP_SOCKET: return &o->dnstap_socket;
    case OPT_DNSTAP_TCP: return &o->dnstap_tcp;
    case OPT_INTERFACE: return &o->interface;
    case OPT_OUTPUT: return &o->output;
    case OPT_EVENTS_OUT: return &o->events_out;
    case OPT_COREDNS_TOKEN: return &o->coredns_token_file;
    case OPT_COREDNS_CA: return &o->coredns_ca_file;
    case OPT_TETRAGON_SOCKET: return &o->tetragon_socket;
    case OPT_SOURCE_SILENCE: return &o->source_silence;
    case OPT_LEASE_DURATION: return &o->lease_duration;
    case OPT_RENEW_DEADLINE: return &o->renew_deadline;
    case OPT_RETRY_PERIOD: return &o->retry_period;
    case OPT_FORWARD: return &o->forward_addr;
    case OPT_RESYNC: return &o->resync_period;
    default: return NULL;
    }
}

static int
cli_flag(struct cli_options *o, int opt)
{
    const char **slot = cli_string_slot(o, opt);

    if (slot != NULL) {
        *slot = optarg;
        o->metrics_addr_set |= opt == OPT_METRICS;
        o->health_addr_set |= opt == OPT_HEALTH;
        return 0;
    }
    switch (opt) {
    case OPT_RESOLVER_INSECURE: o->resolver_insecure = 1; return 0;
    case OPT_FORWARD_INSECURE: o->forward_insecure = 1; return 0;
    case OPT_RESOLVER_DISABLE: o->resolver_disable = 1; return 0;
    case OPT_COREDNS_INSECURE: o->coredns_insecure = 1; return 0;
    case OPT_COREDNS_ENDPOINT:
        if (o->ncoredns == 16) {
            return -EINVAL;
        }
        o->coredns_endpoints[o->ncoredns++] = optarg;
        return 0;
    case OPT_STANDALONE: o->standalone = 1; return 0;
    case OPT_HELP: o->command = CLI_HELP; return 0;
    case OPT_VERSION: o->command = CLI_VERSION; return 0;
    default: return -EINVAL;
    }
}

/* Flags from argv[optind] on, up to the first non-flag. */
static int
cli_flags(int argc, char **argv, struct cli_options *o, char *err,
          size_t errlen)
{
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", cli_longopts, NULL)) != -1) {
        if (opt == 'h') {
            opt = OPT_HELP;
        }
        if (opt == '?' || opt == ':' || cli_flag(o, opt) != 0) {
            snprintf(err, errlen, "unknown or incomplete flag '%s'",
                     argv[optind - 1]);
            return -EINVAL;
        }
    }
    return 0;
}

int
cli_parse(int argc, char **argv, struct cli_options *o, char *err,
          size_t errlen)
{
    cli_defaults(o);
    optind = 1;
    if (cli_flags(argc, argv, o, err, errlen) != 0) {
        return -EINVAL;
    }
    if (optind < argc && strcmp(argv[optind], "explain") == 0) {
        int sub = optind;

        o->command = o->command == CLI_RUN ? CLI_EXPLAIN : o->command;
        optind = 1;
        if (cli_flags(argc - sub, argv + sub, o, err, errlen) != 0) {
            return -EINVAL;
        }
        o->names = argv + sub + optind;
        o->nnames = argc - sub - optind;
        return 0;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    return 0;
}

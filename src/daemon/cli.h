/*
 * cli.h - the command line.
 *
 * Every flag is documented in cli_usage(), which is what --help prints
 * and what the README's reference mirrors.
 */
#ifndef DD_CLI_H
#define DD_CLI_H

#include <stddef.h>
#include <stdio.h>

enum cli_command {
    CLI_RUN = 0,      /* the daemon (standalone or in a cluster) */
    CLI_EXPLAIN,      /* explain NAME... */
    CLI_HELP,
    CLI_VERSION,
};

struct cli_options {
    enum cli_command command;
    int standalone;
    const char *config_path;        /* --config FILE */
    const char *replay;             /* --replay CAPTURE */
    const char *kubeconfig;
    const char *cluster_id;
    const char *cluster_name;
    const char *config_name;        /* default "default" */
    const char *resolver_endpoint;
    const char *resolver_uds;
    const char *resolver_ca_file;   /* TLS roots, NULL: system's */
    int resolver_insecure;
    int resolver_disable;
    const char *metrics_addr;       /* default ":9090" */
    const char *health_addr;        /* default ":8081" */
    int metrics_addr_set;           /* given on the command line */
    int health_addr_set;
    const char *leader_ns;          /* default "ugallu-system" */
    const char *node_name;          /* default $HOSTNAME */
    const char *lease_duration;     /* --leader-lease-duration, "15s" */
    const char *renew_deadline;     /* --leader-renew-deadline, "10s" */
    const char *retry_period;       /* --leader-retry-period, "2s" */
    const char *forward_addr;       /* --forward-bind-address, ":9091" */
    int forward_insecure;           /* --forward-insecure */
    const char *resync_period;      /* --resync-period, "30s" */
    const char *log_level;          /* default "info" */
    const char *dnstap_socket;      /* overrides spec.source */
    const char *dnstap_tcp;
    const char *interface;
    const char *coredns_endpoints[16]; /* --coredns-endpoint, repeated */
    int ncoredns;
    const char *coredns_token_file; /* bearer token of the plugin */
    const char *coredns_ca_file;    /* TLS roots for the plugin */
    int coredns_insecure;           /* plaintext to the plugin */
    const char *tetragon_socket;    /* Tetragon's unix socket */
    const char *source_silence;     /* --source-silence, NULL: config */
    const char *output;             /* findings file, default stdout */
    const char *events_out;         /* events file, "-" for stdout */
    char **names;                   /* explain: names from argv */
    int nnames;
};

/*
 * Parse argv into o (defaults first).  Returns 0, or -EINVAL with a
 * message in err.  o points into argv; keep argv alive.
 */
int cli_parse(int argc, char **argv, struct cli_options *o, char *err,
              size_t errlen);

/* Print the usage text. */
void cli_usage(FILE *out);

#endif

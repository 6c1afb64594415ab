/*
 * corednssrc_cli.c - drive the coredns-ugallu source from the system
 * tests: subscribe to one or more CoreDNS endpoints and print every event
 * as a JSON line on stdout.
 *
 *   corednssrc_cli --endpoint HOST:PORT [--endpoint ...]
 *                  (--token-file PATH | --token TEXT) [--node NAME]
 *                  [--tls --ca FILE [--server-name NAME]] [--unplaced]
 *                  [--rate N] [--count N] [--seconds S]
 *                  [--endpoints-file PATH] [--stats-ms MS]
 *                  [--log-level LEVEL]
 *
 * Each event line is evjson's object plus the raw fields the tests check
 * ("time_ns", "latency_ns", "flags", "dns_flags", "cgroup_id", "rcode_n",
 * "qtype_n").  Every --stats-ms (default 500) and at exit a line
 * {"stats":{...}} goes to stderr with the source's counters and
 * endpoints.  SIGHUP rereads --endpoints-file (one target per line) and
 * replaces the endpoint set with it.  Exits 0 after --count events,
 * --seconds, SIGINT or SIGTERM; 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "output/evjson.h"
#include "sources/corednssrc.h"

struct cli {
    struct corednssrc_opts opts;
    const char *endpoints[COREDNSSRC_ENDPOINTS_MAX];
    const char *endpoints_file;
    unsigned long count;
    double seconds;
    unsigned long stats_ms;
    pthread_mutex_t out_mu;
    unsigned long printed;
};

static volatile sig_atomic_t cli_stop;
static volatile sig_atomic_t cli_hup;

static void
cli_on_signal(int sig)
{
    if (sig == SIGHUP) {
        cli_hup = 1;
    } else {
        cli_stop = 1;
    }
}

static void
cli_emit(void *ctx, const struct event *ev)
{
    struct cli *c = ctx;
    json_t *o = evjson_build(ev);
    char *line;

    if (o == NULL) {
        return;
    }
    json_object_set_new(o, "time_ns", json_integer((json_int_t)ev->time_ns));
    json_object_set_new(o, "latency_ns",
                        json_integer((json_int_t)ev->latency_ns));
    json_object_set_new(o, "flags", json_integer(ev->flags));
    json_object_set_new(o, "dns_flags", json_integer(ev->dns_flags));
    json_object_set_new(o, "cgroup_id",
                        json_integer((json_int_t)ev->cgroup_id));
    json_object_set_new(o, "rcode_n", json_integer(ev->rcode));
    json_object_set_new(o, "qtype_n", json_integer(ev->qtype));
    line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (line == NULL) {
        return;
    }
    pthread_mutex_lock(&c->out_mu);
    fprintf(stdout, "%s\n", line);
    fflush(stdout);
    if (c->count > 0 && ++c->printed >= c->count) {
        cli_stop = 1;
    }
    pthread_mutex_unlock(&c->out_mu);
    free(line);
}

static void
cli_stats(struct corednssrc *s)
{
    struct corednssrc_endpoint_info eps[COREDNSSRC_ENDPOINTS_MAX];
    struct corednssrc_stats st;
    size_t n = corednssrc_endpoint_list(s, eps, COREDNSSRC_ENDPOINTS_MAX);
    json_t *list = json_array();
    json_t *o;
    char *line;

    corednssrc_stats(s, &st);
    for (size_t i = 0; i < n && i < COREDNSSRC_ENDPOINTS_MAX; i++) {
        json_array_append_new(list, json_pack("{s:s, s:I, s:b, s:i}",
            "target", eps[i].target, "serial", (json_int_t)eps[i].serial,
            "up", eps[i].up, "attempt", (int)eps[i].attempt));
    }
    o = json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}", "stats",
        "streams_up", (json_int_t)st.streams_up,
        "connects", (json_int_t)st.connects,
        "reconnects", (json_int_t)st.reconnects,
        "events", (json_int_t)st.events,
        "malformed", (json_int_t)st.malformed,
        "auth_failures", (json_int_t)st.auth_failures,
        "last_event_ns", (json_int_t)corednssrc_last_event_ns(s),
        "endpoints", list);
    line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line != NULL) {
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
    }
    free(line);
    json_decref(o);
}

/* SIGHUP: replace the endpoint set with the lines of the file. */
static void
cli_reload(struct corednssrc *s, const char *path)
{
    static char lines[COREDNSSRC_ENDPOINTS_MAX][COREDNSSRC_TARGET_MAX];
    const char *targets[COREDNSSRC_ENDPOINTS_MAX];
    size_t n = 0;
    FILE *f = fopen(path, "r");
    int rc;

    if (f == NULL) {
        log_warn("cannot read endpoints file", "path=%s", path);
        return;
    }
    while (n < COREDNSSRC_ENDPOINTS_MAX &&
           fgets(lines[n], sizeof(lines[n]), f) != NULL) {
        lines[n][strcspn(lines[n], " \r\n")] = '\0';
        if (lines[n][0] != '\0') {
            targets[n] = lines[n];
            n++;
        }
    }
    fclose(f);
    rc = corednssrc_set_endpoints(s, targets, n);
    log_info("endpoints replaced", "count=%zu rc=%d", n, rc);
}

static int
cli_number(const char *text, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(text, &end);
    return errno == 0 && end != text && *end == '\0' && *out >= 0 ? 0 : -1;
}

static const struct option cli_longopts[] = {
    { "endpoint", required_argument, NULL, 'e' },
    { "token-file", required_argument, NULL, 'f' },
    { "token", required_argument, NULL, 't' },
    { "node", required_argument, NULL, 'n' },
    { "tls", no_argument, NULL, 'T' },
    { "ca", required_argument, NULL, 'C' },
    { "server-name", required_argument, NULL, 'S' },
    { "unplaced", no_argument, NULL, 'u' },
    { "rate", required_argument, NULL, 'r' },
    { "count", required_argument, NULL, 'c' },
    { "seconds", required_argument, NULL, 's' },
    { "endpoints-file", required_argument, NULL, 'E' },
    { "stats-ms", required_argument, NULL, 'm' },
    { "log-level", required_argument, NULL, 'l' },
    { NULL, 0, NULL, 0 },
};

/* One option; returns 0 or -1 on a bad value. */
static int
cli_option(struct cli *c, int ch, const char *arg)
{
    double v = 0;

    if (strchr("rcsm", ch) != NULL && cli_number(arg, &v) < 0) {
        return -1;
    }
    switch (ch) {
    case 'e':
        if (c->opts.nendpoints >= COREDNSSRC_ENDPOINTS_MAX) {
            return -1;
        }
        c->endpoints[c->opts.nendpoints++] = arg;
        return 0;
    case 'f': c->opts.token_file = arg; return 0;
    case 't': c->opts.token = arg; return 0;
    case 'n': c->opts.subscriber_id = arg; return 0;
    case 'T': c->opts.tls = 1; return 0;
    case 'C': c->opts.ca_file = arg; return 0;
    case 'S': c->opts.server_name = arg; return 0;
    case 'u': c->opts.include_unplaced = 1; return 0;
    case 'r': c->opts.max_events_per_sec = (uint32_t)v; return 0;
    case 'c': c->count = (unsigned long)v; return 0;
    case 's': c->seconds = v; return 0;
    case 'E': c->endpoints_file = arg; return 0;
    case 'm': c->stats_ms = (unsigned long)v; return 0;
    case 'l': return log_set_level(arg) == 0 ? 0 : -1;
    default: return -1;
    }
}

static double
cli_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
cli_loop(struct cli *c, struct corednssrc *s)
{
    double start = cli_now(), last_stats = start;
    struct timespec tick = { 0, 20000000 };

    while (!cli_stop && (c->seconds == 0 || cli_now() - start < c->seconds)) {
        nanosleep(&tick, NULL);
        if (cli_hup && c->endpoints_file != NULL) {
            cli_hup = 0;
            cli_reload(s, c->endpoints_file);
        }
        if (c->stats_ms > 0 && (cli_now() - last_stats) * 1000 >=
            (double)c->stats_ms) {
            last_stats = cli_now();
            cli_stats(s);
        }
    }
}

int
main(int argc, char **argv)
{
    static struct cli c;
    struct corednssrc *s;
    char err[256];
    int ch;

    c.stats_ms = 500;
    pthread_mutex_init(&c.out_mu, NULL);
    while ((ch = getopt_long(argc, argv, "", cli_longopts, NULL)) != -1) {
        if (cli_option(&c, ch, optarg) < 0) {
            fprintf(stderr, "corednssrc_cli: bad arguments\n");
            return 2;
        }
    }
    c.opts.endpoints = c.endpoints;
    signal(SIGINT, cli_on_signal);
    signal(SIGTERM, cli_on_signal);
    signal(SIGHUP, cli_on_signal);

    s = corednssrc_open(&c.opts, cli_emit, &c, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "corednssrc_cli: %s\n", err);
        return 2;
    }
    if (corednssrc_start(s) != 0) {
        fprintf(stderr, "corednssrc_cli: cannot start\n");
        corednssrc_free(s);
        return 1;
    }
    cli_loop(&c, s);
    corednssrc_stop(s);
    cli_stats(s);
    corednssrc_free(s);
    return 0;
}

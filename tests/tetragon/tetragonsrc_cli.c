/*
 * tetragonsrc_cli.c - drive the tetragon source from the system tests:
 * stream GetEvents from a Tetragon socket (or the test peer) and print
 * every event as a JSON line on stdout.
 *
 *   tetragonsrc_cli --target unix:/path [--count N] [--seconds S]
 *                   [--log-level LEVEL]
 *
 * Each line is evjson's object plus "pod_namespace", "qtype_n" and
 * "flags".  At exit a line {"stats":{...}} goes to stderr with the
 * source's counters.  Exits 0 after --count events, --seconds (default
 * 30), SIGINT or SIGTERM; 2 on bad arguments.
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
#include "sources/grpcstream.h"
#include "sources/tetragonsrc.h"

struct cli {
    struct tetragonsrc_opts opts;
    unsigned long count;
    double seconds;
    pthread_mutex_t out_mu;
    unsigned long printed;
};

static volatile sig_atomic_t cli_stop;

static void
cli_on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
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
    json_object_set_new(o, "pod_namespace", json_string(ev->pod_namespace));
    json_object_set_new(o, "qtype_n", json_integer(ev->qtype));
    json_object_set_new(o, "flags", json_integer(ev->flags));
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
cli_stats(const struct tetragonsrc *s)
{
    struct tetragonsrc_stats st;

    tetragonsrc_stats(s, &st);
    fprintf(stderr, "{\"stats\":{\"up\":%llu,\"connects\":%llu,"
            "\"reconnects\":%llu,\"events\":%llu,\"skipped\":%llu,"
            "\"malformed\":%llu}}\n", (unsigned long long)st.up,
            (unsigned long long)st.connects,
            (unsigned long long)st.reconnects,
            (unsigned long long)st.events, (unsigned long long)st.skipped,
            (unsigned long long)st.malformed);
    fflush(stderr);
}

static int
cli_args(int argc, char **argv, struct cli *c)
{
    static const struct option longopts[] = {
        { "target", required_argument, NULL, 't' },
        { "count", required_argument, NULL, 'n' },
        { "seconds", required_argument, NULL, 's' },
        { "log-level", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    char *end = NULL;
    int ch;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        errno = 0;
        if (ch == 't') {
            c->opts.target = optarg;
        } else if (ch == 'n') {
            c->count = strtoul(optarg, &end, 10);
        } else if (ch == 's') {
            c->seconds = strtod(optarg, &end);
        } else if (ch == 'l') {
            if (log_set_level(optarg) < 0) {
                return -1;
            }
        } else {
            return -1;
        }
        if (end != NULL && (*end != '\0' || errno != 0)) {
            return -1;
        }
        end = NULL;
    }
    return optind == argc ? 0 : -1;
}

/* Wait for a stop, the count or the deadline. */
static void
cli_wait(const struct cli *c)
{
    struct timespec nap = { 0, 20000000 };
    double waited = 0;

    while (!cli_stop && waited < c->seconds) {
        nanosleep(&nap, NULL);
        waited += 0.02;
    }
}

int
main(int argc, char **argv)
{
    struct cli c = { .seconds = 30 };
    char err[256];
    struct tetragonsrc *s;

    pthread_mutex_init(&c.out_mu, NULL);
    if (cli_args(argc, argv, &c) < 0) {
        fprintf(stderr, "usage: tetragonsrc_cli --target T [--count N] "
                "[--seconds S] [--log-level L]\n");
        return 2;
    }
    signal(SIGINT, cli_on_signal);
    signal(SIGTERM, cli_on_signal);
    grpcstream_global_init();
    s = tetragonsrc_open(&c.opts, cli_emit, &c, err, sizeof(err));
    if (s == NULL || tetragonsrc_start(s) < 0) {
        fprintf(stderr, "%s\n", s == NULL ? err : "cannot start");
        tetragonsrc_free(s);
        return 1;
    }

    cli_wait(&c);
    tetragonsrc_stop(s);
    cli_stats(s);
    tetragonsrc_free(s);
    grpcstream_global_shutdown();
    pthread_mutex_destroy(&c.out_mu);
    return 0;
}

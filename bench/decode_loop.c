/*
 * decode_loop.c - the daemon's event path alone: the Frame Streams reader,
 * the dnstap decoder and the DNS parser fill one struct event per frame,
 * with no detector behind them.  The same measure as fstrm_loop.c, for
 * the ratio.  Prints frames, seconds and frames per second.
 */
#include <stdio.h>
#include <time.h>

#include "sources/dnstap_listen.h"

static double
loop_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Touch the event so the work cannot be optimised away. */
static void
loop_count(void *ctx, const struct event *ev)
{
    unsigned long *sum = ctx;

    *sum += ev->qname_len + ev->qtype + ev->rcode;
}

int
main(int argc, char **argv)
{
    unsigned long sum = 0;
    uint64_t frames = 0;
    char err[256];
    double t0, secs;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.dnstap\n", argv[0]);
        return 2;
    }
    t0 = loop_now();
    if (dnstap_listen_read_file(argv[1], loop_count, &sum, &frames, err,
                                sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    secs = loop_now() - t0;
    printf("frames=%llu checksum=%lu cpu_seconds=%.3f "
           "frames_per_second=%.0f\n", (unsigned long long)frames, sum,
           secs, frames / secs);
    return 0;
}

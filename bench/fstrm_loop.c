/*
 * fstrm_loop.c - the generic dnstap decode loop the daemon is measured
 * against: libfstrm reads every frame of a file and protobuf-c unpacks
 * and frees it.  Prints frames, seconds and frames per second.
 */
#include <fstrm.h>
#include <stdio.h>
#include <time.h>

#include "dnstap.pb-c.h"

static double
loop_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long
loop_read(struct fstrm_reader *r, long *bad)
{
    const uint8_t *data;
    size_t len;
    long frames = 0;

    while (fstrm_reader_read(r, &data, &len) == fstrm_res_success) {
        Dnstap__Dnstap *d = dnstap__dnstap__unpack(NULL, len, data);
        if (d == NULL) {
            (*bad)++;
            continue;
        }
        frames++;
        dnstap__dnstap__free_unpacked(d, NULL);
    }
    return frames;
}

int
main(int argc, char **argv)
{
    struct fstrm_file_options *fopt;
    struct fstrm_reader *r;
    long frames, bad = 0;
    double t0, secs;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.dnstap\n", argv[0]);
        return 2;
    }
    fopt = fstrm_file_options_init();
    fstrm_file_options_set_file_path(fopt, argv[1]);
    r = fstrm_file_reader_init(fopt, NULL);
    fstrm_file_options_destroy(&fopt);
    if (r == NULL || fstrm_reader_open(r) != fstrm_res_success) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    t0 = loop_now();
    frames = loop_read(r, &bad);
    secs = loop_now() - t0;
    fstrm_reader_destroy(&r);
    printf("frames=%ld bad=%ld cpu_seconds=%.3f frames_per_second=%.0f\n",
           frames, bad, secs, frames / secs);
    return 0;
}

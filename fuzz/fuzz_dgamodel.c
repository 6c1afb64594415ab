/*
 * fuzz_dgamodel.c - the dga detector's model file: any text either loads
 * or is refused with a message naming the detector, and a model that
 * loads judges names (at both bars) without fault.
 *
 * The input is written as ngram-model.txt in a directory of this process
 * that UGALLU_DATA_DIR points to, since the detector reads its model by
 * name from the data directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "detectors/chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[64];
static char fuzz_path[128];

static void
fuzz_cleanup(void)
{
    unlink(fuzz_path);
    rmdir(fuzz_dir);
}

/* The data directory, made once per process; 0 or -1. */
static int
fuzz_datadir(void)
{
    if (fuzz_dir[0] != '\0') {
        return 0;
    }
    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz-dgamodel-XXXXXX");
    if (mkdtemp(fuzz_dir) == NULL) {
        fuzz_dir[0] = '\0';
        return -1;
    }
    snprintf(fuzz_path, sizeof(fuzz_path), "%s/ngram-model.txt",
             fuzz_dir);
    setenv("UGALLU_DATA_DIR", fuzz_dir, 1);
    atexit(fuzz_cleanup);
    return 0;
}

static int
fuzz_write(const uint8_t *data, size_t size)
{
    FILE *f = fopen(fuzz_path, "wb");
    int ok;

    if (f == NULL) {
        return -1;
    }
    ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"qzxkvj.com", "github.com",
                                        "a.b.example.co.uk",
                                        "x1y2.duckdns.org"};
    struct config c;
    struct detector *d;
    char err[256] = "";

    if (fuzz_datadir() != 0 || fuzz_write(data, size) != 0) {
        return 0;
    }
    config_defaults(&c);
    c.dga.min_length = 4;
    c.dga.min_entropy = 0;
    d = dga_create(&c, err, sizeof(err));
    if (d == NULL) {
        if (strncmp(err, "dga:", 4) != 0) {
            __builtin_trap();
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *o = json_object();

        d->explain(d, names[i], o);
        json_decref(o);
    }
    d->free(d);
    return 0;
}

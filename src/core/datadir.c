/*
 * datadir.c - locating shipped data files.
 */
#include "core/datadir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char *
datadir_root(void)
{
    const char *env = getenv("UGALLU_DATA_DIR");

    if (env != NULL && env[0] != '\0') {
        return env;
    }
#ifdef DATADIR
    return DATADIR;
#else
    return "data";
#endif
}

int
datadir_path(const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", datadir_root(), name);

    if (n < 0 || (size_t)n >= len) {
        if (len > 0) {
            buf[0] = '\0';
        }
        return -ENAMETOOLONG;
    }
    return 0;
}

/*
 * datadir.c - locating shipped data files.
 */
#include "core/datadir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *
datadir_root(void)
{
    static const char *const built[] = {
#ifdef DATADIR
        DATADIR,
#endif
#ifdef SRC_DATADIR
        SRC_DATADIR,
#endif
        "data",
    };
    const char *env = getenv("UGALLU_DATA_DIR");
    size_t n = sizeof(built) / sizeof(built[0]);

    if (env != NULL && env[0] != '\0') {
        return env;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (access(built[i], R_OK | X_OK) == 0) {
            return built[i];
        }
    }
    return built[n - 1];
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

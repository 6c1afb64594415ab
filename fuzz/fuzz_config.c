/*
 * fuzz_config.c - config_parse() on arbitrary bytes: it must return 0 or
 * a negative errno with a NUL-terminated message, never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config c;
    char err[256];
    int rc;

    memset(err, 'x', sizeof(err));
    rc = config_parse((const char *)data, size, &c, err, sizeof(err));
    if (rc > 0 || memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }
    if (rc < 0 && err[0] == '\0') {
        abort();
    }
    return 0;
}

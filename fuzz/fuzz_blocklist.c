/*
 * fuzz_blocklist.c - the blocklist parser and index: any text either
 * loads or fails with a message, and every name of the input can then be
 * looked up.
 */
#include <stdint.h>
#include <string.h>

#include "detectors/blocklist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Look up every whitespace-separated token of the input, as given. */
static void
fuzz_lookups(const struct blocklist_index *ix, const char *s, size_t n)
{
    struct blocklist_hit hit;
    size_t i = 0;

    while (i < n) {
        size_t j = i;

        while (j < n && s[j] != ' ' && s[j] != '\n' && s[j] != '\t') {
            j++;
        }
        if (j > i && blocklist_index_lookup(ix, s + i, j - i, &hit)) {
            if (hit.entry == NULL || hit.list == NULL) {
                __builtin_trap();
            }
        }
        i = j + 1;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct blocklist_builder *b = blocklist_builder_new();
    struct blocklist_index *ix;
    char err[256];

    if (b == NULL) {
        return 0;
    }
    if (blocklist_builder_add_text(b, "fuzz", (const char *)data, size, err,
                                   sizeof(err)) != 0) {
        if (strncmp(err, "fuzz:", 5) != 0) {
            __builtin_trap();
        }
        blocklist_builder_free(b);
        return 0;
    }
    ix = blocklist_builder_finish(b);
    fuzz_lookups(ix, (const char *)data, size);
    blocklist_index_free(ix);
    return 0;
}

/*
 * fuzz_corednsdisc.c - what CoreDNS discovery reads from the API, on
 * arbitrary bytes: parsed as JSON, an array goes through
 * corednsdisc_targets() (EndpointSlices) and an object through
 * corednsdisc_secret_token() (a Secret) and, wrapped in an array, through
 * corednsdisc_targets() too.  Targets must come out sorted, unique,
 * NUL-terminated and within the limit; a token must be NUL-terminated
 * and non-empty on success.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "k8s/corednsdisc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_targets(const json_t *slices)
{
    char t[COREDNSDISC_TARGETS_MAX][COREDNSDISC_TARGET_LEN];
    size_t cut, n = corednsdisc_targets(slices, 9253, t,
                                        COREDNSDISC_TARGETS_MAX, &cut);

    if (n > COREDNSDISC_TARGETS_MAX) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (memchr(t[i], '\0', sizeof(t[i])) == NULL ||
            (i > 0 && strcmp(t[i - 1], t[i]) >= 0)) {
            abort();
        }
    }
}

static void
fuzz_token(const json_t *secret)
{
    char tok[64];
    int rc = corednsdisc_secret_token(secret, tok, sizeof(tok));

    if (rc > 0 || (rc == 0 && (memchr(tok, '\0', sizeof(tok)) == NULL ||
                               tok[0] == '\0'))) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    json_t *one;

    if (doc == NULL) {
        return 0;
    }
    if (json_is_array(doc)) {
        fuzz_targets(doc);
    } else {
        fuzz_token(doc);
        one = json_pack("[O]", doc);
        fuzz_targets(one);
        json_decref(one);
    }
    json_decref(doc);
    return 0;
}

/*
 * fuzz_resolver.c - resolver_decode() on arbitrary bytes.
 *
 * Besides memory safety, checks what a decoded answer promises: an
 * unresolved answer carries no pod; a resolved one has a namespace and a
 * name of DNS-label text, all strings terminated within their fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_resolver_text(const char *s, size_t cap, int may_be_empty)
{
    size_t n = strnlen(s, cap);

    if (n == cap || (n == 0 && !may_be_empty)) {
        abort();
    }
    if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct resolver_answer a;

    if (resolver_decode(data, size, &a) != 0) {
        return 0;
    }
    if (strnlen(a.diagnostic, sizeof(a.diagnostic)) ==
        sizeof(a.diagnostic)) {
        abort();
    }
    if (a.unresolved) {
        if (a.pod.name[0] != '\0' || a.pod.namespace_[0] != '\0') {
            abort();
        }
        return 0;
    }
    fuzz_resolver_text(a.pod.name, sizeof(a.pod.name), 0);
    fuzz_resolver_text(a.pod.namespace_, sizeof(a.pod.namespace_), 0);
    if (strnlen(a.pod.uid, sizeof(a.pod.uid)) == sizeof(a.pod.uid)) {
        abort();
    }
    return 0;
}

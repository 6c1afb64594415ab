/*
 * fuzz_dnstap.c - dnstap_decode() on arbitrary bytes.
 *
 * Besides memory safety, checks what a decoded event promises: source
 * and kind set, latency consistent with the two times, a role in range,
 * and an error that always has a label.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/dnstap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_dnstap_check(const struct event *ev)
{
    if (ev->source != EVENT_SOURCE_DNSTAP || ev->kind != EVENT_KIND_DNS ||
        ev->role < EVENT_ROLE_AUTH || ev->role > EVENT_ROLE_UPDATE ||
        ev->transport > EVENT_TRANSPORT_DOQ) {
        abort();
    }
    if ((ev->flags & EVENT_F_LATENCY) &&
        (ev->response_ns < ev->time_ns ||
         ev->latency_ns != ev->response_ns - ev->time_ns)) {
        abort();
    }
    if (strlen(ev->qname) != ev->qname_len) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event ev;
    int rc = dnstap_decode(data, size, &ev);

    if (rc == 0) {
        fuzz_dnstap_check(&ev);
    } else if (rc > 0 || dnstap_error_name(rc) == NULL) {
        abort();
    }
    return 0;
}

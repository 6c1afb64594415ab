/*
 * fuzz_corednsevent.c - corednssrc_decode() on arbitrary bytes.
 *
 * Besides memory safety, checks what a decoded event promises: source,
 * kind, role and flags set, latency consistent with the two times, the
 * qname's length and form (lowercase, no trailing dot but for the root),
 * a bounded answer summary, and an error that always has a label.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/corednssrc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_corednsevent_qname(const struct event *ev)
{
    size_t n = strlen(ev->qname);

    if (n != ev->qname_len || ((ev->flags & EVENT_F_QUESTION) != 0) !=
        (n > 0)) {
        abort();
    }
    if (n > 1 && ev->qname[n - 1] == '.') {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (ev->qname[i] >= 'A' && ev->qname[i] <= 'Z') {
            abort();
        }
    }
}

static void
fuzz_corednsevent_check(const struct event *ev)
{
    uint32_t always = EVENT_F_QUERY | EVENT_F_RESPONSE;

    if (ev->source != EVENT_SOURCE_COREDNS || ev->kind != EVENT_KIND_DNS ||
        ev->role != EVENT_ROLE_CLIENT || ev->transport > EVENT_TRANSPORT_DOQ ||
        (ev->flags & always) != always || ev->time_ns == 0 ||
        ev->answer_count > EVENT_ANSWERS_MAX || ev->rcode > 4095) {
        abort();
    }
    if ((ev->flags & EVENT_F_LATENCY) &&
        (ev->response_ns < ev->time_ns ||
         ev->latency_ns != ev->response_ns - ev->time_ns)) {
        abort();
    }
    fuzz_corednsevent_qname(ev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event ev;
    int rc = corednssrc_decode(data, size, &ev);

    if (rc == 0) {
        fuzz_corednsevent_check(&ev);
    } else if (rc > 0 || rc <= -COREDNSSRC_E_COUNT ||
               strcmp(corednssrc_error_name(rc), "coredns_unknown") == 0) {
        abort();
    }
    return 0;
}

/*
 * fuzz_dnswire.c - the DNS parser on arbitrary bytes: the whole message,
 * then the name at offset 12 on its own.  Besides memory errors, it
 * aborts when a successful parse breaks a promise of dnswire.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event/dnswire.h"
#include "event/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Presentation text holds only [a-z0-9-_], dots and \DDD escapes. */
static int
fuzz_dnswire_text_ok(const char *s, size_t len)
{
    if (len == 0 || len >= EVENT_QNAME_MAX || strlen(s) != len) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '\\')) {
            return 0;
        }
    }
    return 1;
}

static void
fuzz_dnswire_message(const uint8_t *data, size_t size)
{
    struct event ev;
    int rc;

    memset(&ev, 0, sizeof(ev));
    rc = dnswire_parse(data, size, &ev);
    if (rc < 0) {
        if (strcmp(dnswire_error_name(rc), "dns_unknown") == 0) {
            abort();
        }
        return;
    }
    if (rc != 0 || !(ev.flags & EVENT_F_QUESTION) ||
        !fuzz_dnswire_text_ok(ev.qname, ev.qname_len) ||
        ev.answer_count > EVENT_ANSWERS_MAX ||
        ev.answer_count > ev.ancount) {
        abort();
    }
}

static void
fuzz_dnswire_name(const uint8_t *data, size_t size)
{
    char name[EVENT_QNAME_MAX];
    size_t off = 12;
    size_t len = 0;
    int rc;

    rc = dnswire_name(data, size, &off, name, &len);
    if (rc == 0 && (!fuzz_dnswire_text_ok(name, len) || off > size ||
                    off <= 12)) {
        abort();
    }
    if (rc != 0 && off != 12) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dnswire_message(data, size);
    fuzz_dnswire_name(data, size);
    return 0;
}

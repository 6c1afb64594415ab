/*
 * fuzz_tetragonevent.c - tetragonsrc_decode() on arbitrary bytes.
 *
 * Besides memory safety, checks what a decoded event promises: source,
 * role and kind set, a DNS event only with a question and the query
 * side, a flow with no DNS flags, no response side ever, NUL-terminated
 * texts of the right length, and an error that always has a label.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/tetragonsrc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_tetragonevent_check(const struct event *ev,
                         const struct tetragonsrc_proc *proc)
{
    if (ev->source != EVENT_SOURCE_TETRAGON ||
        ev->role != EVENT_ROLE_CLIENT || ev->time_ns == 0) {
        abort();
    }
    if (ev->kind == EVENT_KIND_DNS &&
        (ev->flags & (EVENT_F_QUERY | EVENT_F_QUESTION)) == 0) {
        abort();
    }
    if (ev->kind == EVENT_KIND_FLOW && (ev->flags != 0 || ev->qname_len)) {
        abort();
    }
    if (strlen(ev->qname) != ev->qname_len ||
        memchr(ev->pod_namespace, '\0', sizeof(ev->pod_namespace)) == NULL ||
        memchr(proc->binary, '\0', sizeof(proc->binary)) == NULL ||
        memchr(proc->pod_name, '\0', sizeof(proc->pod_name)) == NULL ||
        memchr(proc->container, '\0', sizeof(proc->container)) == NULL ||
        memchr(proc->function, '\0', sizeof(proc->function)) == NULL) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event ev;
    struct tetragonsrc_proc proc;
    int rc = tetragonsrc_decode(data, size, &ev, &proc);

    if (rc == 1 || rc == -TETRAGONSRC_E_DNS) {
        fuzz_tetragonevent_check(&ev, &proc);
    }
    if (rc < 0 && strcmp(tetragonsrc_error_name(rc), "unknown") == 0) {
        abort();
    }
    if (rc > 1) {
        abort();
    }
    return 0;
}

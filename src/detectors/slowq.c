/* placeholder while the detector is written: builds nothing */
#include <stddef.h>
#include "detectors/chain.h"

static void
slowq_noop_check(struct detector *d, const struct event *ev,
                chain_report_fn *report, void *ctx)
{
}

static void
slowq_noop_free(struct detector *d)
{
}

struct detector *
slowq_create(const struct config *cfg, char *err, size_t errlen)
{
    static struct detector none = {
        .name = "slowq", .check = slowq_noop_check, .free = slowq_noop_free,
    };

    return &none;
}

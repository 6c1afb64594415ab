/* placeholder while the detector is written: builds nothing */
#include <stddef.h>
#include "detectors/chain.h"

static void
young_noop_check(struct detector *d, const struct event *ev,
                chain_report_fn *report, void *ctx)
{
}

static void
young_noop_free(struct detector *d)
{
}

struct detector *
young_create(const struct config *cfg, char *err, size_t errlen)
{
    static struct detector none = {
        .name = "young", .check = young_noop_check, .free = young_noop_free,
    };

    return &none;
}

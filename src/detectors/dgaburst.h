/*
 * dgaburst.h - clients in an NXDOMAIN burst, for the dga detector.
 *
 * Malware that runs a domain generation algorithm tries many generated
 * names in a row, and nearly all of them do not exist: the client gets
 * a run of NXDOMAIN answers for names of many different registrable
 * domains, each a little odd.  A real client seldom does (its NXDOMAIN
 * answers are search-path expansions under a few domains of its own).
 * This table remembers, per client, the last DGABURST_NAMES suspicious
 * names that were answered NXDOMAIN, so the detector can tell when a
 * client has had at least `burst` distinct ones within `window`.
 *
 * The table has a fixed size (DGABURST_SETS sets of DGABURST_WAYS
 * clients); a new client takes the way idle longest, and pushing out a
 * client seen within the window counts in `evicted`.  Times are the
 * events' own, so a replay behaves as the live capture did.
 *
 * Owned by one detector and used from the pipeline thread only.
 */
#ifndef DD_DGABURST_H
#define DD_DGABURST_H

#include <stdint.h>

#include "core/metrics.h"
#include "event/event.h"

#define DGABURST_NAMES 16        /* names remembered per client */
#define DGABURST_NAME_MAX 128    /* longest name kept, with its NUL */
#define DGABURST_SETS 512
#define DGABURST_WAYS 4

struct dgaburst;

/*
 * A table counting each client's distinct names within window_ns;
 * evicted counts clients pushed out early (may be NULL).  NULL when out
 * of memory.
 */
struct dgaburst *dgaburst_create(uint64_t window_ns,
                                 struct metrics_series *evicted);
void dgaburst_free(struct dgaburst *b);

/*
 * Note that name (a registrable domain) was answered NXDOMAIN to client
 * at now_ns.  reported says a finding was already raised for it, so
 * dgaburst_take() will not hand it out.  A name already remembered for
 * the client is refreshed, not counted twice.  A name too long to keep
 * counts but is never handed out.  Returns the client's distinct names
 * within the window, this one included.
 */
unsigned dgaburst_note(struct dgaburst *b, const struct event_addr *client,
                       const char *name, int reported, uint64_t now_ns);

/* The client's distinct names within the window at now_ns (0: none). */
unsigned dgaburst_count(struct dgaburst *b, const struct event_addr *client,
                        uint64_t now_ns);

/* Receives one remembered name and the time it was answered. */
typedef void dgaburst_name_fn(void *ctx, const char *name,
                              uint64_t seen_ns);

/*
 * Hand each of the client's names within the window not yet reported
 * nor handed out to fn, oldest first, and mark them reported.
 */
void dgaburst_take(struct dgaburst *b, const struct event_addr *client,
                   uint64_t now_ns, dgaburst_name_fn *fn, void *ctx);

#endif

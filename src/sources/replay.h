/*
 * replay.h - read a capture file through the live sources' decoders.
 *
 * The format is found by content, not by name: a Frame Streams file
 * (dnstap) starts with an escape word of zero; pcap and pcapng files start
 * with their magic numbers.
 */
#ifndef DD_REPLAY_H
#define DD_REPLAY_H

#include <stddef.h>

#include "event/event.h"

enum replay_format {
    REPLAY_UNKNOWN = 0,
    REPLAY_DNSTAP,
    REPLAY_PCAP,     /* pcap or pcapng */
};

/* Sniff the first bytes of path.  Returns the format, or -errno. */
int replay_detect(const char *path);

/*
 * Decode the whole file, calling emit(ctx, ev) for every message on the
 * caller's thread.  Returns 0 at the end of the file, or a negative errno
 * with a message in err.
 */
int replay_file(const char *path, event_emit_fn *emit, void *ctx,
                char *err, size_t errlen);

#endif

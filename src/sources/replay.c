/*
 * replay.c - capture files by content.
 */
#include "sources/replay.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sources/dnstap_listen.h"
#include "sources/pcapsrc.h"

static int
replay_magic(const uint8_t b[4])
{
    static const uint8_t pcap_magics[][4] = {
        {0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4},
        {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d},
        {0x0a, 0x0d, 0x0d, 0x0a},
    };
    static const uint8_t zero[4] = {0, 0, 0, 0};

    if (memcmp(b, zero, 4) == 0) {
        return REPLAY_DNSTAP;
    }
    for (size_t i = 0; i < sizeof(pcap_magics) / 4; i++) {
        if (memcmp(b, pcap_magics[i], 4) == 0) {
            return REPLAY_PCAP;
        }
    }
    return REPLAY_UNKNOWN;
}

int
replay_detect(const char *path)
{
    uint8_t head[4];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        return -errno;
    }
    n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return n == sizeof(head) ? replay_magic(head) : REPLAY_UNKNOWN;
}

static int
replay_pcap(const char *path, event_emit_fn *emit, void *ctx, char *err,
            size_t errlen)
{
    struct pcapsrc *src;
    int rc = pcapsrc_open_file(&src, path, emit, ctx);

    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot open capture (%s)", path,
                 strerror(-rc));
        return rc;
    }
    rc = pcapsrc_run(src, NULL);
    pcapsrc_close(src);
    if (rc != 0) {
        snprintf(err, errlen, "%s: read error (%s)", path, strerror(-rc));
    }
    return rc;
}

int
replay_file(const char *path, event_emit_fn *emit, void *ctx, char *err,
            size_t errlen)
{
    int format = replay_detect(path);

    switch (format) {
    case REPLAY_DNSTAP:
        return dnstap_listen_read_file(path, emit, ctx, NULL, err, errlen);
    case REPLAY_PCAP:
        return replay_pcap(path, emit, ctx, err, errlen);
    case REPLAY_UNKNOWN:
        snprintf(err, errlen, "%s: neither dnstap nor pcap/pcapng", path);
        return -EINVAL;
    default:
        snprintf(err, errlen, "%s: %s", path, strerror(-format));
        return format;
    }
}

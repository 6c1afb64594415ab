/*
 * fuzz_tcpreasm.c - feed a small tcpreasm table a sequence of segments
 * described by the input.
 *
 * The input is a run of records, each a 5-byte header and its data:
 *   byte 0    TCP flags in bits 0-5 (FIN SYN RST PSH ACK URG); bit 6 set
 *             when the server sends; bit 7 set for a DoT/DoH connection
 *             instead of DNS on port 53
 *   bytes 1-2 sequence number, big-endian, added to the sender's ISN
 *             (both ISNs sit close to a 32-bit wrap)
 *   byte 3    bits 4-7 pick one of 16 clients (8 and up use IPv6);
 *             bits 0-3 advance the clock by that many seconds
 *   byte 4    data length; the data follows (cut short at the end)
 * The table holds 4 connections and 2 message buffers and forgets a
 * connection after 10 s, so eviction, buffer exhaustion and expiry are
 * all reachable.  scripts/gen_test_pcaps.py writes the seed corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/tcpreasm.h"

#define FUZZ_SEC 1000000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t fuzz_sink;

/* Every byte of a message must be readable. */
static void
fuzz_on_msg(void *ctx, const struct tcpreasm_dir *dir, uint64_t time_ns,
            const uint8_t *msg, size_t len)
{
    uint8_t sum = 0;

    if (len == 0 || len > TCPREASM_MSG_MAX || dir->src.family == 0) {
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        sum ^= msg[i];
    }
    fuzz_sink = sum;
}

static void
fuzz_on_flow(void *ctx, const struct event *ev)
{
    if (ev->kind != EVENT_KIND_FLOW || ev->server_port == 53) {
        abort();
    }
}

/* Build the segment a record header describes. */
static void
fuzz_segment(const uint8_t *h, const uint8_t *payload, size_t len,
             struct netpkt *p)
{
    int from_server = (h[0] & 0x40) != 0;
    unsigned client = h[3] >> 4;
    uint16_t cport = (uint16_t)(40000 + client);
    uint16_t sport = (h[0] & 0x80) ? (client & 1 ? 443 : 853) : 53;
    uint8_t caddr[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = (uint8_t)client};
    uint8_t saddr[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x53};
    size_t alen = client & 8 ? 16 : 4;
    uint32_t isn = from_server ? 0x7ffffff0u : 0xfffff000u;

    memset(p, 0, sizeof(*p));
    event_addr_set(from_server ? &p->dst : &p->src, caddr, alen);
    event_addr_set(from_server ? &p->src : &p->dst, saddr, alen);
    p->sport = from_server ? sport : cport;
    p->dport = from_server ? cport : sport;
    p->proto = NETPKT_PROTO_TCP;
    p->tcp_flags = h[0] & 0x3f;
    p->tcp_seq = isn + (uint32_t)(h[1] << 8 | h[2]);
    p->payload = payload;
    p->payload_len = len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tcpreasm_config cfg = {4, 2, 10 * FUZZ_SEC};
    struct tcpreasm *r;
    uint64_t now = FUZZ_SEC;
    struct netpkt p;
    size_t off = 0;

    if (tcpreasm_init(&r, &cfg, fuzz_on_msg, fuzz_on_flow, NULL) != 0) {
        return 0;
    }
    while (size - off >= 5) {
        const uint8_t *h = data + off;
        size_t len = h[4] < size - off - 5 ? h[4] : size - off - 5;

        now += (uint64_t)(h[3] & 0x0f) * FUZZ_SEC;
        fuzz_segment(h, data + off + 5, len, &p);
        tcpreasm_input(r, &p, now);
        if (tcpreasm_flow_count(r) > cfg.max_flows) {
            abort();
        }
        off += 5 + len;
    }
    tcpreasm_free(r);
    return 0;
}

/*
 * fuzz_netpkt.c - decode the input as a frame of every link type.
 *
 * Besides what the sanitizers catch, a successful decode must leave the
 * payload inside the input and every code must have a name.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sources/netpkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int fuzz_links[] = {
    NETPKT_LINK_NULL, NETPKT_LINK_EN10MB, NETPKT_LINK_RAW,
    NETPKT_LINK_RAW_FILE, NETPKT_LINK_LOOP, NETPKT_LINK_LINUX_SLL,
    NETPKT_LINK_IPV4, NETPKT_LINK_IPV6, NETPKT_LINK_LINUX_SLL2,
    147,  /* unsupported */
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netpkt p;

    for (size_t i = 0; i < sizeof(fuzz_links) / sizeof(fuzz_links[0]);
         i++) {
        int rc = netpkt_decode(fuzz_links[i], data, size, &p);

        if (rc > 0 || netpkt_error_name(rc) == NULL) {
            abort();
        }
        if (rc == 0 && (p.payload < data || p.payload_len > size ||
                        p.payload + p.payload_len > data + size)) {
            abort();
        }
    }
    return 0;
}

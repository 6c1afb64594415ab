/*
 * event.c - helpers for the fixed-size event record.
 */
#include "event/event.h"

#include <arpa/inet.h>
#include <string.h>

void
event_reset(struct event *ev)
{
    memset(ev, 0, offsetof(struct event, answers));
    ev->pod_namespace[0] = '\0';
    ev->pod_name[0] = '\0';
    ev->pod_uid[0] = '\0';
    ev->qname[0] = '\0';
}

const char *
event_source_name(unsigned source)
{
    static const char *const names[] = {"dnstap", "pcap", "coredns-ugallu",
                                        "tetragon"};

    return source < EVENT_SOURCE_COUNT ? names[source] : "unknown";
}

const char *
event_transport_name(unsigned transport)
{
    static const char *const names[] = {"unknown", "udp", "tcp", "dot",
                                        "doh", "dnscrypt-udp",
                                        "dnscrypt-tcp", "doq"};

    return transport <= EVENT_TRANSPORT_DOQ ? names[transport] : "unknown";
}

const char *
event_role_name(unsigned role)
{
    static const char *const names[] = {"wire", "auth", "resolver",
                                        "client", "forwarder", "stub",
                                        "tool", "update"};

    return role <= EVENT_ROLE_UPDATE ? names[role] : "unknown";
}

char *
event_addr_format(const struct event_addr *a, char *buf, size_t len)
{
    int af = a->family == 4 ? AF_INET : AF_INET6;

    if ((a->family != 4 && a->family != 6) ||
        inet_ntop(af, a->bytes, buf, (socklen_t)len) == NULL) {
        if (len > 0) {
            buf[0] = '\0';
        }
    }
    return buf;
}

void
event_addr_set(struct event_addr *a, const void *raw, size_t len)
{
    memset(a, 0, sizeof(*a));
    if (len == 4 || len == 16) {
        memcpy(a->bytes, raw, len);
        a->family = len == 4 ? 4 : 6;
    }
}

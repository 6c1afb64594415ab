/*
 * anomport.c - DNS on a port other than 53 (or 853 for DNS over TLS and
 * over QUIC).
 *
 * Fires on DNS events with a question whose server port is known and
 * unexpected, whoever observed them: a dnstap event from a server that
 * listens on an odd port counts too.  DNS over HTTPS and DNSCrypt events
 * are left to other checks: their ports vary by design.
 */
#include <stdio.h>
#include <stdlib.h>

#include "detectors/chain.h"
#include "detectors/detector.h"

#define ANOMPORT_DNS 53
#define ANOMPORT_DOT 853

struct anomport {
    struct detector base;
};

/* 1 when port is unexpected for transport; 0 when fine or not judged. */
static int
anomport_unexpected(unsigned transport, unsigned port)
{
    if (port == 0 || port == ANOMPORT_DNS) {
        return 0;
    }
    switch (transport) {
    case EVENT_TRANSPORT_DOT:
    case EVENT_TRANSPORT_DOQ:
        return port != ANOMPORT_DOT;
    case EVENT_TRANSPORT_DOH:
    case EVENT_TRANSPORT_DNSCRYPT_UDP:
    case EVENT_TRANSPORT_DNSCRYPT_TCP:
        return 0;
    default:
        return 1;
    }
}

static void
anomport_check(struct detector *d, const struct event *ev,
               chain_report_fn *report, void *ctx)
{
    struct finding f;
    char key[16];

    if (!detector_has_question(ev) ||
        !anomport_unexpected(ev->transport, ev->server_port)) {
        return;
    }
    snprintf(key, sizeof(key), "port-%u", ev->server_port);
    finding_init(&f, "anomalousPort", "DNSAnomalousPort", "medium", key,
                 ev);
    detector_question_signals(&f, ev);
    finding_signal(&f, "server_port", "%u", ev->server_port);
    finding_signal(&f, "transport", "%s",
                   event_transport_name(ev->transport));
    finding_signal(&f, "expected_port", "%u",
                   ev->transport == EVENT_TRANSPORT_DOT ||
                   ev->transport == EVENT_TRANSPORT_DOQ ? ANOMPORT_DOT
                                                        : ANOMPORT_DNS);
    report(ctx, &f);
}

static void
anomport_free(struct detector *d)
{
    free(d);
}

struct detector *
anomport_create(const struct config *cfg, char *err, size_t errlen)
{
    struct anomport *a = calloc(1, sizeof(*a));

    (void)cfg;
    if (a == NULL) {
        snprintf(err, errlen, "anomalousPort: out of memory");
        return NULL;
    }
    a->base.name = "anomalousPort";
    a->base.check = anomport_check;
    a->base.explain = NULL;
    a->base.free = anomport_free;
    return &a->base;
}

/*
 * doh.c - resolvers that bypass the cluster's DNS: DNS over HTTPS and
 * DNS over TLS.
 *
 * On DNS events: a query for a listed DoH resolver name (or the
 * use-application-dns.net canary, by which Firefox asks whether it may
 * turn DoH on) raises DNSOverHTTPSBypass; a query for a listed DoT name
 * raises DNSOverTLSBypass when dot is enabled.  On flow events: TCP to
 * port 853 raises DNSOverTLSBypass (dot enabled), TCP to a listed
 * resolver address on port 443 raises DNSOverHTTPSBypass.  The lists ship
 * as data files (see data/README.md).
 *
 * A DoH server at an address not on the list, reached without a lookup
 * of a listed name (a hard-coded address, an encrypted lookup), is not
 * seen.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datadir.h"
#include "detectors/blocklist.h"
#include "detectors/chain.h"
#include "detectors/detector.h"

#define DOH_NAMES_FILE "doh-resolvers.txt"
#define DOT_NAMES_FILE "dot-resolvers.txt"
#define DOH_ADDRS_FILE "doh-dot-addresses.txt"
#define DOH_ADDRS_MAX 256
#define DOH_CANARY "use-application-dns.net"
#define DOH_PORT_HTTPS 443
#define DOH_PORT_DOT 853

struct doh {
    struct detector base;
    int doh;                              /* doh.enabled */
    int dot;                              /* dot.enabled */
    struct blocklist_index *doh_names;
    struct blocklist_index *dot_names;
    size_t naddrs;
    struct event_addr addrs[DOH_ADDRS_MAX]; /* known resolver addresses */
};

/* ---- loading --------------------------------------------------------- */

static struct blocklist_index *
doh_load_names(const char *file, char *err, size_t errlen)
{
    char path[CONFIG_NAME_MAX + 64];
    const char *paths[1] = {path};

    if (datadir_path(file, path, sizeof(path)) != 0) {
        snprintf(err, errlen, "doh: data path too long for %s", file);
        return NULL;
    }
    return blocklist_index_load(paths, 1, err, errlen);
}

/* Parse one line of the address list into d; blank lines are fine. */
static int
doh_addr_line(struct doh *d, char *line)
{
    unsigned char raw[16];
    char *hash = strchr(line, '#');
    char *s, *end;

    if (hash != NULL) {
        *hash = '\0';
    }
    s = line + strspn(line, " \t\r\n");
    end = s + strcspn(s, " \t\r\n");
    if (end[strspn(end, " \t\r\n")] != '\0') {
        return -EINVAL;
    }
    *end = '\0';
    if (*s == '\0') {
        return 0;
    }
    if (d->naddrs == DOH_ADDRS_MAX) {
        return -E2BIG;
    }
    if (inet_pton(AF_INET, s, raw) == 1) {
        event_addr_set(&d->addrs[d->naddrs++], raw, 4);
    } else if (inet_pton(AF_INET6, s, raw) == 1) {
        event_addr_set(&d->addrs[d->naddrs++], raw, 16);
    } else {
        return -EINVAL;
    }
    return 0;
}

static int
doh_load_addrs(struct doh *d, char *err, size_t errlen)
{
    char path[CONFIG_NAME_MAX + 64];
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    FILE *fp;
    int rc = 0;

    if (datadir_path(DOH_ADDRS_FILE, path, sizeof(path)) != 0 ||
        (fp = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "doh: cannot open %s: %s", path,
                 strerror(errno));
        return -ENOENT;
    }
    while (rc == 0 && getline(&line, &cap, fp) >= 0) {
        lineno++;
        rc = doh_addr_line(d, line);
    }
    if (rc != 0) {
        snprintf(err, errlen, "doh: %s:%zu: %s", path, lineno,
                 rc == -E2BIG ? "too many addresses" : "not an address");
    }
    free(line);
    fclose(fp);
    return rc;
}

/* ---- checks ---------------------------------------------------------- */

static int
doh_known_addr(const struct doh *d, const struct event_addr *a)
{
    for (size_t i = 0; i < d->naddrs; i++) {
        if (d->addrs[i].family == a->family &&
            memcmp(d->addrs[i].bytes, a->bytes, 16) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
doh_report_name(const struct event *ev, int dot,
                const struct blocklist_hit *hit, chain_report_fn *report,
                void *ctx)
{
    struct finding f;

    finding_init(&f, dot ? "dot" : "doh",
                 dot ? "DNSOverTLSBypass" : "DNSOverHTTPSBypass", "medium",
                 hit->entry, ev);
    f.experimental = 1;
    detector_question_signals(&f, ev);
    finding_signal(&f, "list", "%s", hit->list);
    finding_signal(&f, "entry", "%s", hit->entry);
    if (strcmp(hit->entry, DOH_CANARY) == 0) {
        finding_signal(&f, "canary", "true");
    }
    report(ctx, &f);
}

static void
doh_report_flow(const struct event *ev, int dot, int known,
                chain_report_fn *report, void *ctx)
{
    char server[64];
    struct finding f;

    event_addr_format(&ev->server, server, sizeof(server));
    finding_init(&f, dot ? "dot" : "doh",
                 dot ? "DNSOverTLSBypass" : "DNSOverHTTPSBypass", "medium",
                 server, ev);
    f.experimental = 1;
    finding_signal(&f, "server", "%s", server);
    finding_signal(&f, "server_port", "%u", ev->server_port);
    finding_signal(&f, "known_resolver", "%s", known ? "true" : "false");
    report(ctx, &f);
}

static void
doh_query(const struct doh *d, const struct event *ev,
          chain_report_fn *report, void *ctx)
{
    struct blocklist_hit hit;

    if (d->doh && blocklist_index_lookup(d->doh_names, ev->qname,
                                         ev->qname_len, &hit)) {
        doh_report_name(ev, 0, &hit, report, ctx);
    }
    if (d->dot && blocklist_index_lookup(d->dot_names, ev->qname,
                                         ev->qname_len, &hit)) {
        doh_report_name(ev, 1, &hit, report, ctx);
    }
}

static void
doh_flow(const struct doh *d, const struct event *ev,
         chain_report_fn *report, void *ctx)
{
    int known = doh_known_addr(d, &ev->server);

    if (ev->server_port == DOH_PORT_DOT && d->dot) {
        doh_report_flow(ev, 1, known, report, ctx);
    } else if (ev->server_port == DOH_PORT_HTTPS && known && d->doh) {
        doh_report_flow(ev, 0, known, report, ctx);
    }
}

static void
doh_check(struct detector *det, const struct event *ev,
          chain_report_fn *report, void *ctx)
{
    const struct doh *d = (const struct doh *)det;

    if (ev->kind == EVENT_KIND_FLOW) {
        doh_flow(d, ev, report, ctx);
    } else if (detector_has_question(ev)) {
        doh_query(d, ev, report, ctx);
    }
}

/* ---- explain and life cycle ------------------------------------------ */

static void
doh_explain_list(json_t *o, const char *key, const char *entry_key,
                 const struct blocklist_index *ix, const char *name,
                 size_t len)
{
    const char *entry = blocklist_index_match(ix, name, len);

    json_object_set_new(o, key, json_boolean(entry != NULL));
    json_object_set_new(o, entry_key, entry != NULL ? json_string(entry)
                                                    : json_null());
}

static void
doh_explain(struct detector *det, const char *qname, json_t *obj)
{
    const struct doh *d = (const struct doh *)det;
    char name[EVENT_QNAME_MAX];
    size_t len = detector_normalise(qname, name);
    json_t *o = json_object();

    doh_explain_list(o, "doh", "doh_entry", d->doh ? d->doh_names : NULL,
                     name, len);
    doh_explain_list(o, "dot", "dot_entry", d->dot ? d->dot_names : NULL,
                     name, len);
    json_object_set_new(o, "canary",
                        json_boolean(strcmp(name, DOH_CANARY) == 0));
    json_object_set_new(o, "doh_enabled", json_boolean(d->doh));
    json_object_set_new(o, "dot_enabled", json_boolean(d->dot));
    json_object_set_new(obj, "doh", o);
}

static void
doh_free(struct detector *det)
{
    struct doh *d = (struct doh *)det;

    blocklist_index_free(d->doh_names);
    blocklist_index_free(d->dot_names);
    free(d);
}

struct detector *
doh_create(const struct config *cfg, char *err, size_t errlen)
{
    struct doh *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        snprintf(err, errlen, "doh: out of memory");
        return NULL;
    }
    d->base.name = "doh";
    d->base.check = doh_check;
    d->base.explain = doh_explain;
    d->base.free = doh_free;
    d->doh = cfg->doh.enabled;
    d->dot = cfg->dot.enabled;
    d->doh_names = doh_load_names(DOH_NAMES_FILE, err, errlen);
    d->dot_names = d->doh_names != NULL
                       ? doh_load_names(DOT_NAMES_FILE, err, errlen) : NULL;
    if (d->dot_names == NULL || doh_load_addrs(d, err, errlen) != 0) {
        doh_free(&d->base);
        return NULL;
    }
    return &d->base;
}

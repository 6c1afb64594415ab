/*
 * test_pipeline.c - the pipeline: findings through the sinks, live config
 * changes, list feeds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/pipeline.h"
#include "detectors/blocklist.h"

#define SEC 1000000000ull

struct sink {
    int n;
    char last_type[64];
};

static void
sink_take(void *ctx, const json_t *obj, const struct finding *f)
{
    struct sink *s = ctx;
    const json_t *spec = json_object_get(obj, "spec");

    s->n++;
    snprintf(s->last_type, sizeof(s->last_type), "%s",
             json_string_value(json_object_get(spec, "type")));
    assert_string_equal(f->type, s->last_type);
}

static struct event
query(const char *qname, uint64_t t)
{
    struct event ev;
    const uint8_t ip[4] = {10, 1, 2, 3};

    event_reset(&ev);
    event_addr_set(&ev.client, ip, 4);
    ev.kind = EVENT_KIND_DNS;
    ev.role = EVENT_ROLE_CLIENT;
    ev.flags = EVENT_F_QUERY | EVENT_F_RESPONSE | EVENT_F_QUESTION;
    ev.server_port = 53;
    ev.qtype = 1;
    ev.qclass = 1;
    ev.time_ns = t;
    snprintf(ev.qname, sizeof(ev.qname), "%s", qname);
    ev.qname_len = (uint8_t)strlen(qname);
    return ev;
}

/* Only the blocklist, with one list file holding one name. */
static void
blocklist_only(struct config *c, const char *list)
{
    config_defaults(c);
    c->dga.enabled = c->tunneling.enabled = c->exfiltration.enabled = 0;
    c->doh.enabled = c->dot.enabled = c->anomalous_port.enabled = 0;
    c->slow_query.enabled = 0;
    c->blocklist.nfiles = 1;
    snprintf(c->blocklist.files[0].name, sizeof(c->blocklist.files[0].name),
             "%s", list);
    c->blocklist.files[0].cluster_wide = 1;
}

static struct pipeline *
open_pipeline(const struct config *c, FILE *out)
{
    struct pipeline_options po = {
        .config = c,
        .identity = {"", "", "node", "test"},
        .findings = out,
        .queue_capacity = 16,
        .txn_capacity = 16,
        .txn_hold_ns = SEC,
        .dedup_window_ns = 60 * SEC,
    };
    char err[256];
    struct pipeline *p = pipeline_create(&po, err, sizeof(err));

    if (p == NULL) {
        fail_msg("pipeline_create: %s", err);
    }
    return p;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_apply_config_live(void **state)
{
    char dir[] = "/tmp/ugallu-pipe-XXXXXX", list[64], bad[64], err[256];
    FILE *out = tmpfile();
    struct sink s = {0, ""};
    struct config c;
    struct pipeline *p;
    struct event ev;

    assert_non_null(mkdtemp(dir));
    snprintf(list, sizeof(list), "%s/list.txt", dir);
    snprintf(bad, sizeof(bad), "%s/bad.txt", dir);
    write_file(list, "evil.example\n");
    write_file(bad, "not a name at all\n");
    blocklist_only(&c, list);
    c.blocklist.default_allowlist = 0;
    p = open_pipeline(&c, out);
    pipeline_set_sink(p, sink_take, &s);

    ev = query("evil.example", 100 * SEC);
    pipeline_process(p, &ev);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.last_type, "DNSToBlocklistedFQDN");

    /* A list that does not load: refused, the running chain stays. */
    snprintf(c.blocklist.files[0].name, sizeof(c.blocklist.files[0].name),
             "%s", bad);
    assert_int_equal(pipeline_apply_config(p, &c, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "bad.txt"));
    ev = query("a.evil.example", 200 * SEC);
    pipeline_process(p, &ev);
    assert_int_equal(s.n, 2);

    /* Blocklist off: the same query passes. */
    c.blocklist.enabled = 0;
    c.generation = 7;
    assert_int_equal(pipeline_apply_config(p, &c, err, sizeof(err)), 0);
    assert_int_equal(pipeline_config_generation(p), 7);
    ev = query("b.evil.example", 300 * SEC);
    pipeline_process(p, &ev);
    assert_int_equal(s.n, 2);
    assert_int_equal(pipeline_feed_blocklist(p, BLOCKLIST_BLOCK, "", "cm",
                                             "x.test\n", 7, err,
                                             sizeof(err)), -ENOENT);

    pipeline_free(p);
    fclose(out);
    unlink(list);
    unlink(bad);
    rmdir(dir);
}

static void
test_feed_list(void **state)
{
    char dir[] = "/tmp/ugallu-pipe-XXXXXX", list[64], err[256];
    FILE *out = tmpfile();
    struct sink s = {0, ""};
    struct config c;
    struct pipeline *p;
    struct event ev;

    assert_non_null(mkdtemp(dir));
    snprintf(list, sizeof(list), "%s/list.txt", dir);
    write_file(list, "# empty\n");
    blocklist_only(&c, list);
    p = open_pipeline(&c, out);
    pipeline_set_sink(p, sink_take, &s);

    ev = query("fed.example", 100 * SEC);
    pipeline_process(p, &ev);
    assert_int_equal(s.n, 0);
    assert_int_equal(pipeline_feed_blocklist(p, BLOCKLIST_BLOCK, "",
                                             "ops/dns-blocklist",
                                             "fed.example\n", 12, err,
                                             sizeof(err)), 0);
    ev = query("fed.example", 200 * SEC);
    pipeline_process(p, &ev);
    assert_int_equal(s.n, 1);

    pipeline_free(p);
    fclose(out);
    unlink(list);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_config_live),
        cmocka_unit_test(test_feed_list),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

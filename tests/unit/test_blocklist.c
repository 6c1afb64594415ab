/*
 * test_blocklist.c - the blocklist detector's lists: scopes, allowlists,
 * reloads (by the hook, by the file watcher, by fed text), a bad list
 * that keeps the old one, and reloads while another thread checks.
 *
 * The index itself (formats, hashing, limits) is tested in
 * test_detectors.c.  Data files are read from $SRCDIR/data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "detectors/blocklist.h"
#include "detectors/chain.h"

#define RELOADS "ugallu_dns_blocklist_reloads_total"

/* ---- helpers --------------------------------------------------------- */

/* A temporary directory holding the lists of one test. */
struct tmp {
    char dir[64];
    char block[128];  /* dir/block.txt */
    char allow[128];  /* dir/allow.txt */
};

static void
tmp_make(struct tmp *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/ugallu-bl-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->block, sizeof(t->block), "%s/block.txt", t->dir);
    snprintf(t->allow, sizeof(t->allow), "%s/allow.txt", t->dir);
}

static void
tmp_remove(struct tmp *t)
{
    char path[160];

    unlink(t->block);
    unlink(t->allow);
    snprintf(path, sizeof(path), "%s/next.txt", t->dir);
    unlink(path);
    assert_int_equal(rmdir(t->dir), 0);
}

/* Write text to path in place (truncate, write). */
static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Replace path by a new file renamed over it, the way editors do. */
static void
replace_file(const struct tmp *t, const char *path, const char *text)
{
    char next[160];

    snprintf(next, sizeof(next), "%s/next.txt", t->dir);
    write_file(next, text);
    assert_int_equal(rename(next, path), 0);
}

static void
set_datadir(void)
{
    const char *src = getenv("SRCDIR");
    char path[1024];

    snprintf(path, sizeof(path), "%s/data", src != NULL ? src : "..");
    setenv("UGALLU_DATA_DIR", path, 1);
}

/* A config with the block list file, optionally scoped to ns. */
static void
config_for(struct config *c, const struct tmp *t, const char *ns)
{
    config_defaults(c);
    c->blocklist.default_allowlist = 0;
    c->blocklist.nfiles = 1;
    snprintf(c->blocklist.files[0].name, CONFIG_NAME_MAX, "%s", t->block);
    c->blocklist.files[0].cluster_wide = ns == NULL;
    snprintf(c->blocklist.files[0].namespace_,
             sizeof(c->blocklist.files[0].namespace_), "%s",
             ns != NULL ? ns : "");
}

static struct detector *
create(const struct config *c)
{
    char err[512] = "";
    struct detector *d = blocklist_create(c, err, sizeof(err));

    if (d == NULL) {
        print_error("blocklist_create: %s\n", err);
    }
    assert_non_null(d);
    assert_non_null(d->reload);
    return d;
}

/* What one check() of a query reported. */
struct seen {
    int n;
    char entry[256];
    char list[256];
};

static void
seen_report(void *ctx, const struct finding *f)
{
    struct seen *s = ctx;
    const char *entry = finding_get(f, "entry");
    const char *list = finding_get(f, "list");

    s->n++;
    snprintf(s->entry, sizeof(s->entry), "%s", entry ? entry : "");
    snprintf(s->list, sizeof(s->list), "%s", list ? list : "");
}

/* Check one query for qname from a pod of ns; returns the findings. */
static int
check_ns(struct detector *d, const char *qname, const char *ns,
         struct seen *s)
{
    struct event ev;

    event_reset(&ev);
    ev.kind = EVENT_KIND_DNS;
    ev.flags = EVENT_F_QUERY | EVENT_F_QUESTION;
    ev.qtype = 1;
    ev.qclass = 1;
    snprintf(ev.qname, sizeof(ev.qname), "%s", qname);
    ev.qname_len = (uint8_t)strlen(ev.qname);
    snprintf(ev.pod_namespace, sizeof(ev.pod_namespace), "%s",
             ns != NULL ? ns : "");
    memset(s, 0, sizeof(*s));
    d->check(d, &ev, seen_report, s);
    return s->n;
}

static int
check(struct detector *d, const char *qname)
{
    struct seen s;

    return check_ns(d, qname, NULL, &s);
}

static uint64_t
ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Poll check() on qname for up to 2 s until it gives want findings. */
static int
wait_for_check(struct detector *d, const char *qname, int want)
{
    uint64_t end = ms_now() + 2000;

    while (ms_now() < end) {
        if (check(d, qname) == want) {
            return 1;
        }
        usleep(10000);
    }
    return 0;
}

/* ---- sets ------------------------------------------------------------ */

static void
add(struct blocklist_set_builder *sb, int kind, const char *ns,
    const char *text)
{
    char err[256] = "";

    assert_int_equal(blocklist_set_add_text(sb, kind, ns, "mem", text,
                                            strlen(text), err,
                                            sizeof(err)), 0);
}

static int
verdict(const struct blocklist_set *s, const char *qname, const char *ns,
        const char **allowed_by)
{
    struct blocklist_hit block, allow;
    int r = blocklist_set_check(s, qname, strlen(qname), ns, &block,
                                &allow);

    *allowed_by = allow.entry;
    return r;
}

static void
test_set_scopes_and_allow(void **state)
{
    struct blocklist_set_builder *sb = blocklist_set_builder_new();
    struct blocklist_set *s;
    const char *by;

    (void)state;
    add(sb, BLOCKLIST_BLOCK, "", "evil.com\n");
    add(sb, BLOCKLIST_BLOCK, "team-a", "teamonly.net\n*.wild.org\n");
    add(sb, BLOCKLIST_ALLOW, NULL, "good.evil.com\n");
    add(sb, BLOCKLIST_ALLOW, "team-a", "ok.teamonly.net\n");
    add(sb, BLOCKLIST_ALLOW, "team-b", "x.evil.com\n");
    s = blocklist_set_builder_finish(sb);
    assert_non_null(s);
    assert_int_equal(blocklist_set_entries(s, BLOCKLIST_BLOCK), 3);
    assert_int_equal(blocklist_set_entries(s, BLOCKLIST_ALLOW), 3);
    assert_int_equal(blocklist_set_namespaces(s), 2);
    assert_true(blocklist_set_bytes(s) > 0);

    /* Cluster-wide entries apply to everyone. */
    assert_int_equal(verdict(s, "a.evil.com", NULL, &by), 1);
    assert_int_equal(verdict(s, "a.evil.com", "team-a", &by), 1);
    assert_int_equal(verdict(s, "a.evil.com", "nowhere", &by), 1);

    /* Namespaced entries only to their namespace. */
    assert_int_equal(verdict(s, "teamonly.net", "team-a", &by), 1);
    assert_int_equal(verdict(s, "y.wild.org", "team-a", &by), 1);
    assert_int_equal(verdict(s, "teamonly.net", "team-b", &by), 0);
    assert_int_equal(verdict(s, "teamonly.net", "", &by), 0);
    assert_int_equal(verdict(s, "teamonly.net", NULL, &by), 0);

    /* Allowlists win over every blocklist of the pod's scope. */
    assert_int_equal(verdict(s, "good.evil.com", "team-a", &by), 0);
    assert_string_equal(by, "good.evil.com");
    assert_int_equal(verdict(s, "a.ok.teamonly.net", "team-a", &by), 0);
    assert_string_equal(by, "ok.teamonly.net");
    assert_int_equal(verdict(s, "x.evil.com", "team-b", &by), 0);
    assert_int_equal(verdict(s, "x.evil.com", "team-a", &by), 1);
    assert_null(by);
    blocklist_set_free(s);
    assert_int_equal(verdict(NULL, "evil.com", NULL, &by), 0);
}

static void
test_set_errors(void **state)
{
    struct blocklist_set_builder *sb = blocklist_set_builder_new();
    char err[256] = "", ns[16];
    int rc = 0;

    (void)state;
    assert_int_equal(blocklist_set_add_text(sb, BLOCKLIST_BLOCK, "",
                                            "cm:ops/x", "ok.com\nbad name\n",
                                            16, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "cm:ops/x:2:"));
    assert_int_equal(blocklist_set_add_text(sb, 7, "", "k", "a.com", 5,
                                            err, sizeof(err)), -EINVAL);
    for (int i = 0; rc == 0 && i < BLOCKLIST_SCOPES_MAX; i++) {
        snprintf(ns, sizeof(ns), "ns-%d", i);
        rc = blocklist_set_add_text(sb, BLOCKLIST_BLOCK, ns, "n", "a.com",
                                    5, err, sizeof(err));
    }
    assert_int_equal(rc, -ENOSPC);
    blocklist_set_builder_free(sb);
}

/* Names longer than any entry, and with more labels than a name holds. */
static void
test_long_names(void **state)
{
    struct blocklist_set_builder *sb = blocklist_set_builder_new();
    struct blocklist_set *s;
    struct blocklist_hit block, allow;
    char name[1024];

    (void)state;
    add(sb, BLOCKLIST_BLOCK, "", "evil.com\n*.a.a\n");
    s = blocklist_set_builder_finish(sb);
    for (size_t i = 0; i + 2 < sizeof(name); i += 2) {
        memcpy(name + i, "a.", 2);
    }
    memcpy(name + sizeof(name) - 10, "evil.com", 9);
    assert_int_equal(blocklist_set_check(s, name, strlen(name), NULL,
                                         &block, &allow), 1);
    assert_string_equal(block.entry, "evil.com");
    name[sizeof(name) - 11] = '\0';
    assert_int_equal(blocklist_set_check(s, name, strlen(name), NULL,
                                         &block, &allow), 1);
    assert_string_equal(block.entry, "*.a.a");
    assert_int_equal(blocklist_set_check(s, "a.a", 3, NULL, &block,
                                         &allow), 0);
    blocklist_set_free(s);
}

/* ---- reloads --------------------------------------------------------- */

static void
test_reload_swaps(void **state)
{
    struct tmp t;
    struct config c;
    struct detector *d;
    char err[512] = "";
    uint64_t ok0 = metrics_value(RELOADS, "outcome=\"ok\"");

    (void)state;
    tmp_make(&t);
    write_file(t.block, "old.example\n");
    config_for(&c, &t, NULL);
    d = create(&c);
    assert_int_equal(metrics_value("ugallu_dns_blocklist_entries", ""), 1);
    assert_int_equal(check(d, "a.old.example"), 1);
    assert_int_equal(check(d, "new.example"), 0);

    replace_file(&t, t.block, "new.example\n0.0.0.0 ads.example x.test\n");
    assert_int_equal(d->reload(d, err, sizeof(err)), 0);
    assert_int_equal(check(d, "a.old.example"), 0);
    assert_int_equal(check(d, "new.example"), 1);
    assert_int_equal(check(d, "x.test"), 1);
    assert_int_equal(metrics_value("ugallu_dns_blocklist_entries", ""), 3);
    assert_true(metrics_value(RELOADS, "outcome=\"ok\"") >= ok0 + 1);
    d->free(d);
    tmp_remove(&t);
}

static void
test_bad_list_keeps_old(void **state)
{
    struct tmp t;
    struct config c;
    struct detector *d;
    char err[512] = "", want[160];
    uint64_t bad0 = metrics_value(RELOADS, "outcome=\"rejected\"");

    (void)state;
    tmp_make(&t);
    write_file(t.block, "kept.example\n");
    config_for(&c, &t, NULL);
    d = create(&c);

    replace_file(&t, t.block, "# fine\nfine.example\nnot a name\n");
    assert_int_equal(d->reload(d, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s:3:", t.block);
    assert_non_null(strstr(err, want));
    assert_int_equal(check(d, "kept.example"), 1);
    assert_int_equal(check(d, "fine.example"), 0);
    assert_true(metrics_value(RELOADS, "outcome=\"rejected\"") >= bad0 + 1);
    assert_int_equal(metrics_value("ugallu_dns_blocklist_entries", ""), 1);

    /* A missing file is rejected the same way. */
    assert_int_equal(unlink(t.block), 0);
    assert_true(d->reload(d, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, t.block));
    assert_int_equal(check(d, "kept.example"), 1);
    d->free(d);
    tmp_remove(&t);
}

static void
test_namespace_scoping(void **state)
{
    struct tmp t;
    struct config c;
    struct detector *d;
    struct seen s;

    (void)state;
    tmp_make(&t);
    write_file(t.block, "ns-only.example\n");
    config_for(&c, &t, "team-a");
    d = create(&c);
    assert_int_equal(check_ns(d, "ns-only.example", "team-a", &s), 1);
    assert_string_equal(s.entry, "ns-only.example");
    assert_string_equal(s.list, t.block);
    assert_int_equal(check_ns(d, "ns-only.example", "team-b", &s), 0);
    assert_int_equal(check_ns(d, "ns-only.example", "", &s), 0);
    d->free(d);

    /* The same reference marked clusterWide applies everywhere. */
    c.blocklist.files[0].cluster_wide = 1;
    d = create(&c);
    assert_int_equal(check_ns(d, "ns-only.example", "team-b", &s), 1);
    assert_int_equal(check_ns(d, "ns-only.example", "", &s), 1);
    d->free(d);
    tmp_remove(&t);
}

static void
test_allowlist_precedence(void **state)
{
    struct tmp t;
    struct config c;
    struct detector *d;
    struct seen s;

    (void)state;
    set_datadir();
    tmp_make(&t);
    write_file(t.block, "example.org\ncluster.local\nregistry.k8s.io\n");
    write_file(t.allow, "safe.example.org\n");
    config_for(&c, &t, NULL);
    c.blocklist.nallow = 1;
    snprintf(c.blocklist.allow[0].name, CONFIG_NAME_MAX, "%s", t.allow);
    c.blocklist.allow[0].cluster_wide = 1;
    c.blocklist.default_allowlist = 1;
    d = create(&c);

    assert_int_equal(check(d, "x.example.org"), 1);
    assert_int_equal(check(d, "safe.example.org"), 0);
    assert_int_equal(check(d, "a.safe.example.org"), 0);
    assert_int_equal(check_ns(d, "safe.example.org", "team-a", &s), 0);
    /* The shipped default allowlist covers cluster-internal names. */
    assert_int_equal(check(d, "kube-dns.kube-system.svc.cluster.local"),
                     0);
    assert_int_equal(check(d, "registry.k8s.io"), 0);
    d->free(d);
    tmp_remove(&t);
}

static void
test_feed(void **state)
{
    struct tmp t;
    struct config c;
    struct detector *d;
    struct seen s;
    char err[512] = "";
    const char *cm = "fed.example\n";

    (void)state;
    tmp_make(&t);
    write_file(t.block, "file.example\n");
    config_for(&c, &t, NULL);
    d = create(&c);

    assert_int_equal(blocklist_feed(d, BLOCKLIST_BLOCK, "ops", "cm:ops/bl",
                                    cm, strlen(cm), err, sizeof(err)), 0);
    assert_int_equal(check_ns(d, "fed.example", "ops", &s), 1);
    assert_string_equal(s.list, "cm:ops/bl");
    assert_int_equal(check_ns(d, "fed.example", "dev", &s), 0);
    assert_int_equal(check(d, "file.example"), 1);

    /* A bad text is rejected and the previous one stays. */
    assert_int_equal(blocklist_feed(d, BLOCKLIST_BLOCK, "ops", "cm:ops/bl",
                                    "x..y\n", 5, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "cm:ops/bl:1:"));
    assert_int_equal(check_ns(d, "fed.example", "ops", &s), 1);

    /* An allowlist fed cluster-wide wins; removing it restores. */
    assert_int_equal(blocklist_feed(d, BLOCKLIST_ALLOW, "", "cm:a", cm,
                                    strlen(cm), err, sizeof(err)), 0);
    assert_int_equal(check_ns(d, "fed.example", "ops", &s), 0);
    assert_int_equal(blocklist_feed(d, BLOCKLIST_ALLOW, "", "cm:a", NULL,
                                    0, err, sizeof(err)), 0);
    assert_int_equal(check_ns(d, "fed.example", "ops", &s), 1);
    d->free(d);
    tmp_remove(&t);
}

/* ---- reload while checking ------------------------------------------- */

struct racer {
    struct detector *d;
    atomic_int stop;
    atomic_long checks;
    atomic_long gaps;      /* checks that saw neither list */
    atomic_long seen_a;
    atomic_long seen_b;
};

/* Every check of "both.test" must match, from the old list or the new. */
static void *
racer_main(void *arg)
{
    struct racer *r = arg;
    struct seen s;

    while (!atomic_load(&r->stop)) {
        if (check_ns(r->d, "www.both.test", NULL, &s) != 1) {
            atomic_fetch_add(&r->gaps, 1);
        } else if (strcmp(s.entry, "www.both.test") == 0) {
            atomic_fetch_add(&r->seen_a, 1);
        } else if (strcmp(s.entry, "both.test") == 0) {
            atomic_fetch_add(&r->seen_b, 1);
        } else {
            atomic_fetch_add(&r->gaps, 1);
        }
        atomic_fetch_add(&r->checks, 1);
    }
    return NULL;
}

static void
test_reload_while_checking(void **state)
{
    static const char *const lists[2] = {
        "www.both.test\nonly-a.test\n",
        "both.test\nonly-b.test\n",
    };
    struct racer r = {0};
    struct tmp t;
    struct config c;
    pthread_t th;
    char err[512] = "";

    (void)state;
    tmp_make(&t);
    write_file(t.block, lists[0]);
    config_for(&c, &t, NULL);
    r.d = create(&c);
    assert_int_equal(pthread_create(&th, NULL, racer_main, &r), 0);

    for (int i = 1; i <= 40; i++) {
        replace_file(&t, t.block, lists[i % 2]);
        assert_int_equal(r.d->reload(r.d, err, sizeof(err)), 0);
        usleep(2000);
    }
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);

    assert_true(atomic_load(&r.checks) > 0);
    assert_int_equal(atomic_load(&r.gaps), 0);
    assert_true(atomic_load(&r.seen_a) > 0);
    assert_true(atomic_load(&r.seen_b) > 0);
    r.d->free(r.d);
    tmp_remove(&t);
}

/* ---- the file watcher ------------------------------------------------ */

static void
test_inotify_reload(void **state)
{
    struct tmp t;
    struct config c;
    struct detector *d;
    unsigned long n0;

    (void)state;
    tmp_make(&t);
    write_file(t.block, "first.example\n");
    config_for(&c, &t, NULL);
    d = create(&c);
    assert_int_equal(check(d, "watched.example"), 0);

    /* Rewritten in place. */
    write_file(t.block, "first.example\nwatched.example\n");
    assert_true(wait_for_check(d, "watched.example", 1));

    /* Replaced by rename. */
    replace_file(&t, t.block, "renamed.example\n");
    assert_true(wait_for_check(d, "renamed.example", 1));
    assert_int_equal(check(d, "watched.example"), 0);

    /* A broken rewrite is rejected; the entries in force stay. */
    n0 = blocklist_reloads(d);
    write_file(t.block, "renamed.example\nbad..name\n");
    for (int i = 0; i < 200 && blocklist_reloads(d) == n0; i++) {
        usleep(10000);
    }
    assert_true(blocklist_reloads(d) > n0);
    assert_int_equal(check(d, "renamed.example"), 1);
    d->free(d);
    tmp_remove(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_scopes_and_allow),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_reload_swaps),
        cmocka_unit_test(test_bad_list_keeps_old),
        cmocka_unit_test(test_namespace_scoping),
        cmocka_unit_test(test_allowlist_precedence),
        cmocka_unit_test(test_feed),
        cmocka_unit_test(test_reload_while_checking),
        cmocka_unit_test(test_inotify_reload),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

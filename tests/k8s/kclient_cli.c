/*
 * kclient_cli.c - drives src/k8s/kclient from the system tests
 * (tests/system/test_k8s_client.py).
 *
 *   kclient_cli (--kubeconfig FILE [--context NAME] | --in-cluster) CMD ...
 *     get PATH                 print the object
 *     list PATH [QUERY]        print {"resourceVersion", "items"}
 *     create PATH FILE         POST the JSON in FILE ("-": stdin)
 *     merge-patch PATH JSON    PATCH with a merge patch
 *     patch-status PATH JSON   merge-patch PATH/status
 *     delete PATH
 *     get-lines                GET each path read from stdin, one client
 *                              for all; one result line per path
 *     hammer THREADS COUNT PATH
 *                              COUNT GETs of PATH on each of THREADS
 *                              threads sharing one client; prints
 *                              {"ok", "failed", "seconds"}
 *     watch PATH [--rv RV] [--query Q] [--timeout-seconds N]
 *           [--for SECONDS]    one JSON line per event until SIGTERM,
 *                              SIGINT or the time is up, then a STATS line
 *
 * Every request also writes "status=S rc=RC reason=R" to stderr.  Exit
 * status: 0 done, 3 AlreadyExists, 4 not found, 5 refused (401/403),
 * 6 Gone, 1 any other failure, 2 usage.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s/kclient.h"

static volatile sig_atomic_t cli_stop;

static void
cli_on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

static int
cli_usage(void)
{
    fprintf(stderr, "usage: kclient_cli (--kubeconfig FILE [--context C] "
            "| --in-cluster) get|list|create|merge-patch|patch-status|"
            "delete|get-lines|hammer|watch ARGS\n");
    return 2;
}

static int
cli_exit(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case -EEXIST:
        return 3;
    case -ENOENT:
        return 4;
    case -EACCES:
        return 5;
    case -ESTALE:
        return 6;
    default:
        return 1;
    }
}

static void
cli_report(int rc, const struct kclient_result *res)
{
    fprintf(stderr, "status=%ld rc=%d reason=%s retryable=%d msg=%s\n",
            res->status, rc, res->reason, res->retryable, res->message);
}

static void
cli_print(json_t *obj)
{
    if (obj != NULL) {
        json_dumpf(obj, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        fflush(stdout);
    }
}

static json_t *
cli_load(const char *arg, bool file)
{
    json_error_t err;
    json_t *j;

    if (!file) {
        j = json_loads(arg, 0, &err);
    } else if (strcmp(arg, "-") == 0) {
        j = json_loadf(stdin, 0, &err);
    } else {
        j = json_load_file(arg, 0, &err);
    }
    if (j == NULL) {
        fprintf(stderr, "bad JSON: %s\n", err.text);
    }
    return j;
}

/* ---- one-shot requests ------------------------------------------------- */

static int
cli_list(struct kclient *c, const char *path, const char *query,
         struct kclient_result *res)
{
    char rv[KCLIENT_RV_LEN] = "";
    json_t *items = NULL, *out;
    int rc = kclient_list(c, path, query, &items, rv, sizeof(rv), res);

    if (rc == 0) {
        out = json_pack("{s:s, s:o}", "resourceVersion", rv, "items",
                        items);
        cli_print(out);
        json_decref(out);
    }
    return rc;
}

static int
cli_write(struct kclient *c, const char *cmd, const char *path,
          const char *arg, struct kclient_result *res)
{
    json_t *in = cli_load(arg, strcmp(cmd, "create") == 0), *out = NULL;
    int rc;

    if (in == NULL) {
        return -EINVAL;
    }
    if (strcmp(cmd, "create") == 0) {
        rc = kclient_create(c, path, in, &out, res);
    } else if (strcmp(cmd, "merge-patch") == 0) {
        rc = kclient_merge_patch(c, path, in, &out, res);
    } else {
        rc = kclient_patch_status(c, path, in, &out, res);
    }
    cli_print(out);
    json_decref(out);
    json_decref(in);
    return rc;
}

/* GET each path read from stdin; print {"path", "status", "rc"}. */
static int
cli_get_lines(struct kclient *c)
{
    char line[1024];
    int last = 0;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        struct kclient_result res = { 0 };
        json_t *obj = NULL, *out;

        line[strcspn(line, "\r\n")] = '\0';
        last = kclient_get(c, line, &obj, &res);
        out = json_pack("{s:s, s:i, s:i, s:s}", "path", line, "status",
                        (int)res.status, "rc", last, "reason", res.reason);
        cli_print(out);
        json_decref(out);
        json_decref(obj);
    }
    return last;
}

/* ---- hammer: concurrent requests on one client ---------------------- */

struct cli_hammer {
    struct kclient *c;
    const char *path;
    long count;
    long ok;       /* written by its own thread only */
    pthread_t t;
};

static void *
cli_hammer_main(void *arg)
{
    struct cli_hammer *h = arg;
    long i;

    for (i = 0; i < h->count; i++) {
        json_t *obj = NULL;

        if (kclient_get(h->c, h->path, &obj, NULL) == 0) {
            h->ok++;
        }
        json_decref(obj);
    }
    return NULL;
}

static int
cli_hammer(struct kclient *c, int argc, char **argv)
{
    struct cli_hammer h[64];
    struct timespec t0, t1;
    long n, ok = 0, total;
    json_t *out;
    int i;

    n = argc >= 3 ? strtol(argv[0], NULL, 10) : 0;
    if (n < 1 || n > 64) {
        return -EINVAL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        h[i] = (struct cli_hammer){ c, argv[2], strtol(argv[1], NULL, 10),
                                    0, 0 };
        pthread_create(&h[i].t, NULL, cli_hammer_main, &h[i]);
    }
    for (i = 0; i < n; i++) {
        pthread_join(h[i].t, NULL);
        ok += h[i].ok;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    total = n * h[0].count;
    out = json_pack("{s:I, s:I, s:f}", "ok", (json_int_t)ok, "failed",
                    (json_int_t)(total - ok), "seconds",
                    (double)(t1.tv_sec - t0.tv_sec) +
                        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    cli_print(out);
    json_decref(out);
    return ok == total ? 0 : -EIO;
}

/* ---- watch ------------------------------------------------------------- */

static const char *const cli_types[] = {
    "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "RELISTED", "ERROR",
};

static const char *
cli_name(json_t *obj)
{
    const char *n = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "name"));

    return n != NULL ? n : "";
}

static void
cli_on_event(enum kclient_event type, json_t *obj, const char *rv,
             void *arg)
{
    json_t *line = json_pack("{s:s, s:s}", "type", cli_types[type], "rv",
                             rv);
    json_t *names;
    size_t i;

    (void)arg;
    if (type == KCLIENT_RELISTED) {
        names = json_array();
        for (i = 0; i < json_array_size(obj); i++) {
            json_array_append_new(names, json_string(
                cli_name(json_array_get(obj, i))));
        }
        json_object_set_new(line, "names", names);
    } else {
        json_object_set_new(line, "name", json_string(cli_name(obj)));
        json_object_set(line, "object", obj);
    }
    cli_print(line);
    json_decref(line);
}

static int
cli_watch(struct kclient *c, int argc, char **argv)
{
    struct kclient_watch_opts o = { .path = argv[0], .fn = cli_on_event };
    struct kclient_watch_stats st;
    struct kclient_watch *w;
    int i, rc, secs = 0;
    json_t *line;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rv") == 0) {
            o.resource_version = argv[i + 1];
        } else if (strcmp(argv[i], "--query") == 0) {
            o.query = argv[i + 1];
        } else if (strcmp(argv[i], "--timeout-seconds") == 0) {
            o.timeout_seconds = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--for") == 0) {
            secs = (int)strtol(argv[i + 1], NULL, 10);
        } else {
            return cli_usage();
        }
    }

    if ((rc = kclient_watch_start(c, &o, &w)) < 0) {
        return rc;
    }
    for (i = 0; !cli_stop && (secs == 0 || i < secs * 10); i++) {
        usleep(100000);
    }
    kclient_watch_stats(w, &st);
    kclient_watch_stop(w);
    line = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "type",
                     "STATS", "events", (json_int_t)st.events, "bookmarks",
                     (json_int_t)st.bookmarks, "relists",
                     (json_int_t)st.relists, "gone", (json_int_t)st.gone,
                     "reconnects", (json_int_t)st.reconnects, "errors",
                     (json_int_t)st.errors);
    cli_print(line);
    json_decref(line);
    return 0;
}

/* ---- main -------------------------------------------------------------- */

static int
cli_run(struct kclient *c, int argc, char **argv)
{
    struct kclient_result res = { 0 };
    const char *cmd = argv[0];
    json_t *obj = NULL;
    int rc;

    if (strcmp(cmd, "get-lines") == 0) {
        return cli_get_lines(c);
    }
    if (argc < 2) {
        return -EINVAL;
    }
    if (strcmp(cmd, "watch") == 0) {
        return cli_watch(c, argc - 1, argv + 1);
    }
    if (strcmp(cmd, "hammer") == 0) {
        return cli_hammer(c, argc - 1, argv + 1);
    }
    if (strcmp(cmd, "get") == 0) {
        rc = kclient_get(c, argv[1], &obj, &res);
        cli_print(obj);
        json_decref(obj);
    } else if (strcmp(cmd, "list") == 0) {
        rc = cli_list(c, argv[1], argc > 2 ? argv[2] : NULL, &res);
    } else if (strcmp(cmd, "delete") == 0) {
        rc = kclient_delete(c, argv[1], &res);
    } else if (argc >= 3) {
        rc = cli_write(c, cmd, argv[1], argv[2], &res);
    } else {
        return -EINVAL;
    }
    cli_report(rc, &res);
    return rc;
}

static int
cli_config(int *argi, int argc, char **argv, struct kubeconfig *kc)
{
    const char *file = NULL, *context = NULL;
    char err[KUBECONFIG_ERR_LEN] = "";
    bool in_cluster = false;
    int rc;

    for (; *argi < argc && strncmp(argv[*argi], "--", 2) == 0; (*argi)++) {
        if (strcmp(argv[*argi], "--in-cluster") == 0) {
            in_cluster = true;
        } else if (*argi + 1 < argc &&
                   strcmp(argv[*argi], "--kubeconfig") == 0) {
            file = argv[++*argi];
        } else if (*argi + 1 < argc &&
                   strcmp(argv[*argi], "--context") == 0) {
            context = argv[++*argi];
        } else {
            return -EINVAL;
        }
    }
    if (in_cluster == (file != NULL)) {
        return -EINVAL;
    }
    rc = in_cluster ? kubeconfig_in_cluster(NULL, kc, err, sizeof(err))
                    : kubeconfig_load(file, context, kc, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "kubeconfig: %s\n", err);
    }
    return rc;
}

int
main(int argc, char **argv)
{
    struct kubeconfig kc;
    struct kclient *c;
    int argi = 1, rc;

    signal(SIGTERM, cli_on_signal);
    signal(SIGINT, cli_on_signal);
    if (cli_config(&argi, argc, argv, &kc) < 0 || argi >= argc) {
        return cli_usage();
    }
    if (kclient_new(&kc, &c) < 0) {
        kubeconfig_free(&kc);
        return 1;
    }

    rc = cli_run(c, argc - argi, argv + argi);
    kclient_free(c);
    if (rc == -EINVAL && argc - argi < 2) {
        return cli_usage();
    }
    return cli_exit(rc);
}

/*
 * fuzz_kubeconfig.c - the Kubernetes client's two parsers on arbitrary
 * bytes: kubeconfig_parse() (current context, then a context named
 * "dev") and the watch stream (kclient_lines + kclient_event_parse) fed
 * in two pieces.  Each must return 0 or a negative errno, leave an error
 * message on failure, and never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/kclient.h"
#include "k8s/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_config(const uint8_t *data, size_t size, const char *ctx)
{
    char err[KUBECONFIG_ERR_LEN];
    struct kubeconfig kc;
    int rc;

    memset(err, 'x', sizeof(err));
    rc = kubeconfig_parse((const char *)data, size, ctx, "/base", &kc, err,
                          sizeof(err));
    if (rc > 0 || memchr(err, '\0', sizeof(err)) == NULL ||
        (rc < 0 && (err[0] == '\0' || kc.server != NULL)) ||
        (rc == 0 && (kc.server == NULL || kc.context == NULL))) {
        abort();
    }
    kubeconfig_free(&kc);
}

static int
fuzz_line(char *line, size_t len, void *arg)
{
    char rv[KCLIENT_RV_LEN];
    enum kclient_event type;
    json_t *doc, *obj;
    long code;

    (void)arg;
    if (strlen(line) > len) {
        abort();
    }
    if (kclient_event_parse(line, len, &doc, &type, &obj, rv, sizeof(rv),
                            &code) == 0) {
        if (!json_is_object(obj) || strlen(rv) >= sizeof(rv)) {
            abort();
        }
        json_decref(doc);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kclient_lines lp;

    fuzz_config(data, size, NULL);
    fuzz_config(data, size, "dev");

    if (kclient_lines_init(&lp, 256, fuzz_line, NULL) == 0) {
        kclient_lines_feed(&lp, (const char *)data, size / 2);
        kclient_lines_feed(&lp, (const char *)data + size / 2,
                           size - size / 2);
        kclient_lines_free(&lp);
    }
    return 0;
}

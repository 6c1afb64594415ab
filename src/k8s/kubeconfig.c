/*
 * kubeconfig.c - kubeconfig files (libyaml document API) and the
 * in-cluster ServiceAccount mount.
 */
#include "k8s/kubeconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Longest string value accepted from the file (CA bundles are long). */
#define KUBECONFIG_MAX_STR (512u * 1024)

/* The parse under way: the document, the error buffer, the base folder. */
struct kubeconfig_ctx {
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    const char *base_dir;
};

static void
kubeconfig_errf(struct kubeconfig_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
kubeconfig_errf(struct kubeconfig_ctx *x, const char *fmt, ...)
{
    va_list ap;

    if (x->errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(x->err, x->errlen, fmt, ap);
    va_end(ap);
}

/* ---- base64 ------------------------------------------------------------ */

static int
kubeconfig_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

static bool
kubeconfig_is_space(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* After the data: at most two '=' completing the quad (or none), and
 * whitespace. */
static int
kubeconfig_b64_tail(const char *in, size_t i, size_t len, size_t quad)
{
    size_t pads = 0;

    for (; i < len; i++) {
        if (in[i] == '=') {
            pads++;
        } else if (!kubeconfig_is_space((unsigned char)in[i])) {
            return -EINVAL;
        }
    }
    if (pads > 2 || (pads > 0 && (quad + pads) % 4 != 0)) {
        return -EINVAL;
    }
    return 0;
}

int
kubeconfig_base64_decode(const char *in, size_t len, unsigned char **out,
                         size_t *out_len)
{
    unsigned char *buf = malloc(len / 4 * 3 + 4);
    uint32_t acc = 0;
    size_t i, n = 0, quad = 0;

    if (buf == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < len && in[i] != '='; i++) {
        int v = kubeconfig_b64_value((unsigned char)in[i]);

        if (v < 0 && kubeconfig_is_space((unsigned char)in[i])) {
            continue;
        }
        if (v < 0) {
            goto bad;
        }
        acc = (acc << 6) | (uint32_t)v;
        if (++quad == 4) {
            buf[n++] = (unsigned char)(acc >> 16);
            buf[n++] = (unsigned char)(acc >> 8);
            buf[n++] = (unsigned char)acc;
            acc = 0;
            quad = 0;
        }
    }

    if (quad == 1 || kubeconfig_b64_tail(in, i, len, quad) < 0) {
        goto bad;
    }
    if (quad == 2) {
        buf[n++] = (unsigned char)(acc >> 4);
    } else if (quad == 3) {
        buf[n++] = (unsigned char)(acc >> 10);
        buf[n++] = (unsigned char)(acc >> 2);
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;

bad:
    free(buf);
    return -EINVAL;
}

/* ---- YAML node helpers ------------------------------------------------- */

static yaml_node_t *
kubeconfig_node(struct kubeconfig_ctx *x, int id)
{
    return yaml_document_get_node(x->doc, id);
}

/* The value under key in a mapping node, or NULL. */
static yaml_node_t *
kubeconfig_get(struct kubeconfig_ctx *x, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p;

    if (map == NULL || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = kubeconfig_node(x, p->key);

        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strlen(key) == k->data.scalar.length &&
            memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0) {
            return kubeconfig_node(x, p->value);
        }
    }
    return NULL;
}

/* A scalar's text, or NULL when n is absent, null or not a scalar. */
static const char *
kubeconfig_scalar(yaml_node_t *n)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE) {
        return NULL;
    }
    if (n->data.scalar.length == 0 && n->data.scalar.style ==
        YAML_PLAIN_SCALAR_STYLE) {
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

/*
 * Copy the string under key into *dst.  where names the enclosing entry
 * for errors.  Absent is fine (0); a non-string or an over-long one is
 * -EINVAL.
 */
static int
kubeconfig_str(struct kubeconfig_ctx *x, yaml_node_t *map, const char *key,
               const char *where, char **dst)
{
    yaml_node_t *n = kubeconfig_get(x, map, key);
    const char *s = kubeconfig_scalar(n);

    if (n == NULL || (s == NULL && n->type == YAML_SCALAR_NODE)) {
        return 0;
    }
    if (s == NULL || strlen(s) != n->data.scalar.length ||
        n->data.scalar.length > KUBECONFIG_MAX_STR) {
        kubeconfig_errf(x, "%s.%s: not a string (or too long)", where, key);
        return -EINVAL;
    }
    free(*dst);
    *dst = strdup(s);
    return *dst == NULL ? -ENOMEM : 0;
}

/* Like kubeconfig_str(), made absolute against base_dir when relative. */
static int
kubeconfig_path(struct kubeconfig_ctx *x, yaml_node_t *map, const char *key,
                const char *where, char **dst)
{
    char *joined;
    int rc = kubeconfig_str(x, map, key, where, dst);

    if (rc < 0 || *dst == NULL || (*dst)[0] == '/' || x->base_dir == NULL) {
        return rc;
    }
    if (asprintf(&joined, "%s/%s", x->base_dir, *dst) < 0) {
        return -ENOMEM;
    }
    free(*dst);
    *dst = joined;
    return 0;
}

/* Decode the base64 string under key into *blob. */
static int
kubeconfig_data(struct kubeconfig_ctx *x, yaml_node_t *map, const char *key,
                const char *where, struct kubeconfig_blob *blob)
{
    char *text = NULL;
    int rc = kubeconfig_str(x, map, key, where, &text);

    if (rc < 0 || text == NULL) {
        return rc;
    }
    rc = kubeconfig_base64_decode(text, strlen(text), &blob->data,
                                  &blob->len);
    free(text);
    if (rc == -EINVAL) {
        kubeconfig_errf(x, "%s.%s: invalid base64", where, key);
    }
    return rc;
}

static int
kubeconfig_bool(struct kubeconfig_ctx *x, yaml_node_t *map, const char *key,
                const char *where, bool *dst)
{
    const char *s = kubeconfig_scalar(kubeconfig_get(x, map, key));

    if (s == NULL) {
        return 0;
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *dst = s[0] == 't';
        return 0;
    }
    kubeconfig_errf(x, "%s.%s: not true or false", where, key);
    return -EINVAL;
}

/*
 * In the sequence under list_key, the entry whose name is `name`; its
 * `inner_key` mapping goes to *body.  -ENOENT with a message if absent.
 */
static int
kubeconfig_find(struct kubeconfig_ctx *x, yaml_node_t *root,
                const char *list_key, const char *inner_key,
                const char *name, yaml_node_t **body)
{
    yaml_node_t *seq = kubeconfig_get(x, root, list_key);
    yaml_node_item_t *it;

    if (seq != NULL && seq->type == YAML_SEQUENCE_NODE) {
        for (it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = kubeconfig_node(x, *it);
            const char *n = kubeconfig_scalar(kubeconfig_get(x, e, "name"));

            if (n != NULL && strcmp(n, name) == 0) {
                *body = kubeconfig_get(x, e, inner_key);
                return 0;
            }
        }
    }
    kubeconfig_errf(x, "%s: no entry named \"%.64s\"", list_key, name);
    return -ENOENT;
}

/* ---- the three sections ------------------------------------------------ */

static int
kubeconfig_cluster(struct kubeconfig_ctx *x, yaml_node_t *c,
                   const char *where, struct kubeconfig *out)
{
    size_t n;
    int rc;

    if ((rc = kubeconfig_str(x, c, "server", where, &out->server)) < 0 ||
        (rc = kubeconfig_path(x, c, "certificate-authority", where,
                              &out->ca_file)) < 0 ||
        (rc = kubeconfig_data(x, c, "certificate-authority-data", where,
                              &out->ca)) < 0 ||
        (rc = kubeconfig_bool(x, c, "insecure-skip-tls-verify", where,
                              &out->insecure)) < 0) {
        return rc;
    }

    if (out->server == NULL) {
        kubeconfig_errf(x, "%s.server: missing", where);
        return -EINVAL;
    }
    if (strncmp(out->server, "https://", 8) != 0 &&
        strncmp(out->server, "http://", 7) != 0) {
        kubeconfig_errf(x, "%s.server: not an http(s) URL", where);
        return -EINVAL;
    }
    n = strlen(out->server);
    while (n > 0 && out->server[n - 1] == '/') {
        out->server[--n] = '\0';
    }
    return 0;
}

/* The auth methods we do not implement are refused by name. */
static int
kubeconfig_unsupported(struct kubeconfig_ctx *x, yaml_node_t *u,
                       const char *where)
{
    static const char *const keys[] = {
        "exec", "auth-provider", "username", "password",
    };
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (kubeconfig_get(x, u, keys[i]) != NULL) {
            kubeconfig_errf(x, "%s.%s: not supported", where, keys[i]);
            return -ENOTSUP;
        }
    }
    return 0;
}

static int
kubeconfig_user(struct kubeconfig_ctx *x, yaml_node_t *u, const char *where,
                struct kubeconfig *out)
{
    int rc;

    if ((rc = kubeconfig_unsupported(x, u, where)) < 0 ||
        (rc = kubeconfig_str(x, u, "token", where, &out->token)) < 0 ||
        (rc = kubeconfig_path(x, u, "tokenFile", where,
                              &out->token_file)) < 0 ||
        (rc = kubeconfig_path(x, u, "client-certificate", where,
                              &out->cert_file)) < 0 ||
        (rc = kubeconfig_data(x, u, "client-certificate-data", where,
                              &out->cert)) < 0 ||
        (rc = kubeconfig_path(x, u, "client-key", where,
                              &out->key_file)) < 0 ||
        (rc = kubeconfig_data(x, u, "client-key-data", where,
                              &out->key)) < 0) {
        return rc;
    }

    if ((out->cert_file || out->cert.data) != (out->key_file ||
                                               out->key.data)) {
        kubeconfig_errf(x, "%s.client-key: a client certificate needs a "
                        "key and a key needs a certificate", where);
        return -EINVAL;
    }
    return 0;
}

/* Resolve context `name`: its cluster (required) and user (optional). */
static int
kubeconfig_context(struct kubeconfig_ctx *x, yaml_node_t *root,
                   const char *name, struct kubeconfig *out)
{
    yaml_node_t *ctx = NULL, *body = NULL;
    char *cluster = NULL, *user = NULL, where[160];
    int rc;

    if ((rc = kubeconfig_find(x, root, "contexts", "context", name,
                              &ctx)) < 0) {
        return rc;
    }
    snprintf(where, sizeof(where), "contexts[%.64s].context", name);
    if ((rc = kubeconfig_str(x, ctx, "cluster", where, &cluster)) < 0 ||
        (rc = kubeconfig_str(x, ctx, "user", where, &user)) < 0 ||
        (rc = kubeconfig_str(x, ctx, "namespace", where,
                             &out->namespace)) < 0) {
        goto out;
    }
    if (cluster == NULL) {
        kubeconfig_errf(x, "%s.cluster: missing", where);
        rc = -EINVAL;
        goto out;
    }

    if ((rc = kubeconfig_find(x, root, "clusters", "cluster", cluster,
                              &body)) < 0) {
        goto out;
    }
    snprintf(where, sizeof(where), "clusters[%.64s].cluster", cluster);
    if ((rc = kubeconfig_cluster(x, body, where, out)) < 0 || user == NULL) {
        goto out;
    }

    body = NULL;
    if ((rc = kubeconfig_find(x, root, "users", "user", user, &body)) < 0) {
        goto out;
    }
    snprintf(where, sizeof(where), "users[%.64s].user", user);
    rc = kubeconfig_user(x, body, where, out);

out:
    free(cluster);
    free(user);
    return rc;
}

/* ---- entry points ------------------------------------------------------ */

static int
kubeconfig_load_doc(const char *text, size_t len, yaml_document_t *doc,
                    struct kubeconfig_ctx *x)
{
    yaml_parser_t parser;
    int ok;

    if (!yaml_parser_initialize(&parser)) {
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    ok = yaml_parser_load(&parser, doc);
    if (!ok) {
        kubeconfig_errf(x, "yaml: %s at line %zu",
                        parser.problem ? parser.problem : "error",
                        parser.problem_mark.line + 1);
    }
    yaml_parser_delete(&parser);
    return ok ? 0 : -EINVAL;
}

static int
kubeconfig_resolve(struct kubeconfig_ctx *x, const char *context,
                   struct kubeconfig *out)
{
    yaml_node_t *root = yaml_document_get_root_node(x->doc);
    const char *name = context;
    int rc;

    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        kubeconfig_errf(x, "kubeconfig: not a YAML mapping");
        return -EINVAL;
    }
    if (name == NULL) {
        name = kubeconfig_scalar(kubeconfig_get(x, root,
                                                "current-context"));
    }
    if (name == NULL || name[0] == '\0') {
        kubeconfig_errf(x, "current-context: not set and no context "
                        "chosen");
        return -EINVAL;
    }

    if ((rc = kubeconfig_context(x, root, name, out)) < 0) {
        return rc;
    }
    out->context = strdup(name);
    return out->context == NULL ? -ENOMEM : 0;
}

int
kubeconfig_parse(const char *text, size_t len, const char *context,
                 const char *base_dir, struct kubeconfig *out, char *err,
                 size_t errlen)
{
    struct kubeconfig_ctx x = { NULL, err, errlen, base_dir };
    yaml_document_t doc;
    int rc;

    memset(out, 0, sizeof(*out));
    if (errlen > 0) {
        err[0] = '\0';
    }
    if (len > KUBECONFIG_MAX_BYTES) {
        kubeconfig_errf(&x, "kubeconfig: larger than %u bytes",
                        KUBECONFIG_MAX_BYTES);
        return -EINVAL;
    }

    if ((rc = kubeconfig_load_doc(text, len, &doc, &x)) < 0) {
        return rc;
    }
    x.doc = &doc;
    rc = kubeconfig_resolve(&x, context, out);
    yaml_document_delete(&doc);
    if (rc < 0) {
        kubeconfig_free(out);
    }
    return rc;
}

/* Read a whole small file into a NUL-terminated buffer. */
static int
kubeconfig_read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        return -errno;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        free(buf);
        return -EFBIG;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int
kubeconfig_load(const char *path, const char *context,
                struct kubeconfig *out, char *err, size_t errlen)
{
    char *text = NULL, *dir, *slash;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = kubeconfig_read_file(path, KUBECONFIG_MAX_BYTES, &text, &len);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }

    dir = strdup(path);
    if (dir == NULL) {
        free(text);
        return -ENOMEM;
    }
    slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    rc = kubeconfig_parse(text, len, context,
                          slash == NULL ? NULL : (dir[0] ? dir : "/"),
                          out, err, errlen);
    free(dir);
    free(text);
    return rc;
}

/* ---- in-cluster -------------------------------------------------------- */

static int
kubeconfig_in_cluster_server(struct kubeconfig *out, char *err,
                             size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    bool v6;

    if (host == NULL || host[0] == '\0') {
        snprintf(err, errlen, "KUBERNETES_SERVICE_HOST: not set");
        return -ENOENT;
    }
    if (port == NULL || port[0] == '\0') {
        port = "443";
    }
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        strpbrk(host, "/?#@ ") != NULL || strlen(host) > 255) {
        snprintf(err, errlen, "KUBERNETES_SERVICE_HOST/PORT: invalid");
        return -EINVAL;
    }
    v6 = strchr(host, ':') != NULL;
    if (asprintf(&out->server, "https://%s%s%s:%s", v6 ? "[" : "", host,
                 v6 ? "]" : "", port) < 0) {
        out->server = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int
kubeconfig_sa_file(const char *dir, const char *name, bool required,
                   char **dst, char *err, size_t errlen)
{
    if (asprintf(dst, "%s/%s", dir, name) < 0) {
        *dst = NULL;
        return -ENOMEM;
    }
    if (access(*dst, R_OK) == 0) {
        return 0;
    }
    if (required) {
        snprintf(err, errlen, "%s: %s", *dst, strerror(errno));
        return -ENOENT;
    }
    free(*dst);
    *dst = NULL;
    return 0;
}

/* The namespace file's first line, if the file is there. */
static int
kubeconfig_sa_namespace(const char *dir, struct kubeconfig *out)
{
    char *path = NULL, *text = NULL;
    size_t len = 0;
    int rc;

    if (asprintf(&path, "%s/namespace", dir) < 0) {
        return -ENOMEM;
    }
    rc = kubeconfig_read_file(path, 253, &text, &len);
    free(path);
    if (rc < 0) {
        return rc == -ENOMEM ? rc : 0;
    }
    text[strcspn(text, "\r\n")] = '\0';
    if (text[0] == '\0') {
        free(text);
        return 0;
    }
    out->namespace = text;
    return 0;
}

int
kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig *out,
                      char *err, size_t errlen)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (errlen > 0) {
        err[0] = '\0';
    }
    if (sa_dir == NULL) {
        sa_dir = getenv("UGALLU_SA_DIR");
    }
    if (sa_dir == NULL || sa_dir[0] == '\0') {
        sa_dir = KUBECONFIG_SA_DIR;
    }

    if ((rc = kubeconfig_in_cluster_server(out, err, errlen)) < 0 ||
        (rc = kubeconfig_sa_file(sa_dir, "token", true, &out->token_file,
                                 err, errlen)) < 0 ||
        (rc = kubeconfig_sa_file(sa_dir, "ca.crt", false, &out->ca_file,
                                 err, errlen)) < 0 ||
        (rc = kubeconfig_sa_namespace(sa_dir, out)) < 0) {
        goto fail;
    }
    out->context = strdup("in-cluster");
    if (out->context == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    return 0;

fail:
    kubeconfig_free(out);
    return rc;
}

void
kubeconfig_free(struct kubeconfig *kc)
{
    if (kc == NULL) {
        return;
    }
    free(kc->server);
    free(kc->ca_file);
    free(kc->ca.data);
    free(kc->token);
    free(kc->token_file);
    free(kc->cert_file);
    free(kc->cert.data);
    free(kc->key_file);
    if (kc->key.data != NULL) {
        memset(kc->key.data, 0, kc->key.len);
    }
    free(kc->key.data);
    free(kc->namespace);
    free(kc->context);
    memset(kc, 0, sizeof(*kc));
}

/*
 * kubeconfig.h - where an API server is and how to authenticate to it,
 * from a kubeconfig file (--kubeconfig) or from the in-cluster
 * ServiceAccount mount.
 *
 * The result is plain data for kclient.h: the server URL, the CA (a file
 * or PEM bytes), the client certificate and key (files or PEM bytes), and
 * a bearer token (fixed, or a file that kclient re-reads when it
 * changes).  Base64 "-data" fields are decoded into memory and never
 * written to disk; kclient hands them to libcurl as blobs.
 *
 * Errors name the field: "users[admin].client-key-data: invalid base64".
 * Not supported, and refused by name: exec and auth-provider plugins,
 * basic auth (username/password).  Not read: a KUBECONFIG list of
 * several files (one file only), tls-server-name and proxy-url (libcurl
 * follows the usual proxy environment variables instead).  Everything
 * here is single-threaded setup code.
 */
#ifndef DD_KUBECONFIG_H
#define DD_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Largest kubeconfig file read, in bytes. */
#define KUBECONFIG_MAX_BYTES (1u << 20)

/* Where in-cluster credentials live; $UGALLU_SA_DIR overrides it. */
#define KUBECONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Room for an error message, including the field name. */
#define KUBECONFIG_ERR_LEN 256

/* Bytes decoded from a base64 field; data is NUL-terminated (not counted
 * in len) so PEM text can also be used as a string. */
struct kubeconfig_blob {
    unsigned char *data; /* owned; NULL when the field was absent */
    size_t len;          /* bytes in data */
};

/* One resolved context: everything needed to talk to its server.  Every
 * pointer is owned by the struct and freed by kubeconfig_free(). */
struct kubeconfig {
    char *server;                /* "https://host:port[/prefix]", no
                                    trailing slash; never NULL once
                                    loaded */
    char *ca_file;               /* CA bundle path, or NULL */
    struct kubeconfig_blob ca;   /* certificate-authority-data (PEM) */
    bool insecure;               /* insecure-skip-tls-verify */
    char *token;                 /* fixed bearer token, or NULL */
    char *token_file;            /* token file, re-read on change, or
                                    NULL; wins over token when both set */
    char *cert_file;             /* client-certificate path, or NULL */
    struct kubeconfig_blob cert; /* client-certificate-data (PEM) */
    char *key_file;              /* client-key path, or NULL */
    struct kubeconfig_blob key;  /* client-key-data (PEM) */
    char *namespace;             /* context namespace (in-cluster: the
                                    namespace file), or NULL */
    char *context;               /* context name ("in-cluster" for the
                                    ServiceAccount mount) */
};

/*
 * Parse kubeconfig text (len bytes, at most KUBECONFIG_MAX_BYTES) and
 * resolve one context: `context` when not NULL, else current-context.
 * Relative file paths in it are taken relative to base_dir (the file's
 * folder; NULL keeps them as they are).  On success fills *out (which the
 * caller frees with kubeconfig_free) and returns 0.  On failure returns
 * -EINVAL (bad or incomplete content), -ENOENT (context, cluster or user
 * not found), -ENOTSUP (an unsupported auth method) or -ENOMEM, writes a
 * message naming the field to err (errlen bytes, may be 0) and leaves
 * *out empty.
 */
int kubeconfig_parse(const char *text, size_t len, const char *context,
                     const char *base_dir, struct kubeconfig *out,
                     char *err, size_t errlen);

/*
 * Read the file at path and kubeconfig_parse() it, relative paths
 * resolved against the file's folder.  Adds -EIO/-ENOENT/-EFBIG (file
 * errors) to kubeconfig_parse()'s codes.
 */
int kubeconfig_load(const char *path, const char *context,
                    struct kubeconfig *out, char *err, size_t errlen);

/*
 * In-cluster configuration: the server from KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT (IPv6 hosts bracketed), the token file, CA and
 * namespace from sa_dir (NULL: $UGALLU_SA_DIR, else KUBECONFIG_SA_DIR).
 * The token file must exist now; it is re-read by kclient when it
 * changes.  Returns 0, -ENOENT (variable or file missing) or -EINVAL,
 * with a message in err.
 */
int kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig *out,
                          char *err, size_t errlen);

/* Free everything *kc owns and zero it.  NULL and zeroed structs are
 * fine. */
void kubeconfig_free(struct kubeconfig *kc);

/*
 * Decode standard base64 (padding optional, ASCII whitespace skipped) of
 * len bytes into a new NUL-terminated buffer (*out, caller frees;
 * *out_len excludes the NUL).  Returns 0, -EINVAL on a bad character or
 * length, -ENOMEM.
 */
int kubeconfig_base64_decode(const char *in, size_t len,
                             unsigned char **out, size_t *out_len);

#endif

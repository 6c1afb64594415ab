/*
 * finding.c - building findings and their signals.
 */
#include "detectors/finding.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
finding_init(struct finding *f, const char *detector, const char *type,
             const char *severity, const char *key, const struct event *ev)
{
    char addr[48];

    f->detector = detector;
    f->class_ = "Detection";
    f->type = type;
    f->severity = severity;
    f->experimental = 0;
    snprintf(f->key, sizeof(f->key), "%s", key);
    f->subject_namespace[0] = '\0';
    f->subject_uid[0] = '\0';
    if (ev->pod_name[0] != '\0' && ev->pod_namespace[0] != '\0') {
        snprintf(f->subject, sizeof(f->subject), "%s", ev->pod_name);
        snprintf(f->subject_namespace, sizeof(f->subject_namespace), "%s",
                 ev->pod_namespace);
        snprintf(f->subject_uid, sizeof(f->subject_uid), "%s",
                 ev->pod_uid);
    } else {
        event_addr_format(&ev->client, addr, sizeof(addr));
        snprintf(f->subject, sizeof(f->subject), "ip-%s",
                 addr[0] != '\0' ? addr : "unknown");
    }
    f->detected_ns = ev->time_ns;
    f->merged = 0;
    f->nsignals = 0;
    f->used = 0;
}

const char *
finding_signal_key(const struct finding *f, size_t i)
{
    return f->buf + f->offs[i];
}

const char *
finding_signal_value(const struct finding *f, size_t i)
{
    const char *k = f->buf + f->offs[i];

    return k + strlen(k) + 1;
}

const char *
finding_get(const struct finding *f, const char *key)
{
    for (size_t i = 0; i < f->nsignals; i++) {
        if (strcmp(finding_signal_key(f, i), key) == 0) {
            return finding_signal_value(f, i);
        }
    }
    return NULL;
}

/* Drop signal i, closing the gap in buf. */
static void
finding_remove(struct finding *f, size_t i)
{
    size_t start = f->offs[i];
    const char *v = finding_signal_value(f, i);
    size_t len = (size_t)(v - (f->buf + start)) + strlen(v) + 1;

    memmove(f->buf + start, f->buf + start + len, f->used - start - len);
    f->used = (uint16_t)(f->used - len);
    f->nsignals--;
    for (size_t j = i; j < f->nsignals && j + 1 < FINDING_SIGNALS_MAX; j++) {
        f->offs[j] = (uint16_t)(f->offs[j + 1] - len);
    }
}

static int
finding_append(struct finding *f, const char *key, const char *value)
{
    size_t kl = strlen(key) + 1, vl = strlen(value) + 1;

    if (f->nsignals == FINDING_SIGNALS_MAX ||
        f->used + kl + vl > sizeof(f->buf)) {
        return -1;
    }
    f->offs[f->nsignals++] = f->used;
    memcpy(f->buf + f->used, key, kl);
    memcpy(f->buf + f->used + kl, value, vl);
    f->used = (uint16_t)(f->used + kl + vl);
    return 0;
}

void
finding_signal(struct finding *f, const char *key, const char *fmt, ...)
{
    char value[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);

    for (size_t i = 0; i < f->nsignals; i++) {
        if (strcmp(finding_signal_key(f, i), key) == 0) {
            finding_remove(f, i);
            break;
        }
    }
    if (finding_append(f, key, value) != 0 &&
        finding_get(f, "signals_truncated") == NULL) {
        if (f->nsignals == FINDING_SIGNALS_MAX) {
            finding_remove(f, f->nsignals - 1);
        }
        finding_append(f, "signals_truncated", "true");
    }
}

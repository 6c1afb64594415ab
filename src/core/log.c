/*
 * log.c - leveled key=value log lines on stderr.
 */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_INFO;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

int
log_set_level(const char *name)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(name, log_names[i]) == 0) {
            log_threshold = i;
            return 0;
        }
    }
    return -EINVAL;
}

static size_t
log_stamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    return n + (m > 0 ? (size_t)m : 0);
}

void
log_write(int level, const char *msg, const char *fmt, ...)
{
    char line[2048];
    size_t n;
    int m;
    va_list ap;

    if (level < 0 || level > LOG_DEBUG) {
        level = LOG_ERROR;
    }
    n = log_stamp(line, sizeof(line));
    m = snprintf(line + n, sizeof(line) - n, " level=%s msg=\"%s\"",
                 log_names[level], msg);
    n += m > 0 ? (size_t)m : 0;

    if (fmt[0] != '\0' && n + 2 < sizeof(line)) {
        line[n++] = ' ';
        va_start(ap, fmt);
        m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        n += m > 0 ? (size_t)m : 0;
    }
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';

    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

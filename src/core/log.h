/*
 * log.h - leveled key=value log lines on stderr.
 *
 * Each line reads: ts=<RFC 3339> level=<level> msg="<text>" k=v ...
 * The level is checked before anything is formatted, so a disabled
 * LOG_DEBUG costs one comparison.  Safe from any thread (one write(2)
 * per line).  Never log per packet at info or above: count it instead.
 */
#ifndef DD_LOG_H
#define DD_LOG_H

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
};

/* Current threshold; lines above it are dropped.  Default LOG_INFO. */
extern int log_threshold;

/* Parse "error", "warn", "info" or "debug".  Returns 0 or -EINVAL. */
int log_set_level(const char *name);

/*
 * Write one line.  fmt holds the key=value fields that follow msg, in
 * printf form (may be ""); msg is quoted for you.
 */
void log_write(int level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(lvl, msg, ...) \
    do { \
        if ((lvl) <= log_threshold) { \
            log_write((lvl), (msg), __VA_ARGS__); \
        } \
    } while (0)

#define log_error(msg, ...) log_at(LOG_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_at(LOG_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...) log_at(LOG_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_at(LOG_DEBUG, msg, __VA_ARGS__)

#endif

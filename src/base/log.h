/* Logging: levels, `key=value` fields, timestamps, one line per call on stderr (or a sink).
 *
 * The macros test the level before formatting, so a disabled LOG_DEBUG costs one compare.
 * Messages follow "what happened key=value key=value"; the JSON format puts the whole
 * message in "msg". Code below the edge logs at debug level only: errors travel as values. */
#ifndef K8C_BASE_LOG_H
#define K8C_BASE_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE
};
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* A sink receives one complete line (no trailing newline). */
typedef void (*log_sink_fn)(enum log_level level, const char *line, void *opaque);

extern enum log_level log_current_level;

void log_set_level(enum log_level level);
/* Maps Kubernetes-style verbosity (-v N) to a level: 0-1 info, 2-4 debug, 5+ trace. */
void log_set_verbosity(int v);
void log_set_format(enum log_format format);
/* Replaces the stderr writer; NULL restores it. */
void log_set_sink(log_sink_fn sink, void *opaque);

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_AT(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= log_current_level)                                                          \
            log_write((level), __FILE__, __LINE__, __VA_ARGS__);                                   \
    } while (0)
#define LOG_ERROR(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_TRACE(...) LOG_AT(LOG_LEVEL_TRACE, __VA_ARGS__)

#endif

/* The log writer behind the LOG_* macros. Each call formats one whole line and writes it
 * with a single write(2), so lines from different threads never interleave. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"

enum log_level log_current_level = LOG_LEVEL_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;
static log_sink_fn current_sink;
static void *current_sink_opaque;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void log_set_level(enum log_level level)
{
    log_current_level = level;
}

void log_set_verbosity(int v)
{
    log_current_level = v >= 5 ? LOG_LEVEL_TRACE : v >= 2 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

void log_set_format(enum log_format format)
{
    current_format = format;
}

void log_set_sink(log_sink_fn sink, void *opaque)
{
    current_sink = sink;
    current_sink_opaque = opaque;
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char stamp[64];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%06ldZ", (long)tv.tv_usec);

    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);

    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;

    _cleanup_buf_ struct buf out = BUF_INIT;
    if (current_format == LOG_FORMAT_JSON) {
        buf_appendf(&out, "{\"ts\":\"%s\",\"level\":\"%s\",\"caller\":\"%s:%d\",\"msg\":", stamp,
                    level_names[level], base, line);
        buf_append_json_string(&out, msg, strlen(msg));
        buf_append_char(&out, '}');
    } else {
        buf_appendf(&out, "%s %-5s %s:%d %s", stamp, level_names[level], base, line, msg);
    }

    if (current_sink != NULL) {
        current_sink(level, out.data, current_sink_opaque);
        return;
    }
    buf_append_char(&out, '\n');
    /* Best effort: there is nowhere left to report a failed write of the log itself. */
    ssize_t written = write(STDERR_FILENO, out.data, out.len);
    (void)written;
}

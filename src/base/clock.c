/* Time helpers (see clock.h). */
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void clock_cond_init_mono(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

struct timespec clock_mono_timespec(uint64_t at_ns)
{
    return (struct timespec){.tv_sec = (time_t)(at_ns / 1000000000u),
                             .tv_nsec = (long)(at_ns % 1000000000u)};
}

struct timespec clock_mono_after(uint64_t after_ns)
{
    return clock_mono_timespec(clock_mono_ns() + after_ns);
}

void clock_rfc3339(time_t t, char out[21])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void clock_rfc3339_micro(const struct timespec *ts, char out[28])
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char base[20];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 28, "%s.%06uZ", base, (unsigned)(ts->tv_nsec / 1000) % 1000000u);
}

int clock_parse_rfc3339(const char *s, time_t *t)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
            return -1;
        offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *t = timegm(&tm) - offset;
    return 0;
}

long clock_parse_seconds(const char *s)
{
    long total = 0;
    const char *p = s;
    if (*p == '\0')
        return -1;
    while (*p) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0)
            return -1;
        if (*end == '\0') {
            if (p != s)
                return -1; /* "1m30": a bare number only on its own */
            return v;
        }
        long unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : -1;
        if (unit < 0)
            return -1;
        total += v * unit;
        p = end + 1;
    }
    return total;
}

/* Time: monotonic clocks for durations, RFC 3339 wall-clock stamps for the API. */
#ifndef K8C_BASE_CLOCK_H
#define K8C_BASE_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC: for measuring durations and deadlines, never for stamps. */
uint64_t clock_mono_ns(void);

/* Initialises a condition variable whose timed waits run on CLOCK_MONOTONIC, so that a step
 * of the wall clock neither stretches nor cuts a wait: every timed wait in k8c uses one. */
void clock_cond_init_mono(pthread_cond_t *cond);
/* The CLOCK_MONOTONIC instant at_ns (a clock_mono_ns value) as pthread_cond_timedwait takes it
 * on such a condition variable. */
struct timespec clock_mono_timespec(uint64_t at_ns);
/* The same for the instant after_ns from now. */
struct timespec clock_mono_after(uint64_t after_ns);

/* Formats t as RFC 3339 in UTC with second precision ("2026-11-23T09:01:26Z"), as Kubernetes
 * writes metadata.creationTimestamp. out must hold 21 bytes. */
void clock_rfc3339(time_t t, char out[21]);
/* The same with microseconds ("…T09:01:26.123456Z", 28 bytes), as MicroTime fields use. */
void clock_rfc3339_micro(const struct timespec *ts, char out[28]);

/* Parses an RFC 3339 stamp (with optional fraction and a Z or ±hh:mm offset). Returns 0 and
 * sets *t, or -1 when the text is not one. */
int clock_parse_rfc3339(const char *s, time_t *t);

/* Parses a Go-style duration of whole seconds, as Kubernetes flags take them: "40", "40s",
 * "2m", "1m30s", "1h". Returns the seconds, or -1 when malformed. */
long clock_parse_seconds(const char *s);

#endif

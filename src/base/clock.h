/* Time: monotonic clocks for durations, RFC 3339 wall-clock stamps for the API. */
#ifndef K8C_BASE_CLOCK_H
#define K8C_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC: for measuring durations and deadlines, never for stamps. */
uint64_t clock_mono_ns(void);

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

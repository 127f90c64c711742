/* Shared inside src/store: the driver interface every backend implements (chosen once by
 * store_open from the URL), the store object the public functions dispatch through, and the
 * watch hub that fans committed events out to watchers. */
#ifndef K8C_STORE_INTERNAL_H
#define K8C_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

/* Limits every backend enforces, so that the SQLite and etcd backends refuse the same input.
 * Values follow etcd's default request limit (--max-request-bytes 1.5 MiB). */
#define STORE_MAX_KEY_LEN 4096
#define STORE_MAX_VALUE_LEN (1536 * 1024)

/* The watch window: for backends without history it is all a watch can resume from
 * (kubectl and informers resume from the last event they saw, seconds old: 20,000 events or
 * 64 MiB is minutes of history at this scale); with history (SQLite) it only saves reading
 * the newest events back from the file, so it stays small. */
#define STORE_DEFAULT_WINDOW_EVENTS 20000
#define STORE_DEFAULT_WINDOW_BYTES (64u * 1024 * 1024)
#define STORE_HISTORY_WINDOW_EVENTS 1024
#define STORE_HISTORY_WINDOW_BYTES (2u * 1024 * 1024)
#define STORE_DEFAULT_MAX_PENDING 10000
#define STORE_DEFAULT_COMPACT_SECONDS 300

struct store_hub;

/* One backend. Public entry points validate their arguments, then call these, which trust
 * them. Writes publish their events to s->hub (in revision order) before they return. */
struct store_driver {
    const char *name;
    /* Opens the backend at location (the URL without its scheme) and fills s->backend,
     * s->revision and s->compacted. Returns 0, or -1 with *err naming what failed. */
    int (*open)(struct store *s, const char *location, struct k8c_err **err);
    /* Optional: starts background work once s->hub exists (etcd: the watch stream). */
    void (*start)(struct store *s);
    /* Stops background work and frees the backend (s itself is freed by store.c). */
    void (*close)(struct store *s);
    int (*get)(struct store *s, const char *key, struct store_kv *out, struct k8c_err **err);
    int (*list)(struct store *s, const char *prefix, int64_t revision, const char *start_key,
                size_t limit, struct store_list *out, struct k8c_err **err);
    int64_t (*create)(struct store *s, const char *key, const void *value, size_t value_len,
                      struct k8c_err **err);
    int64_t (*update)(struct store *s, const char *key, const void *value, size_t value_len,
                      int64_t expected_mod_revision, struct k8c_err **err);
    int64_t (*del)(struct store *s, const char *key, int64_t expected_mod_revision,
                   struct store_kv *prev, struct k8c_err **err);
    int (*compact)(struct store *s, int64_t revision, struct k8c_err **err);
    int (*check)(struct store *s, struct buf *report, struct k8c_err **err);
    /* Optional: the events after `after` up to `upto` (committed revisions) under prefix,
     * oldest first, at most limit, as new references in *out (caller frees the array); GONE
     * when `after` is below the compaction floor. With it the hub keeps only a small window
     * in memory and replays older revisions from the backend. */
    int (*history)(struct store *s, const char *prefix, int64_t after, int64_t upto, size_t limit,
                   struct store_event ***out, size_t *n, struct k8c_err **err);
};

struct store {
    const struct store_driver *driver;
    void *backend;             /* the driver's state */
    struct store_options opts; /* defaults filled in */
    char *url;
    struct store_hub *hub;
    /* Kept by the backend: the newest committed revision and the compaction floor. */
    _Atomic int64_t revision;
    _Atomic int64_t compacted;

    /* The periodic compactor (not in read-only stores). */
    pthread_t compactor;
    bool compactor_running;
    pthread_mutex_t compactor_lock;
    pthread_cond_t compactor_wake;
    bool closing;
};

/* store_set_thread_deadline's value for the calling thread (0: none). */
extern _Thread_local uint64_t store__thread_deadline_ns;

extern const struct store_driver store__sqlite_driver;
extern const struct store_driver store__etcd_driver;

/* ---- the watch hub (watchhub.c) ---- */

/* Makes a hub whose window starts after `revision` (nothing older can be replayed). */
struct store_hub *store__hub_new(int64_t revision, size_t window_events, size_t window_bytes,
                                 size_t max_pending);
/* Lets watches from before the window replay from s's history (driver->history). */
void store__hub_set_history(struct store_hub *hub, struct store *s);
/* Stops using the history and waits for replays in progress (before the backend closes). */
void store__hub_detach_history(struct store_hub *hub);
/* Ends every watch with SERVICE_UNAVAILABLE and drops the store's reference; the hub is freed
 * when its last watcher closes. */
void store__hub_close(struct store_hub *hub);

/* Makes an event (refcount 1, owned by the caller), copying the bytes. prev_value may be NULL
 * (ADDED); prev_value == value shares one copy (DELETED). */
struct store_event *store__event_new(enum store_event_type type, int64_t revision,
                                     int64_t create_revision, const char *key, const void *value,
                                     size_t value_len, const void *prev_value,
                                     size_t prev_value_len);

/* Publishes events (in increasing, consecutive revision order, continuing the hub's
 * revision) and takes the caller's reference to each. Never blocks on watchers: a watcher
 * whose queue is full is cut off. */
void store__hub_publish(struct store_hub *hub, struct store_event **events, size_t n);

struct store_watch *store__hub_watch_open(struct store_hub *hub, const char *prefix,
                                          int64_t after_revision, struct k8c_err **err);
int store__hub_watch_next(struct store_watch *w, int timeout_ms, struct store_event **ev,
                          struct k8c_err **err);
int store__hub_watch_fd(struct store_watch *w);
void store__hub_watch_close(struct store_watch *w);

/* ---- helpers shared by the backends ---- */

/* The smallest string greater than every string starting with prefix, for a range scan
 * [prefix, end). prefix starts with '/', so it always exists. Caller frees. */
char *store__prefix_end(const char *prefix);

#endif

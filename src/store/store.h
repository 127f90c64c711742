/* The store: a durable, revisioned key/value store with watch — the role etcd plays in
 * Kubernetes, with etcd v3's semantics so that the SQLite backend and the etcd backend are
 * drop-in replacements for each other.
 *
 * One revision counter for the whole store, +1 per write; it becomes metadata.resourceVersion.
 * Values are opaque bytes (k8c stores each object's JSON). Keys are Kubernetes' etcd keys
 * (`/registry/pods/<namespace>/<name>`).
 *
 * Errors (struct k8c_err reasons): NOT_FOUND (no such key), ALREADY_EXISTS (create over an
 * existing key), CONFLICT (mod_revision guard failed), GONE (revision compacted: the API
 * answers 410 Expired), TIMEOUT (revision in the future), INTERNAL (I/O, ENOSPC: errnum set).
 *
 * Thread safety: every function may be called from any thread concurrently, except that a
 * struct store_watch is used by one thread at a time. */
#ifndef K8C_STORE_STORE_H
#define K8C_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct store;

struct store_options {
    /* Watch hub window: the newest events kept in memory for watches from an old revision.
     * 0 = default: 1,024 events / 2 MiB for SQLite, which replays older revisions from its
     * history; 20,000 events / 64 MiB for etcd, where the window is all there is. */
    size_t watch_window_events;
    size_t watch_window_bytes;
    /* Events a single watcher may have pending before it is cut off (0 = default 10,000). */
    size_t watch_max_pending;
    /* History kept by periodic compaction, in seconds (0 = default 300, as Kubernetes). */
    unsigned compact_interval_seconds;
    /* Opens without writing: no writer, no compaction, no lock on the file, so an operator's
     * tool can inspect the store while the server runs. Writes fail with BAD_REQUEST. */
    bool read_only;
};

/* The embedded store's file under a data directory: "<data_dir>/db/state.db" (the file that
 * `k8c server` and `k8c store` use). Returns a new string; caller frees. */
char *store_path_from_data_dir(const char *data_dir);

/* A deadline (CLOCK_MONOTONIC nanoseconds; 0: none) for the calling thread's writes: a write
 * still waiting for the backend at the deadline returns TIMEOUT at once, and may still be
 * applied afterwards (as a Kubernetes request that timed out "may still be processing").
 * The SQLite backend honours it; the etcd backend's requests have their own timeouts. */
void store_set_thread_deadline(uint64_t deadline_ns);

/* One key's value as of some revision. Owned by whoever filled it: free with store_kv_clear. */
struct store_kv {
    char *key;
    char *value; /* NUL-terminated for convenience; value_len excludes the NUL */
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
};

void store_kv_clear(struct store_kv *kv);

/* Opens the store at url: "sqlite:<path>" (or a plain path) for the embedded backend,
 * "etcd://h1:2379,h2:2379[/PREFIX][?cacert=F&cert=F&key=F]" for etcd (src/store/etcd.c). A corrupt
 * or unreadable file is an error naming the file; the store never starts empty over it. opts may be
 * NULL. Returns NULL and sets *err on failure. The caller closes the store with store_close. */
struct store *store_open(const char *url, const struct store_options *opts, struct k8c_err **err);
/* Waits for queued writes, stops the background threads and closes the file. No other call on
 * s may run during or after it. Open watches end (store_watch_next: SERVICE_UNAVAILABLE once
 * their queued events are taken) and stay valid until store_watch_close, which may come after
 * store_close. NULL is ignored. */
void store_close(struct store *s);

/* The current revision (the revision of the newest write; 0 for an empty new store). */
int64_t store_revision(struct store *s);
/* The oldest revision still served (everything before it is compacted). */
int64_t store_compacted_revision(struct store *s);

/* Reads key at the current revision into *out. NOT_FOUND when missing. */
int store_get(struct store *s, const char *key, struct store_kv *out, struct k8c_err **err);

struct store_list {
    struct store_kv *items; /* sorted by key */
    size_t n_items;
    int64_t revision;  /* the revision the list was served at */
    bool more;         /* more keys under the prefix after the last item */
    int64_t remaining; /* how many keys remain after this page (when more) */
};
void store_list_clear(struct store_list *list);

/* Lists keys with the given prefix at one consistent revision: `revision` 0 means the current
 * one; an older revision is served from history (GONE if compacted, TIMEOUT if in the
 * future). Starts at start_key (inclusive; NULL for the beginning of the prefix); at most
 * limit items (0 = no limit). Fills *out (cleared by the caller with store_list_clear). */
int store_list(struct store *s, const char *prefix, int64_t revision, const char *start_key,
               size_t limit, struct store_list *out, struct k8c_err **err);

/* Creates key; ALREADY_EXISTS if it exists. Returns the new revision (> 0), or -1. The write
 * is durable (on disk) before this returns. */
int64_t store_create(struct store *s, const char *key, const void *value, size_t value_len,
                     struct k8c_err **err);

/* Replaces key's value if its current mod_revision equals expected_mod_revision (CONFLICT
 * otherwise; NOT_FOUND if the key is missing). expected_mod_revision 0 skips the guard.
 * Returns the new revision, or -1. Durable before it returns. */
int64_t store_update(struct store *s, const char *key, const void *value, size_t value_len,
                     int64_t expected_mod_revision, struct k8c_err **err);

/* Deletes key, guarded like store_update. If prev is non-NULL it receives the deleted value.
 * Returns the new revision, or -1. Durable before it returns. */
int64_t store_delete(struct store *s, const char *key, int64_t expected_mod_revision,
                     struct store_kv *prev, struct k8c_err **err);

/* Forgets history before revision (keys' latest values are kept). Returns 0 or -1. */
int store_compact(struct store *s, int64_t revision, struct k8c_err **err);

/* Verifies the whole store (for the SQLite backend: every page and index, and that each
 * key's latest row is its newest). Returns 0 and a one-line summary in *report (caller
 * frees), or -1 with *err describing the first problem. */
int store_check(struct store *s, char **report, struct k8c_err **err);

/* ---- watch ---- */

enum store_event_type { STORE_EVENT_ADDED = 1, STORE_EVENT_MODIFIED, STORE_EVENT_DELETED };

/* One change. Events are immutable and shared by every watcher that receives them
 * (reference counted); a watcher owns one reference to each event it is handed. */
struct store_event {
    enum store_event_type type;
    int64_t revision; /* the revision of this write */
    int64_t create_revision;
    const char *key;
    const char *value; /* the new value; for DELETED, the value as it was before deletion */
    size_t value_len;
    const char *prev_value; /* the value before this write; NULL for ADDED */
    size_t prev_value_len;
    /* the revision that wrote prev_value, when the backend knows it (0: unknown): lets a
     * watcher find the previous object among those it decoded already */
    int64_t prev_revision;
};

struct store_event *store_event_ref(struct store_event *ev);
void store_event_unref(struct store_event *ev);

struct store_watch;

/* Watches keys under prefix for every change after after_revision (0: from now). Events
 * after after_revision are replayed first (from the backend's history where it keeps one,
 * SQLite, else from the watch hub's window), then live events follow in revision order.
 * GONE when after_revision is compacted or, without history, older than the window (the
 * client must re-list). Returns NULL and sets *err on failure. */
struct store_watch *store_watch_open(struct store *s, const char *prefix, int64_t after_revision,
                                     struct k8c_err **err);

/* Takes the next event: returns 1 and sets *ev (the caller owns one reference), 0 if none
 * arrived within timeout_ms (-1 waits forever, 0 polls), or -1 with *err when the watch
 * ended: GONE when this watcher fell too far behind and was cut off (the client re-watches),
 * SERVICE_UNAVAILABLE when the store is closing. */
int store_watch_next(struct store_watch *w, int timeout_ms, struct store_event **ev,
                     struct k8c_err **err);

/* A descriptor that is readable while store_watch_next would not block, for event loops. */
int store_watch_fd(struct store_watch *w);

void store_watch_close(struct store_watch *w);

/* ---- command line ---- */

/* `k8c store get|ls|compact|check --data-dir DIR`: argv[0] is "store". Returns the process
 * exit status (0 ok, 1 failure, 2 usage error), after one line on stderr when not 0. */
int store_cli_main(int argc, char **argv);

#endif

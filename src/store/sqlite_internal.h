/* Shared by the SQLite backend's files: sqlite.c (open, schema, integrity check, readers) and
 * sqlite_write.c (the group-commit writer, compaction, checkpoints).
 *
 * Schema (kine's shape: one row per revision, with history):
 *   kv(id = revision, name, create_revision, prev_revision, deleted, value)
 *   latest(name -> id of the key's newest row), only for keys that exist now
 *   meta(name -> value): schema_version, compact_revision, compact_progress
 * `latest` makes reads at the current revision two b-tree lookups whatever the history;
 * reads at a past revision take each key's greatest id <= revision from kv(name, id). */
#ifndef K8C_STORE_SQLITE_INTERNAL_H
#define K8C_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "store/internal.h"

#define SQLITE_SCHEMA_VERSION 1

enum sqlite_op_kind {
    SQLITE_OP_CREATE = 1,
    SQLITE_OP_UPDATE,
    SQLITE_OP_DELETE,
    SQLITE_OP_COMPACT_MARK,  /* record the new compaction floor */
    SQLITE_OP_COMPACT_CHUNK, /* forget superseded rows with ids in (lo, hi] */
    SQLITE_OP_VACUUM,        /* give some free pages back to the file system */
};

/* One queued request to the writer thread. Lives on the caller's stack until done. */
struct sqlite_op {
    enum sqlite_op_kind kind;
    const char *key;
    const void *value;
    size_t value_len;
    int64_t expected;
    int64_t lo, hi;        /* COMPACT_CHUNK range; COMPACT_MARK: hi is the revision */
    struct store_kv *prev; /* DELETE: receives the deleted value when non-NULL */

    /* Results, set by the writer. */
    int64_t revision;
    int64_t prev_mod; /* DELETE: the deleted value's mod_revision */
    struct k8c_err *err;
    struct store_event *event; /* made while applying, published after the commit */
    bool more;                 /* VACUUM: free pages remain */
    bool done;
    pthread_cond_t done_cond;
    struct sqlite_op *next;
    /* A write whose caller has a deadline works on its own copy (see submit_by): when the
     * caller stops waiting, the writer frees it once done. */
    bool abandoned;
    struct store_kv own_prev;
};

struct sqlite_reader {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *rollback, *rev, *get;
    sqlite3_stmt *list_cur, *count_cur, *list_hist, *count_hist, *events;
    struct sqlite_reader *next;
};

struct sqlite_backend {
    struct store *s;
    char *path;
    int lock_fd;
    bool read_only;

    /* The writer: the only connection that writes, owned by the writer thread. */
    sqlite3 *wdb;
    sqlite3_stmt *w_begin, *w_commit, *w_rollback, *w_get, *w_insert, *w_set_latest, *w_del_latest,
        *w_set_meta, *w_drop_prev, *w_drop_tombstones, *w_freelist;
    pthread_t writer;
    bool writer_running;
    pthread_mutex_t qlock;
    pthread_cond_t qwake;
    struct sqlite_op *qhead, *qtail;
    bool stopping;
    int64_t compact_progress;     /* rows with ids up to here have been compacted */
    int wal_pages;                /* frames in the WAL after the last commit (writer thread) */
    int finish_at;                /* wal_pages at which the writer finishes a checkpoint itself */
    pthread_mutex_t compact_lock; /* one compaction at a time */

    /* Readers: a pool of read connections; readers never wait for the writer (WAL). */
    pthread_mutex_t rlock;
    pthread_cond_t rfree;
    struct sqlite_reader *free_readers;
    size_t n_readers;

    /* The checkpointer: copies the WAL into the database off the writer's path. */
    sqlite3 *cdb;
    pthread_t checkpointer;
    bool checkpointer_running;
    pthread_mutex_t clock;
    pthread_cond_t cwake;
    bool ckpt_wanted, ckpt_stop;
};

/* Sets *err from the connection's last error: INTERNAL, with errnum the system errno behind
 * an I/O error (ENOSPC for a full disk). Returns -1. */
int store__sqlite_err(struct sqlite_backend *b, sqlite3 *db, int rc, struct k8c_err **err,
                      const char *what);
/* Opens a connection with the backend's common settings (busy timeout, no shared mutex). */
sqlite3 *store__sqlite_connect(struct sqlite_backend *b, bool writable, struct k8c_err **err);
int store__sqlite_exec(struct sqlite_backend *b, sqlite3 *db, const char *sql,
                       struct k8c_err **err);
sqlite3_stmt *store__sqlite_prepare(struct sqlite_backend *b, sqlite3 *db, const char *sql,
                                    struct k8c_err **err);

/* Writer side (sqlite_write.c). */
int store__sqlite_writer_start(struct sqlite_backend *b, struct k8c_err **err);
void store__sqlite_writer_stop(struct sqlite_backend *b);
int64_t store__sqlite_create(struct store *s, const char *key, const void *value, size_t value_len,
                             struct k8c_err **err);
int64_t store__sqlite_update(struct store *s, const char *key, const void *value, size_t value_len,
                             int64_t expected, struct k8c_err **err);
int64_t store__sqlite_delete(struct store *s, const char *key, int64_t expected,
                             struct store_kv *prev, struct k8c_err **err);
int store__sqlite_compact(struct store *s, int64_t revision, struct k8c_err **err);
/* Full integrity check plus the schema's invariants, appending a summary to *report. */
int store__sqlite_check(struct store *s, struct buf *report, struct k8c_err **err);

#endif

/* The SQLite backend's write path: one writer thread with group commit, compaction, and a
 * checkpointer thread.
 *
 * Callers queue their write and block. The writer takes everything queued (up to a batch
 * bound), applies it in one transaction and commits with one fsync (synchronous=FULL), then
 * publishes the events and wakes the callers: while one batch is being fsynced the next one
 * accumulates, so throughput grows with concurrency without weakening durability. Since only
 * this thread writes, SQLite's write lock is never contended and revisions are assigned from
 * a counter without a read-modify-write race.
 *
 * A batch that fails on an SQL error (a full disk, an I/O error) is rolled back and its writes
 * are retried one per transaction, so each caller learns its own outcome and nothing that was
 * acknowledged is lost. WAL checkpoints run on their own connection and thread, so copying
 * the WAL into the database never delays a commit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/mem.h"
#include "store/sqlite_internal.h"

/* Bounds on one group commit: enough to amortise the fsync, small enough that one batch's
 * transaction mostly stays in SQLite's page cache (a bigger one spills pages to the WAL
 * before the commit, which is correct, only slower). */
#define BATCH_MAX_OPS 1024
#define BATCH_MAX_BYTES (4u * 1024 * 1024)
/* Compaction works through ids in chunks, one transaction each, so writes interleave. */
#define COMPACT_CHUNK_IDS 10000
#define VACUUM_PAGES 2048
/* Checkpoint once the WAL holds this many pages (4 MiB with 4 KiB pages). */
#define CHECKPOINT_PAGES 1000

static bool is_write(const struct sqlite_op *op)
{
    return op->kind == SQLITE_OP_CREATE || op->kind == SQLITE_OP_UPDATE ||
           op->kind == SQLITE_OP_DELETE;
}

/* Appends op to the writer's queue; called with qlock held, which is released on failure
 * (the store is closing). */
static int enqueue(struct sqlite_backend *b, struct sqlite_op *op, struct k8c_err **err)
{
    if (b->stopping || !b->writer_running) {
        pthread_mutex_unlock(&b->qlock);
        return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "the store is closing");
    }
    if (b->qtail)
        b->qtail->next = op;
    else
        b->qhead = op;
    b->qtail = op;
    pthread_cond_signal(&b->qwake);
    return 0;
}

static void op_free_abandoned(struct sqlite_op *op)
{
    k8c_err_free(op->err);
    store_kv_clear(&op->own_prev);
    pthread_cond_destroy(&op->done_cond);
    free(op);
}

/* submit for a caller with a deadline: the writer gets a copy of the op with its own key,
 * value and previous-value slot, so that the caller can leave at the deadline (TIMEOUT)
 * while the write stays queued or in progress; the writer then frees the copy. */
static int submit_by(struct sqlite_backend *b, struct sqlite_op *orig, uint64_t deadline_ns,
                     struct k8c_err **err)
{
    size_t key_len = strlen(orig->key);
    struct sqlite_op *op = xcalloc(1, sizeof(*op) + key_len + 1 + orig->value_len);
    char *p = (char *)(op + 1);
    op->kind = orig->kind;
    op->expected = orig->expected;
    op->key = memcpy(p, orig->key, key_len + 1);
    if (orig->value_len)
        memcpy(p + key_len + 1, orig->value, orig->value_len);
    op->value = p + key_len + 1;
    op->value_len = orig->value_len;
    op->prev = orig->prev ? &op->own_prev : NULL;
    clock_cond_init_mono(&op->done_cond);
    struct timespec until = clock_mono_timespec(deadline_ns);
    pthread_mutex_lock(&b->qlock);
    if (enqueue(b, op, err) < 0) {
        op_free_abandoned(op);
        return -1;
    }
    while (!op->done)
        if (pthread_cond_timedwait(&op->done_cond, &b->qlock, &until) == ETIMEDOUT)
            break;
    if (!op->done) {
        op->abandoned = true;
        pthread_mutex_unlock(&b->qlock);
        return k8c_err_set(err, 0, K8C_REASON_TIMEOUT,
                           "the write of `%s` did not complete before the deadline; it may "
                           "still be applied",
                           orig->key);
    }
    pthread_mutex_unlock(&b->qlock);
    orig->revision = op->revision;
    orig->prev_mod = op->prev_mod;
    if (orig->prev) {
        *orig->prev = op->own_prev;
        memset(&op->own_prev, 0, sizeof(op->own_prev));
    }
    int ret = 0;
    if (op->err) {
        ret = -1;
        if (err) {
            k8c_err_free(*err);
            *err = steal_ptr(&op->err);
        }
    }
    op_free_abandoned(op);
    return ret;
}

/* Queues op for the writer and waits until it is done (or, for writes, until the thread's
 * deadline). Returns 0, or -1 with *err (the op's own error, handed over). */
static int submit(struct sqlite_backend *b, struct sqlite_op *op, struct k8c_err **err)
{
    if (store__thread_deadline_ns && is_write(op))
        return submit_by(b, op, store__thread_deadline_ns, err);
    pthread_cond_init(&op->done_cond, NULL);
    op->next = NULL;
    pthread_mutex_lock(&b->qlock);
    if (enqueue(b, op, err) < 0) {
        pthread_cond_destroy(&op->done_cond);
        return -1;
    }
    while (!op->done)
        pthread_cond_wait(&op->done_cond, &b->qlock);
    pthread_mutex_unlock(&b->qlock);
    pthread_cond_destroy(&op->done_cond);
    if (op->err) {
        if (err) {
            k8c_err_free(*err);
            *err = op->err;
        } else {
            k8c_err_free(op->err);
        }
        op->err = NULL;
        return -1;
    }
    return 0;
}

static int run(struct sqlite_backend *b, sqlite3_stmt *st, struct k8c_err **err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store__sqlite_err(b, b->wdb, rc, err, what);
    return 0;
}

static void rollback(struct sqlite_backend *b)
{
    if (!sqlite3_get_autocommit(b->wdb)) {
        /* A failed rollback leaves SQLite to roll back on the next BEGIN; nothing to add. */
        int rc = sqlite3_step(b->w_rollback);
        (void)rc;
        sqlite3_reset(b->w_rollback);
    }
}

static int insert_row(struct sqlite_backend *b, const struct sqlite_op *op, int64_t rev,
                      int64_t create_rev, int64_t prev_rev, bool deleted, struct k8c_err **err)
{
    sqlite3_stmt *st = b->w_insert;
    sqlite3_bind_int64(st, 1, rev);
    sqlite3_bind_text(st, 2, op->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, create_rev);
    sqlite3_bind_int64(st, 4, prev_rev);
    sqlite3_bind_int(st, 5, deleted);
    if (deleted || op->value_len == 0)
        sqlite3_bind_zeroblob(st, 6, 0);
    else
        sqlite3_bind_blob(st, 6, op->value, (int)op->value_len, SQLITE_STATIC);
    if (run(b, st, err, "insert") < 0)
        return -1;
    if (deleted) {
        sqlite3_bind_text(b->w_del_latest, 1, op->key, -1, SQLITE_STATIC);
        return run(b, b->w_del_latest, err, "delete the latest row");
    }
    sqlite3_bind_text(b->w_set_latest, 1, op->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b->w_set_latest, 2, rev);
    return run(b, b->w_set_latest, err, "set the latest row");
}

/* Applies one write inside the open transaction. A refused write (exists, missing, conflict)
 * sets op->err and returns 0; an SQL failure returns -1 with *err. *rev is the revision of
 * the newest write so far and advances when op applies. */
static int apply(struct sqlite_backend *b, struct sqlite_op *op, int64_t *rev, struct k8c_err **err)
{
    sqlite3_stmt *g = b->w_get;
    sqlite3_bind_text(g, 1, op->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(g);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store__sqlite_err(b, b->wdb, rc, err, "read the key");
        sqlite3_reset(g);
        return -1;
    }
    bool exists = rc == SQLITE_ROW;
    int64_t mod = exists ? sqlite3_column_int64(g, 0) : 0;
    int64_t create = exists ? sqlite3_column_int64(g, 1) : 0;
    int64_t new_rev = *rev + 1;
    struct store_event *ev = NULL;
    if (op->kind == SQLITE_OP_CREATE) {
        if (exists)
            k8c_err_set(&op->err, 0, K8C_REASON_ALREADY_EXISTS, "key `%s` already exists", op->key);
        else
            ev = store__event_new(STORE_EVENT_ADDED, new_rev, new_rev, op->key, op->value,
                                  op->value_len, NULL, 0);
    } else if (!exists) {
        k8c_err_set(&op->err, 0, K8C_REASON_NOT_FOUND, "key `%s` not found", op->key);
    } else if (op->expected != 0 && op->expected != mod) {
        k8c_err_set(&op->err, 0, K8C_REASON_CONFLICT,
                    "key `%s` was modified: its mod_revision is %lld, not the expected %lld",
                    op->key, (long long)mod, (long long)op->expected);
    } else {
        const void *old = sqlite3_column_blob(g, 2);
        size_t old_len = (size_t)sqlite3_column_bytes(g, 2);
        if (op->kind == SQLITE_OP_UPDATE)
            ev = store__event_new(STORE_EVENT_MODIFIED, new_rev, create, op->key, op->value,
                                  op->value_len, old ? old : "", old_len);
        else
            ev = store__event_new(STORE_EVENT_DELETED, new_rev, create, op->key, old ? old : "",
                                  old_len, old ? old : "", old_len);
    }
    sqlite3_reset(g);
    sqlite3_clear_bindings(g);
    if (ev == NULL)
        return 0;
    bool deleted = op->kind == SQLITE_OP_DELETE;
    if (insert_row(b, op, new_rev, op->kind == SQLITE_OP_CREATE ? new_rev : create, mod, deleted,
                   err) < 0) {
        store_event_unref(ev);
        return -1;
    }
    if (exists)
        ev->prev_revision = mod;
    op->event = ev;
    op->revision = new_rev;
    op->prev_mod = mod;
    *rev = new_rev;
    return 0;
}

static void reset_results(struct sqlite_op *ops)
{
    for (struct sqlite_op *op = ops; op; op = op->next) {
        k8c_err_free(op->err);
        op->err = NULL;
        store_event_unref(op->event);
        op->event = NULL;
        op->revision = 0;
    }
}

/* Applies the writes of ops in one transaction and commits. Returns 0 (each op has its
 * outcome) or -1 with *err when the transaction failed and was rolled back. */
static int commit_batch(struct sqlite_backend *b, struct sqlite_op *ops, struct k8c_err **err)
{
    struct store *s = b->s;
    int64_t rev = atomic_load(&s->revision);
    reset_results(ops);
    if (run(b, b->w_begin, err, "begin") < 0)
        return -1;
    for (struct sqlite_op *op = ops; op; op = op->next) {
        if (apply(b, op, &rev, err) < 0) {
            rollback(b);
            reset_results(ops);
            return -1;
        }
    }
    if (run(b, b->w_commit, err, "commit") < 0) {
        rollback(b);
        reset_results(ops);
        return -1;
    }
    /* Durable now: make it visible, then publish in revision order, then acknowledge. */
    atomic_store(&s->revision, rev);
    struct store_event *events[BATCH_MAX_OPS];
    size_t n = 0;
    for (struct sqlite_op *op = ops; op; op = op->next) {
        if (op->event) {
            if (op->kind == SQLITE_OP_DELETE && op->prev) {
                op->prev->key = xstrdup(op->key);
                op->prev->value = xstrndup(op->event->value, op->event->value_len);
                op->prev->value_len = op->event->value_len;
                op->prev->create_revision = op->event->create_revision;
                op->prev->mod_revision = op->prev_mod;
            }
            events[n++] = steal_ptr(&op->event);
        }
    }
    store__hub_publish(s->hub, events, n);
    return 0;
}

static void run_writes(struct sqlite_backend *b, struct sqlite_op *batch)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    if (commit_batch(b, batch, &err) == 0)
        return;
    if (batch->next == NULL) {
        batch->err = steal_ptr(&err);
        return;
    }
    /* Retry one by one: each caller gets its own outcome (a conflict decided against a
     * rolled-back neighbour would be wrong), and ops that fit still commit. */
    for (struct sqlite_op *op = batch, *next; op; op = next) {
        next = op->next;
        op->next = NULL;
        _cleanup_err_ struct k8c_err *one = NULL;
        if (commit_batch(b, op, &one) < 0)
            op->err = steal_ptr(&one);
        op->next = next;
    }
}

static int set_meta(struct sqlite_backend *b, const char *name, int64_t value, struct k8c_err **err)
{
    sqlite3_bind_text(b->w_set_meta, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b->w_set_meta, 2, value);
    return run(b, b->w_set_meta, err, "set meta");
}

static int compact_chunk(struct sqlite_backend *b, int64_t lo, int64_t hi, struct k8c_err **err)
{
    if (run(b, b->w_begin, err, "begin") < 0)
        return -1;
    sqlite3_bind_int64(b->w_drop_prev, 1, lo);
    sqlite3_bind_int64(b->w_drop_prev, 2, hi);
    sqlite3_bind_int64(b->w_drop_tombstones, 1, lo);
    sqlite3_bind_int64(b->w_drop_tombstones, 2, hi);
    if (run(b, b->w_drop_prev, err, "compact") < 0 ||
        run(b, b->w_drop_tombstones, err, "compact") < 0 ||
        set_meta(b, "compact_progress", hi, err) < 0 || run(b, b->w_commit, err, "commit") < 0) {
        rollback(b);
        return -1;
    }
    b->compact_progress = hi;
    return 0;
}

static void run_maintenance(struct sqlite_backend *b, struct sqlite_op *op)
{
    struct k8c_err **err = &op->err;
    switch (op->kind) {
    case SQLITE_OP_COMPACT_MARK:
        if (run(b, b->w_begin, err, "begin") < 0)
            return;
        if (set_meta(b, "compact_revision", op->hi, err) < 0 ||
            run(b, b->w_commit, err, "commit") < 0) {
            rollback(b);
            return;
        }
        atomic_store(&b->s->compacted, op->hi);
        return;
    case SQLITE_OP_COMPACT_CHUNK: compact_chunk(b, op->lo, op->hi, err); return;
    case SQLITE_OP_VACUUM: {
        _cleanup_free_ char *sql = xasprintf("PRAGMA incremental_vacuum(%d)", VACUUM_PAGES);
        if (store__sqlite_exec(b, b->wdb, sql, err) < 0)
            return;
        int rc = sqlite3_step(b->w_freelist);
        op->more = rc == SQLITE_ROW && sqlite3_column_int64(b->w_freelist, 0) > 0;
        sqlite3_reset(b->w_freelist);
        return;
    }
    default: K8C_ASSERT(!"not a maintenance op");
    }
}

/* Under a steady stream of commits the background checkpoint never catches the WAL's end, so
 * the WAL would never restart and would grow without bound (and every commit would then extend
 * the file, which costs a journal commit in the file system on each fsync). Once the WAL is
 * twice the checkpoint size, the writer itself, between batches (its callers already
 * acknowledged), copies the last frames: most were copied by the checkpointer already, and
 * the next transaction then starts the WAL again from its beginning, overwriting blocks that
 * exist. */
static void finish_checkpoint(struct sqlite_backend *b)
{
    int log = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(b->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc == SQLITE_OK && log == copied) {
        b->wal_pages = 0;
        b->finish_at = 2 * CHECKPOINT_PAGES;
    } else {
        /* A reader still on old frames keeps the WAL from restarting. Nothing is lost (the
         * frames stay in the WAL); try again once it has grown some more, not after every
         * batch, so a long read does not cost each batch a checkpoint. */
        b->finish_at = b->wal_pages + CHECKPOINT_PAGES / 2;
    }
}

static void *writer_main(void *arg)
{
    struct sqlite_backend *b = arg;
    pthread_mutex_lock(&b->qlock);
    for (;;) {
        while (b->qhead == NULL && !b->stopping)
            pthread_cond_wait(&b->qwake, &b->qlock);
        if (b->qhead == NULL)
            break; /* stopping, and every queued op is done */
        struct sqlite_op *batch = b->qhead, *last = b->qhead;
        size_t n = 1, bytes = last->value_len;
        if (is_write(batch)) {
            while (last->next && is_write(last->next) && n < BATCH_MAX_OPS &&
                   bytes + last->next->value_len <= BATCH_MAX_BYTES) {
                last = last->next;
                n++;
                bytes += last->value_len;
            }
        }
        b->qhead = last->next;
        if (b->qhead == NULL)
            b->qtail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&b->qlock);

        if (is_write(batch))
            run_writes(b, batch);
        else
            run_maintenance(b, batch);

        pthread_mutex_lock(&b->qlock);
        for (struct sqlite_op *op = batch, *next; op; op = next) {
            next = op->next; /* op belongs to its caller again once done is set */
            op->done = true;
            if (op->abandoned)
                op_free_abandoned(op); /* its caller stopped waiting at its deadline */
            else
                pthread_cond_signal(&op->done_cond);
        }
        if (b->wal_pages >= b->finish_at) {
            pthread_mutex_unlock(&b->qlock);
            finish_checkpoint(b);
            pthread_mutex_lock(&b->qlock);
        }
    }
    pthread_mutex_unlock(&b->qlock);
    return NULL;
}

/* ---- checkpoints ---- */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sqlite_backend *b = arg;
    b->wal_pages = pages; /* the hook runs on the writer thread, after each commit */
    if (pages >= CHECKPOINT_PAGES) {
        pthread_mutex_lock(&b->clock);
        b->ckpt_wanted = true;
        pthread_cond_signal(&b->cwake);
        pthread_mutex_unlock(&b->clock);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct sqlite_backend *b = arg;
    pthread_mutex_lock(&b->clock);
    for (;;) {
        while (!b->ckpt_wanted && !b->ckpt_stop)
            pthread_cond_wait(&b->cwake, &b->clock);
        if (b->ckpt_stop)
            break;
        b->ckpt_wanted = false;
        pthread_mutex_unlock(&b->clock);
        /* PASSIVE never waits for readers or the writer; what it cannot copy now is copied
         * by the next one. An error here loses nothing: the frames stay in the WAL. */
        int rc = sqlite3_wal_checkpoint_v2(b->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        (void)rc;
        pthread_mutex_lock(&b->clock);
    }
    pthread_mutex_unlock(&b->clock);
    return NULL;
}

static void request_checkpoint(struct sqlite_backend *b)
{
    pthread_mutex_lock(&b->clock);
    b->ckpt_wanted = true;
    pthread_cond_signal(&b->cwake);
    pthread_mutex_unlock(&b->clock);
}

/* ---- start and stop ---- */

int store__sqlite_writer_start(struct sqlite_backend *b, struct k8c_err **err)
{
    if (store__sqlite_exec(b, b->wdb,
                           "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;"
                           "PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -4096",
                           err) < 0)
        return -1;
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } stmts[] = {
        {&b->w_begin, "BEGIN IMMEDIATE"},
        {&b->w_commit, "COMMIT"},
        {&b->w_rollback, "ROLLBACK"},
        {&b->w_get, "SELECT l.id, k.create_revision, k.value FROM latest l JOIN kv k ON k.id = "
                    "l.id WHERE l.name = ?1"},
        {&b->w_insert, "INSERT INTO kv (id, name, create_revision, prev_revision, deleted, "
                       "value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
        {&b->w_set_latest, "INSERT INTO latest (name, id) VALUES (?1, ?2) ON CONFLICT (name) DO "
                           "UPDATE SET id = excluded.id"},
        {&b->w_del_latest, "DELETE FROM latest WHERE name = ?1"},
        {&b->w_set_meta, "UPDATE meta SET value = ?2 WHERE name = ?1"},
        {&b->w_drop_prev, "DELETE FROM kv WHERE id IN (SELECT prev_revision FROM kv WHERE id > "
                          "?1 AND id <= ?2 AND prev_revision > 0)"},
        {&b->w_drop_tombstones, "DELETE FROM kv WHERE id > ?1 AND id <= ?2 AND deleted = 1"},
        {&b->w_freelist, "PRAGMA freelist_count"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
        *stmts[i].st = store__sqlite_prepare(b, b->wdb, stmts[i].sql, err);
        if (*stmts[i].st == NULL)
            return -1;
    }
    b->cdb = store__sqlite_connect(b, true, err);
    if (b->cdb == NULL)
        return -1;
    b->finish_at = 2 * CHECKPOINT_PAGES;
    sqlite3_wal_hook(b->wdb, wal_hook, b);
    int r = pthread_create(&b->checkpointer, NULL, checkpointer_main, b);
    if (r != 0)
        k8c_panic(__FILE__, __LINE__, "cannot start the store checkpointer: %s", strerror(r));
    b->checkpointer_running = true;
    r = pthread_create(&b->writer, NULL, writer_main, b);
    if (r != 0)
        k8c_panic(__FILE__, __LINE__, "cannot start the store writer: %s", strerror(r));
    b->writer_running = true;
    return 0;
}

void store__sqlite_writer_stop(struct sqlite_backend *b)
{
    if (b->writer_running) {
        pthread_mutex_lock(&b->qlock);
        b->stopping = true;
        pthread_cond_signal(&b->qwake);
        pthread_mutex_unlock(&b->qlock);
        pthread_join(b->writer, NULL);
        b->writer_running = false;
    }
    if (b->checkpointer_running) {
        pthread_mutex_lock(&b->clock);
        b->ckpt_stop = true;
        pthread_cond_signal(&b->cwake);
        pthread_mutex_unlock(&b->clock);
        pthread_join(b->checkpointer, NULL);
        b->checkpointer_running = false;
    }
    sqlite3_stmt *stmts[] = {b->w_begin,     b->w_commit,          b->w_rollback,   b->w_get,
                             b->w_insert,    b->w_set_latest,      b->w_del_latest, b->w_set_meta,
                             b->w_drop_prev, b->w_drop_tombstones, b->w_freelist};
    for (size_t i = 0; i < ARRAY_SIZE(stmts); i++)
        sqlite3_finalize(stmts[i]);
    sqlite3_close(b->cdb);
    b->cdb = NULL;
    /* The last connection to close checkpoints the WAL into the database and removes it. */
    sqlite3_close(b->wdb);
    b->wdb = NULL;
}

/* ---- the driver's writes ---- */

int64_t store__sqlite_create(struct store *s, const char *key, const void *value, size_t value_len,
                             struct k8c_err **err)
{
    struct sqlite_op op = {
        .kind = SQLITE_OP_CREATE, .key = key, .value = value, .value_len = value_len};
    if (submit(s->backend, &op, err) < 0)
        return -1;
    return op.revision;
}

int64_t store__sqlite_update(struct store *s, const char *key, const void *value, size_t value_len,
                             int64_t expected, struct k8c_err **err)
{
    struct sqlite_op op = {.kind = SQLITE_OP_UPDATE,
                           .key = key,
                           .value = value,
                           .value_len = value_len,
                           .expected = expected};
    if (submit(s->backend, &op, err) < 0)
        return -1;
    return op.revision;
}

int64_t store__sqlite_delete(struct store *s, const char *key, int64_t expected,
                             struct store_kv *prev, struct k8c_err **err)
{
    struct sqlite_op op = {
        .kind = SQLITE_OP_DELETE, .key = key, .expected = expected, .prev = prev};
    if (submit(s->backend, &op, err) < 0)
        return -1;
    return op.revision;
}

int store__sqlite_compact(struct store *s, int64_t revision, struct k8c_err **err)
{
    struct sqlite_backend *b = s->backend;
    pthread_mutex_lock(&b->compact_lock);
    int ret = 0;
    if (revision > atomic_load(&s->compacted)) {
        /* First the floor: from here on reads below it are GONE, so deleting rows that only
         * those reads could see changes no answer. */
        struct sqlite_op mark = {.kind = SQLITE_OP_COMPACT_MARK, .hi = revision};
        ret = submit(b, &mark, err);
        /* Then the rows, from where the last compaction stopped (it may have been cut short
         * by a crash: the progress is stored with each chunk). */
        for (int64_t lo = b->compact_progress; ret == 0 && lo < revision;) {
            int64_t hi = lo + COMPACT_CHUNK_IDS < revision ? lo + COMPACT_CHUNK_IDS : revision;
            struct sqlite_op chunk = {.kind = SQLITE_OP_COMPACT_CHUNK, .lo = lo, .hi = hi};
            ret = submit(b, &chunk, err);
            lo = hi;
        }
        /* Then give the freed pages back, so the file follows the live data down. */
        for (bool more = true; ret == 0 && more;) {
            struct sqlite_op vac = {.kind = SQLITE_OP_VACUUM};
            ret = submit(b, &vac, err);
            more = vac.more;
        }
        if (ret == 0)
            request_checkpoint(b);
    }
    pthread_mutex_unlock(&b->compact_lock);
    return ret;
}

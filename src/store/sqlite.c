/* The embedded SQLite backend: opening (refusing a corrupt file), the schema, the pool of read
 * connections and the reads. Writes go through one writer thread (sqlite_write.c).
 *
 * The file runs in WAL mode with synchronous=FULL: a commit is fsynced before it is
 * acknowledged, and readers see a consistent snapshot without ever waiting for the writer.
 * auto_vacuum=INCREMENTAL lets compaction hand freed pages back to the file system. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "store/sqlite_internal.h"

#define SQLITE_MAX_READERS 16
#define SQLITE_BUSY_TIMEOUT_MS 30000
#define READER_CACHE_KIB 256
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static struct sqlite_backend *backend_of(struct store *s)
{
    return s->backend;
}

int store__sqlite_err(struct sqlite_backend *b, sqlite3 *db, int rc, struct k8c_err **err,
                      const char *what)
{
    int errnum = 0;
    int primary = rc & 0xff;
    if (primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CANTOPEN)
        errnum = db ? sqlite3_system_errno(db) : 0;
    if (primary == SQLITE_FULL && errnum == 0)
        errnum = ENOSPC;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return k8c_err_set(err, errnum, K8C_REASON_INTERNAL, "store `%s`: %s: %s", b->path, what, msg);
}

sqlite3 *store__sqlite_connect(struct sqlite_backend *b, bool writable, struct k8c_err **err)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
                (writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    int rc = sqlite3_open_v2(b->path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        store__sqlite_err(b, db, rc, err, "cannot open the store file");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    /* Contention between our own connections is short (one writer, WAL readers); the timeout
     * turns SQLITE_BUSY into a wait so "database is locked" never reaches a caller. */
    sqlite3_busy_timeout(db, SQLITE_BUSY_TIMEOUT_MS);
    return db;
}

int store__sqlite_exec(struct sqlite_backend *b, sqlite3 *db, const char *sql, struct k8c_err **err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store__sqlite_err(b, db, rc, err, sql);
    return 0;
}

sqlite3_stmt *store__sqlite_prepare(struct sqlite_backend *b, sqlite3 *db, const char *sql,
                                    struct k8c_err **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        store__sqlite_err(b, db, rc, err, "prepare");
        return NULL;
    }
    return st;
}

/* Runs a query that returns one integer. Returns 0 and sets *out, or -1. */
static int query_int(struct sqlite_backend *b, sqlite3 *db, const char *sql, int64_t *out,
                     struct k8c_err **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        store__sqlite_err(b, db, rc, err, sql);
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ---- opening and checking the file ---- */

static int corrupt(struct sqlite_backend *b, const char *detail, struct k8c_err **err)
{
    return k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                       "store file `%s` is corrupt or not a k8c store (%s); refusing to use it: "
                       "restore a backup or move it away to start an empty store",
                       b->path, detail);
}

/* PRAGMA quick_check: every page and index is readable and consistent (O(file size)). */
static int check_integrity(struct sqlite_backend *b, sqlite3 *db, const char *pragma,
                           struct k8c_err **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, pragma, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (res == NULL || strcmp(res, "ok") != 0) {
            _cleanup_free_ char *detail = xasprintf("%s: %s", pragma, res ? res : "no answer");
            ret = corrupt(b, detail, err);
        }
    } else if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
        ret = corrupt(b, sqlite3_errmsg(db), err);
    } else {
        ret = store__sqlite_err(b, db, rc, err, "integrity check");
    }
    sqlite3_finalize(st);
    return ret;
}

static const char *const schema_sql =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE kv (id INTEGER PRIMARY KEY, name TEXT NOT NULL, create_revision INTEGER NOT "
    "NULL, prev_revision INTEGER NOT NULL, deleted INTEGER NOT NULL, value BLOB NOT NULL);"
    "CREATE INDEX kv_name_id ON kv (name, id);"
    "CREATE TABLE latest (name TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('schema_version', 1), ('compact_revision', 0), "
    "('compact_progress', 0);"
    "COMMIT;";

/* Creates the schema in a new file, or checks that an existing file holds ours. */
static int prepare_schema(struct sqlite_backend *b, sqlite3 *db, struct k8c_err **err)
{
    int64_t tables = 0;
    if (query_int(b, db, "SELECT count(*) FROM sqlite_master", &tables, err) < 0)
        return -1;
    if (tables == 0) {
        if (b->read_only)
            return k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "store file `%s` is empty", b->path);
        /* auto_vacuum and the page size can only be chosen before the first table. */
        if (store__sqlite_exec(b, db, "PRAGMA page_size = 4096; PRAGMA auto_vacuum = INCREMENTAL",
                               err) < 0 ||
            store__sqlite_exec(b, db, "PRAGMA journal_mode = WAL", err) < 0 ||
            store__sqlite_exec(b, db, schema_sql, err) < 0) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        /* The new file's name must survive a crash as much as its content. */
        _cleanup_free_ char *dir = xstrdup(b->path);
        return file_fsync_dir(dirname(dir), err);
    }
    int64_t has_meta = 0;
    if (query_int(b, db,
                  "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('kv', "
                  "'latest', 'meta')",
                  &has_meta, err) < 0)
        return -1;
    if (has_meta != 3)
        return corrupt(b, "it has tables but not k8c's", err);
    int64_t version = 0;
    if (query_int(b, db, "SELECT value FROM meta WHERE name = 'schema_version'", &version, err) < 0)
        return -1;
    if (version != SQLITE_SCHEMA_VERSION)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                           "store file `%s` has schema version %lld; this k8c reads version %d",
                           b->path, (long long)version, SQLITE_SCHEMA_VERSION);
    return 0;
}

/* Reads the current and compacted revisions in one snapshot. The current revision is the
 * newest row's id, or the compaction floor when compaction removed a trailing deletion. */
static int read_revisions(struct sqlite_backend *b, sqlite3 *db, int64_t *rev, int64_t *compacted,
                          struct k8c_err **err)
{
    int64_t max_id = 0, floor = 0;
    if (query_int(b, db, "SELECT coalesce(max(id), 0) FROM kv", &max_id, err) < 0 ||
        query_int(b, db, "SELECT value FROM meta WHERE name = 'compact_revision'", &floor, err) < 0)
        return -1;
    *rev = max_id > floor ? max_id : floor;
    *compacted = floor;
    return 0;
}

/* Refuses a file that is not an SQLite database before SQLite touches it, with a message
 * that names the file; an empty or missing file is a new store. */
static int check_header(struct sqlite_backend *b, struct k8c_err **err)
{
    _cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && !b->read_only)
            return 0;
        if (errno == ENOENT)
            return k8c_err_set(err, ENOENT, K8C_REASON_NOT_FOUND, "store file `%s`", b->path);
        return k8c_err_errno(err, "cannot open store file `%s`", b->path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return k8c_err_errno(err, "stat `%s`", b->path);
    if (!S_ISREG(st.st_mode))
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "store file `%s` is not a regular file",
                           b->path);
    if (st.st_size == 0)
        return 0;
    char magic[16];
    ssize_t n = pread(fd, magic, sizeof(magic), 0);
    if (n < 0)
        return k8c_err_errno(err, "cannot read store file `%s`", b->path);
    if (n < (ssize_t)sizeof(magic) || memcmp(magic, "SQLite format 3", 16) != 0)
        return corrupt(b, "no SQLite header", err);
    return 0;
}

static int take_lock(struct sqlite_backend *b, struct k8c_err **err)
{
    _cleanup_free_ char *lock_path = xasprintf("%s.lock", b->path);
    b->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b->lock_fd < 0)
        return k8c_err_errno(err, "cannot open `%s`", lock_path);
    if (flock(b->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE,
                               "store file `%s` is in use by another process (is k8c server "
                               "running on this data directory?)",
                               b->path);
        return k8c_err_errno(err, "cannot lock `%s`", lock_path);
    }
    return 0;
}

static void reader_free(struct sqlite_reader *r)
{
    sqlite3_stmt *stmts[] = {r->begin,    r->commit,    r->rollback,  r->rev,        r->get,
                             r->list_cur, r->count_cur, r->list_hist, r->count_hist, r->events};
    for (size_t i = 0; i < ARRAY_SIZE(stmts); i++)
        sqlite3_finalize(stmts[i]);
    sqlite3_close(r->db);
    free(r);
}

static void sqlite_close(struct store *s)
{
    struct sqlite_backend *b = backend_of(s);
    if (b == NULL)
        return;
    /* Readers first: the writer's connection, closing last, checkpoints the WAL into the
     * database and removes it. */
    while (b->free_readers) {
        struct sqlite_reader *r = b->free_readers;
        b->free_readers = r->next;
        reader_free(r);
    }
    store__sqlite_writer_stop(b);
    pthread_mutex_destroy(&b->rlock);
    pthread_cond_destroy(&b->rfree);
    pthread_mutex_destroy(&b->qlock);
    pthread_cond_destroy(&b->qwake);
    pthread_mutex_destroy(&b->clock);
    pthread_cond_destroy(&b->cwake);
    pthread_mutex_destroy(&b->compact_lock);
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* after the last connection: the next owner finds a clean file */
    free(b->path);
    free(b);
    s->backend = NULL;
}

static int sqlite_open(struct store *s, const char *path, struct k8c_err **err)
{
    struct sqlite_backend *b = xcalloc(1, sizeof(*b));
    b->s = s;
    b->path = xstrdup(path);
    b->lock_fd = -1;
    b->read_only = s->opts.read_only;
    pthread_mutex_init(&b->rlock, NULL);
    pthread_cond_init(&b->rfree, NULL);
    pthread_mutex_init(&b->qlock, NULL);
    pthread_cond_init(&b->qwake, NULL);
    pthread_mutex_init(&b->clock, NULL);
    pthread_cond_init(&b->cwake, NULL);
    pthread_mutex_init(&b->compact_lock, NULL);
    s->backend = b;

    int ret = -1;
    sqlite3 *db = NULL;
    if (!b->read_only) {
        _cleanup_free_ char *dir_copy = xstrdup(path);
        if (file_mkdir_p(dirname(dir_copy), 0700, err) < 0)
            goto out;
    }
    /* The header first (it changes nothing), so a path that is not a store file does not get
     * a lock file made next to it; the full check runs under the lock. */
    if (check_header(b, err) < 0)
        goto out;
    if (!b->read_only && take_lock(b, err) < 0)
        goto out;
    db = store__sqlite_connect(b, !b->read_only, err);
    if (db == NULL)
        goto out;
    if (check_integrity(b, db, "PRAGMA quick_check", err) < 0 || prepare_schema(b, db, err) < 0)
        goto out;
    int64_t rev = 0, compacted = 0, progress = 0;
    if (read_revisions(b, db, &rev, &compacted, err) < 0 ||
        query_int(b, db, "SELECT value FROM meta WHERE name = 'compact_progress'", &progress, err) <
            0)
        goto out;
    atomic_store(&s->revision, rev);
    atomic_store(&s->compacted, compacted);
    b->compact_progress = progress;
    if (!b->read_only) {
        /* WAL was chosen with the schema; a file restored from elsewhere gets it here. */
        if (store__sqlite_exec(b, db, "PRAGMA journal_mode = WAL", err) < 0)
            goto out;
        b->wdb = steal_ptr(&db);
        if (store__sqlite_writer_start(b, err) < 0)
            goto out;
    }
    ret = 0;
out:
    sqlite3_close(db);
    if (ret < 0)
        sqlite_close(s);
    return ret;
}

/* ---- readers ---- */

static struct sqlite_reader *reader_new(struct sqlite_backend *b, struct k8c_err **err)
{
    struct sqlite_reader *r = xcalloc(1, sizeof(*r));
    r->db = store__sqlite_connect(b, false, err);
    if (r->db == NULL) {
        free(r);
        return NULL;
    }
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } stmts[] = {
        {&r->begin, "BEGIN"},
        {&r->commit, "COMMIT"},
        {&r->rollback, "ROLLBACK"},
        {&r->rev, "SELECT coalesce((SELECT max(id) FROM kv), 0), (SELECT value FROM meta WHERE "
                  "name = 'compact_revision')"},
        {&r->get, "SELECT k.create_revision, k.id, k.value FROM latest l JOIN kv k ON k.id = "
                  "l.id WHERE l.name = ?1"},
        {&r->list_cur, "SELECT l.name, k.create_revision, k.id, k.value FROM latest l JOIN kv k "
                       "ON k.id = l.id WHERE l.name >= ?1 AND l.name < ?2 ORDER BY l.name "
                       "LIMIT ?3"},
        {&r->count_cur, "SELECT count(*) FROM latest WHERE name > ?1 AND name < ?2"},
        /* At a past revision each key's row is its greatest id <= revision; walking the
         * (name, id) index in name order lets LIMIT stop early, with no sort. */
        {&r->list_hist, "SELECT k.name, k.create_revision, k.id, k.value FROM kv k WHERE k.name "
                        ">= ?1 AND k.name < ?2 AND k.id <= ?3 AND k.deleted = 0 AND k.id = "
                        "(SELECT max(k2.id) FROM kv k2 WHERE k2.name = k.name AND k2.id <= ?3) "
                        "ORDER BY k.name LIMIT ?4"},
        {&r->count_hist, "SELECT count(*) FROM kv k WHERE k.name > ?1 AND k.name < ?2 AND k.id "
                         "<= ?3 AND k.deleted = 0 AND k.id = (SELECT max(k2.id) FROM kv k2 "
                         "WHERE k2.name = k.name AND k2.id <= ?3)"},
        /* The history as events (watch replay): each row with the row it superseded, whose
         * value is the event's previous value (and a deletion's value). */
        {&r->events, "SELECT k.id, k.name, k.create_revision, k.deleted, k.value, p.value FROM "
                     "kv k LEFT JOIN kv p ON p.id = k.prev_revision WHERE k.id > ?1 AND k.id <= "
                     "?2 AND k.name >= ?3 AND k.name < ?4 ORDER BY k.id LIMIT ?5"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
        *stmts[i].st = store__sqlite_prepare(b, r->db, stmts[i].sql, err);
        if (*stmts[i].st == NULL) {
            reader_free(r);
            return NULL;
        }
    }
    /* Readers mostly walk pages once (lists, replays) that the kernel's page cache keeps
     * anyway; SQLite's default 2 MiB per connection times 16 readers would be the largest
     * part of the server's memory. */
    if (store__sqlite_exec(b, r->db, "PRAGMA cache_size = -" STRINGIFY(READER_CACHE_KIB), err) <
        0) {
        reader_free(r);
        return NULL;
    }
    return r;
}

/* Takes a read connection from the pool, making one while fewer than SQLITE_MAX_READERS
 * exist. Returns NULL with *err when a new connection cannot be opened. */
static struct sqlite_reader *reader_get(struct sqlite_backend *b, struct k8c_err **err)
{
    pthread_mutex_lock(&b->rlock);
    while (b->free_readers == NULL && b->n_readers >= SQLITE_MAX_READERS)
        pthread_cond_wait(&b->rfree, &b->rlock);
    struct sqlite_reader *r = b->free_readers;
    if (r) {
        b->free_readers = r->next;
        pthread_mutex_unlock(&b->rlock);
        return r;
    }
    b->n_readers++;
    pthread_mutex_unlock(&b->rlock);
    r = reader_new(b, err);
    if (r == NULL) {
        pthread_mutex_lock(&b->rlock);
        b->n_readers--;
        pthread_cond_signal(&b->rfree);
        pthread_mutex_unlock(&b->rlock);
    }
    return r;
}

static void reader_put(struct sqlite_backend *b, struct sqlite_reader *r)
{
    pthread_mutex_lock(&b->rlock);
    r->next = b->free_readers;
    b->free_readers = r;
    pthread_cond_signal(&b->rfree);
    pthread_mutex_unlock(&b->rlock);
}

/* Steps st to its next row, retrying SQLITE_BUSY (after the busy timeout's own waiting) so a
 * caller never sees "database is locked". Returns SQLITE_ROW, SQLITE_DONE or an error. */
static int step(sqlite3_stmt *st)
{
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_step(st);
        if ((rc & 0xff) != SQLITE_BUSY || attempt >= 10)
            return rc;
        sqlite3_reset(st);
    }
}

static void fill_kv(struct store_kv *kv, const char *key, sqlite3_stmt *st, int col)
{
    kv->key = xstrdup(key);
    kv->create_revision = sqlite3_column_int64(st, col);
    kv->mod_revision = sqlite3_column_int64(st, col + 1);
    const void *v = sqlite3_column_blob(st, col + 2);
    size_t n = (size_t)sqlite3_column_bytes(st, col + 2);
    kv->value = xmalloc(n + 1);
    if (n > 0)
        memcpy(kv->value, v, n);
    kv->value[n] = '\0';
    kv->value_len = n;
}

static int sqlite_get(struct store *s, const char *key, struct store_kv *out, struct k8c_err **err)
{
    struct sqlite_backend *b = backend_of(s);
    struct sqlite_reader *r = reader_get(b, err);
    if (r == NULL)
        return -1;
    sqlite3_bind_text(r->get, 1, key, -1, SQLITE_STATIC);
    int rc = step(r->get);
    int ret = 0;
    if (rc == SQLITE_ROW)
        fill_kv(out, key, r->get, 0);
    else if (rc == SQLITE_DONE)
        ret = k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "key `%s` not found", key);
    else
        ret = store__sqlite_err(b, r->db, rc, err, "get");
    sqlite3_reset(r->get);
    sqlite3_clear_bindings(r->get);
    reader_put(b, r);
    return ret;
}

/* A read transaction on r: one WAL snapshot for everything read until read_end. */
static int read_begin(struct sqlite_backend *b, struct sqlite_reader *r, struct k8c_err **err)
{
    int rc = step(r->begin);
    sqlite3_reset(r->begin);
    if (rc != SQLITE_DONE)
        return store__sqlite_err(b, r->db, rc, err, "begin a read");
    return 0;
}

static void read_end(struct sqlite_reader *r)
{
    int rc = step(r->commit);
    sqlite3_reset(r->commit);
    if (rc != SQLITE_DONE) {
        /* A read transaction that cannot end cleanly: roll it back; the rows are read. */
        step(r->rollback);
        sqlite3_reset(r->rollback);
    }
}

/* The body of a list, inside the reader's read transaction. */
static int list_in_snapshot(struct sqlite_backend *b, struct sqlite_reader *r, const char *lower,
                            const char *upper, int64_t revision, size_t limit,
                            struct store_list *out, struct k8c_err **err)
{
    int rc = step(r->rev);
    if (rc != SQLITE_ROW)
        return store__sqlite_err(b, r->db, rc, err, "read the revision");
    int64_t max_id = sqlite3_column_int64(r->rev, 0);
    int64_t floor = sqlite3_column_int64(r->rev, 1);
    sqlite3_reset(r->rev);
    int64_t current = max_id > floor ? max_id : floor;
    if (revision == 0)
        revision = current;
    if (revision > current)
        return k8c_err_set(err, 0, K8C_REASON_TIMEOUT,
                           "revision %lld is in the future (the current revision is %lld)",
                           (long long)revision, (long long)current);
    if (revision < floor)
        return k8c_err_set(err, 0, K8C_REASON_GONE,
                           "revision %lld has been compacted (the oldest available is %lld)",
                           (long long)revision, (long long)floor);
    bool at_current = revision == current;
    sqlite3_stmt *list = at_current ? r->list_cur : r->list_hist;
    sqlite3_stmt *count = at_current ? r->count_cur : r->count_hist;
    int n = 1;
    sqlite3_bind_text(list, n++, lower, -1, SQLITE_STATIC);
    sqlite3_bind_text(list, n++, upper, -1, SQLITE_STATIC);
    if (!at_current)
        sqlite3_bind_int64(list, n++, revision);
    /* One row more than asked tells whether more follow. */
    sqlite3_bind_int64(list, n++, limit ? (int64_t)limit + 1 : -1);
    size_t cap = 0;
    out->revision = revision;
    while ((rc = step(list)) == SQLITE_ROW) {
        if (limit && out->n_items == limit) {
            out->more = true;
            break;
        }
        if (out->n_items == cap) {
            cap = cap ? cap * 2 : 16;
            out->items = xrealloc(out->items, cap * sizeof(*out->items));
        }
        const char *name = (const char *)sqlite3_column_text(list, 0);
        fill_kv(&out->items[out->n_items++], name, list, 1);
    }
    sqlite3_reset(list);
    sqlite3_clear_bindings(list);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store__sqlite_err(b, r->db, rc, err, "list");
    if (!out->more)
        return 0;
    n = 1;
    sqlite3_bind_text(count, n++, out->items[out->n_items - 1].key, -1, SQLITE_STATIC);
    sqlite3_bind_text(count, n++, upper, -1, SQLITE_STATIC);
    if (!at_current)
        sqlite3_bind_int64(count, n++, revision);
    rc = step(count);
    if (rc == SQLITE_ROW)
        out->remaining = sqlite3_column_int64(count, 0);
    sqlite3_reset(count);
    sqlite3_clear_bindings(count);
    if (rc != SQLITE_ROW)
        return store__sqlite_err(b, r->db, rc, err, "count the remaining keys");
    return 0;
}

static int sqlite_list(struct store *s, const char *prefix, int64_t revision, const char *start_key,
                       size_t limit, struct store_list *out, struct k8c_err **err)
{
    struct sqlite_backend *b = backend_of(s);
    /* Keys start with '/': the empty prefix is the range ["/", "0"). */
    _cleanup_free_ char *upper = store__prefix_end(prefix[0] ? prefix : "/");
    const char *lower = prefix[0] ? prefix : "/";
    if (start_key && strcmp(start_key, lower) > 0)
        lower = start_key;
    struct sqlite_reader *r = reader_get(b, err);
    if (r == NULL)
        return -1;
    int ret = read_begin(b, r, err);
    if (ret == 0) {
        ret = list_in_snapshot(b, r, lower, upper, revision, limit, out, err);
        read_end(r);
    }
    reader_put(b, r);
    if (ret < 0)
        store_list_clear(out);
    return ret;
}

/* The body of a replay, inside the reader's read transaction. */
static int events_in_snapshot(struct sqlite_backend *b, struct sqlite_reader *r, const char *lower,
                              const char *upper, int64_t after, int64_t upto, size_t limit,
                              struct store_event ***out, size_t *n, struct k8c_err **err)
{
    int rc = step(r->rev);
    if (rc != SQLITE_ROW)
        return store__sqlite_err(b, r->db, rc, err, "read the revision");
    int64_t floor = sqlite3_column_int64(r->rev, 1);
    sqlite3_reset(r->rev);
    /* Rows above the floor and the rows they superseded survive compaction, so a replay from
     * the floor on is complete; from below it, events are missing. */
    if (after < floor)
        return k8c_err_set(err, 0, K8C_REASON_GONE,
                           "too old resource version: %lld (the oldest revision that can be "
                           "watched from is %lld)",
                           (long long)after, (long long)floor);
    sqlite3_stmt *st = r->events;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_text(st, 3, lower, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, upper, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)limit);
    size_t cap = 0;
    while ((rc = step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *key = (const char *)sqlite3_column_text(st, 1);
        int64_t create = sqlite3_column_int64(st, 2);
        bool deleted = sqlite3_column_int(st, 3) != 0;
        const void *v = sqlite3_column_blob(st, 4);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 4);
        const void *pv = sqlite3_column_blob(st, 5);
        size_t pvlen = (size_t)sqlite3_column_bytes(st, 5);
        bool has_prev = sqlite3_column_type(st, 5) != SQLITE_NULL;
        struct store_event *ev;
        if (deleted)
            ev = store__event_new(STORE_EVENT_DELETED, id, create, key, pv ? pv : "", pvlen,
                                  pv ? pv : "", pvlen);
        else if (create == id || !has_prev)
            ev = store__event_new(STORE_EVENT_ADDED, id, create, key, v ? v : "", vlen, NULL, 0);
        else
            ev = store__event_new(STORE_EVENT_MODIFIED, id, create, key, v ? v : "", vlen,
                                  pv ? pv : "", pvlen);
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        (*out)[(*n)++] = ev;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return store__sqlite_err(b, r->db, rc, err, "read the history");
    return 0;
}

static int sqlite_history(struct store *s, const char *prefix, int64_t after, int64_t upto,
                          size_t limit, struct store_event ***out, size_t *n, struct k8c_err **err)
{
    struct sqlite_backend *b = backend_of(s);
    _cleanup_free_ char *upper = store__prefix_end(prefix[0] ? prefix : "/");
    const char *lower = prefix[0] ? prefix : "/";
    *out = NULL;
    *n = 0;
    struct sqlite_reader *r = reader_get(b, err);
    if (r == NULL)
        return -1;
    int ret = read_begin(b, r, err);
    if (ret == 0) {
        ret = events_in_snapshot(b, r, lower, upper, after, upto, limit, out, n, err);
        read_end(r);
    }
    reader_put(b, r);
    if (ret < 0) {
        for (size_t i = 0; i < *n; i++)
            store_event_unref((*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int store__sqlite_check(struct store *s, struct buf *report, struct k8c_err **err)
{
    struct sqlite_backend *b = backend_of(s);
    sqlite3 *db = store__sqlite_connect(b, false, err);
    if (db == NULL)
        return -1;
    int ret = -1;
    /* Each invariant query counts violations: a latest row that is not the key's newest live
     * row, or a key alive in the history but missing from latest. */
    static const struct {
        const char *sql, *what;
    } invariants[] = {
        {"SELECT count(*) FROM latest l LEFT JOIN kv k ON k.id = l.id WHERE k.id IS NULL OR "
         "k.name != l.name OR k.deleted != 0",
         "keys whose latest row is missing or deleted"},
        {"SELECT count(*) FROM latest l WHERE l.id != (SELECT max(id) FROM kv WHERE name = "
         "l.name)",
         "keys whose latest row is not their newest"},
        {"SELECT count(*) FROM (SELECT name, max(id) AS mid FROM kv GROUP BY name) m JOIN kv k "
         "ON k.id = m.mid WHERE k.deleted = 0 AND m.name NOT IN (SELECT name FROM latest)",
         "live keys missing from the latest table"},
    };
    int64_t rev = 0, compacted = 0, keys = 0, rows = 0, pages = 0, page_size = 0;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        store__sqlite_err(b, db, sqlite3_errcode(db), err, "begin");
        goto out;
    }
    if (check_integrity(b, db, "PRAGMA integrity_check", err) < 0)
        goto out;
    for (size_t i = 0; i < ARRAY_SIZE(invariants); i++) {
        int64_t bad = 0;
        if (query_int(b, db, invariants[i].sql, &bad, err) < 0)
            goto out;
        if (bad != 0) {
            _cleanup_free_ char *detail = xasprintf("%lld %s", (long long)bad, invariants[i].what);
            corrupt(b, detail, err);
            goto out;
        }
    }
    if (read_revisions(b, db, &rev, &compacted, err) < 0 ||
        query_int(b, db, "SELECT count(*) FROM latest", &keys, err) < 0 ||
        query_int(b, db, "SELECT count(*) FROM kv", &rows, err) < 0 ||
        query_int(b, db, "PRAGMA page_count", &pages, err) < 0 ||
        query_int(b, db, "PRAGMA page_size", &page_size, err) < 0)
        goto out;
    buf_appendf(report,
                "store `%s` is ok: revision %lld, compacted at %lld, %lld keys, %lld rows, "
                "%lld bytes",
                b->path, (long long)rev, (long long)compacted, (long long)keys, (long long)rows,
                (long long)(pages * page_size));
    ret = 0;
out:
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return ret;
}

const struct store_driver store__sqlite_driver = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .get = sqlite_get,
    .list = sqlite_list,
    .create = store__sqlite_create,
    .update = store__sqlite_update,
    .del = store__sqlite_delete,
    .compact = store__sqlite_compact,
    .check = store__sqlite_check,
    .history = sqlite_history,
};

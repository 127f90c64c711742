/* Snapshots of the embedded SQLite store: SQLite's online backup API (a consistent copy while
 * the server writes), installing a snapshot file as a data directory's store, and raising a
 * fresh store's revision floor before a restore writes into it. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "store/snapshot_internal.h"

#define BUSY_TIMEOUT_MS 30000

static int sqlite_fail(sqlite3 *db, int rc, const char *what, const char *path,
                       struct k8c_err **err)
{
    return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "%s `%s`: %s", what, path,
                       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* fsyncs the file at path and its directory, so a rename over it is durable. */
static int sync_path(const char *path, bool dir, struct k8c_err **err)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "sync `%s`: %s", path, strerror(saved));
    }
    close(fd);
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL   ? xstrdup(".")
           : slash == path ? xstrdup("/")
                           : xstrndup(path, (size_t)(slash - path));
}

int store__snap_sqlite_backup(const char *db_path, const char *out_path, struct k8c_err **err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", out_path, (int)getpid());
    _cleanup_free_ char *dir = dir_of(out_path);
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    int rc = sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(src, rc, "open the store", db_path, err);
        sqlite3_close(src);
        return -1;
    }
    sqlite3_busy_timeout(src, BUSY_TIMEOUT_MS);
    unlink(tmp);
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(dst, rc, "create the snapshot", tmp, err);
        goto fail;
    }
    /* One step over every page: a single read transaction on the source, so the copy is one
     * WAL snapshot (the server's writer never waits for it). */
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        sqlite_fail(dst, 0, "back up", db_path, err);
        goto fail;
    }
    do {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(50);
    } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "back up `%s`: %s", db_path, sqlite3_errstr(rc));
        goto fail;
    }
    /* A self-contained file: no -wal beside it to carry along. */
    sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    sqlite3_close(src);
    src = NULL;
    if (sqlite3_close(dst) != SQLITE_OK) {
        dst = NULL;
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "close the snapshot `%s`", tmp);
        goto fail;
    }
    dst = NULL;
    if (sync_path(tmp, false, err) < 0)
        goto fail;
    if (rename(tmp, out_path) < 0) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "rename `%s` to `%s`: %s", tmp, out_path,
                    strerror(errno));
        goto fail;
    }
    return sync_path(dir, true, err);
fail:
    sqlite3_close(src);
    sqlite3_close(dst);
    unlink(tmp);
    return -1;
}

/* Copies src to dst (a new file), fsynced. */
static int copy_file(const char *src, const char *dst, struct k8c_err **err)
{
    FILE *in = fopen(src, "rb");
    if (in == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "open `%s`: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (out == NULL) {
        int saved = errno;
        fclose(in);
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "create `%s`: %s", dst, strerror(saved));
    }
    char buf[1 << 16];
    size_t n;
    bool failed = false;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            failed = true;
    failed = failed || ferror(in) || fflush(out) != 0 || fsync(fileno(out)) != 0;
    int saved = errno;
    fclose(in);
    if (fclose(out) != 0)
        failed = true;
    if (failed) {
        unlink(dst);
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "copy `%s` to `%s`: %s", src, dst,
                           strerror(saved));
    }
    return 0;
}

int store__snap_sqlite_install(const char *src, const char *db_path, struct k8c_err **err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.restore-%d", db_path, (int)getpid());
    if (copy_file(src, tmp, err) < 0)
        return -1;
    /* An old write-ahead log left beside the new file would be replayed into it. */
    const char *suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *side = xasprintf("%s%s", db_path, suffixes[i]);
        if (unlink(side) < 0 && errno != ENOENT) {
            int saved = errno;
            unlink(tmp);
            return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "remove `%s`: %s", side,
                               strerror(saved));
        }
    }
    if (rename(tmp, db_path) < 0) {
        int saved = errno;
        unlink(tmp);
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "rename `%s` to `%s`: %s", tmp, db_path,
                           strerror(saved));
    }
    _cleanup_free_ char *dir = dir_of(db_path);
    return sync_path(dir, true, err);
}

int store__snap_sqlite_bump(const char *db_path, int64_t revision, struct k8c_err **err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
        _cleanup_free_ char *sql = xasprintf(
            "UPDATE meta SET value = %lld WHERE name IN ('compact_revision', 'compact_progress') "
            "AND value < %lld",
            (long long)revision, (long long)revision);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        sqlite_fail(db, rc, "raise the revision of", db_path, err);
        sqlite3_close(db);
        return -1;
    }
    sqlite3_close(db);
    return 0;
}

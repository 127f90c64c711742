/* Unit tests for the SQLite backend's durability and faults (src/store/sqlite*.c): reopening,
 * concurrent writers and readers, corrupt files, the single-owner lock, read-only opens,
 * growth after compaction, periodic compaction, and a full disk. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/mem.h"
#include "helpers.h"
#include "store/store.h"

TestSuite(sqlite, .init = store_test_setup, .fini = store_test_teardown);

Test(sqlite, reopen_keeps_data_and_revisions_continue)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    store_test_put(s, "/a", "1");
    int64_t r2 = store_test_put(s, "/b", "2");
    store_update(s, "/a", "11", 2, 0, &err);
    store_delete(s, "/b", r2, NULL, &err);
    int64_t before = store_revision(s);
    cr_assert(eq(i64, before, 4));
    store_close(s);

    s = store_test_open(dir, NULL);
    int64_t after = store_revision(s);
    cr_assert(eq(i64, after, 4));
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/a", &kv, &err), 0));
    cr_assert(eq(str, kv.value, "11"));
    cr_assert(eq(i64, kv.mod_revision, 3));
    store_kv_clear(&kv);
    int rc = store_get(s, "/b", &kv, &err);
    cr_assert(eq(int, rc, -1));
    /* history survives too */
    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/", 2, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 2));
    store_list_clear(&l);
    int64_t r5 = store_test_put(s, "/c", "3");
    cr_assert(eq(i64, r5, 5));
    _cleanup_free_ char *report = NULL;
    cr_assert(eq(int, store_check(s, &report, &err), 0), "%s", err ? err->msg : "");
    cr_assert(strstr(report, "is ok: revision 5") != NULL, "%s", report);
    store_close(s);
}

struct writer_arg {
    struct store *s;
    int id, n;
    int64_t *revs;
    atomic_int *failures;
};

static void *writer_thread(void *p)
{
    struct writer_arg *a = p;
    int64_t mod = 0;
    _cleanup_free_ char *key = xasprintf("/c/w%02d", a->id);
    for (int i = 0; i < a->n; i++) {
        struct k8c_err *err = NULL;
        char value[64];
        int len = snprintf(value, sizeof(value), "writer %d write %d", a->id, i);
        int64_t rev;
        if (i % 2 == 0) {
            _cleanup_free_ char *k = xasprintf("/c/w%02d-%d", a->id, i);
            rev = store_create(a->s, k, value, (size_t)len, &err);
        } else if (mod == 0) {
            rev = mod = store_create(a->s, key, value, (size_t)len, &err);
        } else {
            rev = mod = store_update(a->s, key, value, (size_t)len, mod, &err);
        }
        if (rev < 0)
            atomic_fetch_add(a->failures, 1);
        k8c_err_free(err);
        a->revs[i] = rev;
    }
    return NULL;
}

struct reader_arg {
    struct store *s;
    atomic_bool *stop;
    atomic_int *failures;
    int lists;
};

static void *reader_thread(void *p)
{
    struct reader_arg *a = p;
    int64_t last = 0;
    while (!atomic_load(a->stop)) {
        struct store_list l = {0};
        struct k8c_err *err = NULL;
        if (store_list(a->s, "/c/", 0, NULL, 0, &l, &err) < 0 || l.revision < last)
            atomic_fetch_add(a->failures, 1);
        last = l.revision;
        k8c_err_free(err);
        store_list_clear(&l);
        a->lists++;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

Test(sqlite, concurrent_writers_and_readers)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    enum { W = 64, N = 30, R = 3 }; /* many more writers than cores: no lock error */
    atomic_int failures = 0, read_failures = 0;
    atomic_bool stop = false;
    struct writer_arg wa[W];
    struct reader_arg ra[R];
    pthread_t wt[W], rt[R];
    int64_t *all = xcalloc(W * N, sizeof(int64_t));
    for (int i = 0; i < R; i++) {
        ra[i] = (struct reader_arg){s, &stop, &read_failures, 0};
        pthread_create(&rt[i], NULL, reader_thread, &ra[i]);
    }
    for (int i = 0; i < W; i++) {
        wa[i] = (struct writer_arg){s, i, N, all + i * N, &failures};
        pthread_create(&wt[i], NULL, writer_thread, &wa[i]);
    }
    for (int i = 0; i < W; i++)
        pthread_join(wt[i], NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < R; i++)
        pthread_join(rt[i], NULL);
    int f = atomic_load(&failures), rf = atomic_load(&read_failures);
    cr_assert(eq(int, f, 0), "every write acknowledged");
    cr_assert(eq(int, rf, 0), "no read failed or went back in time");
    for (int i = 0; i < W; i++)
        for (int j = 1; j < N; j++)
            cr_assert(all[i * N + j] > all[i * N + j - 1], "a writer's revisions increase");
    qsort(all, W * N, sizeof(int64_t), cmp_i64);
    for (int i = 0; i < W * N; i++)
        cr_assert(eq(i64, all[i], (int64_t)i + 1), "revisions unique and consecutive");
    int64_t cur = store_revision(s);
    cr_assert(eq(i64, cur, W * N));
    free(all);
    store_close(s);
}

static void write_file(const char *path, const void *data, size_t len, off_t at)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT, 0600);
    cr_assert(fd >= 0);
    cr_assert(eq(long, (long)pwrite(fd, data, len, at), (long)len));
}

Test(sqlite, corrupt_file_is_refused_by_name)
{
    const char *dir = store_test_dir();
    _cleanup_free_ char *path = xasprintf("%s/state.db", dir);
    _cleanup_free_ char *url = xasprintf("sqlite:%s", path);
    _cleanup_err_ struct k8c_err *err = NULL;

    /* Garbage where the database should be. */
    char garbage[8192];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)(i * 7919 + 13);
    write_file(path, garbage, sizeof(garbage), 0);
    struct store *s = store_open(url, NULL, &err);
    cr_assert(s == NULL);
    cr_assert(strstr(err->msg, path) != NULL, "%s", err->msg);
    cr_assert(strstr(err->msg, "corrupt") != NULL, "%s", err->msg);
    struct stat st;
    cr_assert(eq(int, stat(path, &st), 0));
    cr_assert(eq(long, (long)st.st_size, (long)sizeof(garbage)), "the file is left untouched");
    cr_assert(eq(int, unlink(path), 0));

    /* A real store whose pages were overwritten in the middle. */
    s = store_test_open(dir, NULL);
    _cleanup_free_ char *value = xcalloc(1, 1024);
    memset(value, 'v', 1023);
    for (int i = 0; i < 200; i++) {
        _cleanup_free_ char *key = xasprintf("/x/%03d", i);
        store_test_put(s, key, value);
    }
    store_close(s);
    cr_assert(eq(int, stat(path, &st), 0));
    cr_assert(st.st_size > 20 * 4096);
    write_file(path, garbage, sizeof(garbage), 10 * 4096);
    s = store_open(url, NULL, &err);
    cr_assert(s == NULL);
    cr_assert(strstr(err->msg, path) != NULL, "%s", err->msg);
    cr_assert(strstr(err->msg, "corrupt") != NULL, "%s", err->msg);

    /* Not a file at all, and a missing file for a read-only open. */
    _cleanup_free_ char *url_dir = xasprintf("sqlite:%s", dir);
    s = store_open(url_dir, NULL, &err);
    cr_assert(s == NULL);
    cr_assert(strstr(err->msg, dir) != NULL, "%s", err->msg);
    _cleanup_free_ char *missing = xasprintf("sqlite:%s/none.db", dir);
    struct store_options ro = {.read_only = true};
    s = store_open(missing, &ro, &err);
    cr_assert(s == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
}

Test(sqlite, one_owner_and_read_only_inspection)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    store_test_put(s, "/a", "1");
    _cleanup_free_ char *url = xasprintf("sqlite:%s/state.db", dir);
    struct store *second = store_open(url, NULL, &err);
    cr_assert(second == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_SERVICE_UNAVAILABLE));
    cr_assert(strstr(err->msg, "in use") != NULL, "%s", err->msg);

    struct store_options ro = {.read_only = true};
    struct store *r = store_open(url, &ro, &err);
    cr_assert(r != NULL, "%s", err ? err->msg : "");
    int64_t rev = store_revision(r);
    cr_assert(eq(i64, rev, 1));
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(r, "/a", &kv, &err), 0));
    store_kv_clear(&kv);
    /* the reader sees what the owner writes later */
    store_test_put(s, "/b", "2");
    cr_assert(eq(int, store_get(r, "/b", &kv, &err), 0));
    store_kv_clear(&kv);
    int64_t w = store_create(r, "/c", "3", 1, &err);
    cr_assert(eq(i64, w, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    int rc = store_compact(r, 1, &err);
    cr_assert(eq(int, rc, -1));
    store_close(r);
    store_close(s);
}

struct fill_arg {
    struct store *s;
    int first_key, n_keys, rounds;
    const char *value;
    size_t value_len;
};

static void *fill_thread(void *p)
{
    struct fill_arg *a = p;
    for (int r = 0; r < a->rounds; r++) {
        for (int k = a->first_key; k < a->first_key + a->n_keys; k++) {
            _cleanup_free_ char *key = xasprintf("/registry/configmaps/default/cm-%04d", k);
            _cleanup_err_ struct k8c_err *err = NULL;
            int64_t rev = r == 0 ? store_create(a->s, key, a->value, a->value_len, &err)
                                 : store_update(a->s, key, a->value, a->value_len, 0, &err);
            cr_assert(rev > 0, "%s", err ? err->msg : "");
        }
    }
    return NULL;
}

/* 100,000 updates to 1,000 keys are in bench/store (--growth); the unit test keeps the shape
 * (many updates per key, 1 KiB values, concurrent writers) at a size that runs in seconds. */
Test(sqlite, file_stays_within_twice_the_live_data_after_compaction)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    enum { KEYS = 1000, ROUNDS = 20, THREADS = 20 };
    _cleanup_free_ char *value = xcalloc(1, 1024);
    memset(value, 'v', 1023);
    struct fill_arg fa[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        fa[i] = (struct fill_arg){s, i * (KEYS / THREADS), KEYS / THREADS, ROUNDS, value, 1024};
        pthread_create(&t[i], NULL, fill_thread, &fa[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int64_t rev = store_revision(s);
    cr_assert(eq(i64, rev, KEYS * ROUNDS));
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, store_compact(s, rev, &err), 0));
    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/", 0, NULL, 0, &l, &err), 0));
    size_t live = 0;
    for (size_t i = 0; i < l.n_items; i++)
        live += strlen(l.items[i].key) + l.items[i].value_len;
    cr_assert(eq(sz, l.n_items, KEYS));
    store_list_clear(&l);
    _cleanup_free_ char *report = NULL;
    cr_assert(eq(int, store_check(s, &report, &err), 0), "%s", err ? err->msg : "");
    store_close(s);
    _cleanup_free_ char *path = xasprintf("%s/state.db", dir);
    struct stat st;
    cr_assert(eq(int, stat(path, &st), 0));
    size_t file_size = (size_t)st.st_size;
    cr_assert(le(sz, file_size, 2 * live), "file %zu bytes for %zu live bytes", file_size, live);
}

Test(sqlite, periodic_compaction_keeps_one_interval)
{
    const char *dir = store_test_dir();
    struct store_options opts = {.compact_interval_seconds = 1};
    struct store *s = store_test_open(dir, &opts);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t r1 = store_test_put(s, "/p", "1");
    store_update(s, "/p", "2", 1, r1, &err);
    /* Within two intervals the compactor reaches the revision it saw one interval earlier. */
    uint64_t deadline = clock_mono_ns() + 10ull * 1000000000ull;
    while (store_compacted_revision(s) < 2 && clock_mono_ns() < deadline)
        usleep(10000); /* polling the condition, bounded by the deadline */
    int64_t c = store_compacted_revision(s);
    cr_assert(eq(i64, c, 2));
    struct store_list l = {0};
    int rc = store_list(s, "/", 1, NULL, 0, &l, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_GONE));
    store_close(s);
}

/* A full disk: the store lives on a 2 MiB tmpfs mounted in a private mount namespace (so the
 * mount disappears with this test's process, whatever happens). Writes fail with INTERNAL and
 * errnum ENOSPC; reads and watches keep working; everything acknowledged is still there. */
Test(sqlite, disk_full_fails_writes_keeps_reads_and_watches)
{
    if (unshare(CLONE_NEWNS) < 0)
        cr_skip("cannot make a mount namespace (unshare: %s): needs root", strerror(errno));
    cr_assert(eq(int, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0));
    const char *dir = store_test_dir();
    cr_assert(eq(int, mount("k8c-store-test", dir, "tmpfs", 0, "size=2m"), 0), "%s",
              strerror(errno));
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_watch *w = store_watch_open(s, "/", 0, &err);
    _cleanup_free_ char *value = xcalloc(1, 16384);
    memset(value, 'f', 16383);
    int64_t last_ok = 0;
    int acked = 0;
    for (int i = 0; i < 1000; i++) {
        _cleanup_free_ char *key = xasprintf("/full/%04d", i);
        int64_t rev = store_create(s, key, value, 16384, &err);
        if (rev < 0)
            break;
        last_ok = rev;
        acked++;
    }
    cr_assert(acked > 0 && acked < 1000, "the disk filled up after %d writes", acked);
    cr_assert(eq(int, err->reason, K8C_REASON_INTERNAL));
    cr_assert(eq(int, err->errnum, ENOSPC), "%s (errnum %d)", err->msg, err->errnum);
    /* Still full: a second try fails the same way, without crashing or blocking. */
    int64_t again = store_create(s, "/full/again", value, 16384, &err);
    cr_assert(eq(i64, again, -1));
    cr_assert(eq(int, err->errnum, ENOSPC));
    int64_t cur = store_revision(s);
    cr_assert(eq(i64, cur, last_ok), "a failed write takes no revision");

    /* Reads and watches keep working. */
    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/full/", 0, NULL, 0, &l, &err), 0), "%s", err ? err->msg : "");
    cr_assert(eq(sz, l.n_items, (size_t)acked));
    store_list_clear(&l);
    for (int i = 0; i < acked; i++) {
        struct store_event *ev = NULL;
        cr_assert(eq(int, store_watch_next(w, 5000, &ev, &err), 1));
        cr_assert(eq(i64, ev->revision, (int64_t)i + 1));
        store_event_unref(ev);
    }
    /* A point read works too. */
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/full/0000", &kv, &err), 0));
    store_kv_clear(&kv);

    /* Room again: writes resume with the next revision, and watchers see them. */
    cr_assert(eq(int, mount(NULL, dir, NULL, MS_REMOUNT, "size=16m"), 0), "%s", strerror(errno));
    int64_t resumed = store_create(s, "/full/resumed", value, 16384, &err);
    cr_assert(eq(i64, resumed, last_ok + 1), "%s", err ? err->msg : "");
    struct store_event *ev = NULL;
    cr_assert(eq(int, store_watch_next(w, 5000, &ev, &err), 1));
    cr_assert(eq(i64, ev->revision, resumed));
    store_event_unref(ev);
    last_ok = resumed;
    acked++;
    store_watch_close(w);
    store_close(s);

    /* Everything acknowledged survived. */
    s = store_test_open(dir, NULL);
    cr_assert(eq(int, store_list(s, "/full/", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, (size_t)acked));
    store_list_clear(&l);
    cur = store_revision(s);
    cr_assert(eq(i64, cur, last_ok));
    store_close(s);
}

Test(sqlite, check_finds_broken_invariants)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    store_test_put(s, "/a", "1");
    store_test_put(s, "/b", "2");
    store_close(s);
    /* Break the latest table behind the store's back (a bug or a bad restore would). */
    _cleanup_free_ char *path = xasprintf("%s/state.db", dir);
    sqlite3 *db = NULL;
    cr_assert(eq(int, sqlite3_open(path, &db), SQLITE_OK));
    cr_assert(eq(int, sqlite3_exec(db, "DELETE FROM latest WHERE name = '/a'", NULL, NULL, NULL),
                 SQLITE_OK));
    sqlite3_close(db);
    s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *report = NULL;
    int rc = store_check(s, &report, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(strstr(err->msg, "live keys missing from the latest table") != NULL, "%s", err->msg);
    cr_assert(strstr(err->msg, path) != NULL, "%s", err->msg);
    store_close(s);
}

Test(sqlite, a_write_past_its_deadline_returns_and_still_lands)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t r1 = store_test_put(s, "/d/kept", "v");
    /* Another process's write lock keeps the writer waiting in SQLite's busy timeout. */
    _cleanup_free_ char *path = xasprintf("%s/state.db", dir);
    sqlite3 *other = NULL;
    cr_assert(eq(int, sqlite3_open(path, &other), SQLITE_OK));
    cr_assert(eq(int, sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK));
    uint64_t t0 = clock_mono_ns();
    store_set_thread_deadline(t0 + 300000000ull);
    int64_t rev = store_create(s, "/d/late", "x", 1, &err);
    uint64_t took = clock_mono_ns() - t0;
    cr_assert(eq(i64, rev, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_TIMEOUT), "%s", err->msg);
    cr_assert(took >= 250000000ull && took < 2000000000ull, "took %llu ns",
              (unsigned long long)took);
    k8c_err_free(err);
    err = NULL;
    cr_assert(eq(int, sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK));
    sqlite3_close(other);
    /* With the lock gone, writes under a deadline finish normally, deletes hand back the
     * previous value, and the abandoned create has landed meanwhile. */
    store_set_thread_deadline(clock_mono_ns() + 10000000000ull);
    struct store_kv prev = {0};
    int64_t rd = store_delete(s, "/d/kept", r1, &prev, &err);
    cr_assert(rd > 0, "%s", err ? err->msg : "");
    cr_assert(eq(str, prev.value, "v"));
    cr_assert(eq(i64, prev.mod_revision, r1));
    store_kv_clear(&prev);
    /* The writer is first in, first out: the abandoned create landed before the delete. */
    cr_assert(eq(i64, store_create(s, "/d/late", "y", 1, &err), -1));
    cr_assert(eq(int, err->reason, K8C_REASON_ALREADY_EXISTS), "%s", err->msg);
    k8c_err_free(err);
    err = NULL;
    store_set_thread_deadline(0);
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/d/late", &kv, &err), 0), "%s", err ? err->msg : "");
    cr_assert(eq(str, kv.value, "x"));
    store_kv_clear(&kv);
    store_close(s);
}

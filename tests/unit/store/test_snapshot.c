/* Unit tests for the store's snapshots: k8c's portable format written and read back (every
 * byte checked, damage refused), SQLite's online backup of a store and the revision floor a
 * restore raises. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "helpers.h"
#include "store/snapshot_internal.h"
#include "store/store.h"

TestSuite(snapshot, .init = store_test_setup, .fini = store_test_teardown);

struct keys {
    char *keys[8];
    size_t n;
};

static int collect(const struct store_kv *kv, void *opaque, struct k8c_err **err)
{
    struct keys *k = opaque;
    cr_assert(k->n < 8);
    k->keys[k->n++] = xasprintf("%s=%s@%lld", kv->key, kv->value, (long long)kv->mod_revision);
    return 0;
}

static char *write_snapshot(void)
{
    char *path = xasprintf("%s/p.snap", store_test_dir());
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL);
    struct snap_writer *w = store__snap_writer_new(f, 7);
    struct store_kv a = {
        .key = "/a", .value = "1", .value_len = 1, .create_revision = 2, .mod_revision = 5};
    struct store_kv b = {
        .key = "/b", .value = "", .value_len = 0, .create_revision = 7, .mod_revision = 7};
    cr_assert(eq(int, store__snap_write(w, &a, NULL), 0));
    cr_assert(eq(int, store__snap_write(w, &b, NULL), 0));
    cr_assert(eq(int, store__snap_writer_finish(w, NULL), 0));
    fclose(f);
    return path;
}

Test(snapshot, portable_round_trip_and_damage)
{
    _cleanup_free_ char *path = write_snapshot();
    FILE *f = fopen(path, "rb");
    struct keys k = {0};
    int64_t rev = 0;
    uint64_t n = 0;
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, store__snap_read(f, "p", collect, &k, &rev, &n, &err), 0));
    cr_assert(eq(i64, rev, 7));
    cr_assert(eq(u64, n, 2));
    cr_assert(eq(str, k.keys[0], "/a=1@5"));
    cr_assert(eq(str, k.keys[1], "/b=@7"));
    for (size_t i = 0; i < k.n; i++)
        free(k.keys[i]);
    /* Every single flipped byte is refused, with an INVALID error naming the file. */
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    _cleanup_free_ char *raw = xmalloc((size_t)size);
    rewind(f);
    cr_assert(eq(sz, fread(raw, 1, (size_t)size, f), (size_t)size));
    fclose(f);
    for (long i = 0; i < size; i++) {
        raw[i] ^= 0x20;
        FILE *m = fmemopen(raw, (size_t)size, "rb");
        cr_assert(store__snap_read(m, "p", NULL, NULL, &rev, &n, &err) < 0, "byte %ld", i);
        cr_assert(eq(int, err->reason, K8C_REASON_INVALID), "byte %ld: %s", i, err->msg);
        cr_assert(strstr(err->msg, "`p`") != NULL);
        k8c_err_freep(&err);
        fclose(m);
        raw[i] ^= 0x20;
    }
    /* So is every truncation. */
    for (long len = 0; len < size; len++) {
        FILE *m = fmemopen(raw, (size_t)len ? (size_t)len : 1, "rb");
        if (len == 0)
            fgetc(m);
        cr_assert(store__snap_read(m, "p", NULL, NULL, &rev, &n, &err) < 0, "len %ld", len);
        k8c_err_freep(&err);
        fclose(m);
    }
}

Test(snapshot, sqlite_backup_and_revision_floor)
{
    _cleanup_free_ char *db = xasprintf("%s/state.db", store_test_dir());
    _cleanup_free_ char *url = xasprintf("sqlite:%s", db);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store *s = store_open(url, NULL, &err);
    cr_assert(s != NULL);
    cr_assert(store_create(s, "/x", "1", 1, &err) > 0);
    int64_t r = store_create(s, "/y", "2", 1, &err);
    /* Backed up while the store is open for writing (the server running). */
    _cleanup_free_ char *copy = xasprintf("%s/copy.db", store_test_dir());
    cr_assert(eq(int, store__snap_sqlite_backup(db, copy, &err), 0), "%s", err ? err->msg : "");
    cr_assert(store__snap_is_sqlite(copy));
    store_close(s);
    _cleanup_free_ char *copy_url = xasprintf("sqlite:%s", copy);
    struct store_options ro = {.read_only = true};
    s = store_open(copy_url, &ro, &err);
    cr_assert(s != NULL);
    cr_assert(eq(i64, store_revision(s), r));
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/y", &kv, &err), 0));
    cr_assert(eq(i64, kv.mod_revision, r));
    store_kv_clear(&kv);
    store_close(s);

    /* A fresh store raised to revision 1000: the next write is 1001, older reads are Gone. */
    _cleanup_free_ char *fresh = xasprintf("sqlite:%s/fresh.db", store_test_dir());
    s = store_open(fresh, NULL, &err);
    cr_assert(s != NULL);
    store_close(s);
    _cleanup_free_ char *fresh_path = xasprintf("%s/fresh.db", store_test_dir());
    cr_assert(eq(int, store__snap_sqlite_bump(fresh_path, 1000, &err), 0));
    s = store_open(fresh, NULL, &err);
    cr_assert(s != NULL);
    cr_assert(eq(i64, store_create(s, "/z", "3", 1, &err), 1001));
    struct store_list l = {0};
    cr_assert(store_list(s, "/", 999, NULL, 0, &l, &err) < 0);
    cr_assert(eq(int, err->reason, K8C_REASON_GONE));
    store_close(s);
}

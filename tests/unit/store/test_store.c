/* Unit tests for src/store/store.c and the SQLite backend's operations: get, list (pages,
 * past revisions), create, update, delete, their guards, compaction and bad input. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "base/mem.h"
#include "helpers.h"
#include "store/store.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

Test(store, create_get_update_delete)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t r0 = store_revision(s);
    cr_assert(eq(i64, r0, 0));

    int64_t r1 = store_create(s, "/registry/pods/default/a", "{\"v\":1}", 7, &err);
    cr_assert(eq(i64, r1, 1));
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/registry/pods/default/a", &kv, &err), 0));
    cr_assert(eq(str, kv.key, "/registry/pods/default/a"));
    cr_assert(eq(str, kv.value, "{\"v\":1}"));
    cr_assert(eq(sz, kv.value_len, 7));
    cr_assert(eq(i64, kv.create_revision, 1));
    cr_assert(eq(i64, kv.mod_revision, 1));
    store_kv_clear(&kv);

    int64_t r2 = store_update(s, "/registry/pods/default/a", "{\"v\":22}", 8, r1, &err);
    cr_assert(eq(i64, r2, 2));
    cr_assert(eq(int, store_get(s, "/registry/pods/default/a", &kv, &err), 0));
    cr_assert(eq(str, kv.value, "{\"v\":22}"));
    cr_assert(eq(i64, kv.create_revision, 1));
    cr_assert(eq(i64, kv.mod_revision, 2));
    store_kv_clear(&kv);

    struct store_kv prev = {0};
    int64_t r3 = store_delete(s, "/registry/pods/default/a", r2, &prev, &err);
    cr_assert(eq(i64, r3, 3));
    cr_assert(eq(str, prev.key, "/registry/pods/default/a"));
    cr_assert(eq(str, prev.value, "{\"v\":22}"));
    cr_assert(eq(i64, prev.mod_revision, 2));
    cr_assert(eq(i64, prev.create_revision, 1));
    store_kv_clear(&prev);

    int rc = store_get(s, "/registry/pods/default/a", &kv, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    cr_assert(strstr(err->msg, "/registry/pods/default/a") != NULL, "%s", err->msg);
    int64_t rev = store_revision(s);
    cr_assert(eq(i64, rev, 3));

    /* Re-created after a delete: a new create_revision. */
    int64_t r4 = store_create(s, "/registry/pods/default/a", "x", 1, &err);
    cr_assert(eq(i64, r4, 4));
    cr_assert(eq(int, store_get(s, "/registry/pods/default/a", &kv, &err), 0));
    cr_assert(eq(i64, kv.create_revision, 4));
    store_kv_clear(&kv);
    store_close(s);
}

Test(store, create_over_existing_key_fails_and_keeps_revision)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    store_test_put(s, "/k", "one");
    int64_t rev = store_create(s, "/k", "two", 3, &err);
    cr_assert(eq(i64, rev, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_ALREADY_EXISTS));
    int64_t cur = store_revision(s);
    cr_assert(eq(i64, cur, 1), "a refused write takes no revision");
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/k", &kv, &err), 0));
    cr_assert(eq(str, kv.value, "one"));
    store_kv_clear(&kv);
    store_close(s);
}

Test(store, update_guards)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t r1 = store_test_put(s, "/k", "one");
    int64_t r2 = store_update(s, "/k", "two", 3, r1, &err);
    cr_assert(eq(i64, r2, 2));

    int64_t r = store_update(s, "/k", "stale", 5, r1, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_CONFLICT));
    cr_assert(strstr(err->msg, "/k") != NULL);

    r = store_update(s, "/missing", "x", 1, 0, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));

    /* expected 0 skips the guard */
    r = store_update(s, "/k", "three", 5, 0, &err);
    cr_assert(eq(i64, r, 3));
    /* an empty value is a value */
    r = store_update(s, "/k", "", 0, 3, &err);
    cr_assert(eq(i64, r, 4));
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/k", &kv, &err), 0));
    cr_assert(eq(sz, kv.value_len, 0));
    cr_assert(eq(str, kv.value, ""));
    store_kv_clear(&kv);
    store_close(s);
}

Test(store, delete_guards)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t r1 = store_test_put(s, "/k", "one");
    int64_t r = store_delete(s, "/k", r1 + 5, NULL, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_CONFLICT));
    r = store_delete(s, "/nope", 0, NULL, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    r = store_delete(s, "/k", 0, NULL, &err);
    cr_assert(eq(i64, r, 2));
    r = store_delete(s, "/k", 0, NULL, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    store_close(s);
}

static void make_keys(struct store *s, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        _cleanup_free_ char *key = xasprintf("%s%03d", prefix, i);
        _cleanup_free_ char *val = xasprintf("value-%d", i);
        store_test_put(s, key, val);
    }
}

Test(store, list_prefix_pages_and_remaining)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    make_keys(s, "/registry/pods/default/p", 10);
    make_keys(s, "/registry/pods/other/p", 3);
    make_keys(s, "/registry/podsx/p", 2); /* a sibling that shares the prefix text */
    store_test_put(s, "/registry/pods", "the prefix without its slash");

    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/registry/pods/", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 13));
    cr_assert(not(l.more));
    cr_assert(eq(i64, l.revision, 16));
    for (size_t i = 1; i < l.n_items; i++)
        cr_assert(strcmp(l.items[i - 1].key, l.items[i].key) < 0, "sorted by key");
    store_list_clear(&l);

    /* Pages of 4 with a start key: the continue token of Kubernetes. */
    int64_t at = 0;
    size_t seen = 0;
    _cleanup_free_ char *start = NULL;
    for (int page = 0;; page++) {
        cr_assert(eq(int, store_list(s, "/registry/pods/default/", at, start, 4, &l, &err), 0));
        if (at == 0)
            at = l.revision;
        cr_assert(eq(i64, l.revision, at));
        seen += l.n_items;
        if (page < 2) {
            cr_assert(l.more);
            cr_assert(eq(sz, l.n_items, 4));
            cr_assert(eq(i64, l.remaining, (int64_t)(10 - seen)));
        } else {
            cr_assert(not(l.more));
            cr_assert(eq(sz, l.n_items, 2));
        }
        bool more = l.more;
        free(start);
        start = more ? xasprintf("%s\x01", l.items[l.n_items - 1].key) : NULL;
        store_list_clear(&l);
        if (!more)
            break;
        /* writes between pages do not change what the pages show */
        _cleanup_free_ char *late = xasprintf("/registry/pods/default/p%03d-late", page);
        store_test_put(s, late, "late");
    }
    cr_assert(eq(sz, seen, 10));

    /* The empty prefix lists everything. */
    cr_assert(eq(int, store_list(s, "", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 18));
    store_list_clear(&l);
    store_close(s);
}

Test(store, list_at_past_revisions_compacted_and_future)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t ra = store_test_put(s, "/r/a", "a1");
    int64_t rb = store_test_put(s, "/r/b", "b1");
    int64_t ra2 = store_update(s, "/r/a", "a2", 2, ra, &err);
    int64_t rb_del = store_delete(s, "/r/b", rb, NULL, &err);
    int64_t rc_ = store_test_put(s, "/r/c", "c1");
    cr_assert(eq(i64, rc_, 5));

    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/r/", rb, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 2));
    cr_assert(eq(str, l.items[0].value, "a1"));
    cr_assert(eq(i64, l.items[0].mod_revision, ra));
    cr_assert(eq(str, l.items[1].value, "b1"));
    cr_assert(eq(i64, l.revision, rb));
    store_list_clear(&l);

    cr_assert(eq(int, store_list(s, "/r/", rb_del, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 1));
    cr_assert(eq(str, l.items[0].value, "a2"));
    cr_assert(eq(i64, l.items[0].mod_revision, ra2));
    cr_assert(eq(i64, l.items[0].create_revision, ra));
    store_list_clear(&l);

    /* the past with a limit: remaining counts keys alive at that revision */
    cr_assert(eq(int, store_list(s, "/r/", rb, NULL, 1, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 1));
    cr_assert(l.more);
    cr_assert(eq(i64, l.remaining, 1));
    store_list_clear(&l);

    int rc = store_list(s, "/r/", 99, NULL, 0, &l, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_TIMEOUT));

    cr_assert(eq(int, store_compact(s, ra2, &err), 0));
    int64_t compacted = store_compacted_revision(s);
    cr_assert(eq(i64, compacted, ra2));
    rc = store_list(s, "/r/", rb, NULL, 0, &l, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_GONE));
    /* the compaction revision itself is still served, and so is everything after it */
    cr_assert(eq(int, store_list(s, "/r/", ra2, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 2));
    cr_assert(eq(str, l.items[0].value, "a2"));
    cr_assert(eq(str, l.items[1].value, "b1"));
    store_list_clear(&l);
    cr_assert(eq(int, store_list(s, "/r/", rb_del, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 1));
    store_list_clear(&l);

    /* compacting everything keeps every key's latest value */
    cr_assert(eq(int, store_compact(s, store_revision(s), &err), 0));
    cr_assert(eq(int, store_list(s, "/r/", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 2));
    cr_assert(eq(str, l.items[0].value, "a2"));
    cr_assert(eq(str, l.items[1].value, "c1"));
    store_list_clear(&l);
    /* a compaction never takes a revision, and a delete at the end is not forgotten */
    int64_t rd = store_delete(s, "/r/c", 0, NULL, &err);
    cr_assert(eq(int, store_compact(s, rd, &err), 0));
    int64_t cur = store_revision(s);
    cr_assert(eq(i64, cur, rd));
    cr_assert(eq(int, store_compact(s, rd, &err), 0), "compacting twice is a no-op");
    rc = store_compact(s, rd + 1, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    store_close(s);

    /* the floor and the revision survive a restart */
    s = store_test_open(dir, NULL);
    cur = store_revision(s);
    cr_assert(eq(i64, cur, rd));
    compacted = store_compacted_revision(s);
    cr_assert(eq(i64, compacted, rd));
    int64_t next = store_test_put(s, "/r/d", "d");
    cr_assert(eq(i64, next, rd + 1), "revisions continue after the compacted end");
    store_close(s);
}

Test(store, bad_input_is_refused)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t r = store_create(s, "no-slash", "x", 1, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    cr_assert(strstr(err->msg, "no-slash") != NULL);
    r = store_create(s, NULL, "x", 1, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    r = store_update(s, "/k", "x", 1, -3, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    r = store_create(s, "/k", NULL, 5, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    size_t big_len = 2 * 1024 * 1024;
    _cleanup_free_ char *big = xcalloc(1, big_len);
    r = store_create(s, "/k", big, big_len, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_TOO_LARGE));
    _cleanup_free_ char *long_key = xcalloc(1, 5000);
    memset(long_key, 'a', 4999);
    long_key[0] = '/';
    r = store_create(s, long_key, "x", 1, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));

    struct store_list l = {0};
    int rc = store_list(s, "registry", 0, NULL, 0, &l, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    rc = store_list(s, "/", -1, NULL, 0, &l, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    struct store_watch *w = store_watch_open(s, "x", 0, &err);
    cr_assert(w == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    int64_t cur = store_revision(s);
    cr_assert(eq(i64, cur, 0), "nothing was written");
    store_close(s);
}

Test(store, urls)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    /* nothing listens on port 1: etcd URLs are parsed, then the cluster must answer */
    struct store *s = store_open("etcd://127.0.0.1:1", NULL, &err);
    cr_assert(s == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_SERVICE_UNAVAILABLE), "%s", err->msg);
    k8c_err_freep(&err);
    s = store_open("mysql://x", NULL, &err);
    cr_assert(s == NULL);
    cr_assert(strstr(err->msg, "unknown scheme") != NULL, "%s", err->msg);
    s = store_open("", NULL, &err);
    cr_assert(s == NULL);
    s = store_open("sqlite:", NULL, &err);
    cr_assert(s == NULL);

    /* a plain path works, and makes its directory */
    const char *dir = store_test_dir();
    _cleanup_free_ char *path = xasprintf("%s/db/state.db", dir);
    s = store_open(path, NULL, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    store_test_put(s, "/x", "y");
    store_close(s);
    _cleanup_free_ char *expect = store_path_from_data_dir(dir);
    cr_assert(eq(str, expect, path));
}

/* A model check: random creates, updates and deletes on a few keys, with compactions at random
 * points; every revision still served must list exactly what the model held then, and every
 * older one must be GONE. */
enum { MODEL_KEYS = 8, MODEL_OPS = 240 };

struct model_state {
    int64_t mod[MODEL_KEYS]; /* 0: absent */
    int64_t create[MODEL_KEYS];
    int value[MODEL_KEYS];
};

static void check_revision(struct store *s, const struct model_state *m, int64_t rev)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/m/", rev, NULL, 0, &l, &err), 0), "rev %lld: %s",
              (long long)rev, err ? err->msg : "");
    size_t want = 0;
    for (int k = 0; k < MODEL_KEYS; k++) {
        if (m->mod[k] == 0)
            continue;
        cr_assert(want < l.n_items, "rev %lld: key %d missing", (long long)rev, k);
        _cleanup_free_ char *key = xasprintf("/m/%d", k);
        _cleanup_free_ char *value = xasprintf("v%d", m->value[k]);
        struct store_kv *kv = &l.items[want++];
        cr_assert(eq(str, kv->key, key), "rev %lld", (long long)rev);
        cr_assert(eq(str, kv->value, value), "rev %lld key %d", (long long)rev, k);
        cr_assert(eq(i64, kv->mod_revision, m->mod[k]));
        cr_assert(eq(i64, kv->create_revision, m->create[k]));
    }
    cr_assert(eq(sz, l.n_items, want), "rev %lld", (long long)rev);
    store_list_clear(&l);
}

Test(store, history_and_compaction_match_a_model)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct model_state *states = xcalloc(MODEL_OPS + 1, sizeof(*states));
    unsigned seed = 12345;
    int64_t rev = 0;
    for (int i = 1; i <= MODEL_OPS; i++) {
        struct model_state m = states[rev];
        int k = (int)(rand_r(&seed) % MODEL_KEYS);
        _cleanup_free_ char *key = xasprintf("/m/%d", k);
        _cleanup_free_ char *value = xasprintf("v%d", i);
        int64_t r;
        if (m.mod[k] == 0) {
            r = store_create(s, key, value, strlen(value), &err);
            m.create[k] = r;
            m.mod[k] = r;
            m.value[k] = i;
        } else if (rand_r(&seed) % 3) {
            r = store_update(s, key, value, strlen(value), m.mod[k], &err);
            m.mod[k] = r;
            m.value[k] = i;
        } else {
            r = store_delete(s, key, m.mod[k], NULL, &err);
            m.mod[k] = 0;
        }
        cr_assert(eq(i64, r, rev + 1), "%s", err ? err->msg : "");
        rev = r;
        states[rev] = m;
        if (i % 40 == 0) {
            int64_t floor = store_compacted_revision(s);
            int64_t to = floor + 1 + (int64_t)(rand_r(&seed) % (uint64_t)(rev - floor));
            cr_assert(eq(int, store_compact(s, to, &err), 0));
            for (int64_t r2 = 1; r2 <= rev; r2++) {
                if (r2 < to) {
                    struct store_list l = {0};
                    int rc = store_list(s, "/m/", r2, NULL, 0, &l, &err);
                    cr_assert(eq(int, rc, -1));
                    cr_assert(eq(int, err->reason, K8C_REASON_GONE));
                } else {
                    check_revision(s, &states[r2], r2);
                }
            }
        }
    }
    check_revision(s, &states[rev], 0);
    _cleanup_free_ char *report = NULL;
    cr_assert(eq(int, store_check(s, &report, &err), 0), "%s", err ? err->msg : "");
    store_close(s);
    free(states);
}

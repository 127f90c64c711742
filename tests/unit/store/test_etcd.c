/* Unit tests for the etcd backend (src/store/etcd*.c) against a real etcd started on
 * loopback: the store.h contract (guards, errors, pages, past revisions, compaction, watch),
 * the key prefix, two stores on one etcd, bad URLs, and a member killed under writes. Skipped
 * when /usr/bin/etcd is missing. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "etcd_helpers.h"
#include "store/etcd_internal.h"
#include "store/store.h"

TestSuite(store_etcd, .init = store_test_setup, .fini = etcd_test_teardown);

static struct store *open_url(const char *url)
{
    struct k8c_err *err = NULL;
    struct store *s = store_open(url, NULL, &err);
    cr_assert(s != NULL, "store_open %s: %s", url, err ? err->msg : "?");
    return s;
}

Test(store_etcd, crud_guards_and_errors)
{
    _cleanup_free_ char *url = etcd_test_cluster(1, "/k8c");
    struct store *s = open_url(url);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t r0 = store_revision(s);
    cr_assert(r0 >= 1);

    int64_t r1 = store_create(s, "/registry/pods/default/a", "{\"v\":1}", 7, &err);
    cr_assert(eq(i64, r1, r0 + 1), "%s", err ? err->msg : "");
    int64_t cur = store_revision(s);
    cr_assert(eq(i64, cur, r1), "a write is visible in store_revision when it returns");
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/registry/pods/default/a", &kv, &err), 0));
    cr_assert(eq(str, kv.key, "/registry/pods/default/a"));
    cr_assert(eq(str, kv.value, "{\"v\":1}"));
    cr_assert(eq(sz, kv.value_len, 7));
    cr_assert(eq(i64, kv.create_revision, r1));
    cr_assert(eq(i64, kv.mod_revision, r1));
    store_kv_clear(&kv);

    int64_t r = store_create(s, "/registry/pods/default/a", "x", 1, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_ALREADY_EXISTS));
    k8c_err_freep(&err);

    int64_t r2 = store_update(s, "/registry/pods/default/a", "{\"v\":22}", 8, r1, &err);
    cr_assert(eq(i64, r2, r1 + 1));
    r = store_update(s, "/registry/pods/default/a", "stale", 5, r1, &err);
    cr_assert(eq(i64, r, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_CONFLICT));
    k8c_err_freep(&err);
    r = store_update(s, "/missing", "x", 1, 0, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    k8c_err_freep(&err);
    r = store_update(s, "/missing", "x", 1, 5, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    k8c_err_freep(&err);
    /* an empty value is a value; 0 skips the guard */
    int64_t r3 = store_update(s, "/registry/pods/default/a", "", 0, 0, &err);
    cr_assert(eq(i64, r3, r2 + 1));
    cr_assert(eq(int, store_get(s, "/registry/pods/default/a", &kv, &err), 0));
    cr_assert(eq(sz, kv.value_len, 0));
    cr_assert(eq(i64, kv.create_revision, r1));
    cr_assert(eq(i64, kv.mod_revision, r3));
    store_kv_clear(&kv);

    r = store_delete(s, "/registry/pods/default/a", r1, NULL, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_CONFLICT));
    k8c_err_freep(&err);
    struct store_kv prev = {0};
    int64_t r4 = store_delete(s, "/registry/pods/default/a", r3, &prev, &err);
    cr_assert(eq(i64, r4, r3 + 1));
    cr_assert(eq(str, prev.key, "/registry/pods/default/a"));
    cr_assert(eq(i64, prev.mod_revision, r3));
    cr_assert(eq(i64, prev.create_revision, r1));
    store_kv_clear(&prev);
    int rc = store_get(s, "/registry/pods/default/a", &kv, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    k8c_err_freep(&err);
    r = store_delete(s, "/registry/pods/default/a", 0, NULL, &err);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    k8c_err_freep(&err);

    /* binary values survive base64 both ways */
    const char bin[] = {'\0', '\xff', '\n', 'a'};
    int64_t r5 = store_create(s, "/bin", bin, sizeof(bin), &err);
    cr_assert(r5 > r4);
    cr_assert(eq(int, store_get(s, "/bin", &kv, &err), 0));
    cr_assert(eq(sz, kv.value_len, sizeof(bin)));
    cr_assert(memcmp(kv.value, bin, sizeof(bin)) == 0);
    store_kv_clear(&kv);

    char *report = NULL;
    cr_assert(eq(int, store_check(s, &report, &err), 0));
    cr_assert(strstr(report, "1 keys under `/k8c`") != NULL, "%s", report);
    free(report);
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

Test(store_etcd, list_pages_past_revisions_and_compaction)
{
    _cleanup_free_ char *url = etcd_test_cluster(1, NULL);
    struct store *s = open_url(url);
    _cleanup_err_ struct k8c_err *err = NULL;
    make_keys(s, "/registry/pods/default/p", 10);
    make_keys(s, "/registry/podsx/p", 2);
    int64_t after_pods = store_revision(s);

    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/registry/pods/", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 10));
    cr_assert(not(l.more));
    cr_assert(eq(i64, l.revision, after_pods));
    store_list_clear(&l);

    int64_t at = 0;
    size_t seen = 0;
    _cleanup_free_ char *start = NULL;
    for (int page = 0;; page++) {
        cr_assert(eq(int, store_list(s, "/registry/pods/default/", at, start, 4, &l, &err), 0),
                  "%s", err ? err->msg : "");
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
        _cleanup_free_ char *late = xasprintf("/registry/pods/default/p%03d-late", page);
        store_test_put(s, late, "late");
    }
    cr_assert(eq(sz, seen, 10));

    /* the past, the future, and compaction */
    int64_t ra = store_test_put(s, "/r/a", "a1");
    int64_t ra2 = store_update(s, "/r/a", "a2", 2, ra, &err);
    cr_assert(eq(int, store_list(s, "/r/", ra, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 1));
    cr_assert(eq(str, l.items[0].value, "a1"));
    store_list_clear(&l);
    int rc = store_list(s, "/r/", ra2 + 100, NULL, 0, &l, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_TIMEOUT), "%s", err->msg);
    k8c_err_freep(&err);
    cr_assert(eq(int, store_compact(s, ra2, &err), 0), "%s", err ? err->msg : "");
    int64_t compacted = store_compacted_revision(s);
    cr_assert(eq(i64, compacted, ra2));
    rc = store_list(s, "/r/", ra, NULL, 0, &l, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_GONE), "%s", err->msg);
    k8c_err_freep(&err);
    cr_assert(eq(int, store_list(s, "/r/", ra2, NULL, 0, &l, &err), 0));
    cr_assert(eq(str, l.items[0].value, "a2"));
    store_list_clear(&l);
    cr_assert(eq(int, store_compact(s, ra2, &err), 0), "compacting twice is a no-op");
    /* the empty prefix lists everything */
    cr_assert(eq(int, store_list(s, "", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 10 + 2 + 2 + 1));
    store_list_clear(&l);
    store_close(s);
}

static struct store_event *next_event(struct store_watch *w)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_event *ev = NULL;
    int rc = store_watch_next(w, 10000, &ev, &err);
    cr_assert(eq(int, rc, 1), "watch_next: %s", err ? err->msg : "timeout");
    return ev;
}

Test(store_etcd, watch_and_two_stores_on_one_etcd)
{
    _cleanup_free_ char *url = etcd_test_cluster(1, "/c1");
    struct store *s = open_url(url);
    struct store *t = open_url(url); /* a second API server on the same etcd */
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_watch *w = store_watch_open(t, "/registry/", 0, &err);
    cr_assert(w != NULL);
    int64_t r1 = store_test_put(s, "/registry/a", "1");
    int64_t r2 = store_update(s, "/registry/a", "2", 1, r1, &err);
    store_test_put(s, "/other/x", "not watched");
    int64_t r3 = store_delete(s, "/registry/a", 0, NULL, &err);

    struct store_event *ev = next_event(w);
    cr_assert(eq(int, ev->type, STORE_EVENT_ADDED));
    cr_assert(eq(i64, ev->revision, r1));
    cr_assert(eq(str, (char *)ev->key, "/registry/a"));
    cr_assert(eq(str, (char *)ev->value, "1"));
    store_event_unref(ev);
    ev = next_event(w);
    cr_assert(eq(int, ev->type, STORE_EVENT_MODIFIED));
    cr_assert(eq(i64, ev->revision, r2));
    cr_assert(eq(str, (char *)ev->prev_value, "1"));
    cr_assert(eq(i64, ev->create_revision, r1));
    store_event_unref(ev);
    ev = next_event(w);
    cr_assert(eq(int, ev->type, STORE_EVENT_DELETED));
    cr_assert(eq(i64, ev->revision, r3));
    cr_assert(eq(str, (char *)ev->value, "2"));
    store_event_unref(ev);
    store_watch_close(w);

    /* a watch from an old revision replays; the other store's view agrees */
    w = store_watch_open(s, "/registry/", r1, &err);
    cr_assert(w != NULL);
    ev = next_event(w);
    cr_assert(eq(i64, ev->revision, r2));
    store_event_unref(ev);
    store_watch_close(w);
    int64_t rt = store_revision(t);
    cr_assert(eq(i64, rt, r3));

    /* another prefix on the same etcd sees none of it, and its revisions (spent outside
     * its prefix) do not disturb its watches */
    _cleanup_free_ char *url2 = xasprintf("%.*s/c2", (int)(strrchr(url, '/') - url), url);
    struct store *u = open_url(url2);
    struct store_list l = {0};
    cr_assert(eq(int, store_list(u, "", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 0));
    store_list_clear(&l);
    /* a sibling prefix ("/c2x" next to "/c2") is another world too */
    _cleanup_free_ char *url3 = xasprintf("%sx", url2);
    struct store *v = open_url(url3);
    store_test_put(v, "/registry/sibling", "c2x");
    w = store_watch_open(u, "/", 0, &err);
    store_test_put(s, "/registry/b", "c1 only");
    store_test_put(v, "/registry/sibling2", "c2x");
    int64_t ru = store_test_put(u, "/registry/b", "c2");
    ev = next_event(w);
    cr_assert(eq(i64, ev->revision, ru));
    cr_assert(eq(str, (char *)ev->value, "c2"));
    store_event_unref(ev);
    cr_assert(eq(int, store_list(u, "", 0, NULL, 0, &l, &err), 0));
    cr_assert(eq(sz, l.n_items, 1), "only its own key, not the sibling prefix's");
    store_list_clear(&l);
    store_watch_close(w);
    store_close(v);
    store_close(u);
    store_close(t);
    store_close(s);
}

Test(store_etcd, bad_urls_and_unreachable)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store *s = store_open("etcd://127.0.0.1:1", NULL, &err);
    cr_assert(s == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_SERVICE_UNAVAILABLE), "%s", err->msg);
    k8c_err_freep(&err);
    const char *bad[] = {"etcd://", "etcd://nohostport", "etcd://h:1?bogus=1", "etcd://h:1?cert=x",
                         "etcd://h:1?cacert="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = store_open(bad[i], NULL, &err);
        cr_assert(s == NULL, "%s", bad[i]);
        cr_assert(eq(int, err->reason, K8C_REASON_INVALID), "%s: %s", bad[i], err->msg);
        k8c_err_freep(&err);
    }
}

Test(store_etcd, member_killed_under_writes_loses_nothing)
{
    _cleanup_free_ char *url = etcd_test_cluster(3, "/f");
    struct store *s = open_url(url);
    _cleanup_err_ struct k8c_err *err = NULL;
    enum { N = 300 };
    int acked = 0;
    bool ok[N] = {0};
    for (int i = 0; i < N; i++) {
        if (i == N / 3)
            etcd_test_kill(0); /* the endpoint the store talks to first */
        _cleanup_free_ char *key = xasprintf("/w/%04d", i);
        int64_t r = store_create(s, key, "v", 1, &err);
        if (r > 0) {
            acked++;
            ok[i] = true;
        } else
            k8c_err_freep(&err); /* unacknowledged writes may fail during the handover */
    }
    cr_assert(acked >= N - 5, "writes continued after a member died: %d of %d", acked, N);
    struct store_list l = {0};
    cr_assert(eq(int, store_list(s, "/w/", 0, NULL, 0, &l, &err), 0), "%s", err ? err->msg : "");
    size_t j = 0;
    for (int i = 0; i < N; i++) {
        _cleanup_free_ char *key = xasprintf("/w/%04d", i);
        bool there = j < l.n_items && strcmp(l.items[j].key, key) == 0;
        if (there)
            j++;
        cr_assert(there || !ok[i], "acknowledged write %s is lost", key);
    }
    store_list_clear(&l);
    store_close(s);
}

Test(store_etcd, tls_with_client_certificates)
{
    const char *dir = store_test_dir();
    etcd_test_certs(dir);
    _cleanup_free_ char *suffix =
        xasprintf("/tls?cacert=%s/ca.crt&cert=%s/client.crt&key=%s/client.key", dir, dir, dir);
    _cleanup_free_ char *url = etcd_test_cluster_tls(1, suffix, dir);
    struct store *s = open_url(url);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_watch *w = store_watch_open(s, "/", 0, &err);
    int64_t r = store_test_put(s, "/secure", "yes");
    struct store_event *ev = next_event(w);
    cr_assert(eq(i64, ev->revision, r));
    cr_assert(eq(str, (char *)ev->value, "yes"));
    store_event_unref(ev);
    store_watch_close(w);
    store_close(s);

    /* without the client certificate the member refuses the connection */
    _cleanup_free_ char *no_cert =
        xasprintf("%.*s?cacert=%s/ca.crt", (int)(strchr(url, '?') - url), url, dir);
    s = store_open(no_cert, NULL, &err);
    cr_assert(s == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_SERVICE_UNAVAILABLE), "%s", err->msg);
}

/* Protobuf for the stream parser's test: a field of bytes (wire type 2) or a varint. */
static void pb_varint(struct buf *out, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        buf_append(out, &c, 1);
        v >>= 7;
    } while (v);
}

static void pb_bytes(struct buf *out, uint32_t field, const void *data, size_t len)
{
    pb_varint(out, (uint64_t)field << 3 | 2);
    pb_varint(out, len);
    buf_append(out, data, len);
}

static void pb_int(struct buf *out, uint32_t field, uint64_t v)
{
    pb_varint(out, (uint64_t)field << 3);
    pb_varint(out, v);
}

/* A KeyValue of key and value (NULL: none) at the given revisions, as field `field`. */
static void pb_kv(struct buf *out, uint32_t field, const char *key, const char *value,
                  int64_t created, int64_t modified)
{
    _cleanup_buf_ struct buf kv = BUF_INIT;
    pb_bytes(&kv, 1, key, strlen(key));
    if (created)
        pb_int(&kv, 2, (uint64_t)created);
    pb_int(&kv, 3, (uint64_t)modified);
    if (value)
        pb_bytes(&kv, 5, value, strlen(value));
    pb_bytes(out, field, kv.data, kv.len);
}

/* Appends a gRPC frame of msg to out. */
static void grpc_frame(struct buf *out, const struct buf *msg)
{
    uint8_t h[5] = {0, (uint8_t)(msg->len >> 24), (uint8_t)(msg->len >> 16),
                    (uint8_t)(msg->len >> 8), (uint8_t)msg->len};
    buf_append(out, h, 5);
    buf_append(out, msg->data, msg->len);
}

/* The stream parser, fed one byte at a time (a frame's header or half a message may arrive
 * alone): every event comes out, in order, and nothing is left over. No etcd needed. */
Test(store_etcd, stream_parser_takes_answers_split_anywhere)
{
    _cleanup_buf_ struct buf stream = BUF_INIT, m1 = BUF_INIT, m2 = BUF_INIT, m3 = BUF_INIT,
                             e2 = BUF_INIT, e3 = BUF_INIT;
    /* created */
    pb_bytes(&m1, 1, "\x18\x01", 2); /* header { revision: 1 } */
    pb_int(&m1, 3, 1);
    grpc_frame(&stream, &m1);
    /* PUT /p/a = x at 2 */
    pb_kv(&e2, 2, "/p/a", "x", 2, 2);
    pb_bytes(&m2, 11, e2.data, e2.len);
    grpc_frame(&stream, &m2);
    /* DELETE /p/a at 4, its previous value x */
    pb_int(&e3, 1, 1);
    pb_kv(&e3, 2, "/p/a", NULL, 0, 4);
    pb_kv(&e3, 3, "/p/a", "x", 2, 2);
    pb_bytes(&m3, 11, e3.data, e3.len);
    grpc_frame(&stream, &m3);
    const char *text = stream.data;
    struct store s = {0};
    struct etcd_backend b = {0};
    b.s = &s;
    b.prefix = (char *)"/p";
    b.prefix_len = 2;
    pthread_mutex_init(&b.rev_lock, NULL);
    pthread_cond_init(&b.rev_cond, NULL);
    s.backend = &b;
    s.hub = store__hub_new(0, 100, 1 << 20, 100);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_watch *w = store__hub_watch_open(s.hub, "/", 0, &err);
    struct buf in = BUF_INIT;
    bool canceled = false;
    for (size_t i = 0; i < stream.len; i++) {
        buf_append(&in, text + i, 1);
        int rc = store__etcd_stream_feed(&s, &in, &canceled);
        cr_assert(eq(int, rc, 0), "byte %zu", i);
    }
    cr_assert(eq(sz, in.len, 0));
    cr_assert(not(canceled));
    struct store_event *ev = NULL;
    cr_assert(eq(int, store__hub_watch_next(w, 0, &ev, &err), 1));
    cr_assert(eq(int, ev->type, STORE_EVENT_ADDED));
    cr_assert(eq(str, (char *)ev->key, "/a"));
    cr_assert(eq(i64, ev->revision, 2));
    store_event_unref(ev);
    /* revision 3 was spent outside the prefix: a placeholder no "/" watch sees */
    cr_assert(eq(int, store__hub_watch_next(w, 0, &ev, &err), 1));
    cr_assert(eq(int, ev->type, STORE_EVENT_DELETED));
    cr_assert(eq(i64, ev->revision, 4));
    cr_assert(eq(str, (char *)ev->value, "x"));
    store_event_unref(ev);
    int64_t rev = atomic_load(&s.revision);
    cr_assert(eq(i64, rev, 4));
    buf_free(&in);
    store__hub_watch_close(w);
    store__hub_close(s.hub);
    pthread_cond_destroy(&b.rev_cond);
    pthread_mutex_destroy(&b.rev_lock);
}

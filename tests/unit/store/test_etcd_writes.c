/* Unit tests for the etcd backend's write path (src/store/etcd.c, etcd_watch.c): a write
 * publishes its own event from etcd's answer, held until every earlier revision is in the hub,
 * while the watch stream brings the other servers' writes. Two stores (two API servers) on one
 * etcd write concurrently: both hubs must hold the same events, in revision order, with
 * the right types and previous values, and a write must be in its store's hub when it
 * returns. Skipped when /usr/bin/etcd is missing. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "etcd_helpers.h"
#include "store/store.h"

TestSuite(store_etcd_writes, .init = store_test_setup, .fini = etcd_test_teardown);

#define WRITERS_PER_STORE 4
#define ROUNDS 15

struct writer {
    struct store *s;
    int id;
    int64_t last_rev;
    char failure[256];
};

/* Creates, updates twice and deletes its own key, ROUNDS times; each write must be in the
 * store's revision (so in its hub) when it returns. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char key[64], value[64];
    snprintf(key, sizeof(key), "/registry/w%d", w->id);
    for (int round = 0; round < ROUNDS; round++) {
        struct k8c_err *err = NULL;
        snprintf(value, sizeof(value), "w%d-r%d-0", w->id, round);
        int64_t rev = store_create(w->s, key, value, strlen(value), &err);
        for (int u = 1; rev > 0 && u <= 2; u++) {
            if (store_revision(w->s) < rev)
                break;
            snprintf(value, sizeof(value), "w%d-r%d-%d", w->id, round, u);
            rev = store_update(w->s, key, value, strlen(value), rev, &err);
        }
        if (rev > 0 && store_revision(w->s) >= rev)
            rev = store_delete(w->s, key, rev, NULL, &err);
        if (rev < 0 || store_revision(w->s) < rev) {
            snprintf(w->failure, sizeof(w->failure), "writer %d round %d: %s", w->id, round,
                     err ? err->msg : "a write returned before its store had its revision");
            k8c_err_free(err);
            return NULL;
        }
        w->last_rev = rev;
    }
    return NULL;
}

/* Reads the watch until revision `upto`, checking every event against a model of the keys
 * (ADDED without a previous value; MODIFIED's previous value and DELETED's value are the
 * last value seen, and their prev_revision the revision that wrote it). Returns the events'
 * revisions, comma-separated, for comparing stores. */
static char *check_events(struct store_watch *w, int64_t upto)
{
    json_t *model = json_object();
    json_t *written_at = json_object(); /* key -> revision of its last value */
    struct buf seen = BUF_INIT;
    int64_t last = 0;
    while (last < upto) {
        _cleanup_err_ struct k8c_err *err = NULL;
        struct store_event *ev = NULL;
        cr_assert(eq(int, store_watch_next(w, 20000, &ev, &err), 1), "watch: %s",
                  err ? err->msg : "timeout");
        cr_assert(ev->revision > last, "revision %lld after %lld", (long long)ev->revision,
                  (long long)last);
        last = ev->revision;
        const char *known = json_string_value(json_object_get(model, ev->key));
        switch (ev->type) {
        case STORE_EVENT_ADDED:
            cr_assert(known == NULL, "%s added twice", ev->key);
            cr_assert(eq(i64, ev->create_revision, ev->revision));
            json_object_set_new(model, ev->key, json_string(ev->value));
            json_object_set_new(written_at, ev->key, json_integer(ev->revision));
            break;
        case STORE_EVENT_MODIFIED:
            cr_assert(known != NULL && ev->prev_value != NULL, "%s modified unseen", ev->key);
            cr_assert(eq(str, (char *)ev->prev_value, (char *)known));
            cr_assert(eq(i64, ev->prev_revision,
                         json_integer_value(json_object_get(written_at, ev->key))));
            json_object_set_new(model, ev->key, json_string(ev->value));
            json_object_set_new(written_at, ev->key, json_integer(ev->revision));
            break;
        case STORE_EVENT_DELETED:
            cr_assert(known != NULL, "%s deleted unseen", ev->key);
            cr_assert(eq(str, (char *)ev->value, (char *)known));
            cr_assert(eq(i64, ev->prev_revision,
                         json_integer_value(json_object_get(written_at, ev->key))));
            json_object_del(model, ev->key);
            json_object_del(written_at, ev->key);
            break;
        }
        buf_appendf(&seen, "%lld,", (long long)ev->revision);
        store_event_unref(ev);
    }
    cr_assert(eq(sz, json_object_size(model), 0), "every key was deleted");
    json_decref(written_at);
    json_decref(model);
    return seen.data;
}

Test(store_etcd_writes, two_stores_write_concurrently_and_agree)
{
    _cleanup_free_ char *url = etcd_test_cluster(1, "/w");
    struct k8c_err *err = NULL;
    struct store *s = store_open(url, NULL, &err);
    cr_assert(s != NULL);
    struct store *t = store_open(url, NULL, &err);
    cr_assert(t != NULL);
    int64_t start = store_revision(s);
    struct store_watch *ws = store_watch_open(s, "/registry/", start, &err);
    struct store_watch *wt = store_watch_open(t, "/registry/", start, &err);
    cr_assert(ws != NULL && wt != NULL);
    struct writer w[2 * WRITERS_PER_STORE] = {0};
    pthread_t th[2 * WRITERS_PER_STORE];
    for (int i = 0; i < 2 * WRITERS_PER_STORE; i++) {
        w[i] = (struct writer){.s = i % 2 ? t : s, .id = i};
        cr_assert(eq(int, pthread_create(&th[i], NULL, writer_main, &w[i]), 0));
    }
    int64_t upto = 0;
    for (int i = 0; i < 2 * WRITERS_PER_STORE; i++) {
        pthread_join(th[i], NULL);
        cr_assert(w[i].failure[0] == '\0', "%s", w[i].failure);
        if (w[i].last_rev > upto)
            upto = w[i].last_rev;
    }
    cr_assert(eq(i64, upto - start, 2 * WRITERS_PER_STORE * ROUNDS * 4),
              "one revision per write, none lost");
    _cleanup_free_ char *seen_s = check_events(ws, upto);
    _cleanup_free_ char *seen_t = check_events(wt, upto);
    cr_assert(eq(str, seen_s, seen_t), "both stores' hubs hold the same events");
    store_watch_close(ws);
    store_watch_close(wt);
    store_close(t);
    store_close(s);
}

/* Reads of one key at the same time share etcd ranges (etcd_get) and must stay linearizable:
 * a read returns at least every write that ended before it began. */
struct reader {
    struct store *s;
    atomic_llong *completed; /* the last value whose write has returned */
    atomic_bool *stop;
    long reads;
    char failure[256];
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(r->stop)) {
        long long before = atomic_load(r->completed);
        struct k8c_err *err = NULL;
        struct store_kv kv = {0};
        if (store_get(r->s, "/registry/namespaces/shared", &kv, &err) < 0) {
            snprintf(r->failure, sizeof(r->failure), "get: %s", err->msg);
            k8c_err_free(err);
            return NULL;
        }
        long long got = atoll(kv.value);
        store_kv_clear(&kv);
        if (got < before) {
            snprintf(r->failure, sizeof(r->failure), "read %lld after write %lld had returned", got,
                     before);
            return NULL;
        }
        r->reads++;
    }
    return NULL;
}

Test(store_etcd_writes, shared_reads_of_one_key_see_every_finished_write)
{
    _cleanup_free_ char *url = etcd_test_cluster(1, "/r");
    struct k8c_err *err = NULL;
    struct store *s = store_open(url, NULL, &err);
    cr_assert(s != NULL);
    int64_t rev = store_create(s, "/registry/namespaces/shared", "0", 1, &err);
    cr_assert(rev > 0);
    atomic_llong completed = 0;
    atomic_bool stop = false;
    struct reader r[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (struct reader){.s = s, .completed = &completed, .stop = &stop};
        cr_assert(eq(int, pthread_create(&th[i], NULL, reader_main, &r[i]), 0));
    }
    for (long long v = 1; v <= 150; v++) {
        char text[32];
        snprintf(text, sizeof(text), "%lld", v);
        rev = store_update(s, "/registry/namespaces/shared", text, strlen(text), rev, &err);
        cr_assert(rev > 0, "update: %s", err ? err->msg : "?");
        atomic_store(&completed, v);
    }
    atomic_store(&stop, true);
    long reads = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert(r[i].failure[0] == '\0', "%s", r[i].failure);
        reads += r[i].reads;
    }
    cr_assert(reads > 150, "the readers ran (%ld reads)", reads);
    /* a missing key is NOT_FOUND for every reader sharing the range */
    struct store_kv kv = {0};
    cr_assert(eq(int, store_get(s, "/registry/namespaces/none", &kv, &err), -1));
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    k8c_err_free(err);
    store_close(s);
}

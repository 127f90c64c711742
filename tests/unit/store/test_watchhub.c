/* Unit tests for src/store/watchhub.c through the public watch API: live events, replay from a
 * past revision (from the window, else from the SQLite history), GONE for compacted
 * revisions, slow watchers cut off, events shared
 * by many watchers, the readiness descriptor, and close. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "base/mem.h"
#include "helpers.h"
#include "store/store.h"

TestSuite(watch, .init = store_test_setup, .fini = store_test_teardown);

/* Takes the next event within a few seconds (a deadline, not a sleep) or fails the test. */
static struct store_event *next_event(struct store_watch *w)
{
    struct store_event *ev = NULL;
    struct k8c_err *err = NULL;
    int rc = store_watch_next(w, 5000, &ev, &err);
    cr_assert(eq(int, rc, 1), "watch_next: %s", err ? err->msg : "timed out");
    return ev;
}

static void expect_none(struct store_watch *w)
{
    struct store_event *ev = NULL;
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = store_watch_next(w, 0, &ev, &err);
    cr_assert(eq(int, rc, 0), "no event expected");
}

Test(watch, live_events_carry_values_and_previous_values)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    store_test_put(s, "/pods/before", "old");
    struct store_watch *w = store_watch_open(s, "/pods/", 0, &err);
    cr_assert(w != NULL);
    expect_none(w);

    int64_t r1 = store_test_put(s, "/pods/a", "one");
    store_test_put(s, "/other/x", "not watched");
    int64_t r2 = store_update(s, "/pods/a", "two", 3, r1, &err);
    int64_t r3 = store_delete(s, "/pods/a", 0, NULL, &err);

    struct store_event *ev = next_event(w);
    cr_assert(eq(int, ev->type, STORE_EVENT_ADDED));
    cr_assert(eq(i64, ev->revision, r1));
    cr_assert(eq(i64, ev->create_revision, r1));
    cr_assert(eq(str, (char *)ev->key, "/pods/a"));
    cr_assert(eq(str, (char *)ev->value, "one"));
    cr_assert(ev->prev_value == NULL);
    store_event_unref(ev);

    ev = next_event(w);
    cr_assert(eq(int, ev->type, STORE_EVENT_MODIFIED));
    cr_assert(eq(i64, ev->revision, r2));
    cr_assert(eq(i64, ev->create_revision, r1));
    cr_assert(eq(str, (char *)ev->value, "two"));
    cr_assert(eq(str, (char *)ev->prev_value, "one"));
    cr_assert(eq(sz, ev->prev_value_len, 3));
    store_event_unref(ev);

    ev = next_event(w);
    cr_assert(eq(int, ev->type, STORE_EVENT_DELETED));
    cr_assert(eq(i64, ev->revision, r3));
    cr_assert(eq(str, (char *)ev->value, "two"));
    cr_assert(eq(str, (char *)ev->prev_value, "two"));
    store_event_unref(ev);
    expect_none(w);

    store_watch_close(w);
    store_close(s);
}

Test(watch, replays_from_a_past_revision_then_goes_live)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t revs[6];
    for (int i = 0; i < 6; i++) {
        _cleanup_free_ char *key = xasprintf("/w/%d", i);
        revs[i] = store_test_put(s, key, "v");
    }
    /* From after revs[2]: revs[3..5] replayed, then live. */
    struct store_watch *w = store_watch_open(s, "/w/", revs[2], &err);
    cr_assert(w != NULL, "%s", err ? err->msg : "");
    for (int i = 3; i < 6; i++) {
        struct store_event *ev = next_event(w);
        cr_assert(eq(i64, ev->revision, revs[i]));
        store_event_unref(ev);
    }
    expect_none(w);
    int64_t live = store_test_put(s, "/w/live", "v");
    struct store_event *ev = next_event(w);
    cr_assert(eq(i64, ev->revision, live));
    store_event_unref(ev);
    store_watch_close(w);

    /* From the current revision: only what follows. */
    w = store_watch_open(s, "/w/", store_revision(s), &err);
    cr_assert(w != NULL);
    expect_none(w);
    int64_t r = store_test_put(s, "/w/next", "v");
    ev = next_event(w);
    cr_assert(eq(i64, ev->revision, r));
    store_event_unref(ev);
    store_watch_close(w);

    /* From a future revision: events after it only (etcd's rule). */
    int64_t future = store_revision(s) + 2;
    w = store_watch_open(s, "/w/", future, &err);
    cr_assert(w != NULL);
    store_test_put(s, "/w/f1", "v");
    store_test_put(s, "/w/f2", "v");
    int64_t r3 = store_test_put(s, "/w/f3", "v");
    ev = next_event(w);
    cr_assert(eq(i64, ev->revision, r3));
    store_event_unref(ev);
    store_watch_close(w);
    store_close(s);
}

/* Expects the next event to be (type, revision, key, value, prev_value or NULL). */
static void expect_event(struct store_watch *w, enum store_event_type type, int64_t rev,
                         const char *key, const char *value, const char *prev)
{
    struct store_event *ev = next_event(w);
    cr_assert(eq(int, ev->type, type), "revision %lld", (long long)ev->revision);
    cr_assert(eq(i64, ev->revision, rev));
    cr_assert(eq(str, (char *)ev->key, (char *)key));
    cr_assert(eq(str, (char *)ev->value, (char *)value));
    if (prev)
        cr_assert(eq(str, (char *)ev->prev_value, (char *)prev));
    else
        cr_assert(ev->prev_value == NULL);
    store_event_unref(ev);
}

Test(watch, revisions_older_than_the_window_replay_from_the_file)
{
    const char *dir = store_test_dir();
    struct store_options opts = {.watch_window_events = 4};
    struct store *s = store_test_open(dir, &opts);
    _cleanup_err_ struct k8c_err *err = NULL;
    for (int i = 0; i < 6; i++) {
        _cleanup_free_ char *key = xasprintf("/g/%d", i);
        store_test_put(s, key, "v");
    }
    store_test_put(s, "/other/x", "not watched");                      /* 7 */
    cr_assert(eq(i64, store_update(s, "/g/0", "v2", 2, 1, &err), 8));  /* 8 */
    cr_assert(eq(i64, store_delete(s, "/g/1", 0, NULL, &err), 9));     /* 9 */
    cr_assert(eq(i64, store_create(s, "/g/1", "again", 5, &err), 10)); /* 10 */
    /* The window holds 7..10; 3..6 come back from the file with the right types and
     * previous values, then the window's events follow. */
    struct store_watch *w = store_watch_open(s, "/g/", 2, &err);
    cr_assert(w != NULL, "%s", err ? err->msg : "");
    for (int i = 2; i < 6; i++) {
        _cleanup_free_ char *key = xasprintf("/g/%d", i);
        expect_event(w, STORE_EVENT_ADDED, i + 1, key, "v", NULL);
    }
    expect_event(w, STORE_EVENT_MODIFIED, 8, "/g/0", "v2", "v");
    expect_event(w, STORE_EVENT_DELETED, 9, "/g/1", "v", "v");
    expect_event(w, STORE_EVENT_ADDED, 10, "/g/1", "again", NULL);
    expect_none(w);
    int64_t r = store_test_put(s, "/g/live", "v");
    expect_event(w, STORE_EVENT_ADDED, r, "/g/live", "v", NULL);
    store_watch_close(w);

    /* A watcher catching up while writes push the window past it still sees every event. */
    w = store_watch_open(s, "/g/", 1, &err);
    cr_assert(w != NULL);
    for (int i = 0; i < 300; i++) {
        _cleanup_free_ char *key = xasprintf("/g/more%d", i);
        store_test_put(s, key, "v");
    }
    for (int64_t rev = 2; rev <= 11 + 300; rev++) {
        if (rev == 7)
            continue; /* /other/x */
        struct store_event *ev = next_event(w);
        cr_assert(eq(i64, ev->revision, rev));
        store_event_unref(ev);
    }
    expect_none(w);
    store_watch_close(w);

    /* Compacted revisions are gone, with the oldest one that works in the message. */
    cr_assert(eq(int, store_compact(s, 8, &err), 0), "%s", err ? err->msg : "");
    w = store_watch_open(s, "/g/", 5, &err);
    cr_assert(w == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_GONE));
    cr_assert(strstr(err->msg, "too old resource version: 5") != NULL, "%s", err->msg);
    k8c_err_free(err);
    err = NULL;
    w = store_watch_open(s, "/g/", 8, &err);
    cr_assert(w != NULL, "%s", err ? err->msg : "");
    expect_event(w, STORE_EVENT_DELETED, 9, "/g/1", "v", "v");
    store_watch_close(w);
    store_close(s);

    /* After a restart the history is still there: a watch from before the open replays. */
    s = store_test_open(dir, &opts);
    int64_t cur = store_revision(s);
    cr_assert(eq(i64, cur, 311));
    w = store_watch_open(s, "/g/", 9, &err);
    cr_assert(w != NULL, "%s", err ? err->msg : "");
    expect_event(w, STORE_EVENT_ADDED, 10, "/g/1", "again", NULL);
    store_watch_close(w);
    store_close(s);
}

Test(watch, window_is_bounded_by_bytes_and_older_events_are_read_back)
{
    const char *dir = store_test_dir();
    struct store_options opts = {.watch_window_bytes = 64 * 1024};
    struct store *s = store_test_open(dir, &opts);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *value = xcalloc(1, 8192);
    memset(value, 'x', 8191);
    for (int i = 0; i < 20; i++) {
        _cleanup_free_ char *key = xasprintf("/b/%d", i);
        store_test_put(s, key, value);
    }
    /* 20 events of 8 KiB do not fit in 64 KiB: the oldest come from the file, intact. */
    struct store_watch *w = store_watch_open(s, "/b/", 1, &err);
    cr_assert(w != NULL, "%s", err ? err->msg : "");
    for (int i = 1; i < 20; i++) {
        _cleanup_free_ char *key = xasprintf("/b/%d", i);
        expect_event(w, STORE_EVENT_ADDED, i + 1, key, value, NULL);
    }
    expect_none(w);
    store_watch_close(w);
    store_close(s);
}

Test(watch, slow_watcher_is_cut_off_and_writers_do_not_wait)
{
    const char *dir = store_test_dir();
    struct store_options opts = {.watch_max_pending = 8};
    struct store *s = store_test_open(dir, &opts);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_watch *slow = store_watch_open(s, "/", 0, &err);
    struct store_watch *fast = store_watch_open(s, "/", 0, &err);
    for (int i = 0; i < 20; i++) {
        _cleanup_free_ char *key = xasprintf("/s/%d", i);
        store_test_put(s, key, "v"); /* returns although nobody reads `slow` */
        struct store_event *ev = next_event(fast);
        cr_assert(eq(i64, ev->revision, i + 1));
        store_event_unref(ev);
    }
    struct store_event *ev = NULL;
    int rc = store_watch_next(slow, 0, &ev, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_GONE));
    cr_assert(strstr(err->msg, "cut off") != NULL, "%s", err->msg);
    /* it stays ended */
    rc = store_watch_next(slow, 0, &ev, &err);
    cr_assert(eq(int, rc, -1));
    store_watch_close(slow);
    store_watch_close(fast);
    store_close(s);
}

Test(watch, many_watchers_share_one_copy_of_each_event)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    enum { N = 2000 };
    struct store_watch **ws = xcalloc(N, sizeof(*ws));
    for (int i = 0; i < N; i++) {
        /* half watch everything, half one namespace */
        ws[i] = store_watch_open(s, i % 2 ? "/ns/a/" : "/", 0, &err);
        cr_assert(ws[i] != NULL);
    }
    store_test_put(s, "/ns/a/x", "va");
    store_test_put(s, "/ns/b/y", "vb");
    struct store_event *first = NULL;
    for (int i = 0; i < N; i++) {
        struct store_event *ev = next_event(ws[i]);
        if (first == NULL)
            first = store_event_ref(ev);
        cr_assert(ev == first, "every watcher holds the same event, not a copy");
        store_event_unref(ev);
        if (i % 2 == 0) {
            ev = next_event(ws[i]);
            cr_assert(eq(str, (char *)ev->key, "/ns/b/y"));
            store_event_unref(ev);
        }
        expect_none(ws[i]);
    }
    store_event_unref(first);
    for (int i = 0; i < N; i++)
        store_watch_close(ws[i]);
    free(ws);
    store_close(s);
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

Test(watch, descriptor_is_readable_while_events_wait)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_watch *w = store_watch_open(s, "/", 0, &err);
    int fd = store_watch_fd(w);
    cr_assert(fd >= 0);
    cr_assert(not(readable(fd)));
    store_test_put(s, "/a", "1");
    store_test_put(s, "/b", "2");
    struct pollfd p = {.fd = fd, .events = POLLIN};
    cr_assert(eq(int, poll(&p, 1, 5000), 1));
    store_event_unref(next_event(w));
    cr_assert(readable(fd), "one event still waits");
    store_event_unref(next_event(w));
    cr_assert(not(readable(fd)));
    store_watch_close(w);

    /* A watch that must replay is readable at once. */
    w = store_watch_open(s, "/", 1, &err);
    fd = store_watch_fd(w);
    cr_assert(readable(fd));
    store_event_unref(next_event(w));
    expect_none(w);
    cr_assert(not(readable(fd)), "caught up: no longer readable");
    store_test_put(s, "/c", "3");
    cr_assert(eq(int, poll(&p, 1, 5000), 1));
    store_event_unref(next_event(w));
    store_watch_close(w);
    store_close(s);
}

Test(watch, closing_the_store_ends_watches)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    struct store_watch *w = store_watch_open(s, "/", 0, &err);
    int fd = store_watch_fd(w);
    store_test_put(s, "/a", "1");
    store_close(s);
    /* The event committed before close is still delivered, then the end. */
    store_event_unref(next_event(w));
    cr_assert(readable(fd));
    struct store_event *ev = NULL;
    int rc = store_watch_next(w, -1, &ev, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_SERVICE_UNAVAILABLE));
    store_watch_close(w);
}

struct burst_arg {
    struct store *s;
    int id, n;
};

static void *burst(void *p)
{
    struct burst_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        _cleanup_free_ char *key = xasprintf("/busy/%d/%d", a->id, i);
        store_test_put(a->s, key, "v");
    }
    return NULL;
}

/* A watch on a rare prefix from an old revision skips thousands of events (in steps, letting
 * the writer publish in between) and finds the one that matches. */
Test(watch, catching_up_skips_a_long_window)
{
    const char *dir = store_test_dir();
    struct store *s = store_test_open(dir, NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    int64_t start = store_test_put(s, "/rare/first", "1");
    enum { T = 8, N = 700 };
    pthread_t t[T];
    struct burst_arg a[T];
    for (int i = 0; i < T; i++) {
        a[i] = (struct burst_arg){s, i, N};
        pthread_create(&t[i], NULL, burst, &a[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    int64_t rare = store_test_put(s, "/rare/second", "2");
    cr_assert(eq(i64, rare, start + T * N + 1));
    struct store_watch *w = store_watch_open(s, "/rare/", start, &err);
    cr_assert(w != NULL);
    struct store_event *ev = next_event(w);
    cr_assert(eq(i64, ev->revision, rare));
    store_event_unref(ev);
    expect_none(w);
    store_watch_close(w);
    store_close(s);
}

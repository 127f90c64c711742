/* The crash-safety test driver (hidden verbs, used by tests/e2e/test_store_crash.py).
 *
 * `k8c store stress --data-dir DIR [--writers N] [--keys K] [--seconds S] [--compact]` runs
 * N writer threads doing guarded creates, updates and deletes on their own keys, and prints one
 * line per acknowledged write, after store_* returned:  A <c|u|d> <key> <revision> <hash>.
 * With --compact a thread also compacts continually (keeping the last 100 revisions), so kills
 * land inside compactions too. With --watchers N, N threads watch everything with a small
 * queue bound (so they are cut off and catch up again from the window) and check that they see
 * every revision exactly once, in order. The test kills it with SIGKILL at random moments.
 *
 * `k8c store stress-verify --data-dir DIR ACKS` checks every acknowledged write in the file
 * ACKS against the store: each one is there at its revision with its value (a deletion: the
 * key is absent at its revision), and no two acknowledged writes share a revision. A write
 * older than the compaction floor can only be checked against the key's newest state (it is
 * there with that revision or a later one, or the key was deleted later). Then the whole file
 * is checked (store_check). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"
#include "store/cli_internal.h"

struct stress_writer {
    struct store *s;
    int id;
    int keys;
    uint64_t rng;
    uint64_t deadline_ns;
};

static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

_Noreturn static void writer_fail(struct stress_writer *w, struct k8c_err *err)
{
    _cleanup_free_ char *text = k8c_err_text(err);
    fprintf(stderr, "k8c: store: stress: writer %d: %s\n", w->id, text);
    /* End at once: the crash test kills this process at a random moment and would otherwise
     * never learn that a writer stopped. */
    _exit(1);
}

static void *writer_main(void *arg)
{
    struct stress_writer *w = arg;
    _cleanup_free_ char *prefix = xasprintf("/stress/w%02d/", w->id);
    _cleanup_free_ int64_t *mod = xcalloc((size_t)w->keys, sizeof(int64_t));
    struct k8c_err *err = NULL;
    /* Learn what earlier runs left behind. */
    struct store_list l = {0};
    if (store_list(w->s, prefix, 0, NULL, 0, &l, &err) < 0)
        writer_fail(w, err);
    for (size_t i = 0; i < l.n_items; i++) {
        int j = atoi(l.items[i].key + strlen(prefix) + 1);
        if (j >= 0 && j < w->keys)
            mod[j] = l.items[i].mod_revision;
    }
    store_list_clear(&l);

    char value[2048];
    while (clock_mono_ns() < w->deadline_ns) {
        int j = (int)(rng_next(&w->rng) % (uint64_t)w->keys);
        char key[64];
        snprintf(key, sizeof(key), "%sk%04d", prefix, j);
        size_t len = 64 + rng_next(&w->rng) % (sizeof(value) - 64);
        uint64_t r = rng_next(&w->rng);
        for (size_t i = 0; i < len; i++)
            value[i] = (char)('a' + (r >> (i % 60)) % 26);
        int64_t rev;
        char op;
        if (mod[j] == 0) {
            op = 'c';
            rev = store_create(w->s, key, value, len, &err);
        } else if (rng_next(&w->rng) % 100 < 85) {
            op = 'u';
            rev = store_update(w->s, key, value, len, mod[j], &err);
        } else {
            op = 'd';
            rev = store_delete(w->s, key, mod[j], NULL, &err);
        }
        if (rev < 0)
            writer_fail(w, err);
        mod[j] = op == 'd' ? 0 : rev;
        /* One printf per line on a line-buffered stream: one write(2) per acknowledgement. */
        printf("A %c %s %" PRId64 " %016" PRIx64 "\n", op, key, rev,
               op == 'd' ? (uint64_t)0 : hash_bytes(value, len));
    }
    return NULL;
}

struct stress_compactor {
    struct store *s;
    uint64_t deadline_ns;
};

static void *compactor_main(void *arg)
{
    struct stress_compactor *c = arg;
    while (clock_mono_ns() < c->deadline_ns) {
        int64_t target = store_revision(c->s) - 100;
        if (target > store_compacted_revision(c->s)) {
            struct k8c_err *err = NULL;
            if (store_compact(c->s, target, &err) < 0) {
                _cleanup_free_ char *text = k8c_err_text(err);
                fprintf(stderr, "k8c: store: stress: compact: %s\n", text);
                _exit(1); /* as writer_fail */
            }
        }
        struct timespec pause = {0, 20 * 1000 * 1000}; /* pace, not synchronisation */
        nanosleep(&pause, NULL);
    }
    return NULL;
}

struct stress_watcher {
    struct store *s;
    int id;
    uint64_t deadline_ns;
};

_Noreturn static void watcher_fail(struct stress_watcher *w, const char *what, struct k8c_err *err)
{
    _cleanup_free_ char *text = err ? k8c_err_text(err) : xstrdup("");
    fprintf(stderr, "k8c: store: stress: watcher %d: %s%s\n", w->id, what, text);
    _exit(1); /* as writer_fail */
}

static void *watcher_main(void *arg)
{
    struct stress_watcher *w = arg;
    int64_t last = store_revision(w->s);
    int reopens = 0;
    struct k8c_err *err = NULL;
    struct store_watch *watch = store_watch_open(w->s, "/stress/", last, &err);
    if (watch == NULL)
        watcher_fail(w, "open: ", err);
    while (clock_mono_ns() < w->deadline_ns) {
        struct store_event *ev = NULL;
        int rc = store_watch_next(watch, 100, &ev, &err);
        if (rc == 0)
            continue;
        if (rc < 0) {
            if (err->reason != K8C_REASON_GONE)
                watcher_fail(w, "next: ", err);
            /* Cut off for being slow: watch again from the last revision seen, which the
             * window still holds. */
            k8c_err_free(err);
            err = NULL;
            store_watch_close(watch);
            reopens++;
            watch = store_watch_open(w->s, "/stress/", last, &err);
            if (watch == NULL)
                watcher_fail(w, "reopen: ", err);
            continue;
        }
        bool in_order = ev->revision == last + 1;
        last = ev->revision;
        store_event_unref(ev);
        if (!in_order)
            watcher_fail(w, "an event out of order", NULL);
        if (last % 499 == (int64_t)w->id) {
            /* Fall behind now and then, so the hub cuts this watcher off and it has to catch
             * up from the window. */
            struct timespec pause = {0, 30 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    store_watch_close(watch);
    printf("W %d %" PRId64 " %d\n", w->id, last, reopens);
    return NULL;
}

int store__cli_stress(const struct store_cli_flags *f)
{
    struct k8c_err *err = NULL;
    _cleanup_free_ char *path = store_path_from_data_dir(f->data_dir);
    _cleanup_free_ char *url = xasprintf("sqlite:%s", path);
    /* No compaction during a run: the verifier reads every acknowledged revision. */
    struct store_options opts = {.compact_interval_seconds = 1000000000u, .watch_max_pending = 64};
    struct store *s = store_open(url, &opts, &err);
    if (s == NULL)
        return store__cli_fail(err);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("R %" PRId64 "\n", store_revision(s));
    int n = (int)f->writers;
    struct stress_writer *ws = xcalloc((size_t)n, sizeof(*ws));
    pthread_t *threads = xcalloc((size_t)n, sizeof(*threads));
    uint64_t seed = clock_mono_ns() | 1;
    for (int i = 0; i < n; i++) {
        ws[i] = (struct stress_writer){.s = s,
                                       .id = i,
                                       .keys = (int)f->keys,
                                       .rng = seed + (uint64_t)i * 0x9E3779B97F4A7C15ULL,
                                       .deadline_ns =
                                           clock_mono_ns() + (uint64_t)f->seconds * 1000000000ULL};
        pthread_create(&threads[i], NULL, writer_main, &ws[i]);
    }
    struct stress_compactor comp = {
        .s = s, .deadline_ns = clock_mono_ns() + (uint64_t)f->seconds * 1000000000ULL};
    pthread_t comp_thread;
    if (f->compact)
        pthread_create(&comp_thread, NULL, compactor_main, &comp);
    int nw = (int)f->watchers;
    struct stress_watcher *watchers = xcalloc((size_t)nw + 1, sizeof(*watchers));
    pthread_t *watcher_threads = xcalloc((size_t)nw + 1, sizeof(*watcher_threads));
    for (int i = 0; i < nw; i++) {
        watchers[i] = (struct stress_watcher){
            .s = s, .id = i, .deadline_ns = clock_mono_ns() + (uint64_t)f->seconds * 1000000000ULL};
        pthread_create(&watcher_threads[i], NULL, watcher_main, &watchers[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < nw; i++)
        pthread_join(watcher_threads[i], NULL);
    free(watchers);
    free(watcher_threads);
    if (f->compact)
        pthread_join(comp_thread, NULL);
    store_close(s);
    free(ws);
    free(threads);
    return 0; /* every failure has ended the process already (writer_fail) */
}

struct ack {
    char op;
    char *key;
    int64_t rev;
    uint64_t hash;
};

static int cmp_rev(const void *a, const void *b)
{
    int64_t x = ((const struct ack *)a)->rev, y = ((const struct ack *)b)->rev;
    return (x > y) - (x < y);
}

/* A write below the compaction floor: the key's newest state must be that write or a later
 * one. A missing key is consistent only with a later delete, which cannot be told apart from
 * a lost write here; the writes at their own revisions were checked in earlier rounds. */
static int verify_compacted(struct store *s, const struct ack *a, struct k8c_err **err)
{
    struct store_kv kv = {0};
    if (store_get(s, a->key, &kv, err) < 0) {
        if ((*err)->reason != K8C_REASON_NOT_FOUND)
            return -1;
        k8c_err_free(*err);
        *err = NULL;
        return 0;
    }
    int ret = 0;
    if (kv.mod_revision < a->rev)
        ret = k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                          "`%s` is at revision %" PRId64 ", older than acknowledged %" PRId64,
                          a->key, kv.mod_revision, a->rev);
    else if (kv.mod_revision == a->rev && hash_bytes(kv.value, kv.value_len) != a->hash)
        ret = k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                          "`%s` at revision %" PRId64 " has another value than acknowledged",
                          a->key, a->rev);
    store_kv_clear(&kv);
    return ret;
}

static int verify_one(struct store *s, const struct ack *a, struct k8c_err **err)
{
    if (a->rev < store_compacted_revision(s))
        return verify_compacted(s, a, err);
    struct store_list l = {0};
    if (store_list(s, a->key, a->rev, a->key, 1, &l, err) < 0)
        return k8c_err_wrap(err, "list `%s` at revision %" PRId64, a->key, a->rev);
    bool present = l.n_items == 1 && strcmp(l.items[0].key, a->key) == 0;
    int ret = 0;
    if (a->op == 'd') {
        if (present)
            ret = k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                              "acknowledged delete of `%s` at revision %" PRId64
                              " is not there: the key exists at that revision",
                              a->key, a->rev);
    } else if (!present) {
        ret = k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                          "acknowledged write of `%s` at revision %" PRId64 " is lost", a->key,
                          a->rev);
    } else if (l.items[0].mod_revision != a->rev) {
        ret = k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                          "`%s` at revision %" PRId64 " has mod_revision %" PRId64, a->key, a->rev,
                          l.items[0].mod_revision);
    } else if (hash_bytes(l.items[0].value, l.items[0].value_len) != a->hash) {
        ret = k8c_err_set(err, 0, K8C_REASON_INTERNAL,
                          "`%s` at revision %" PRId64 " has another value than acknowledged",
                          a->key, a->rev);
    }
    store_list_clear(&l);
    return ret;
}

int store__cli_stress_verify(const struct store_cli_flags *f)
{
    if (f->n_args != 1)
        return store__cli_usage("stress-verify wants the file of acknowledgements");
    _cleanup_fclose_ FILE *in = fopen(f->args[0], "re");
    if (in == NULL) {
        fprintf(stderr, "k8c: store: stress-verify: cannot open `%s`: %s\n", f->args[0],
                strerror(errno));
        return 1;
    }
    struct ack *acks = NULL;
    size_t n = 0, cap = 0;
    _cleanup_free_ char *line = NULL;
    size_t line_cap = 0;
    int ret = 0;
    while (getline(&line, &line_cap, in) > 0) {
        char op, key[256];
        int64_t rev;
        uint64_t hash;
        if (sscanf(line, "A %c %255s %" SCNd64 " %" SCNx64, &op, key, &rev, &hash) != 4)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            acks = xrealloc(acks, cap * sizeof(*acks));
        }
        acks[n++] = (struct ack){op, xstrdup(key), rev, hash};
    }
    struct k8c_err *err = NULL;
    _cleanup_free_ char *report = NULL; /* declared before the goto below jumps past it */
    struct store *s = store__cli_open(f, true, &err);
    if (s == NULL) {
        ret = store__cli_fail(err);
        goto out;
    }
    qsort(acks, n, sizeof(*acks), cmp_rev);
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (i > 0 && acks[i].rev == acks[i - 1].rev) {
            fprintf(stderr, "k8c: store: stress-verify: revision %" PRId64 " acknowledged twice\n",
                    acks[i].rev);
            ret = 1;
        } else if (verify_one(s, &acks[i], &err) < 0) {
            ret = store__cli_fail(err);
        }
    }
    int64_t current = store_revision(s);
    if (ret == 0 && n > 0 && current < acks[n - 1].rev) {
        fprintf(stderr,
                "k8c: store: stress-verify: store revision %" PRId64
                " is older than acknowledged revision %" PRId64 "\n",
                current, acks[n - 1].rev);
        ret = 1;
    }
    if (ret == 0 && store_check(s, &report, &err) < 0)
        ret = store__cli_fail(err);
    store_close(s);
    if (ret == 0)
        printf("verified %zu acknowledged writes; store revision %" PRId64 "\n", n, current);
out:
    for (size_t i = 0; i < n; i++)
        free(acks[i].key);
    free(acks);
    return ret;
}

/* The store's public entry points: parse the URL and choose a backend once, validate every
 * argument, then dispatch through the backend's driver. Also the backend-neutral parts: the
 * watch hub wrappers and the periodic compactor (the role of kube-apiserver's compactor,
 * which compacts etcd to the revision it saw one interval earlier). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "store/internal.h"

char *store_path_from_data_dir(const char *data_dir)
{
    return xasprintf("%s/db/state.db", data_dir);
}

void store_kv_clear(struct store_kv *kv)
{
    if (kv == NULL)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

void store_list_clear(struct store_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n_items; i++)
        store_kv_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

char *store__prefix_end(const char *prefix)
{
    K8C_ASSERT(prefix[0] == '/');
    char *end = xstrdup(prefix);
    size_t n = strlen(end);
    while (n > 0 && (unsigned char)end[n - 1] == 0xff)
        end[--n] = '\0';
    K8C_ASSERT(n > 0);
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    return end;
}

/* ---- validation ---- */

static int check_key(const char *key, struct k8c_err **err)
{
    if (key == NULL || key[0] != '/')
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "key `%s` must start with `/`",
                           key ? key : "(null)");
    if (strlen(key) > STORE_MAX_KEY_LEN)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "key `%.64s…` is longer than %d bytes", key,
                           STORE_MAX_KEY_LEN);
    return 0;
}

static int check_prefix(const char *prefix, struct k8c_err **err)
{
    if (prefix[0] != '\0' && prefix[0] != '/')
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "prefix `%s` must start with `/`", prefix);
    if (strlen(prefix) > STORE_MAX_KEY_LEN)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "prefix is longer than %d bytes",
                           STORE_MAX_KEY_LEN);
    return 0;
}

static int check_write(struct store *s, const char *key, const void *value, size_t value_len,
                       int64_t expected, struct k8c_err **err)
{
    if (s->opts.read_only)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "store `%s` is open read-only", s->url);
    if (check_key(key, err) < 0)
        return -1;
    if (value == NULL && value_len > 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "value of `%s` is NULL", key);
    if (value_len > STORE_MAX_VALUE_LEN)
        return k8c_err_set(err, 0, K8C_REASON_TOO_LARGE,
                           "value of `%s` is %zu bytes, more than the limit of %d", key, value_len,
                           STORE_MAX_VALUE_LEN);
    if (expected < 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "expected mod_revision %lld is negative",
                           (long long)expected);
    return 0;
}

/* ---- the periodic compactor ---- */

static void *compactor_main(void *arg)
{
    struct store *s = arg;
    int64_t seen = atomic_load(&s->revision);
    pthread_mutex_lock(&s->compactor_lock);
    for (;;) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += s->opts.compact_interval_seconds;
        while (!s->closing && pthread_cond_timedwait(&s->compactor_wake, &s->compactor_lock,
                                                     &deadline) != ETIMEDOUT) {
        }
        if (s->closing)
            break;
        pthread_mutex_unlock(&s->compactor_lock);
        /* Keep one interval of history: compact to the revision seen one interval ago. */
        if (seen > atomic_load(&s->compacted)) {
            _cleanup_err_ struct k8c_err *err = NULL;
            if (s->driver->compact(s, seen, &err) < 0) {
                /* The next tick tries again; reads and writes are unaffected. */
                _cleanup_free_ char *text = k8c_err_text(err);
                LOG_WARN("store compaction failed revision=%lld error=\"%s\"", (long long)seen,
                         text);
            }
        }
        seen = atomic_load(&s->revision);
        pthread_mutex_lock(&s->compactor_lock);
    }
    pthread_mutex_unlock(&s->compactor_lock);
    return NULL;
}

/* ---- open and close ---- */

struct store *store_open(const char *url, const struct store_options *opts, struct k8c_err **err)
{
    if (url == NULL || url[0] == '\0') {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "store url is empty");
        return NULL;
    }
    /* The drivers, by URL scheme; a URL without a scheme is a SQLite file path. A driver
     * that is NULL is one the design names but this version does not have yet. */
    static const struct {
        const char *scheme;
        const struct store_driver *driver;
    } schemes[] = {
        {"sqlite://", &store__sqlite_driver},
        {"sqlite:", &store__sqlite_driver},
        {"etcd://", &store__etcd_driver},
    };
    const struct store_driver *driver = NULL;
    const char *location = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(schemes) && location == NULL; i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(url, schemes[i].scheme, n) == 0) {
            driver = schemes[i].driver;
            location = url + n;
        }
    }
    if (location == NULL) {
        if (strstr(url, "://") != NULL) {
            k8c_err_set(err, 0, K8C_REASON_INVALID,
                        "store `%s`: unknown scheme (want sqlite:PATH or etcd://HOST:PORT)", url);
            return NULL;
        }
        driver = &store__sqlite_driver;
        location = url;
    }
    if (driver == NULL) {
        k8c_err_set(err, 0, K8C_REASON_INVALID,
                    "store `%s`: the etcd backend is not supported yet in this version (use "
                    "sqlite:PATH)",
                    url);
        return NULL;
    }
    if (location[0] == '\0') {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "store `%s`: the location is empty", url);
        return NULL;
    }

    struct store *s = xcalloc(1, sizeof(*s));
    if (opts)
        s->opts = *opts;
    if (s->opts.watch_window_events == 0)
        s->opts.watch_window_events =
            driver->history ? STORE_HISTORY_WINDOW_EVENTS : STORE_DEFAULT_WINDOW_EVENTS;
    if (s->opts.watch_window_bytes == 0)
        s->opts.watch_window_bytes =
            driver->history ? STORE_HISTORY_WINDOW_BYTES : STORE_DEFAULT_WINDOW_BYTES;
    if (s->opts.watch_max_pending == 0)
        s->opts.watch_max_pending = STORE_DEFAULT_MAX_PENDING;
    if (s->opts.compact_interval_seconds == 0)
        s->opts.compact_interval_seconds = STORE_DEFAULT_COMPACT_SECONDS;
    s->url = xstrdup(url);
    s->driver = driver;
    pthread_mutex_init(&s->compactor_lock, NULL);
    clock_cond_init_mono(&s->compactor_wake);
    if (driver->open(s, location, err) < 0) {
        pthread_cond_destroy(&s->compactor_wake);
        pthread_mutex_destroy(&s->compactor_lock);
        free(s->url);
        free(s);
        return NULL;
    }
    /* The hub's window starts at the revision found on disk: events from before this open are
     * not in memory, so a watch from an older revision replays from the backend's history
     * or, without one, is GONE and the client re-lists (as after an etcd compaction). Nothing
     * can commit before store_open returns. */
    s->hub = store__hub_new(atomic_load(&s->revision), s->opts.watch_window_events,
                            s->opts.watch_window_bytes, s->opts.watch_max_pending);
    if (driver->history)
        store__hub_set_history(s->hub, s);
    if (driver->start)
        driver->start(s);
    if (!s->opts.read_only) {
        int r = pthread_create(&s->compactor, NULL, compactor_main, s);
        if (r != 0)
            k8c_panic(__FILE__, __LINE__, "cannot start the store compactor: %s", strerror(r));
        s->compactor_running = true;
    }
    return s;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->compactor_running) {
        pthread_mutex_lock(&s->compactor_lock);
        s->closing = true;
        pthread_cond_signal(&s->compactor_wake);
        pthread_mutex_unlock(&s->compactor_lock);
        pthread_join(s->compactor, NULL);
    }
    store__hub_detach_history(s->hub);
    s->driver->close(s);
    store__hub_close(s->hub);
    pthread_cond_destroy(&s->compactor_wake);
    pthread_mutex_destroy(&s->compactor_lock);
    free(s->url);
    free(s);
}

/* ---- reads and writes ---- */

_Thread_local uint64_t store__thread_deadline_ns;

void store_set_thread_deadline(uint64_t deadline_ns)
{
    store__thread_deadline_ns = deadline_ns;
}

int64_t store_revision(struct store *s)
{
    return atomic_load(&s->revision);
}

int64_t store_compacted_revision(struct store *s)
{
    return atomic_load(&s->compacted);
}

int store_get(struct store *s, const char *key, struct store_kv *out, struct k8c_err **err)
{
    memset(out, 0, sizeof(*out));
    if (check_key(key, err) < 0)
        return -1;
    return s->driver->get(s, key, out, err);
}

int store_list(struct store *s, const char *prefix, int64_t revision, const char *start_key,
               size_t limit, struct store_list *out, struct k8c_err **err)
{
    memset(out, 0, sizeof(*out));
    if (prefix == NULL)
        prefix = "";
    if (check_prefix(prefix, err) < 0)
        return -1;
    if (revision < 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "revision %lld is negative",
                           (long long)revision);
    if (start_key && start_key[0] == '\0')
        start_key = NULL;
    if (start_key && strlen(start_key) > STORE_MAX_KEY_LEN)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "start key is longer than %d bytes",
                           STORE_MAX_KEY_LEN);
    return s->driver->list(s, prefix, revision, start_key, limit, out, err);
}

int64_t store_create(struct store *s, const char *key, const void *value, size_t value_len,
                     struct k8c_err **err)
{
    if (check_write(s, key, value, value_len, 0, err) < 0)
        return -1;
    return s->driver->create(s, key, value, value_len, err);
}

int64_t store_update(struct store *s, const char *key, const void *value, size_t value_len,
                     int64_t expected_mod_revision, struct k8c_err **err)
{
    if (check_write(s, key, value, value_len, expected_mod_revision, err) < 0)
        return -1;
    return s->driver->update(s, key, value, value_len, expected_mod_revision, err);
}

int64_t store_delete(struct store *s, const char *key, int64_t expected_mod_revision,
                     struct store_kv *prev, struct k8c_err **err)
{
    if (prev)
        memset(prev, 0, sizeof(*prev));
    if (check_write(s, key, "", 0, expected_mod_revision, err) < 0)
        return -1;
    return s->driver->del(s, key, expected_mod_revision, prev, err);
}

int store_compact(struct store *s, int64_t revision, struct k8c_err **err)
{
    if (s->opts.read_only)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "store `%s` is open read-only", s->url);
    int64_t current = atomic_load(&s->revision);
    if (revision <= 0 || revision > current)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "cannot compact at revision %lld: it must be between 1 and the current "
                           "revision %lld",
                           (long long)revision, (long long)current);
    if (revision <= atomic_load(&s->compacted))
        return 0; /* already compacted at or past it: nothing to forget */
    return s->driver->compact(s, revision, err);
}

int store_check(struct store *s, char **report, struct k8c_err **err)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    *report = NULL;
    if (s->driver->check(s, &b, err) < 0)
        return -1;
    *report = buf_steal(&b);
    return 0;
}

/* ---- watch ---- */

struct store_watch *store_watch_open(struct store *s, const char *prefix, int64_t after_revision,
                                     struct k8c_err **err)
{
    if (prefix == NULL)
        prefix = "";
    if (check_prefix(prefix, err) < 0)
        return NULL;
    if (after_revision < 0) {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "revision %lld is negative",
                    (long long)after_revision);
        return NULL;
    }
    return store__hub_watch_open(s->hub, prefix, after_revision, err);
}

int store_watch_next(struct store_watch *w, int timeout_ms, struct store_event **ev,
                     struct k8c_err **err)
{
    return store__hub_watch_next(w, timeout_ms, ev, err);
}

int store_watch_fd(struct store_watch *w)
{
    return store__hub_watch_fd(w);
}

void store_watch_close(struct store_watch *w)
{
    store__hub_watch_close(w);
}

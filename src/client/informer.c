/* Informer (see informer.h): the list-and-watch loop on its own thread. */
#include "client/informer.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#define DEFAULT_WATCH_TIMEOUT_S 300
#define DEFAULT_PAGE_SIZE 500
/* Between failed attempts; bounded so a restarted API server is found again quickly. */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000

struct informer {
    struct client *client;
    char *path, *label_selector, *field_selector;
    struct informer_handlers handlers;
    unsigned watch_timeout_s, page_size;
    void (*transform)(json_t *obj);

    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards cache, rv, synced, list_count */
    pthread_cond_t cond;  /* synced and stop changes */
    json_t *cache;        /* key -> object */
    char *rv;
    bool synced;
    unsigned list_count;
};

char *informer_key_of(const json_t *obj)
{
    const char *name = kjson_path_str(obj, "metadata.name");
    const char *ns = kjson_path_str(obj, "metadata.namespace");
    if (name == NULL)
        return NULL;
    return ns && *ns ? xasprintf("%s/%s", ns, name) : xstrdup(name);
}

struct informer *informer_new(struct client *c, const struct informer_options *opts)
{
    struct informer *inf = xcalloc(1, sizeof(*inf));
    inf->client = c;
    inf->path = xstrdup(opts->path);
    inf->label_selector = opts->label_selector ? xstrdup(opts->label_selector) : NULL;
    inf->field_selector = opts->field_selector ? xstrdup(opts->field_selector) : NULL;
    inf->handlers = opts->handlers;
    inf->watch_timeout_s =
        opts->watch_timeout_seconds ? opts->watch_timeout_seconds : DEFAULT_WATCH_TIMEOUT_S;
    inf->page_size = opts->page_size ? opts->page_size : DEFAULT_PAGE_SIZE;
    inf->transform = opts->transform;
    atomic_init(&inf->stop, false);
    pthread_mutex_init(&inf->lock, NULL);
    clock_cond_init_mono(&inf->cond);
    inf->cache = json_object();
    inf->rv = xstrdup("");
    return inf;
}

/* Appends "&name=<escaped value>" for each set selector. */
static void append_selectors(struct informer *inf, struct buf *url)
{
    const char *names[] = {"labelSelector", "fieldSelector"};
    const char *values[] = {inf->label_selector, inf->field_selector};
    for (size_t i = 0; i < 2; i++) {
        if (values[i] == NULL || *values[i] == '\0')
            continue;
        char *esc = curl_easy_escape(NULL, values[i], 0);
        buf_appendf(url, "&%s=%s", names[i], esc);
        curl_free(esc);
    }
}

/* Sleeps up to ms, waking early when the informer is stopped. */
static void pause_unless_stopped(struct informer *inf, unsigned ms)
{
    uint64_t at = clock_mono_ns() + (uint64_t)ms * 1000000u;
    struct timespec ts = clock_mono_timespec(at);
    pthread_mutex_lock(&inf->lock);
    while (!atomic_load(&inf->stop) && clock_mono_ns() < at)
        if (pthread_cond_timedwait(&inf->cond, &inf->lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&inf->lock);
}

void informer_strip_managed_fields(json_t *obj)
{
    json_object_del(json_object_get(obj, "metadata"), "managedFields");
}

/* What the informer keeps of an object it caches (in place: the object is ours). */
static void transform(const struct informer *inf, json_t *obj)
{
    if (inf->transform)
        inf->transform(obj);
}

/* Lists every page; returns the new key -> object map and sets *rv. */
static json_t *list_all(struct informer *inf, char **rv, struct k8c_err **err)
{
    json_t *items = json_object();
    _cleanup_free_ char *cont = NULL;
    for (;;) {
        _cleanup_buf_ struct buf url = BUF_INIT;
        buf_appendf(&url, "%s?limit=%u", inf->path, inf->page_size);
        append_selectors(inf, &url);
        if (cont != NULL) {
            char *esc = curl_easy_escape(NULL, cont, 0);
            buf_appendf(&url, "&continue=%s", esc);
            curl_free(esc);
        }
        _cleanup_json_ json_t *list = client_get(inf->client, url.data, err);
        if (list == NULL) {
            json_decref(items);
            return NULL;
        }
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(list, "items"), i, item) {
            _cleanup_free_ char *key = informer_key_of(item);
            transform(inf, item);
            if (key != NULL)
                json_object_set(items, key, item);
        }
        free(cont);
        cont = NULL;
        const char *next = kjson_path_str(list, "metadata.continue");
        if (next == NULL || *next == '\0') {
            const char *list_rv = kjson_path_str(list, "metadata.resourceVersion");
            *rv = xstrdup(list_rv ? list_rv : "");
            return items;
        }
        cont = xstrdup(next);
    }
}

/* Replaces the cache with a fresh list and tells the handlers what changed. */
static void replace_cache(struct informer *inf, json_t *fresh, char *rv)
{
    pthread_mutex_lock(&inf->lock);
    json_t *old = inf->cache;
    inf->cache = json_incref(fresh);
    free(inf->rv);
    inf->rv = rv;
    inf->list_count++;
    pthread_mutex_unlock(&inf->lock);

    const struct informer_handlers *h = &inf->handlers;
    const char *key;
    json_t *obj;
    json_object_foreach (fresh, key, obj) {
        json_t *before = json_object_get(old, key);
        if (before == NULL) {
            if (h->on_add)
                h->on_add(obj, h->opaque);
        } else if (h->on_update) {
            const char *a = kjson_path_str(before, "metadata.resourceVersion");
            const char *b = kjson_path_str(obj, "metadata.resourceVersion");
            if (a == NULL || b == NULL || strcmp(a, b) != 0)
                h->on_update(before, obj, h->opaque);
        }
    }
    json_object_foreach (old, key, obj) {
        if (json_object_get(fresh, key) == NULL && h->on_delete)
            h->on_delete(obj, h->opaque);
    }
    json_decref(old);
    /* Synced only once the handlers have seen the list: a scheduler that waited for the
     * node informer could otherwise run a cycle before its node cache held any node ("no
     * nodes available to schedule pods"). */
    pthread_mutex_lock(&inf->lock);
    inf->synced = true;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
}

struct watch_ctx {
    struct informer *inf;
    unsigned events;
    bool gone; /* the server said the revision is too old: re-list */
};

static void set_rv(struct informer *inf, const json_t *obj)
{
    const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
    if (rv == NULL)
        return;
    pthread_mutex_lock(&inf->lock);
    free(inf->rv);
    inf->rv = xstrdup(rv);
    pthread_mutex_unlock(&inf->lock);
}

static int on_event(const char *type, json_t *obj, void *opaque)
{
    struct watch_ctx *ctx = opaque;
    struct informer *inf = ctx->inf;
    const struct informer_handlers *h = &inf->handlers;
    ctx->events++;
    if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(inf, obj);
        return 0;
    }
    if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        ctx->gone = code == 410;
        LOG_DEBUG("informer watch error path=%s code=%lld", inf->path, (long long)code);
        return 1;
    }
    _cleanup_free_ char *key = informer_key_of(obj);
    if (key == NULL)
        return 0;
    transform(inf, obj);
    pthread_mutex_lock(&inf->lock);
    json_t *old = json_incref(json_object_get(inf->cache, key));
    if (strcmp(type, "DELETED") == 0)
        json_object_del(inf->cache, key);
    else
        json_object_set(inf->cache, key, obj);
    free(inf->rv);
    const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
    inf->rv = xstrdup(rv ? rv : "");
    pthread_mutex_unlock(&inf->lock);

    if (strcmp(type, "DELETED") == 0) {
        if (h->on_delete)
            h->on_delete(old ? old : obj, h->opaque);
    } else if (old == NULL) {
        if (h->on_add)
            h->on_add(obj, h->opaque);
    } else if (h->on_update) {
        h->on_update(old, obj, h->opaque);
    }
    json_decref(old);
    return 0;
}

static void *informer_main(void *opaque)
{
    struct informer *inf = opaque;
    unsigned retry_ms = RETRY_MIN_MS;
    bool need_list = true;
    while (!atomic_load(&inf->stop)) {
        _cleanup_err_ struct k8c_err *err = NULL;
        if (need_list) {
            char *rv = NULL;
            _cleanup_json_ json_t *fresh = list_all(inf, &rv, &err);
            if (fresh == NULL) {
                LOG_DEBUG("informer list failed path=%s err=%s", inf->path, err->msg);
                pause_unless_stopped(inf, retry_ms);
                retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
                continue;
            }
            replace_cache(inf, fresh, rv);
            need_list = false;
        }
        _cleanup_free_ char *rv = informer_resource_version(inf);
        _cleanup_buf_ struct buf url = BUF_INIT;
        buf_appendf(&url, "%s?watch=true&allowWatchBookmarks=true&timeoutSeconds=%u", inf->path,
                    inf->watch_timeout_s);
        if (*rv)
            buf_appendf(&url, "&resourceVersion=%s", rv);
        append_selectors(inf, &url);
        struct watch_ctx ctx = {.inf = inf};
        uint64_t started = clock_mono_ns();
        int rc = client_watch(inf->client, url.data, on_event, &ctx, &inf->stop, &err);
        if (atomic_load(&inf->stop))
            break;
        /* A watch that ends normally is simply resumed from the last revision seen; any
         * error (410 Gone included) re-lists. */
        if (rc != 0 && !ctx.gone && (err == NULL || err->reason != K8C_REASON_GONE))
            LOG_DEBUG("informer watch failed path=%s err=%s", inf->path,
                      err ? err->msg : "error event");
        need_list = rc != 0;
        /* A server that ends or refuses every watch at once must not make this a busy
         * loop: back off while watches produce nothing. */
        if (ctx.events == 0 && clock_mono_ns() - started < 1000000000u) {
            pause_unless_stopped(inf, retry_ms);
            retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
        } else {
            retry_ms = RETRY_MIN_MS;
        }
    }
    return NULL;
}

int informer_start(struct informer *inf, struct k8c_err **err)
{
    int rc = pthread_create(&inf->thread, NULL, informer_main, inf);
    if (rc != 0)
        return k8c_err_set(err, rc, K8C_REASON_INTERNAL, "start informer for %s", inf->path);
    inf->started = true;
    return 0;
}

bool informer_wait_synced(struct informer *inf, int timeout_ms)
{
    uint64_t at = clock_mono_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
    struct timespec ts = clock_mono_timespec(at);
    pthread_mutex_lock(&inf->lock);
    while (!inf->synced) {
        if (timeout_ms < 0)
            pthread_cond_wait(&inf->cond, &inf->lock);
        else if (pthread_cond_timedwait(&inf->cond, &inf->lock, &ts) != 0)
            break;
    }
    bool synced = inf->synced;
    pthread_mutex_unlock(&inf->lock);
    return synced;
}

void informer_stop(struct informer *inf)
{
    if (inf == NULL)
        return;
    pthread_mutex_lock(&inf->lock);
    atomic_store(&inf->stop, true);
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
}

void informer_free(struct informer *inf)
{
    if (inf == NULL)
        return;
    informer_stop(inf);
    if (inf->started)
        pthread_join(inf->thread, NULL);
    json_decref(inf->cache);
    pthread_cond_destroy(&inf->cond);
    pthread_mutex_destroy(&inf->lock);
    free(inf->path);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf->rv);
    free(inf);
}

json_t *informer_get(struct informer *inf, const char *key)
{
    pthread_mutex_lock(&inf->lock);
    json_t *obj = json_incref(json_object_get(inf->cache, key));
    pthread_mutex_unlock(&inf->lock);
    return obj;
}

json_t *informer_list(struct informer *inf)
{
    json_t *out = json_array();
    pthread_mutex_lock(&inf->lock);
    const char *key;
    json_t *obj;
    json_object_foreach (inf->cache, key, obj) {
        json_array_append(out, obj);
    }
    pthread_mutex_unlock(&inf->lock);
    return out;
}

char *informer_resource_version(struct informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    char *rv = xstrdup(inf->rv);
    pthread_mutex_unlock(&inf->lock);
    return rv;
}

unsigned informer_list_count(struct informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    unsigned n = inf->list_count;
    pthread_mutex_unlock(&inf->lock);
    return n;
}

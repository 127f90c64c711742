/* WATCH: a stream of {"type","object"} lines from the store's watch, filtered by label and
 * field selectors (an object moving out of the selection is a DELETED, into it an ADDED),
 * with synthetic ADDED events for resourceVersion unset/0, bookmarks, timeoutSeconds, and
 * 410 Expired as an ERROR event when the revision is compacted. Each stream is read by the
 * connection's own thread, which blocks here until there is something to send. */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/selector.h"
#include "api/status.h"
#include "api/table.h"
#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

#define BOOKMARK_EVERY_NS (60ull * 1000 * 1000 * 1000)
#define POLL_SLICE_MS 1000

struct apiserver_watch {
    struct apiserver_core *core;
    const struct api_kind *k;
    struct store_watch *sw;
    struct api_label_selector *ls;
    struct api_field_selector *fs;
    bool table;
    bool include_object;
    bool bookmarks;
    bool nonblocking; /* in-process: end when nothing is pending */
    uint64_t deadline_ns;
    uint64_t next_bookmark_ns;
    json_t *initial; /* objects still to send as ADDED */
    size_t initial_pos;
    json_t *error; /* a Status to send as ERROR, then end */
    struct buf pending;
    size_t off;
    int64_t last_rv;
    int conn_fd;
    bool done;
};

void apiserver__watch_free(struct apiserver_watch *w)
{
    if (!w)
        return;
    if (w->sw)
        store_watch_close(w->sw);
    api_label_selector_free(w->ls);
    api_field_selector_free(w->fs);
    json_decref(w->initial);
    json_decref(w->error);
    buf_free(&w->pending);
    atomic_fetch_sub(&w->core->watches, 1);
    free(w);
}

static bool selected(const struct apiserver_watch *w, const json_t *obj)
{
    if (!obj)
        return false;
    if (w->ls && !api_label_selector_match(w->ls, kjson_path(obj, "metadata.labels")))
        return false;
    if (w->fs && !api_field_selector_match(w->fs, obj))
        return false;
    return true;
}

static void emit(struct apiserver_watch *w, const char *type, json_t *obj)
{
    buf_append_str(&w->pending, "{\"type\":\"");
    buf_append_str(&w->pending, type);
    buf_append_str(&w->pending, "\",\"object\":");
    if (w->table && strcmp(type, "ERROR") != 0 && strcmp(type, "BOOKMARK") != 0) {
        const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
        _cleanup_json_ json_t *items = json_pack("[O]", obj);
        _cleanup_json_ json_t *t = api_table_build(w->k, items, rv ? rv : "", w->include_object);
        kjson_dump(t, &w->pending);
    } else {
        kjson_dump(obj, &w->pending);
    }
    buf_append_str(&w->pending, "}\n");
}

static void emit_bookmark(struct apiserver_watch *w)
{
    char rv[24];
    snprintf(rv, sizeof(rv), "%lld", (long long)w->last_rv);
    _cleanup_json_ json_t *b = json_pack("{s:s, s:s, s:{s:s}}", "kind", w->k->kind, "apiVersion",
                                         w->k->api_version, "metadata", "resourceVersion", rv);
    emit(w, "BOOKMARK", b);
}

/* ---- encoded events shared by watchers ----
 * A revision is one write, so (revision, kind) names one object. Each is encoded once and
 * its text copied to every watcher that sends it as is; watchers with selectors share one
 * decoded (read-only) object too, so that a write costs one decode and one encode whatever
 * the number of watchers. */
#define EVENT_CACHE 1024
/* Decoded objects are kept for the last few revisions only: watchers read an event at about
 * the same time, and a decoded pod costs several times its text. */
#define OBJECT_CACHE 64
struct apiserver_event_cache {
    pthread_mutex_t lock;
    struct {
        int64_t rev;
        const struct api_kind *k;
        char *text;
        size_t len;
    } slots[EVENT_CACHE];
    struct {
        int64_t rev;
        const struct api_kind *k;
        json_t *obj; /* shared, never modified */
    } objs[OBJECT_CACHE];
};

struct apiserver_event_cache *apiserver__event_cache_new(void)
{
    struct apiserver_event_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void apiserver__event_cache_free(struct apiserver_event_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < EVENT_CACHE; i++)
        free(c->slots[i].text);
    for (size_t i = 0; i < OBJECT_CACHE; i++)
        json_decref(c->objs[i].obj);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static bool converts(const struct api_kind *k)
{
    /* Events are stored as core/v1 and converted on the way out. */
    return strcmp(k->kind, "Event") == 0;
}

/* Appends the object stored as value at rev (as kind k) encoded as JSON to out. Returns false
 * when the stored value is not JSON. */
static bool append_event_object(struct apiserver_event_cache *cache, const struct api_kind *k,
                                int64_t rev, const char *value, size_t value_len, struct buf *out)
{
    size_t i = (size_t)rev % EVENT_CACHE;
    pthread_mutex_lock(&cache->lock);
    if (cache->slots[i].text && cache->slots[i].rev == rev && cache->slots[i].k == k) {
        buf_append(out, cache->slots[i].text, cache->slots[i].len);
        pthread_mutex_unlock(&cache->lock);
        return true;
    }
    pthread_mutex_unlock(&cache->lock);
    struct buf b = BUF_INIT;
    if (converts(k) || !apiserver__json_with_rv(value, value_len, rev, &b)) {
        buf_reset(&b);
        _cleanup_err_ struct k8c_err *e = NULL;
        _cleanup_json_ json_t *obj = apiserver__object_decode_stored(k, value, value_len, rev, &e);
        if (!obj) {
            buf_free(&b);
            return false;
        }
        kjson_dump(obj, &b);
    }
    buf_append(out, b.data, b.len);
    pthread_mutex_lock(&cache->lock);
    if (!(cache->slots[i].text && cache->slots[i].rev == rev && cache->slots[i].k == k)) {
        free(cache->slots[i].text);
        cache->slots[i].rev = rev;
        cache->slots[i].k = k;
        cache->slots[i].len = b.len;
        cache->slots[i].text = buf_steal(&b);
    }
    pthread_mutex_unlock(&cache->lock);
    buf_free(&b);
    return true;
}

/* The object stored as value at rev, decoded (a shared reference: read it, never change it;
 * the caller drops its reference), or NULL when it is not JSON. */
static json_t *event_object(struct apiserver_event_cache *cache, const struct api_kind *k,
                            int64_t rev, const char *value, size_t value_len)
{
    size_t i = (size_t)rev % OBJECT_CACHE;
    pthread_mutex_lock(&cache->lock);
    if (rev > 0 && cache->objs[i].obj && cache->objs[i].rev == rev && cache->objs[i].k == k) {
        json_t *o = json_incref(cache->objs[i].obj);
        pthread_mutex_unlock(&cache->lock);
        return o;
    }
    pthread_mutex_unlock(&cache->lock);
    json_t *obj = apiserver__object_decode_stored(k, value, value_len, rev, NULL);
    if (!obj || rev <= 0)
        return obj;
    pthread_mutex_lock(&cache->lock);
    json_t *old = cache->objs[i].obj;
    cache->objs[i].rev = rev;
    cache->objs[i].k = k;
    cache->objs[i].obj = json_incref(obj);
    pthread_mutex_unlock(&cache->lock);
    json_decref(old);
    return obj;
}

static void emit_event(struct apiserver_watch *w, const char *type, json_t *obj,
                       const struct store_event *ev)
{
    if (w->table) {
        emit(w, type, obj);
        return;
    }
    size_t mark = w->pending.len;
    buf_append_str(&w->pending, "{\"type\":\"");
    buf_append_str(&w->pending, type);
    buf_append_str(&w->pending, "\",\"object\":");
    if (append_event_object(w->core->events, w->k, ev->revision, ev->value, ev->value_len,
                            &w->pending))
        buf_append_str(&w->pending, "}\n");
    else
        w->pending.len = mark;
    if (w->pending.data)
        w->pending.data[w->pending.len] = '\0';
}

/* Turns one store event into zero or one watch event. */
static void on_event(struct apiserver_watch *w, const struct store_event *ev)
{
    w->last_rv = ev->revision;
    struct apiserver_event_cache *c = w->core->events;
    if (!w->ls && !w->fs && !w->table) {
        static const char *const names[] = {"", "ADDED", "MODIFIED", "DELETED"};
        emit_event(w, names[ev->type], NULL, ev);
        return;
    }
    _cleanup_json_ json_t *cur = event_object(c, w->k, ev->revision, ev->value, ev->value_len);
    if (!cur)
        return;
    if (ev->type == STORE_EVENT_DELETED) {
        if (selected(w, cur))
            emit_event(w, "DELETED", cur, ev);
        return;
    }
    bool now = selected(w, cur);
    if (ev->type == STORE_EVENT_ADDED || !ev->prev_value) {
        if (now)
            emit_event(w, "ADDED", cur, ev);
        return;
    }
    bool before = true;
    if (w->ls || w->fs) {
        _cleanup_json_ json_t *prev =
            ev->prev_revision > 0
                ? event_object(c, w->k, ev->prev_revision, ev->prev_value, ev->prev_value_len)
                : apiserver__object_decode_stored(w->k, ev->prev_value, ev->prev_value_len,
                                                  ev->revision, NULL);
        before = selected(w, prev);
    }
    if (now && before)
        emit_event(w, "MODIFIED", cur, ev);
    else if (now)
        emit_event(w, "ADDED", cur, ev);
    else if (before)
        emit_event(w, "DELETED", cur, ev);
}

static void on_error(struct apiserver_watch *w, const struct k8c_err *e)
{
    if (e->reason == K8C_REASON_GONE) {
        w->error = api_status_expired(w->last_rv, store_compacted_revision(w->core->store));
    } else {
        w->error = api_status_from_err(e, NULL, NULL);
    }
}

/* Whether the peer hung up (only the hang-up is polled: reading would disturb TLS). */
static bool peer_gone(int fd, int timeout_ms, int watch_fd, bool *readable)
{
    struct pollfd p[2];
    nfds_t n = 0;
    int wi = -1, ci = -1;
    if (watch_fd >= 0) {
        p[n].fd = watch_fd;
        p[n].events = POLLIN;
        p[n].revents = 0;
        wi = (int)n++;
    }
    if (fd >= 0) {
        p[n].fd = fd;
        p[n].events = POLLRDHUP;
        p[n].revents = 0;
        ci = (int)n++;
    }
    *readable = false;
    int rc = poll(p, n, timeout_ms);
    if (rc <= 0)
        return false;
    if (wi >= 0 && (p[wi].revents & (POLLIN | POLLERR | POLLHUP)))
        *readable = true;
    return ci >= 0 && (p[ci].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Adds what is ready without waiting (the next synthetic ADDED, or the next store event) to
 * w->pending; false when nothing is. */
static bool take_ready(struct apiserver_watch *w)
{
    if (w->done || w->error)
        return false;
    if (w->initial && w->initial_pos < json_array_size(w->initial)) {
        emit(w, "ADDED", json_array_get(w->initial, w->initial_pos++));
        return true;
    }
    if (!w->sw)
        return false;
    struct store_event *ev = NULL;
    _cleanup_err_ struct k8c_err *e = NULL;
    int rc = store_watch_next(w->sw, 0, &ev, &e);
    if (rc < 0) {
        on_error(w, e);
        return true;
    }
    if (rc == 0)
        return false;
    on_event(w, ev);
    store_event_unref(ev);
    return true;
}

size_t apiserver__watch_read(struct apiserver_watch *w, char *out, size_t max)
{
    for (;;) {
        /* Under a burst, send what is ready together: one TLS record and one send for
         * several events, and one wake-up of the client instead of one each. */
        if (w->off < w->pending.len && w->pending.len - w->off < max && take_ready(w))
            continue;
        if (w->off < w->pending.len) {
            size_t n = w->pending.len - w->off;
            if (n > max)
                n = max;
            memcpy(out, w->pending.data + w->off, n);
            w->off += n;
            if (w->off == w->pending.len) {
                buf_reset(&w->pending);
                w->off = 0;
            }
            return n;
        }
        if (w->done)
            return 0;
        if (!atomic_load(&w->core->stopping) && take_ready(w))
            continue;
        if (w->error) {
            emit(w, "ERROR", w->error);
            w->done = true;
            continue;
        }
        if (atomic_load(&w->core->stopping)) {
            w->done = true;
            continue;
        }
        if (w->nonblocking) {
            w->done = true;
            continue;
        }
        uint64_t now = clock_mono_ns();
        if (now >= w->deadline_ns) {
            w->done = true;
            continue;
        }
        if (w->bookmarks && now >= w->next_bookmark_ns) {
            w->next_bookmark_ns = now + BOOKMARK_EVERY_NS;
            emit_bookmark(w);
            continue;
        }
        uint64_t left_ms = (w->deadline_ns - now) / 1000000 + 1;
        int slice = left_ms < POLL_SLICE_MS ? (int)left_ms : POLL_SLICE_MS;
        bool readable = false;
        if (peer_gone(w->conn_fd, slice, store_watch_fd(w->sw), &readable)) {
            w->done = true;
            return 0;
        }
    }
}

void apiserver__serve_watch(struct apiserver_core *core, const struct apiserver_req *req,
                            const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    _cleanup_err_ struct k8c_err *e = NULL;
    if (!(k->verbs & API_VERB_WATCH)) {
        apiserver__resp_status(resp, 405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               NULL, NULL, NULL);
        return;
    }
    const char *rvs = apiserver__param(req, "resourceVersion");
    int64_t rv = 0;
    if (apiserver__parse_rv(rvs, &rv, &e) < 0) {
        apiserver__resp_err(resp, e);
        return;
    }
    int64_t timeout_s = 0;
    const char *ts = apiserver__param(req, "timeoutSeconds");
    if (ts && *ts) {
        if (apiserver__parse_rv(ts, &timeout_s, NULL) < 0) {
            _cleanup_free_ char *m = xasprintf("timeoutSeconds must be a non-negative integer, "
                                               "got \"%s\"",
                                               ts);
            apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
            return;
        }
        if (timeout_s > 24 * 3600)
            timeout_s = 24 * 3600;
    }
    uint64_t timeout_ns = (uint64_t)timeout_s * 1000000000ull;
    if (timeout_ns == 0) {
        /* As kube-apiserver: between one and two --min-request-timeout, at random, so that
         * the watches of many clients started together do not all end (and re-list)
         * together. */
        uint64_t min_ns = (uint64_t)core->min_request_timeout_s * 1000000000ull;
        timeout_ns = min_ns + (uint64_t)((double)min_ns * ((double)random() / RAND_MAX));
    }
    struct apiserver_watch *w = xcalloc(1, sizeof(*w));
    atomic_fetch_add(&core->watches, 1);
    w->core = core;
    w->k = k;
    w->conn_fd = req->conn_fd;
    w->nonblocking = req->conn_fd < 0;
    w->bookmarks = apiserver__param_bool(req, "allowWatchBookmarks");
    w->table = apiserver__negotiate(req->accept, true, false) == APISERVER_OUT_TABLE;
    const char *io = apiserver__param(req, "includeObject");
    w->include_object = io && strcmp(io, "Object") == 0;
    uint64_t now = clock_mono_ns();
    w->deadline_ns = now + timeout_ns;
    w->next_bookmark_ns = now + BOOKMARK_EVERY_NS;
    const char *l = apiserver__param(req, "labelSelector");
    const char *f = apiserver__param(req, "fieldSelector");
    _cleanup_free_ char *prefix = api_kind_storage_key(k, route->ns, NULL);
    _cleanup_free_ char *name_sel = NULL;
    if (route->name) {
        name_sel = f && *f ? xasprintf("%s,metadata.name=%s", f, route->name)
                           : xasprintf("metadata.name=%s", route->name);
        f = name_sel;
    }
    if (l && *l && !(w->ls = api_label_selector_parse(l, &e)))
        goto fail;
    if (f && *f && !(w->fs = api_field_selector_parse(k, f, &e)))
        goto fail;
    if (rv == 0) {
        /* No resourceVersion (or 0): the current state as ADDED events, then changes. */
        struct store_list list = {0};
        if (store_list(core->store, prefix, 0, NULL, 0, &list, &e) < 0)
            goto fail;
        w->initial = json_array();
        for (size_t i = 0; i < list.n_items; i++) {
            _cleanup_err_ struct k8c_err *de = NULL;
            json_t *obj = apiserver__object_decode_stored(
                k, list.items[i].value, list.items[i].value_len, list.items[i].mod_revision, &de);
            if (obj && selected(w, obj))
                json_array_append_new(w->initial, obj);
            else
                json_decref(obj);
        }
        rv = list.revision;
        store_list_clear(&list);
    }
    w->last_rv = rv;
    w->sw = store_watch_open(core->store, prefix, rv, &e);
    if (!w->sw) {
        if (e->reason != K8C_REASON_GONE && e->reason != K8C_REASON_TIMEOUT)
            goto fail;
        /* As kube-apiserver: 200, then one ERROR event carrying the Status. */
        on_error(w, e);
    }
    resp->out.code = 200;
    resp->out.content_type = "application/json;stream=watch";
    resp->watch = w;
    return;
fail:
    apiserver__watch_free(w);
    apiserver__resp_err(resp, e);
}

/* The etcd backend's watch: one etcd watch stream per store, on the store's whole prefix,
 * feeding the watch hub (the same hub the SQLite backend feeds, so store_watch behaves the
 * same on both: replay from its window, GONE before it, cut-off of slow watchers).
 *
 * The stream runs on its own thread (POST /v3/watch, newline-delimited JSON answers, read
 * through a curl multi handle so store_close can wake it). It starts after the revision the
 * store opened at and, when a member goes away, resumes on the next endpoint from the
 * revision after the last one published, so no event is lost or repeated. Every event
 * becomes s->revision once published; writes wait for their own revision to come back on
 * the stream before they return, so a write is in the hub (and in store_revision) by then.
 *
 * The hub wants consecutive revisions. A revision etcd spent outside the prefix (another
 * user of the same etcd) is published as a placeholder event with an empty key, which no
 * watch on a "/..." prefix sees. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/codec.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "store/etcd_internal.h"

struct stream {
    struct store *s;
    struct buf in;
    bool canceled;
};

/* Publishes ev (rev_lock held): the revision first, as the SQLite backend does, so a
 * watcher never holds an event newer than store_revision; writers wait for `published`, so
 * the hub has theirs. Takes the reference. */
static void publish_locked(struct store *s, struct store_event *ev)
{
    struct etcd_backend *b = s->backend;
    int64_t rev = ev->revision;
    atomic_store(&s->revision, rev);
    store__hub_publish(s->hub, &ev, 1);
    b->published = rev;
    pthread_cond_broadcast(&b->rev_cond);
}

/* Publishes the writes held in `held` that now follow `published` without a hole, and drops
 * those the stream published first (rev_lock held). */
static void drain_held_locked(struct store *s)
{
    struct etcd_backend *b = s->backend;
    size_t i = 0;
    for (; i < b->n_held; i++) {
        struct store_event *ev = b->held[i];
        if (ev->revision <= b->published)
            store_event_unref(ev);
        else if (ev->revision == b->published + 1)
            publish_locked(s, ev);
        else
            break;
    }
    if (i > 0) {
        memmove(b->held, b->held + i, (b->n_held - i) * sizeof(*b->held));
        b->n_held -= i;
    }
}

/* The held write at revision rev (removed from `held`), or NULL (rev_lock held). */
static struct store_event *take_held_locked(struct etcd_backend *b, int64_t rev)
{
    for (size_t i = 0; i < b->n_held; i++) {
        if (b->held[i]->revision == rev) {
            struct store_event *ev = b->held[i];
            memmove(b->held + i, b->held + i + 1, (b->n_held - i - 1) * sizeof(*b->held));
            b->n_held--;
            return ev;
        }
    }
    return NULL;
}

/* Publishes the revisions after `published` up to (not including) rev (rev_lock held): a
 * write held for one of them goes in as it is; the others were spent outside the prefix
 * (the stream, which has every event of the prefix in order, went past them) and become
 * placeholders. */
static void fill_gap_locked(struct store *s, int64_t rev)
{
    struct etcd_backend *b = s->backend;
    for (int64_t r = b->published + 1; r < rev; r++) {
        struct store_event *ev = take_held_locked(b, r);
        publish_locked(s,
                       ev ? ev : store__event_new(STORE_EVENT_MODIFIED, r, r, "", "", 0, NULL, 0));
    }
}

/* Publishes an event that came on the stream (unless a write published it first), then
 * the held writes it lets through. Takes the reference. */
static void publish_from_stream(struct store *s, struct store_event *ev)
{
    struct etcd_backend *b = s->backend;
    pthread_mutex_lock(&b->rev_lock);
    if (ev->revision <= b->published) {
        store_event_unref(ev);
    } else {
        fill_gap_locked(s, ev->revision);
        store_event_unref(take_held_locked(b, ev->revision));
        publish_locked(s, ev);
    }
    drain_held_locked(s);
    pthread_mutex_unlock(&b->rev_lock);
}

void store__etcd_publish_write(struct etcd_backend *b, struct store_event *ev)
{
    struct store *s = b->s;
    int64_t rev = ev->revision;
    pthread_mutex_lock(&b->rev_lock);
    if (rev <= b->published || atomic_load(&b->stopping)) {
        store_event_unref(ev);
    } else {
        /* Kept in revision order; there are about as many as writes in flight. */
        b->held = xrealloc(b->held, (b->n_held + 1) * sizeof(*b->held));
        size_t i = b->n_held;
        while (i > 0 && b->held[i - 1]->revision > rev) {
            b->held[i] = b->held[i - 1];
            i--;
        }
        b->held[i] = ev;
        b->n_held++;
        drain_held_locked(s);
    }
    bool done = b->published >= rev;
    pthread_mutex_unlock(&b->rev_lock);
    if (!done)
        store__etcd_wait_revision(b, rev);
}

static void handle_event(struct store *s, const json_t *e)
{
    struct etcd_backend *b = s->backend;
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *kv = json_object_get(e, "kv");
    json_t *pkv = json_object_get(e, "prev_kv");
    int64_t rev = store__etcd_i64(kv, "mod_revision");
    if (rev <= atomic_load(&s->revision))
        return; /* already published (a resumed stream, or the write itself) */
    bool del = json_is_string(json_object_get(e, "type")) &&
               strcmp(json_string_value(json_object_get(e, "type")), "DELETE") == 0;
    size_t klen, vlen = 0, plen = 0;
    _cleanup_free_ char *key = store__etcd_b64(kv, "key", &klen, &err);
    _cleanup_free_ char *value = key ? store__etcd_b64(kv, "value", &vlen, &err) : NULL;
    _cleanup_free_ char *pvalue = pkv && value ? store__etcd_b64(pkv, "value", &plen, &err) : NULL;
    if (key == NULL || value == NULL || (pkv && pvalue == NULL)) {
        _cleanup_free_ char *text = k8c_err_text(err);
        LOG_ERROR("etcd watch: bad event at revision %lld: %s", (long long)rev, text);
        return;
    }
    int64_t max_gap = b->max_gap ? b->max_gap : INT32_MAX;
    if (rev - atomic_load(&s->revision) > max_gap) {
        LOG_ERROR("etcd watch: event at revision %lld is implausibly far past %lld; ignored",
                  (long long)rev, (long long)atomic_load(&s->revision));
        return;
    }
    const char *k = klen >= b->prefix_len ? key + b->prefix_len : key;
    struct store_event *ev;
    if (del) {
        ev = store__event_new(STORE_EVENT_DELETED, rev, store__etcd_i64(pkv, "create_revision"), k,
                              pvalue ? pvalue : "", plen, pvalue ? pvalue : "", plen);
    } else {
        int64_t created = store__etcd_i64(kv, "create_revision");
        enum store_event_type t = created == rev ? STORE_EVENT_ADDED : STORE_EVENT_MODIFIED;
        ev = store__event_new(t, rev, created, k, value, vlen,
                              t == STORE_EVENT_ADDED ? NULL : (pvalue ? pvalue : ""), plen);
    }
    if (pkv)
        ev->prev_revision = store__etcd_i64(pkv, "mod_revision");
    publish_from_stream(s, ev);
}

static void handle_message(struct store *s, const json_t *msg, bool *canceled)
{
    json_t *res = json_object_get(msg, "result");
    if (res == NULL) {
        json_t *e = json_object_get(msg, "error");
        _cleanup_free_ char *text = kjson_dumps(e ? e : msg);
        LOG_WARN("etcd watch: error from the stream: %s", text);
        *canceled = true;
        return;
    }
    if (json_is_true(json_object_get(res, "canceled"))) {
        int64_t compacted = store__etcd_i64(res, "compact_revision");
        LOG_ERROR("etcd watch canceled (compacted at %lld): events before it are lost",
                  (long long)compacted);
        /* Resume from what etcd still has; the missing revisions become placeholders. */
        struct etcd_backend *b = s->backend;
        if (compacted > 0 &&
            compacted - atomic_load(&s->revision) <= (b->max_gap ? b->max_gap : INT32_MAX)) {
            pthread_mutex_lock(&b->rev_lock);
            fill_gap_locked(s, compacted);
            drain_held_locked(s);
            pthread_mutex_unlock(&b->rev_lock);
        }
        *canceled = true;
        return;
    }
    json_t *events = json_object_get(res, "events");
    for (size_t i = 0; i < json_array_size(events); i++)
        handle_event(s, json_array_get(events, i));
}

int store__etcd_stream_feed(struct store *s, struct buf *in, bool *canceled)
{
    size_t used = 0;
    for (;;) {
        /* Answers are separated by newlines, which may arrive alone. */
        while (used < in->len &&
               (in->data[used] == '\n' || in->data[used] == '\r' || in->data[used] == ' '))
            used++;
        if (used >= in->len || *canceled)
            break;
        json_error_t jerr;
        json_t *msg = json_loadb(in->data + used, in->len - used, JSON_DISABLE_EOF_CHECK, &jerr);
        if (msg == NULL) {
            /* Incomplete (wait for more) unless a whole line is there and does not parse. */
            if (memchr(in->data + used, '\n', in->len - used) != NULL) {
                LOG_ERROR("etcd watch: an answer does not parse: %s (at byte %zu of %zu: `%.80s`)",
                          jerr.text, used, in->len, in->data + used);
                return -1;
            }
            break;
        }
        used += jerr.position;
        handle_message(s, msg, canceled);
        json_decref(msg);
    }
    if (used > 0) {
        memmove(in->data, in->data + used, in->len - used);
        in->len -= used;
        in->data[in->len] = '\0';
    }
    if (in->len > 8 * STORE_MAX_VALUE_LEN + 65536) {
        LOG_ERROR("etcd watch: an answer of %zu bytes does not end", in->len);
        return -1;
    }
    return 0;
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    buf_append(&st->in, data, size * n);
    if (store__etcd_stream_feed(st->s, &st->in, &st->canceled) < 0)
        return 0; /* abort the transfer; the stream restarts */
    return st->canceled ? 0 : size * n;
}

/* Runs one stream against one endpoint until it ends. Returns true when it got far enough to
 * be answered (so the caller does not move to the next endpoint). */
static bool run_stream(struct store *s, struct etcd_backend *b, const char *ep)
{
    /* The whole prefix: "/p/" (store keys start with '/'), or everything without one. */
    _cleanup_free_ char *full = b->prefix_len > 0 ? xasprintf("%s/", b->prefix) : xstrdup("");
    json_t *cr = json_object();
    if (full[0] == '\0') {
        json_object_set_new(cr, "key", json_string("AA=="));
        json_object_set_new(cr, "range_end", json_string("AA=="));
    } else {
        _cleanup_free_ char *end = store__prefix_end(full);
        _cleanup_free_ char *k = codec_base64_encode(full, strlen(full));
        _cleanup_free_ char *e = codec_base64_encode(end, strlen(end));
        json_object_set_new(cr, "key", json_string(k));
        json_object_set_new(cr, "range_end", json_string(e));
    }
    char start[32];
    snprintf(start, sizeof(start), "%lld", (long long)atomic_load(&s->revision) + 1);
    json_object_set_new(cr, "start_revision", json_string(start));
    json_object_set_new(cr, "prev_kv", json_true());
    json_object_set_new(cr, "progress_notify", json_true());
    _cleanup_json_ json_t *req = json_pack("{s:o}", "create_request", cr);
    _cleanup_free_ char *body = kjson_dumps(req);
    _cleanup_free_ char *url = xasprintf("%s/v3/watch", ep);

    struct stream st = {.s = s, .in = BUF_INIT};
    CURL *h = curl_easy_init();
    store__etcd_curl_setup(b, h, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    /* A member that stops answering without closing: progress notifications come every
     * 10 minutes at most, so 15 minutes without a byte means the stream is dead. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 900L);
    curl_multi_add_handle(b->wmulti, h);
    int running = 1;
    while (running && !atomic_load(&b->stopping)) {
        if (curl_multi_perform(b->wmulti, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(b->wmulti, NULL, 0, 1000, NULL);
    }
    CURLcode rc = CURLE_OK;
    int left;
    for (CURLMsg *m; (m = curl_multi_info_read(b->wmulti, &left));)
        if (m->msg == CURLMSG_DONE)
            rc = m->data.result;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(b->wmulti, h);
    curl_easy_cleanup(h);
    buf_free(&st.in);
    if (!atomic_load(&b->stopping) && rc != CURLE_OK)
        LOG_WARN("etcd watch on %s ended: %s", ep, curl_easy_strerror(rc));
    return status != 0;
}

static void *watcher_main(void *arg)
{
    struct store *s = arg;
    struct etcd_backend *b = s->backend;
    size_t idx = atomic_load(&b->current);
    while (!atomic_load(&b->stopping)) {
        bool answered = run_stream(s, b, b->endpoints[idx]);
        if (atomic_load(&b->stopping))
            break;
        if (!answered)
            idx = (idx + 1) % b->n_endpoints;
        /* A short pause before trying again, cut short by store_close. */
        struct timespec ts = clock_mono_after(200 * 1000000ull);
        pthread_mutex_lock(&b->rev_lock);
        if (!atomic_load(&b->stopping))
            pthread_cond_timedwait(&b->rev_cond, &b->rev_lock, &ts);
        pthread_mutex_unlock(&b->rev_lock);
    }
    return NULL;
}

void store__etcd_watch_start(struct store *s)
{
    struct etcd_backend *b = s->backend;
    int r = pthread_create(&b->watcher, NULL, watcher_main, s);
    if (r != 0)
        k8c_panic(__FILE__, __LINE__, "cannot start the etcd watch: %s", strerror(r));
    b->watcher_running = true;
}

void store__etcd_watch_stop(struct etcd_backend *b)
{
    if (!b->watcher_running)
        return;
    pthread_mutex_lock(&b->rev_lock);
    atomic_store(&b->stopping, true);
    pthread_cond_broadcast(&b->rev_cond);
    pthread_mutex_unlock(&b->rev_lock);
    curl_multi_wakeup(b->wmulti);
    pthread_join(b->watcher, NULL);
    b->watcher_running = false;
}

void store__etcd_wait_revision(struct etcd_backend *b, int64_t rev)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&b->rev_lock);
    while (b->published < rev && !atomic_load(&b->stopping)) {
        if (pthread_cond_timedwait(&b->rev_cond, &b->rev_lock, &deadline) == ETIMEDOUT) {
            LOG_WARN("etcd: revision %lld did not come back on the watch stream within 5 s",
                     (long long)rev);
            break;
        }
    }
    pthread_mutex_unlock(&b->rev_lock);
}

/* The etcd backend's watch: one etcd watch stream per store, on the store's whole prefix,
 * feeding the watch hub (the same hub the SQLite backend feeds, so store_watch behaves the
 * same on both: replay from its window, GONE before it, cut-off of slow watchers).
 *
 * The stream runs on its own thread: etcd's native Watch RPC (gRPC over HTTP/2, protobuf,
 * with prev_kv), read through a curl multi handle so store_close can wake it. It starts
 * after the revision the store opened at and, when a member goes away, resumes on the next
 * endpoint from the revision after the last one published, so no event is lost or
 * repeated. Every event becomes s->revision once published. A write publishes its own event
 * from etcd's answer (store__etcd_publish_write), held until every earlier revision is in
 * the hub; the stream's copy of it is then skipped.
 *
 * The hub wants consecutive revisions. A revision etcd spent outside the prefix (another
 * user of the same etcd) is published as a placeholder event with an empty key, which no
 * watch on a "/..." prefix sees. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "store/etcd_internal.h"

struct stream {
    struct store *s;
    struct buf in;
    struct buf status; /* grpc-status, grpc-message */
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

/* ---- the stream's messages: gRPC frames of etcd's WatchResponse protobuf ----
 *
 * The stream is etcd's native Watch RPC (HTTP/2, protobuf), not the gateway's /v3/watch:
 * through the gateway every event is sent over etcd's internal gRPC hop and then encoded as
 * JSON with base64 values, which cost etcd about 0.2 ms of CPU per event (measured with raw
 * puts and one watch open); natively about 0.06. Only the messages read here matter:
 *   WatchResponse { header=1, watch_id=2, created=3, canceled=4, compact_revision=5,
 *                   cancel_reason=6, fragment=7, repeated Event events=11 }
 *   Event { type=1 (PUT 0, DELETE 1), KeyValue kv=2, KeyValue prev_kv=3 }
 *   KeyValue { key=1, create_revision=2, mod_revision=3, version=4, value=5, lease=6 } */

struct pb {
    const uint8_t *p, *end;
};

static bool pb_varint(struct pb *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* One field of a message: its number and its value (a varint in v; bytes in data/len). */
struct pb_field {
    uint32_t num;
    uint64_t v;
    const uint8_t *data;
    size_t len;
};

/* Reads the next field of r into f (fixed-width values are skipped). Returns 1, 0 at the
 * end, -1 when malformed. */
static int pb_next(struct pb *r, struct pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t tag;
    if (!pb_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return -1;
    *f = (struct pb_field){.num = (uint32_t)(tag >> 3)};
    switch (tag & 7) {
    case 0: return pb_varint(r, &f->v) ? 1 : -1;
    case 1:
    case 5: {
        size_t n = (tag & 7) == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n)
            return -1;
        r->p += n;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default: return -1; /* groups: not in etcd's messages */
    }
}

struct pb_kv {
    bool present;
    const uint8_t *key, *value;
    size_t key_len, value_len;
    int64_t create_revision, mod_revision;
};

static int pb_kv_parse(const uint8_t *data, size_t len, struct pb_kv *kv)
{
    struct pb r = {data, data + len};
    *kv = (struct pb_kv){.present = true, .key = (const uint8_t *)"", .value = (const uint8_t *)""};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.data) {
            kv->key = f.data;
            kv->key_len = f.len;
        } else if (f.num == 5 && f.data) {
            kv->value = f.data;
            kv->value_len = f.len;
        } else if (f.num == 2) {
            kv->create_revision = (int64_t)f.v;
        } else if (f.num == 3) {
            kv->mod_revision = (int64_t)f.v;
        }
    }
    return rc;
}

static void handle_event(struct store *s, const uint8_t *data, size_t len)
{
    struct etcd_backend *b = s->backend;
    struct pb r = {data, data + len};
    struct pb_kv kv = {0}, pkv = {0};
    bool del = false;
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 1)
            del = f.v == 1;
        else if (f.num == 2 && f.data)
            rc = pb_kv_parse(f.data, f.len, &kv);
        else if (f.num == 3 && f.data)
            rc = pb_kv_parse(f.data, f.len, &pkv);
        if (rc < 0)
            break;
    }
    int64_t rev = kv.mod_revision;
    if (rc < 0 || !kv.present) {
        LOG_ERROR("etcd watch: a malformed event (after revision %lld); ignored",
                  (long long)atomic_load(&s->revision));
        return;
    }
    if (rev <= atomic_load(&s->revision))
        return; /* already published (a resumed stream, or the write itself) */
    int64_t max_gap = b->max_gap ? b->max_gap : INT32_MAX;
    if (rev - atomic_load(&s->revision) > max_gap) {
        LOG_ERROR("etcd watch: event at revision %lld is implausibly far past %lld; ignored",
                  (long long)rev, (long long)atomic_load(&s->revision));
        return;
    }
    /* Keys are C strings in the store (as the gateway's base64 keys were decoded to). */
    size_t skip = kv.key_len >= b->prefix_len ? b->prefix_len : 0;
    _cleanup_free_ char *k = xstrndup((const char *)kv.key + skip, kv.key_len - skip);
    const char *pvalue = pkv.present ? (const char *)pkv.value : NULL;
    struct store_event *ev;
    if (del) {
        ev =
            store__event_new(STORE_EVENT_DELETED, rev, pkv.create_revision, k, pvalue ? pvalue : "",
                             pkv.value_len, pvalue ? pvalue : "", pkv.value_len);
    } else {
        int64_t created = kv.create_revision;
        enum store_event_type t = created == rev ? STORE_EVENT_ADDED : STORE_EVENT_MODIFIED;
        ev =
            store__event_new(t, rev, created, k, kv.value, kv.value_len,
                             t == STORE_EVENT_ADDED ? NULL : (pvalue ? pvalue : ""), pkv.value_len);
    }
    if (pkv.present)
        ev->prev_revision = pkv.mod_revision;
    publish_from_stream(s, ev);
}

/* One WatchResponse. Returns -1 when it is malformed. */
static int handle_message(struct store *s, const uint8_t *data, size_t len, bool *canceled)
{
    struct pb r = {data, data + len};
    bool cancel = false;
    int64_t compacted = 0;
    const uint8_t *reason = NULL;
    size_t reason_len = 0;
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 4)
            cancel = f.v != 0;
        else if (f.num == 5)
            compacted = (int64_t)f.v;
        else if (f.num == 6 && f.data) {
            reason = f.data;
            reason_len = f.len;
        }
    }
    if (rc < 0)
        return -1;
    if (cancel) {
        LOG_ERROR("etcd watch canceled (compacted at %lld%s%.*s): events before it are lost",
                  (long long)compacted, reason_len ? ": " : "", (int)reason_len,
                  reason ? (const char *)reason : "");
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
        return 0;
    }
    r = (struct pb){data, data + len};
    while (pb_next(&r, &f) == 1)
        if (f.num == 11 && f.data)
            handle_event(s, f.data, f.len);
    return 0;
}

int store__etcd_stream_feed(struct store *s, struct buf *in, bool *canceled)
{
    size_t used = 0;
    int rc = 0;
    /* gRPC frames: a compression flag byte, a big-endian 32-bit length, the message. */
    while (in->len - used >= 5 && !*canceled) {
        const uint8_t *h = (const uint8_t *)in->data + used;
        size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
        if (h[0] != 0 || len > 8 * STORE_MAX_VALUE_LEN + 65536) {
            LOG_ERROR("etcd watch: a bad gRPC frame (flag %u, %zu bytes)", h[0], len);
            rc = -1;
            break;
        }
        if (in->len - used - 5 < len)
            break; /* the rest comes later */
        if (handle_message(s, h + 5, len, canceled) < 0) {
            LOG_ERROR("etcd watch: a malformed answer of %zu bytes", len);
            rc = -1;
            break;
        }
        used += 5 + len;
    }
    if (used > 0) {
        memmove(in->data, in->data + used, in->len - used);
        in->len -= used;
        in->data[in->len] = '\0';
    }
    return rc;
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    buf_append(&st->in, data, size * n);
    if (store__etcd_stream_feed(st->s, &st->in, &st->canceled) < 0)
        return 0; /* abort the transfer; the stream restarts */
    return st->canceled ? 0 : size * n;
}

/* Keeps grpc-status and grpc-message (headers, or trailers after the stream) for the log. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    size_t len = size * n;
    if (len > 5 && strncasecmp(data, "grpc-", 5) == 0) {
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
            len--;
        buf_appendf(&st->status, "%s%.*s", st->status.len ? ", " : "", (int)len, data);
    }
    return size * n;
}

/* Appends a protobuf field to out: a varint (wire type 0) or bytes (wire type 2). */
static void pb_put_varint(struct buf *out, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_append(out, b, n);
}

static void pb_put_bytes(struct buf *out, uint32_t field, const void *data, size_t len)
{
    pb_put_varint(out, (uint64_t)field << 3 | 2);
    pb_put_varint(out, len);
    buf_append(out, data, len);
}

static void pb_put_int(struct buf *out, uint32_t field, uint64_t v)
{
    pb_put_varint(out, (uint64_t)field << 3);
    pb_put_varint(out, v);
}

/* The framed WatchRequest{create_request: {key, range_end, start_revision, progress_notify,
 * prev_kv}} for the whole prefix from revision start. */
static void watch_request(struct etcd_backend *b, int64_t start, struct buf *out)
{
    /* The whole prefix: "/p/" (store keys start with '/'), or everything without one. */
    _cleanup_free_ char *full = b->prefix_len > 0 ? xasprintf("%s/", b->prefix) : xstrdup("");
    _cleanup_buf_ struct buf cr = BUF_INIT, req = BUF_INIT;
    if (full[0] == '\0') {
        pb_put_bytes(&cr, 1, "\0", 1);
        pb_put_bytes(&cr, 2, "\0", 1);
    } else {
        _cleanup_free_ char *end = store__prefix_end(full);
        pb_put_bytes(&cr, 1, full, strlen(full));
        pb_put_bytes(&cr, 2, end, strlen(end));
    }
    pb_put_int(&cr, 3, (uint64_t)start);
    pb_put_int(&cr, 4, 1); /* progress_notify */
    pb_put_int(&cr, 6, 1); /* prev_kv */
    pb_put_bytes(&req, 1, cr.data, cr.len);
    uint8_t h[5] = {0, (uint8_t)(req.len >> 24), (uint8_t)(req.len >> 16), (uint8_t)(req.len >> 8),
                    (uint8_t)req.len};
    buf_append(out, h, sizeof(h));
    buf_append(out, req.data, req.len);
}

/* Runs one stream against one endpoint until it ends. Returns true when it got far enough to
 * be answered (so the caller does not move to the next endpoint). */
static bool run_stream(struct store *s, struct etcd_backend *b, const char *ep)
{
    _cleanup_buf_ struct buf body = BUF_INIT;
    watch_request(b, atomic_load(&s->revision) + 1, &body);
    _cleanup_free_ char *url = xasprintf("%s/etcdserverpb.Watch/Watch", ep);

    struct stream st = {.s = s, .in = BUF_INIT, .status = BUF_INIT};
    CURL *h = curl_easy_init();
    store__etcd_curl_setup(b, h, url);
    /* gRPC: HTTP/2 (without TLS from the first byte, as etcd's plain port expects). */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     strncmp(ep, "https:", 6) == 0 ? (long)CURL_HTTP_VERSION_2TLS
                                                   : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/grpc");
    hdrs = curl_slist_append(hdrs, "TE: trailers");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
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
    curl_slist_free_all(hdrs);
    buf_free(&st.in);
    if (!atomic_load(&b->stopping) && (rc != CURLE_OK || st.status.len > 0))
        LOG_WARN("etcd watch on %s ended: %s%s%s", ep, curl_easy_strerror(rc),
                 st.status.len ? "; " : "", st.status.len ? st.status.data : "");
    buf_free(&st.status);
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

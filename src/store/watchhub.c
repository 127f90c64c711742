/* The watch hub: fans committed events out to watchers and keeps a bounded window of recent
 * events so that a watch can start from a past revision.
 *
 * Events are immutable and reference counted: the window and every watcher's queue hold
 * pointers to the same bytes, so a thousand watchers cost a thousand pointers per event, not
 * a thousand copies. The writer publishes under one mutex and never waits for a watcher: a
 * watcher whose queue reaches max_pending is cut off (GONE) and its queue released, which
 * bounds memory however slow a client reads.
 *
 * A watch from an old revision does not copy the window into its queue: it keeps a cursor
 * and walks the window (events are consecutive revisions, so the cursor indexes it directly)
 * until it reaches the newest event, and only then joins the live fan-out. A cursor that
 * falls out of the window while catching up ends the watch with GONE, unless the backend
 * keeps its history (SQLite): then revisions older than the window are read back from it in
 * batches, so the window is only a cache of the newest events and can stay small. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"
#include "store/internal.h"

struct event_box {
    struct store_event ev; /* first, so a store_event pointer is a box pointer */
    atomic_size_t refs;
    size_t bytes; /* what the event costs in memory, for the window's byte bound */
    char data[];  /* key, value, prev_value, each NUL-terminated */
};

struct store_hub {
    pthread_mutex_t lock;
    size_t refs; /* the store's plus one per open watcher */
    bool closed;
    size_t max_events, max_bytes, max_pending;

    /* The window: events base+1 .. base+count, oldest at ring[head]. */
    struct store_event **ring;
    size_t ring_cap, head, count, bytes;
    int64_t base;

    struct store_watch *live; /* watchers receiving pushes (doubly linked) */

    /* The backend's history (NULL: none, or detached by store_close), and how many
     * watchers are reading it right now without the lock. */
    struct store *history;
    size_t history_readers;
    pthread_cond_t history_idle;
};

struct store_watch {
    struct store_hub *hub;
    char *prefix;
    size_t prefix_len;
    /* The newest revision this watcher has been handed or skipped. */
    int64_t cursor;
    bool is_live; /* in hub->live (false while catching up from the window) */
    bool gone;    /* cut off for falling behind */
    struct store_event **q;
    size_t q_cap, q_head, q_len;
    /* Events replayed from the backend's history, delivered before the window. */
    struct store_event **hist;
    size_t hist_n, hist_pos;
    int64_t hist_end; /* the replay covered revisions up to here */
    pthread_cond_t cond;
    int efd;       /* eventfd, made on the first store_watch_fd; -1 before */
    bool signaled; /* efd holds a count */
    struct store_watch *prev, *next;
};

static struct event_box *box_of(struct store_event *ev)
{
    return (struct event_box *)ev;
}

struct store_event *store__event_new(enum store_event_type type, int64_t revision,
                                     int64_t create_revision, const char *key, const void *value,
                                     size_t value_len, const void *prev_value,
                                     size_t prev_value_len)
{
    size_t key_len = strlen(key);
    bool shared = prev_value != NULL && prev_value == value;
    size_t data_len =
        key_len + 1 + value_len + 1 + (prev_value && !shared ? prev_value_len + 1 : 0);
    struct event_box *b = xmalloc(sizeof(*b) + data_len);
    char *p = b->data;
    memcpy(p, key, key_len + 1);
    b->ev.key = p;
    p += key_len + 1;
    if (value_len > 0)
        memcpy(p, value, value_len);
    p[value_len] = '\0';
    b->ev.value = p;
    b->ev.value_len = value_len;
    p += value_len + 1;
    if (prev_value && prev_value == value) {
        /* A deletion's value is its previous value: share the bytes. */
        b->ev.prev_value = b->ev.value;
        b->ev.prev_value_len = value_len;
    } else if (prev_value) {
        if (prev_value_len > 0)
            memcpy(p, prev_value, prev_value_len);
        p[prev_value_len] = '\0';
        b->ev.prev_value = p;
        b->ev.prev_value_len = prev_value_len;
    } else {
        b->ev.prev_value = NULL;
        b->ev.prev_value_len = 0;
    }
    b->ev.type = type;
    b->ev.revision = revision;
    b->ev.create_revision = create_revision;
    b->ev.prev_revision = 0;
    atomic_init(&b->refs, 1);
    b->bytes = sizeof(*b) + data_len;
    return &b->ev;
}

struct store_event *store_event_ref(struct store_event *ev)
{
    if (ev)
        atomic_fetch_add_explicit(&box_of(ev)->refs, 1, memory_order_relaxed);
    return ev;
}

void store_event_unref(struct store_event *ev)
{
    if (ev == NULL)
        return;
    struct event_box *b = box_of(ev);
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

struct store_hub *store__hub_new(int64_t revision, size_t window_events, size_t window_bytes,
                                 size_t max_pending)
{
    struct store_hub *hub = xcalloc(1, sizeof(*hub));
    pthread_mutex_init(&hub->lock, NULL);
    hub->refs = 1;
    hub->max_events = window_events;
    hub->max_bytes = window_bytes;
    hub->max_pending = max_pending;
    hub->base = revision;
    pthread_cond_init(&hub->history_idle, NULL);
    return hub;
}

void store__hub_set_history(struct store_hub *hub, struct store *s)
{
    pthread_mutex_lock(&hub->lock);
    hub->history = s;
    pthread_mutex_unlock(&hub->lock);
}

void store__hub_detach_history(struct store_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->history = NULL;
    while (hub->history_readers > 0)
        pthread_cond_wait(&hub->history_idle, &hub->lock);
    pthread_mutex_unlock(&hub->lock);
}

/* Frees the hub once nobody refers to it. Called with the lock held; unlocks it. */
static void hub_unref_unlock(struct store_hub *hub)
{
    K8C_ASSERT(hub->refs > 0);
    bool last = --hub->refs == 0;
    pthread_mutex_unlock(&hub->lock);
    if (!last)
        return;
    for (size_t i = 0; i < hub->count; i++)
        store_event_unref(hub->ring[(hub->head + i) % hub->ring_cap]);
    free(hub->ring);
    pthread_cond_destroy(&hub->history_idle);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

/* Makes the watcher's descriptor readable (and wakes a waiting store_watch_next). */
static void watch_signal(struct store_watch *w)
{
    pthread_cond_signal(&w->cond);
    if (w->efd >= 0 && !w->signaled) {
        uint64_t one = 1;
        ssize_t n = write(w->efd, &one, sizeof(one));
        (void)n; /* an eventfd counter cannot overflow from one increment */
        w->signaled = true;
    }
}

static void watch_unsignal(struct store_watch *w)
{
    if (w->efd >= 0 && w->signaled) {
        uint64_t v;
        ssize_t n = read(w->efd, &v, sizeof(v));
        (void)n; /* nonblocking; a count is there because signaled says so */
        w->signaled = false;
    }
}

static void live_remove(struct store_hub *hub, struct store_watch *w)
{
    if (!w->is_live)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        hub->live = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->is_live = false;
}

static void live_add(struct store_hub *hub, struct store_watch *w)
{
    w->prev = NULL;
    w->next = hub->live;
    if (hub->live)
        hub->live->prev = w;
    hub->live = w;
    w->is_live = true;
}

static void queue_drop(struct store_watch *w)
{
    for (size_t i = 0; i < w->q_len; i++)
        store_event_unref(w->q[(w->q_head + i) % w->q_cap]);
    free(w->q);
    w->q = NULL;
    w->q_cap = w->q_head = w->q_len = 0;
}

/* Queues ev for w or cuts w off when its queue is full. Called with the hub lock held. */
static void watch_push(struct store_hub *hub, struct store_watch *w, struct store_event *ev)
{
    if (w->q_len == w->q_cap) {
        if (w->q_cap >= hub->max_pending) {
            w->gone = true;
            queue_drop(w);
            live_remove(hub, w);
            watch_signal(w);
            return;
        }
        size_t cap = w->q_cap ? w->q_cap * 2 : 16;
        if (cap > hub->max_pending)
            cap = hub->max_pending;
        struct store_event **q = xmalloc(cap * sizeof(*q));
        for (size_t i = 0; i < w->q_len; i++)
            q[i] = w->q[(w->q_head + i) % w->q_cap];
        free(w->q);
        w->q = q;
        w->q_cap = cap;
        w->q_head = 0;
    }
    w->q[(w->q_head + w->q_len) % w->q_cap] = store_event_ref(ev);
    w->q_len++;
    w->cursor = ev->revision;
    if (w->q_len == 1)
        watch_signal(w);
}

static bool watch_matches(const struct store_watch *w, const struct store_event *ev)
{
    return strncmp(ev->key, w->prefix, w->prefix_len) == 0;
}

static void window_append(struct store_hub *hub, struct store_event *ev)
{
    if (hub->count == hub->ring_cap) {
        size_t cap = hub->ring_cap ? hub->ring_cap * 2 : 1024;
        struct store_event **ring = xmalloc(cap * sizeof(*ring));
        for (size_t i = 0; i < hub->count; i++)
            ring[i] = hub->ring[(hub->head + i) % hub->ring_cap];
        free(hub->ring);
        hub->ring = ring;
        hub->ring_cap = cap;
        hub->head = 0;
    }
    hub->ring[(hub->head + hub->count) % hub->ring_cap] = ev;
    hub->count++;
    hub->bytes += box_of(ev)->bytes;
    while (hub->count > 0 && (hub->count > hub->max_events || hub->bytes > hub->max_bytes)) {
        struct store_event *old = hub->ring[hub->head];
        hub->head = (hub->head + 1) % hub->ring_cap;
        hub->count--;
        hub->bytes -= box_of(old)->bytes;
        hub->base = old->revision;
        store_event_unref(old);
    }
}

void store__hub_publish(struct store_hub *hub, struct store_event **events, size_t n)
{
    pthread_mutex_lock(&hub->lock);
    for (size_t i = 0; i < n; i++) {
        struct store_event *ev = events[i];
        K8C_ASSERT(ev->revision == hub->base + (int64_t)hub->count + 1);
        for (struct store_watch *w = hub->live, *next; w; w = next) {
            next = w->next; /* watch_push may unlink w */
            if (ev->revision > w->cursor && watch_matches(w, ev))
                watch_push(hub, w, ev);
        }
        window_append(hub, ev); /* takes the caller's reference */
    }
    pthread_mutex_unlock(&hub->lock);
}

void store__hub_close(struct store_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->closed = true;
    for (struct store_watch *w = hub->live; w; w = w->next)
        watch_signal(w);
    /* Watchers still catching up never wait; they see `closed` once they have caught up. */
    hub_unref_unlock(hub);
}

struct store_watch *store__hub_watch_open(struct store_hub *hub, const char *prefix,
                                          int64_t after_revision, struct k8c_err **err)
{
    pthread_mutex_lock(&hub->lock);
    if (hub->closed) {
        pthread_mutex_unlock(&hub->lock);
        k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "the store is closing");
        return NULL;
    }
    int64_t newest = hub->base + (int64_t)hub->count;
    bool replay = hub->history && after_revision >= atomic_load(&hub->history->compacted);
    if (after_revision != 0 && after_revision < hub->base && !replay) {
        int64_t base = hub->history ? atomic_load(&hub->history->compacted) : hub->base;
        pthread_mutex_unlock(&hub->lock);
        k8c_err_set(err, 0, K8C_REASON_GONE,
                    "too old resource version: %lld (the oldest revision that can be watched "
                    "from is %lld)",
                    (long long)after_revision, (long long)base);
        return NULL;
    }
    struct store_watch *w = xcalloc(1, sizeof(*w));
    w->hub = hub;
    w->prefix = xstrdup(prefix);
    w->prefix_len = strlen(prefix);
    w->efd = -1;
    clock_cond_init_mono(&w->cond);
    w->cursor = after_revision == 0 ? newest : after_revision;
    /* Caught up already (or a future revision: events after it will come live). */
    if (w->cursor >= newest)
        live_add(hub, w);
    hub->refs++;
    pthread_mutex_unlock(&hub->lock);
    return w;
}

/* Events a catching-up watcher looks at per hold of the hub lock: a watch on a rare prefix
 * must not hold the writer's publish up while it skips a whole window. */
#define CATCH_UP_STEP 4096
/* Events read back from the backend's history per query. */
#define REPLAY_BATCH 256

static void hist_drop(struct store_watch *w)
{
    for (size_t i = w->hist_pos; i < w->hist_n; i++)
        store_event_unref(w->hist[i]);
    free(w->hist);
    w->hist = NULL;
    w->hist_n = w->hist_pos = 0;
}

/* Reads the next batch of events after the cursor, up to the window's start, from the
 * backend. Called with the hub lock held; drops it while reading. Returns 0 or -1 (*err). */
static int watch_replay(struct store_hub *hub, struct store_watch *w, struct k8c_err **err)
{
    struct store *s = hub->history;
    int64_t upto = hub->base;
    hub->history_readers++;
    pthread_mutex_unlock(&hub->lock);
    hist_drop(w);
    struct store_event **evs = NULL;
    size_t n = 0;
    int rc = s->driver->history(s, w->prefix, w->cursor, upto, REPLAY_BATCH, &evs, &n, err);
    pthread_mutex_lock(&hub->lock);
    if (--hub->history_readers == 0)
        pthread_cond_broadcast(&hub->history_idle);
    if (rc < 0)
        return -1;
    w->hist = evs;
    w->hist_n = n;
    w->hist_end = n == REPLAY_BATCH ? evs[n - 1]->revision : upto;
    if (n == 0)
        w->cursor = upto;
    return 0;
}

/* Walks the window from the cursor for the next matching event. Returns 1 with a new
 * reference in *ev, 0 when caught up (the watcher is then live), 2 when it should let others
 * take the lock and call again, -1 when the cursor left the window. Called with the hub lock
 * held. */
static int watch_catch_up(struct store_hub *hub, struct store_watch *w, struct store_event **ev)
{
    if (w->cursor < hub->base)
        return -1;
    int64_t newest = hub->base + (int64_t)hub->count;
    for (int steps = 0; w->cursor < newest; steps++) {
        if (steps == CATCH_UP_STEP)
            return 2;
        size_t idx = (size_t)(w->cursor - hub->base); /* the event w->cursor + 1 */
        struct store_event *e = hub->ring[(hub->head + idx) % hub->ring_cap];
        K8C_ASSERT(e->revision == w->cursor + 1);
        w->cursor++;
        if (watch_matches(w, e)) {
            *ev = store_event_ref(e);
            return 1;
        }
    }
    live_add(hub, w);
    return 0;
}

int store__hub_watch_next(struct store_watch *w, int timeout_ms, struct store_event **ev,
                          struct k8c_err **err)
{
    struct store_hub *hub = w->hub;
    struct timespec deadline = {0, 0};
    if (timeout_ms > 0)
        deadline = clock_mono_after((uint64_t)timeout_ms * 1000000u);
    *ev = NULL;
    pthread_mutex_lock(&hub->lock);
    for (;;) {
        if (w->gone) {
            pthread_mutex_unlock(&hub->lock);
            return k8c_err_set(err, 0, K8C_REASON_GONE,
                               "watch on `%s` fell more than %zu events behind and was cut off; "
                               "watch again",
                               w->prefix, hub->max_pending);
        }
        if (!w->is_live && w->hist_pos < w->hist_n) {
            *ev = w->hist[w->hist_pos++];
            w->cursor = w->hist_pos == w->hist_n ? w->hist_end : (*ev)->revision;
            pthread_mutex_unlock(&hub->lock);
            return 1;
        }
        if (!w->is_live && w->cursor < hub->base && hub->history) {
            if (watch_replay(hub, w, err) < 0) {
                w->gone = true;
                pthread_mutex_unlock(&hub->lock);
                return -1;
            }
            continue;
        }
        if (!w->is_live) {
            int r = watch_catch_up(hub, w, ev);
            if (r < 0) {
                w->gone = true;
                int64_t base = hub->base;
                pthread_mutex_unlock(&hub->lock);
                return k8c_err_set(err, 0, K8C_REASON_GONE,
                                   "watch on `%s` fell out of the event window while catching up "
                                   "(oldest kept revision %lld); watch again",
                                   w->prefix, (long long)base + 1);
            }
            if (r == 1) {
                pthread_mutex_unlock(&hub->lock);
                return 1;
            }
            if (r == 2) {
                pthread_mutex_unlock(&hub->lock);
                pthread_mutex_lock(&hub->lock);
                continue;
            }
        }
        if (w->q_len > 0) {
            *ev = w->q[w->q_head];
            w->q_head = (w->q_head + 1) % w->q_cap;
            w->q_len--;
            if (w->q_len == 0 && !hub->closed)
                watch_unsignal(w);
            pthread_mutex_unlock(&hub->lock);
            return 1;
        }
        if (hub->closed) {
            pthread_mutex_unlock(&hub->lock);
            return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "the store is closing");
        }
        /* Caught up and nothing queued: the descriptor (readable while catching up) must not
         * stay readable, or an event loop would spin. */
        watch_unsignal(w);
        if (timeout_ms == 0)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&w->cond, &hub->lock);
        } else if (pthread_cond_timedwait(&w->cond, &hub->lock, &deadline) == ETIMEDOUT) {
            if (w->q_len == 0 && !w->gone && !hub->closed)
                break;
        }
    }
    pthread_mutex_unlock(&hub->lock);
    return 0;
}

int store__hub_watch_fd(struct store_watch *w)
{
    struct store_hub *hub = w->hub;
    pthread_mutex_lock(&hub->lock);
    if (w->efd < 0) {
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
            pthread_mutex_unlock(&hub->lock);
            return -1;
        }
        /* Readable from the start whenever store_watch_next would not block. */
        if (w->q_len > 0 || !w->is_live || w->gone || hub->closed)
            watch_signal(w);
    }
    int fd = w->efd;
    pthread_mutex_unlock(&hub->lock);
    return fd;
}

void store__hub_watch_close(struct store_watch *w)
{
    if (w == NULL)
        return;
    struct store_hub *hub = w->hub;
    pthread_mutex_lock(&hub->lock);
    live_remove(hub, w);
    queue_drop(w);
    hist_drop(w);
    if (w->efd >= 0)
        close(w->efd);
    pthread_cond_destroy(&w->cond);
    free(w->prefix);
    free(w);
    hub_unref_unlock(hub);
}

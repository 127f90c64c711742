/* The scheduling queue (see queue.h): two binary heaps (active: priority, then creation
 * time, then arrival; back-off: expiry) and an unschedulable list, indexed by pod key. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "scheduler/queue.h"

struct heap {
    struct scheduler_qentry **items;
    size_t n, cap;
    bool (*less)(const struct scheduler_qentry *, const struct scheduler_qentry *);
};

struct scheduler_queue {
    struct heap active, backoff;
    struct scheduler_qentry **unsched; /* unordered */
    size_t n_unsched, cap_unsched;
    size_t n_in_flight;
    json_t *index; /* key -> entry pointer (as an integer) */
    uint64_t seq;
    uint64_t moves;
    uint64_t last_flush_ns; /* the unschedulable list is scanned at most once a second */
};

static bool active_less(const struct scheduler_qentry *a, const struct scheduler_qentry *b)
{
    int32_t pa = a->pod ? a->pod->priority : 0, pb = b->pod ? b->pod->priority : 0;
    if (pa != pb)
        return pa > pb;
    time_t ca = a->pod ? a->pod->created : 0, cb = b->pod ? b->pod->created : 0;
    if (ca != cb)
        return ca < cb;
    return a->seq < b->seq;
}

static bool backoff_less(const struct scheduler_qentry *a, const struct scheduler_qentry *b)
{
    if (a->backoff_until_ns != b->backoff_until_ns)
        return a->backoff_until_ns < b->backoff_until_ns;
    return a->seq < b->seq;
}

static void heap_swap(struct heap *h, size_t i, size_t j)
{
    struct scheduler_qentry *t = h->items[i];
    h->items[i] = h->items[j];
    h->items[j] = t;
    h->items[i]->idx = i;
    h->items[j]->idx = j;
}

static void heap_up(struct heap *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h->less(h->items[i], h->items[parent]))
            break;
        heap_swap(h, i, parent);
        i = parent;
    }
}

static void heap_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->less(h->items[l], h->items[m]))
            m = l;
        if (r < h->n && h->less(h->items[r], h->items[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

static void heap_push(struct heap *h, struct scheduler_qentry *e)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->items = xrealloc(h->items, h->cap * sizeof(*h->items));
    }
    e->idx = h->n;
    h->items[h->n++] = e;
    heap_up(h, e->idx);
}

static void heap_remove(struct heap *h, struct scheduler_qentry *e)
{
    size_t i = e->idx;
    K8C_ASSERT(i < h->n && h->items[i] == e);
    h->n--;
    if (i == h->n)
        return;
    h->items[i] = h->items[h->n];
    h->items[i]->idx = i;
    heap_down(h, i);
    heap_up(h, i);
}

uint64_t scheduler_backoff_ns(unsigned attempts)
{
    uint64_t d = SCHEDULER_BACKOFF_INITIAL_NS;
    for (unsigned i = 1; i < attempts && d < SCHEDULER_BACKOFF_MAX_NS; i++)
        d *= 2;
    return d > SCHEDULER_BACKOFF_MAX_NS ? SCHEDULER_BACKOFF_MAX_NS : d;
}

struct scheduler_queue *scheduler_queue_new(void)
{
    struct scheduler_queue *q = xcalloc(1, sizeof(*q));
    q->active.less = active_less;
    q->backoff.less = backoff_less;
    q->index = json_object();
    return q;
}

static void entry_free(struct scheduler_qentry *e)
{
    free(e->key);
    scheduler_pod_free(e->pod);
    free(e->decode_error);
    json_decref(e->obj);
    free(e);
}

void scheduler_queue_free(struct scheduler_queue *q)
{
    if (q == NULL)
        return;
    const char *key;
    json_t *v;
    json_object_foreach (q->index, key, v) {
        entry_free((struct scheduler_qentry *)(intptr_t)json_integer_value(v));
    }
    json_decref(q->index);
    free(q->active.items);
    free(q->backoff.items);
    free(q->unsched);
    free(q);
}

struct scheduler_qentry *scheduler_queue_get(struct scheduler_queue *q, const char *key)
{
    json_t *v = json_object_get(q->index, key);
    return v ? (struct scheduler_qentry *)(intptr_t)json_integer_value(v) : NULL;
}

static void unsched_remove(struct scheduler_queue *q, struct scheduler_qentry *e)
{
    size_t i = e->idx;
    K8C_ASSERT(i < q->n_unsched && q->unsched[i] == e);
    q->unsched[i] = q->unsched[--q->n_unsched];
    q->unsched[i]->idx = i;
}

static void unsched_add(struct scheduler_queue *q, struct scheduler_qentry *e, uint64_t now)
{
    if (q->n_unsched == q->cap_unsched) {
        q->cap_unsched = q->cap_unsched ? q->cap_unsched * 2 : 64;
        q->unsched = xrealloc(q->unsched, q->cap_unsched * sizeof(*q->unsched));
    }
    e->state = SCHEDULER_Q_UNSCHEDULABLE;
    e->unschedulable_since_ns = now;
    e->idx = q->n_unsched;
    q->unsched[q->n_unsched++] = e;
}

/* Takes e out of whatever structure holds it (not in flight). */
static void detach(struct scheduler_queue *q, struct scheduler_qentry *e)
{
    switch (e->state) {
    case SCHEDULER_Q_ACTIVE: heap_remove(&q->active, e); break;
    case SCHEDULER_Q_BACKOFF: heap_remove(&q->backoff, e); break;
    case SCHEDULER_Q_UNSCHEDULABLE: unsched_remove(q, e); break;
    case SCHEDULER_Q_IN_FLIGHT: q->n_in_flight--; break;
    }
}

/* Puts e (detached) into the back-off heap while its back-off lasts, else active. */
static void activate_or_backoff(struct scheduler_queue *q, struct scheduler_qentry *e, uint64_t now)
{
    if (e->backoff_until_ns > now) {
        e->state = SCHEDULER_Q_BACKOFF;
        heap_push(&q->backoff, e);
    } else {
        e->state = SCHEDULER_Q_ACTIVE;
        heap_push(&q->active, e);
    }
}

void scheduler_queue_upsert_take(struct scheduler_queue *q, const char *key, json_t *obj,
                                 struct scheduler_pod *pod, const char *decode_error,
                                 uint64_t now_ns)
{
    struct scheduler_qentry *e = scheduler_queue_get(q, key);
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        e->key = xstrdup(key);
        e->obj = obj;
        e->pod = pod;
        e->decode_error = decode_error ? xstrdup(decode_error) : NULL;
        e->seq = q->seq++;
        json_object_set_new(q->index, key, json_integer((json_int_t)(intptr_t)e));
        e->state = SCHEDULER_Q_ACTIVE;
        heap_push(&q->active, e);
        return;
    }
    json_decref(e->obj);
    e->obj = obj;
    scheduler_pod_free(e->pod);
    e->pod = pod;
    free(e->decode_error);
    e->decode_error = decode_error ? xstrdup(decode_error) : NULL;
    switch (e->state) {
    case SCHEDULER_Q_ACTIVE:
        heap_remove(&q->active, e);
        heap_push(&q->active, e);
        break;
    case SCHEDULER_Q_BACKOFF: break;
    case SCHEDULER_Q_UNSCHEDULABLE:
        unsched_remove(q, e);
        activate_or_backoff(q, e, now_ns);
        break;
    case SCHEDULER_Q_IN_FLIGHT: e->updated = true; break;
    }
}

void scheduler_queue_remove(struct scheduler_queue *q, const char *key)
{
    struct scheduler_qentry *e = scheduler_queue_get(q, key);
    if (e == NULL)
        return;
    if (e->state == SCHEDULER_Q_IN_FLIGHT) {
        e->deleted = true;
        return;
    }
    detach(q, e);
    json_object_del(q->index, key);
    entry_free(e);
}

struct scheduler_qentry *scheduler_queue_pop(struct scheduler_queue *q, uint64_t now_ns)
{
    while (q->backoff.n > 0 && q->backoff.items[0]->backoff_until_ns <= now_ns) {
        struct scheduler_qentry *e = q->backoff.items[0];
        heap_remove(&q->backoff, e);
        e->state = SCHEDULER_Q_ACTIVE;
        heap_push(&q->active, e);
    }
    for (size_t i = 0; now_ns - q->last_flush_ns >= 1000000000u && i < q->n_unsched;) {
        struct scheduler_qentry *e = q->unsched[i];
        if (now_ns - e->unschedulable_since_ns >= SCHEDULER_UNSCHEDULABLE_MAX_NS) {
            unsched_remove(q, e);
            activate_or_backoff(q, e, now_ns);
        } else {
            i++;
        }
    }
    if (now_ns - q->last_flush_ns >= 1000000000u)
        q->last_flush_ns = now_ns;
    if (q->active.n == 0)
        return NULL;
    struct scheduler_qentry *e = q->active.items[0];
    heap_remove(&q->active, e);
    e->state = SCHEDULER_Q_IN_FLIGHT;
    e->popped_moves = q->moves;
    e->updated = false;
    q->n_in_flight++;
    return e;
}

void scheduler_queue_done(struct scheduler_queue *q, struct scheduler_qentry *e,
                          enum scheduler_outcome outcome, uint64_t now_ns)
{
    K8C_ASSERT(e->state == SCHEDULER_Q_IN_FLIGHT);
    if (e->deleted || outcome == SCHEDULER_OUTCOME_BOUND) {
        q->n_in_flight--;
        json_object_del(q->index, e->key);
        entry_free(e);
        return;
    }
    q->n_in_flight--;
    e->attempts++;
    e->backoff_until_ns = now_ns + scheduler_backoff_ns(e->attempts);
    /* A cluster event or an update during the attempt may have changed the answer: retry
     * after the back-off instead of waiting for the next event. */
    bool moved = e->popped_moves != q->moves || e->updated;
    if (outcome == SCHEDULER_OUTCOME_UNSCHEDULABLE && !moved) {
        unsched_add(q, e, now_ns);
    } else {
        e->state = SCHEDULER_Q_BACKOFF;
        heap_push(&q->backoff, e);
    }
}

void scheduler_queue_move_all(struct scheduler_queue *q, uint64_t now_ns)
{
    q->moves++;
    while (q->n_unsched > 0) {
        struct scheduler_qentry *e = q->unsched[q->n_unsched - 1];
        unsched_remove(q, e);
        activate_or_backoff(q, e, now_ns);
    }
}

uint64_t scheduler_queue_next_backoff(const struct scheduler_queue *q)
{
    return q->backoff.n ? q->backoff.items[0]->backoff_until_ns : UINT64_MAX;
}

size_t scheduler_queue_len(const struct scheduler_queue *q, enum scheduler_qstate state)
{
    switch (state) {
    case SCHEDULER_Q_ACTIVE: return q->active.n;
    case SCHEDULER_Q_BACKOFF: return q->backoff.n;
    case SCHEDULER_Q_UNSCHEDULABLE: return q->n_unsched;
    case SCHEDULER_Q_IN_FLIGHT: return q->n_in_flight;
    }
    return 0;
}

/* Work queue (see workqueue.h). Sets are jansson objects used as hash sets: they are
 * hash tables already, and keys are strings. */
#include "client/workqueue.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/mem.h"

#define DEFAULT_BASE_DELAY_MS 5u
#define DEFAULT_MAX_DELAY_MS 1000000u

struct delayed {
    uint64_t ready_ns;
    char *key;
};

struct workqueue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char **fifo; /* ring buffer of keys ready to hand out */
    size_t head, len, cap;
    json_t *dirty;        /* keys queued and not yet handed out */
    json_t *processing;   /* keys handed out and not yet done */
    json_t *failures;     /* key -> rate-limited count */
    struct delayed *heap; /* min-heap by ready_ns */
    size_t heap_len, heap_cap;
    unsigned base_delay_ms, max_delay_ms;
    bool shutting_down;
};

struct workqueue *workqueue_new(unsigned base_delay_ms, unsigned max_delay_ms)
{
    struct workqueue *q = xcalloc(1, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    clock_cond_init_mono(&q->cond);
    q->dirty = json_object();
    q->processing = json_object();
    q->failures = json_object();
    q->base_delay_ms = base_delay_ms ? base_delay_ms : DEFAULT_BASE_DELAY_MS;
    q->max_delay_ms = max_delay_ms ? max_delay_ms : DEFAULT_MAX_DELAY_MS;
    return q;
}

void workqueue_free(struct workqueue *q)
{
    if (q == NULL)
        return;
    workqueue_shutdown(q);
    for (size_t i = 0; i < q->len; i++)
        free(q->fifo[(q->head + i) % q->cap]);
    free(q->fifo);
    for (size_t i = 0; i < q->heap_len; i++)
        free(q->heap[i].key);
    free(q->heap);
    json_decref(q->dirty);
    json_decref(q->processing);
    json_decref(q->failures);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void fifo_push(struct workqueue *q, const char *key)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        char **fifo = xmalloc(cap * sizeof(*fifo));
        for (size_t i = 0; i < q->len; i++)
            fifo[i] = q->fifo[(q->head + i) % q->cap];
        free(q->fifo);
        q->fifo = fifo;
        q->cap = cap;
        q->head = 0;
    }
    q->fifo[(q->head + q->len) % q->cap] = xstrdup(key);
    q->len++;
}

static char *fifo_pop(struct workqueue *q)
{
    char *key = q->fifo[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return key;
}

/* With the lock held. */
static void add_locked(struct workqueue *q, const char *key)
{
    if (q->shutting_down || json_object_get(q->dirty, key) != NULL)
        return;
    json_object_set_new(q->dirty, key, json_true());
    if (json_object_get(q->processing, key) != NULL)
        return; /* comes back in workqueue_done */
    fifo_push(q, key);
    pthread_cond_signal(&q->cond);
}

void workqueue_add(struct workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    add_locked(q, key);
    pthread_mutex_unlock(&q->lock);
}

static void heap_swap(struct delayed *a, struct delayed *b)
{
    struct delayed t = *a;
    *a = *b;
    *b = t;
}

static void heap_push(struct workqueue *q, uint64_t ready_ns, const char *key)
{
    if (q->heap_len == q->heap_cap) {
        q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 16;
        q->heap = xrealloc(q->heap, q->heap_cap * sizeof(*q->heap));
    }
    size_t i = q->heap_len++;
    q->heap[i] = (struct delayed){ready_ns, xstrdup(key)};
    while (i > 0 && q->heap[(i - 1) / 2].ready_ns > q->heap[i].ready_ns) {
        heap_swap(&q->heap[(i - 1) / 2], &q->heap[i]);
        i = (i - 1) / 2;
    }
}

static struct delayed heap_pop(struct workqueue *q)
{
    struct delayed top = q->heap[0];
    q->heap[0] = q->heap[--q->heap_len];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->heap_len && q->heap[l].ready_ns < q->heap[m].ready_ns)
            m = l;
        if (r < q->heap_len && q->heap[r].ready_ns < q->heap[m].ready_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(&q->heap[i], &q->heap[m]);
        i = m;
    }
    return top;
}

void workqueue_add_after(struct workqueue *q, const char *key, unsigned delay_ms)
{
    if (delay_ms == 0) {
        workqueue_add(q, key);
        return;
    }
    pthread_mutex_lock(&q->lock);
    if (!q->shutting_down) {
        heap_push(q, clock_mono_ns() + (uint64_t)delay_ms * 1000000u, key);
        pthread_cond_broadcast(&q->cond); /* a waiter may need an earlier wake-up */
    }
    pthread_mutex_unlock(&q->lock);
}

void workqueue_add_rate_limited(struct workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    json_int_t n = json_integer_value(json_object_get(q->failures, key));
    json_object_set_new(q->failures, key, json_integer(n + 1));
    pthread_mutex_unlock(&q->lock);
    uint64_t delay = q->base_delay_ms;
    for (json_int_t i = 0; i < n && delay < q->max_delay_ms; i++)
        delay *= 2;
    if (delay > q->max_delay_ms)
        delay = q->max_delay_ms;
    workqueue_add_after(q, key, (unsigned)delay);
}

void workqueue_forget(struct workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    json_object_del(q->failures, key);
    pthread_mutex_unlock(&q->lock);
}

unsigned workqueue_requeues(struct workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    unsigned n = (unsigned)json_integer_value(json_object_get(q->failures, key));
    pthread_mutex_unlock(&q->lock);
    return n;
}

char *workqueue_get(struct workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    for (;;) {
        uint64_t now = clock_mono_ns();
        while (q->heap_len > 0 && q->heap[0].ready_ns <= now) {
            struct delayed d = heap_pop(q);
            add_locked(q, d.key);
            free(d.key);
        }
        if (q->len > 0 || q->shutting_down)
            break;
        if (q->heap_len > 0) {
            uint64_t at = q->heap[0].ready_ns;
            struct timespec ts = clock_mono_timespec(at);
            pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        } else {
            pthread_cond_wait(&q->cond, &q->lock);
        }
    }
    char *key = NULL;
    if (!q->shutting_down) {
        key = fifo_pop(q);
        json_object_del(q->dirty, key);
        json_object_set_new(q->processing, key, json_true());
    }
    pthread_mutex_unlock(&q->lock);
    return key;
}

void workqueue_done(struct workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    json_object_del(q->processing, key);
    if (!q->shutting_down && json_object_get(q->dirty, key) != NULL) {
        fifo_push(q, key);
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
}

size_t workqueue_len(struct workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void workqueue_shutdown(struct workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    q->shutting_down = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* Unit tests for src/client/workqueue.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/mem.h"
#include "client/workqueue.h"

Test(workqueue, dedupes_until_handed_out)
{
    struct workqueue *q = workqueue_new(0, 0);
    workqueue_add(q, "a");
    workqueue_add(q, "b");
    workqueue_add(q, "a");
    cr_assert(eq(sz, workqueue_len(q), 2));
    _cleanup_free_ char *k1 = workqueue_get(q);
    _cleanup_free_ char *k2 = workqueue_get(q);
    cr_assert(eq(str, k1, "a"));
    cr_assert(eq(str, k2, "b"));
    workqueue_done(q, k1);
    workqueue_done(q, k2);
    cr_assert(eq(sz, workqueue_len(q), 0));
    workqueue_free(q);
}

Test(workqueue, key_added_while_processing_comes_back_after_done)
{
    struct workqueue *q = workqueue_new(0, 0);
    workqueue_add(q, "a");
    _cleanup_free_ char *k = workqueue_get(q);
    workqueue_add(q, "a"); /* must not be handed to a second worker now */
    cr_assert(eq(sz, workqueue_len(q), 0));
    workqueue_done(q, k);
    cr_assert(eq(sz, workqueue_len(q), 1));
    _cleanup_free_ char *again = workqueue_get(q);
    cr_assert(eq(str, again, "a"));
    workqueue_done(q, again);
    workqueue_free(q);
}

Test(workqueue, add_after_waits_and_rate_limit_backs_off)
{
    struct workqueue *q = workqueue_new(20, 80);
    uint64_t start = clock_mono_ns();
    workqueue_add_after(q, "late", 50);
    _cleanup_free_ char *k = workqueue_get(q);
    cr_assert(eq(str, k, "late"));
    cr_assert(clock_mono_ns() - start >= 50u * 1000000u);
    workqueue_done(q, k);

    for (int i = 0; i < 5; i++)
        workqueue_add_rate_limited(q, "x");
    cr_assert(eq(u32, workqueue_requeues(q, "x"), 5));
    workqueue_forget(q, "x");
    cr_assert(eq(u32, workqueue_requeues(q, "x"), 0));
    _cleanup_free_ char *x = workqueue_get(q);
    cr_assert(eq(str, x, "x"));
    workqueue_done(q, x);
    workqueue_free(q);
}

static void *getter(void *opaque)
{
    return workqueue_get(opaque);
}

Test(workqueue, shutdown_wakes_waiters)
{
    struct workqueue *q = workqueue_new(0, 0);
    pthread_t t;
    pthread_create(&t, NULL, getter, q);
    workqueue_shutdown(q);
    void *ret = (void *)1;
    pthread_join(t, &ret);
    cr_assert(ret == NULL);
    workqueue_add(q, "ignored");
    cr_assert(eq(sz, workqueue_len(q), 0));
    workqueue_free(q);
}

struct worker_ctx {
    struct workqueue *q;
    int processed;
};

static void *worker(void *opaque)
{
    struct worker_ctx *ctx = opaque;
    char *key;
    while ((key = workqueue_get(ctx->q)) != NULL) {
        __atomic_add_fetch(&ctx->processed, 1, __ATOMIC_SEQ_CST);
        workqueue_done(ctx->q, key);
        free(key);
    }
    return NULL;
}

Test(workqueue, many_workers_process_every_key_once)
{
    struct worker_ctx ctx = {.q = workqueue_new(0, 0)};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, worker, &ctx);
    for (int i = 0; i < 1000; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        workqueue_add(ctx.q, key);
    }
    uint64_t deadline = clock_mono_ns() + 10ull * 1000000000u;
    while (__atomic_load_n(&ctx.processed, __ATOMIC_SEQ_CST) < 1000 && clock_mono_ns() < deadline)
        sched_yield();
    workqueue_shutdown(ctx.q);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    cr_assert(eq(int, ctx.processed, 1000));
    workqueue_free(ctx.q);
}

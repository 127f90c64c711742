/* Unit tests for src/scheduler/queue.c: ordering, back-off, unschedulable moves, in-flight
 * updates and deletes. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "helpers.h"
#include "scheduler/queue.h"

#define S 1000000000ull

static void add(struct scheduler_queue *q, const char *name, int prio, const char *created,
                uint64_t now)
{
    char *text = xasprintf("{'metadata':{'name':'%s','namespace':'default','creationTimestamp':"
                           "'%s'},'spec':{'priority':%d,'containers':[]}}",
                           name, created, prio);
    json_t *obj = jq(text);
    free(text);
    struct scheduler_pod *p = scheduler_pod_decode(obj, NULL);
    char *key = xasprintf("default/%s", name);
    scheduler_queue_upsert_take(q, key, obj, p, NULL, now);
    free(key);
}

static char *pop_name(struct scheduler_queue *q, uint64_t now)
{
    struct scheduler_qentry *e = scheduler_queue_pop(q, now);
    return e ? xstrdup(e->key) : xstrdup("-");
}

Test(scheduler_queue, priority_then_age)
{
    struct scheduler_queue *q = scheduler_queue_new();
    add(q, "young", 0, "2026-01-02T00:00:00Z", 0);
    add(q, "old", 0, "2026-01-01T00:00:00Z", 0);
    add(q, "vip", 100, "2026-01-03T00:00:00Z", 0);
    const char *want[] = {"default/vip", "default/old", "default/young", "-"};
    for (size_t i = 0; i < 4; i++) {
        char *got = pop_name(q, 0);
        cr_assert(eq(str, got, (char *)want[i]));
        free(got);
    }
    cr_assert(eq(sz, scheduler_queue_len(q, SCHEDULER_Q_IN_FLIGHT), 3));
    scheduler_queue_free(q);
}

Test(scheduler_queue, backoff_doubles_to_ten_seconds)
{
    cr_assert(eq(u64, scheduler_backoff_ns(1), 1 * S));
    cr_assert(eq(u64, scheduler_backoff_ns(2), 2 * S));
    cr_assert(eq(u64, scheduler_backoff_ns(4), 8 * S));
    cr_assert(eq(u64, scheduler_backoff_ns(5), 10 * S));
    cr_assert(eq(u64, scheduler_backoff_ns(50), 10 * S));
}

Test(scheduler_queue, unschedulable_waits_for_an_event)
{
    struct scheduler_queue *q = scheduler_queue_new();
    add(q, "p", 0, "2026-01-01T00:00:00Z", 0);
    struct scheduler_qentry *e = scheduler_queue_pop(q, 0);
    scheduler_queue_done(q, e, SCHEDULER_OUTCOME_UNSCHEDULABLE, 0);
    cr_assert(eq(sz, scheduler_queue_len(q, SCHEDULER_Q_UNSCHEDULABLE), 1));
    cr_assert(scheduler_queue_pop(q, 20 * S) == NULL);
    /* an event during back-off: to the back-off queue, then active once it ends */
    scheduler_queue_move_all(q, S / 2);
    cr_assert(eq(sz, scheduler_queue_len(q, SCHEDULER_Q_BACKOFF), 1));
    cr_assert(eq(u64, scheduler_queue_next_backoff(q), 1 * S));
    cr_assert(scheduler_queue_pop(q, S / 2) == NULL);
    e = scheduler_queue_pop(q, S);
    cr_assert(e != NULL);
    cr_assert(eq(u32, e->attempts, 1));
    /* errors always back off, doubling */
    scheduler_queue_done(q, e, SCHEDULER_OUTCOME_ERROR, 2 * S);
    cr_assert(eq(u64, scheduler_queue_next_backoff(q), 4 * S));
    /* after five minutes unschedulable pods are retried without an event */
    e = scheduler_queue_pop(q, 4 * S);
    scheduler_queue_done(q, e, SCHEDULER_OUTCOME_UNSCHEDULABLE, 4 * S);
    cr_assert(scheduler_queue_pop(q, 100 * S) == NULL);
    cr_assert(scheduler_queue_pop(q, 305 * S) != NULL);
    scheduler_queue_free(q);
}

Test(scheduler_queue, event_during_attempt_means_backoff_not_unschedulable)
{
    struct scheduler_queue *q = scheduler_queue_new();
    add(q, "p", 0, "2026-01-01T00:00:00Z", 0);
    struct scheduler_qentry *e = scheduler_queue_pop(q, 0);
    scheduler_queue_move_all(q, 0);
    scheduler_queue_done(q, e, SCHEDULER_OUTCOME_UNSCHEDULABLE, 0);
    cr_assert(eq(sz, scheduler_queue_len(q, SCHEDULER_Q_BACKOFF), 1));
    scheduler_queue_free(q);
}

Test(scheduler_queue, updates_and_deletes)
{
    struct scheduler_queue *q = scheduler_queue_new();
    add(q, "a", 0, "2026-01-01T00:00:00Z", 0);
    add(q, "b", 0, "2026-01-02T00:00:00Z", 0);
    /* an update that raises b's priority reorders the active queue */
    add(q, "b", 5, "2026-01-02T00:00:00Z", 0);
    char *got = pop_name(q, 0);
    cr_assert(eq(str, got, "default/b"));
    free(got);
    /* updating an in-flight pod does not queue it twice */
    add(q, "b", 5, "2026-01-02T00:00:00Z", 0);
    cr_assert(eq(sz, scheduler_queue_len(q, SCHEDULER_Q_ACTIVE), 1));
    /* deleting an in-flight pod frees it when its attempt ends */
    scheduler_queue_remove(q, "default/b");
    struct scheduler_qentry *e = scheduler_queue_get(q, "default/b");
    cr_assert(e != NULL && e->deleted);
    scheduler_queue_done(q, e, SCHEDULER_OUTCOME_ERROR, 0);
    cr_assert(scheduler_queue_get(q, "default/b") == NULL);
    /* an unschedulable pod that changes is retried */
    e = scheduler_queue_pop(q, 0);
    scheduler_queue_done(q, e, SCHEDULER_OUTCOME_UNSCHEDULABLE, 0);
    add(q, "a", 0, "2026-01-01T00:00:00Z", 2 * S);
    cr_assert(eq(sz, scheduler_queue_len(q, SCHEDULER_Q_ACTIVE), 1));
    scheduler_queue_remove(q, "default/a");
    cr_assert(eq(sz, scheduler_queue_len(q, SCHEDULER_Q_ACTIVE), 0));
    scheduler_queue_free(q);
}

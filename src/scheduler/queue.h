/* The scheduling queue, as kube-scheduler's PriorityQueue: an active queue ordered by
 * priority then age, a back-off queue (1 s doubling per failed attempt up to 10 s), and an
 * unschedulable set that cluster events (a node added or changed, a pod deleted) move back.
 * A pod being scheduled or bound is "in flight": updates only refresh its view, so a stale
 * unbound event never queues it twice.
 *
 * Not thread-safe: the scheduler serializes access with its own lock. Times are monotonic
 * nanoseconds passed in by the caller, so tests control the clock. */
#ifndef K8C_SCHEDULER_QUEUE_H
#define K8C_SCHEDULER_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/view.h"

#define SCHEDULER_BACKOFF_INITIAL_NS 1000000000ull
#define SCHEDULER_BACKOFF_MAX_NS 10000000000ull
/* Pods left unschedulable this long are retried even without a cluster event
 * (podMaxInUnschedulablePodsDuration). */
#define SCHEDULER_UNSCHEDULABLE_MAX_NS (300ull * 1000000000ull)

enum scheduler_qstate {
    SCHEDULER_Q_ACTIVE,
    SCHEDULER_Q_BACKOFF,
    SCHEDULER_Q_UNSCHEDULABLE,
    SCHEDULER_Q_IN_FLIGHT,
};

struct scheduler_qentry {
    char *key;
    struct scheduler_pod *pod; /* latest decoded view, NULL when it did not decode */
    char *decode_error;        /* why it did not decode, or NULL */
    json_t *obj;               /* latest object (owned reference) */
    unsigned attempts;
    uint64_t backoff_until_ns;
    uint64_t unschedulable_since_ns;
    uint64_t seq;          /* arrival order: the last tie-breaker */
    uint64_t popped_moves; /* the queue's move counter when popped */
    enum scheduler_qstate state;
    bool deleted; /* removed while in flight: freed when done */
    bool updated; /* updated while in flight */
    size_t idx;   /* position in its heap or list */
};

enum scheduler_outcome {
    SCHEDULER_OUTCOME_BOUND,         /* gone from the queue */
    SCHEDULER_OUTCOME_UNSCHEDULABLE, /* waits for a cluster event (or back-off if one came) */
    SCHEDULER_OUTCOME_ERROR,         /* retried after its back-off */
};

struct scheduler_queue;

struct scheduler_queue *scheduler_queue_new(void);
void scheduler_queue_free(struct scheduler_queue *q);

/* Adds or refreshes the pending pod obj (new reference taken) with its view pod (taken; may
 * be NULL with decode_error set). An unschedulable pod that changes becomes active again. */
void scheduler_queue_upsert_take(struct scheduler_queue *q, const char *key, json_t *obj,
                                 struct scheduler_pod *pod, const char *decode_error,
                                 uint64_t now_ns);
/* Forgets the pod (it was bound or deleted). */
void scheduler_queue_remove(struct scheduler_queue *q, const char *key);
/* The entry for key (borrowed), or NULL. */
struct scheduler_qentry *scheduler_queue_get(struct scheduler_queue *q, const char *key);

/* Moves back-off entries whose time has come into the active queue, and entries that have
 * been unschedulable for SCHEDULER_UNSCHEDULABLE_MAX_NS; then pops the most important active
 * entry (now in flight; borrowed until scheduler_queue_done), or NULL. */
struct scheduler_qentry *scheduler_queue_pop(struct scheduler_queue *q, uint64_t now_ns);
/* Ends an in-flight entry's attempt. */
void scheduler_queue_done(struct scheduler_queue *q, struct scheduler_qentry *e,
                          enum scheduler_outcome outcome, uint64_t now_ns);
/* A cluster event that may make unschedulable pods fit: they move to the active queue (or
 * back-off, while it lasts). */
void scheduler_queue_move_all(struct scheduler_queue *q, uint64_t now_ns);

/* When the earliest back-off ends (UINT64_MAX when none). */
uint64_t scheduler_queue_next_backoff(const struct scheduler_queue *q);
size_t scheduler_queue_len(const struct scheduler_queue *q, enum scheduler_qstate state);

/* The back-off after n failed attempts: 1 s, 2 s, 4 s, 8 s, then 10 s. */
uint64_t scheduler_backoff_ns(unsigned attempts);

#endif
